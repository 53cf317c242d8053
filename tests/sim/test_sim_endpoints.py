"""Each Steam endpoint of the simulator answers with Steam's paths, parameters, shapes and statuses."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from dbd_playerstats.sim import (
    DEMO_STEAM_ID,
    FRESH_STEAM_ID,
    HIDDEN_GAMES_STEAM_ID,
    NEVER_PLAYED_STEAM_ID,
    PRIVATE_STEAM_ID,
    RunningSimulator,
)
from dbd_playerstats.sim.fixtures import ACHIEVEMENTS, STAT_IDS

KEY = "sim-key"
STATS = "/ISteamUserStats/GetUserStatsForGame/v2/"
ACHIEVEMENTS_PATH = "/ISteamUserStats/GetPlayerAchievements/v1/"
SCHEMA = "/ISteamUserStats/GetSchemaForGame/v2/"
RARITY = "/ISteamUserStats/GetGlobalAchievementPercentagesForApp/v2/"
PROFILE = "/ISteamUser/GetPlayerSummaries/v2/"
VANITY = "/ISteamUser/ResolveVanityURL/v1/"


async def get(http: aiohttp.ClientSession, path: str, **params: str) -> tuple[int, str, str]:
    """GET `path` and return (status, media type, body text)."""
    async with http.get(path, params=params) as response:
        return response.status, response.content_type, await response.text()


async def get_json(http: aiohttp.ClientSession, path: str, **params: str) -> tuple[int, Any]:
    """GET `path`, insisting on an application/json answer, and return (status, parsed body)."""
    status, media_type, text = await get(http, path, **params)
    assert media_type == "application/json", text
    return status, json.loads(text)


async def test_stats_of_demo_player_have_steams_shape(http: aiohttp.ClientSession) -> None:
    """GetUserStatsForGame lists all 283 stats (ints, floats for *_float) and the unlocked achievements."""
    status, body = await get_json(http, STATS, key=KEY, steamid=DEMO_STEAM_ID, appid="381210")
    assert status == 200
    playerstats = body["playerstats"]
    assert playerstats["steamID"] == DEMO_STEAM_ID
    assert isinstance(playerstats["gameName"], str)
    stats = {entry["name"]: entry["value"] for entry in playerstats["stats"]}
    assert set(stats) == set(STAT_IDS)
    assert stats["DBD_KillerSkulls"] == 62
    assert stats["DBD_CamperSkulls"] == 87
    for name, value in stats.items():
        assert isinstance(value, float if name.endswith("_float") else int), name
    assert playerstats["achievements"]
    assert all(set(entry) == {"name", "achieved"} and entry["achieved"] == 1 for entry in playerstats["achievements"])


async def test_achievements_of_demo_player_have_steams_shape(http: aiohttp.ClientSession) -> None:
    """GetPlayerAchievements lists every achievement with apiname, achieved and unlocktime (0 while locked)."""
    status, body = await get_json(http, ACHIEVEMENTS_PATH, key=KEY, steamid=DEMO_STEAM_ID, appid="381210")
    assert status == 200
    playerstats = body["playerstats"]
    assert playerstats["success"] is True
    assert playerstats["steamID"] == DEMO_STEAM_ID
    entries = playerstats["achievements"]
    assert [e["apiname"] for e in entries] == [a.api_name for a in ACHIEVEMENTS]
    for entry in entries:
        assert set(entry) == {"apiname", "achieved", "unlocktime"}
        assert (entry["achieved"] == 1) == (entry["unlocktime"] > 0)
    adepts = {a.api_name for a in ACHIEVEMENTS if a.adept_role}
    assert sum(1 for e in entries if e["apiname"] in adepts and e["achieved"]) == 30


async def test_achievements_with_language_add_name_and_description(http: aiohttp.ClientSession) -> None:
    """With `l=` every entry also carries the display name and the description."""
    _, body = await get_json(http, ACHIEVEMENTS_PATH, key=KEY, steamid=DEMO_STEAM_ID, appid="381210", l="english")
    entries = {e["apiname"]: e for e in body["playerstats"]["achievements"]}
    nurse = entries["ACH_DLC1_KILLER_3"]
    assert nurse["name"] == "Adept Nurse"
    assert "merciless victory" in nurse["description"]
    assert all({"name", "description"} <= set(entry) for entry in entries.values())


async def test_stats_and_achievements_agree_on_unlocked_achievements(http: aiohttp.ClientSession) -> None:
    """The unlocked list inside GetUserStatsForGame matches GetPlayerAchievements for the same player."""
    _, stats = await get_json(http, STATS, key=KEY, steamid=DEMO_STEAM_ID, appid="381210")
    _, achievements = await get_json(http, ACHIEVEMENTS_PATH, key=KEY, steamid=DEMO_STEAM_ID, appid="381210")
    from_stats = {entry["name"] for entry in stats["playerstats"]["achievements"]}
    from_achievements = {e["apiname"] for e in achievements["playerstats"]["achievements"] if e["achieved"]}
    assert from_stats == from_achievements


async def test_fresh_player_has_few_stats_and_everything_locked(http: aiohttp.ClientSession) -> None:
    """The fresh player has a handful of stats, no unlocked list, and every achievement locked at time 0."""
    _, stats = await get_json(http, STATS, key=KEY, steamid=FRESH_STEAM_ID, appid="381210")
    assert 0 < len(stats["playerstats"]["stats"]) < 20
    assert "achievements" not in stats["playerstats"]
    _, body = await get_json(http, ACHIEVEMENTS_PATH, key=KEY, steamid=FRESH_STEAM_ID, appid="381210")
    assert all(e["achieved"] == 0 and e["unlocktime"] == 0 for e in body["playerstats"]["achievements"])


async def test_schema_lists_stats_and_achievements(http: aiohttp.ClientSession) -> None:
    """GetSchemaForGame carries the 283 stats (mostly empty displayName) and every achievement."""
    status, body = await get_json(http, SCHEMA, key=KEY, appid="381210", l="english")
    assert status == 200
    game = body["game"]
    assert isinstance(game["gameName"], str)
    assert isinstance(game["gameVersion"], str)
    stats = game["availableGameStats"]["stats"]
    assert [s["name"] for s in stats] == list(STAT_IDS)
    assert all(set(s) == {"name", "defaultvalue", "displayName"} for s in stats)
    assert sum(1 for s in stats if s["displayName"] == "") > 250
    achievements = game["availableGameStats"]["achievements"]
    assert len(achievements) == len(ACHIEVEMENTS)
    adepts = [a for a in achievements if a["displayName"].startswith("Adept ")]
    assert len(adepts) == 84
    assert sum("merciless victory" in a["description"] for a in adepts) == 38
    assert sum(a["description"].startswith("Escape") for a in adepts) == 46
    assert any(a["hidden"] == 1 and "description" not in a for a in achievements)
    assert all({"name", "defaultvalue", "displayName", "hidden", "icon", "icongray"} <= set(a) for a in achievements)


async def test_rarity_needs_no_key_and_takes_gameid(http: aiohttp.ClientSession) -> None:
    """GetGlobalAchievementPercentagesForApp answers without a key, reading `gameid`."""
    status, body = await get_json(http, RARITY, gameid="381210")
    assert status == 200
    entries = body["achievementpercentages"]["achievements"]
    assert len(entries) == len(ACHIEVEMENTS)
    assert all(set(entry) == {"name", "percent"} for entry in entries)


async def test_rarity_given_appid_instead_of_gameid_is_a_400_page(http: aiohttp.ClientSession) -> None:
    """Passing `appid` (the usual name) instead of `gameid` is refused with a 400 HTML page."""
    status, media_type, text = await get(http, RARITY, appid="381210")
    assert (status, media_type) == (400, "text/html")
    assert "gameid" in text


async def test_profile_lists_known_players_and_omits_unknown_ones(http: aiohttp.ClientSession) -> None:
    """GetPlayerSummaries returns public and private players with their visibility; unknown ids are missing."""
    ids = ",".join([DEMO_STEAM_ID, PRIVATE_STEAM_ID, HIDDEN_GAMES_STEAM_ID, "76561197960265729"])
    status, body = await get_json(http, PROFILE, key=KEY, steamids=ids)
    assert status == 200
    players = {p["steamid"]: p for p in body["response"]["players"]}
    assert set(players) == {DEMO_STEAM_ID, PRIVATE_STEAM_ID, HIDDEN_GAMES_STEAM_ID}
    demo = players[DEMO_STEAM_ID]
    assert demo["communityvisibilitystate"] == 3
    assert demo["personaname"] == "Demo Survivor"
    assert demo["profileurl"] == "https://steamcommunity.com/id/demo/"
    assert demo["avatarfull"].startswith("https://")
    assert players[PRIVATE_STEAM_ID]["communityvisibilitystate"] == 1
    assert players[HIDDEN_GAMES_STEAM_ID]["communityvisibilitystate"] == 3


async def test_profile_of_only_unknown_ids_is_an_empty_list(http: aiohttp.ClientSession) -> None:
    """An unknown id alone gives 200 with `players: []`, not an error."""
    status, body = await get_json(http, PROFILE, key=KEY, steamids="76561197960265729")
    assert (status, body) == (200, {"response": {"players": []}})


async def test_profile_of_synthetic_player_has_generated_persona(http: aiohttp.ClientSession) -> None:
    """A benchmark-range id is a public player named after its last six digits, with a numeric profile URL."""
    _, body = await get_json(http, PROFILE, key=KEY, steamids="76561198100004242")
    (player,) = body["response"]["players"]
    assert player["personaname"] == "Player 004242"
    assert player["profileurl"] == "https://steamcommunity.com/profiles/76561198100004242/"


async def test_profile_refuses_more_than_100_ids(http: aiohttp.ClientSession) -> None:
    """101 ids in `steamids` are refused with a 400; 100 are served."""
    ids = [str(76561198100000000 + n) for n in range(101)]
    status, _, _ = await get(http, PROFILE, key=KEY, steamids=",".join(ids))
    assert status == 400
    status, body = await get_json(http, PROFILE, key=KEY, steamids=",".join(ids[:100]))
    assert status == 200
    assert len(body["response"]["players"]) == 100


async def test_vanity_found_and_not_found(http: aiohttp.ClientSession) -> None:
    """ResolveVanityURL gives success 1 and the id, or HTTP 200 with success 42 "No match"."""
    assert await get_json(http, VANITY, key=KEY, vanityurl="demo") == (
        200,
        {"response": {"steamid": DEMO_STEAM_ID, "success": 1}},
    )
    assert await get_json(http, VANITY, key=KEY, vanityurl="no_such_player") == (
        200,
        {"response": {"success": 42, "message": "No match"}},
    )


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (path.replace("{v}", version), params)
        for path, versions, params in [
            ("/ISteamUserStats/GetUserStatsForGame/{v}/", ("v2", "v0002"), {"steamid": DEMO_STEAM_ID}),
            ("/ISteamUserStats/GetPlayerAchievements/{v}/", ("v1", "v0001"), {"steamid": DEMO_STEAM_ID}),
            ("/ISteamUserStats/GetSchemaForGame/{v}/", ("v2", "v0002"), {}),
            ("/ISteamUserStats/GetGlobalAchievementPercentagesForApp/{v}/", ("v2", "v0002"), {"gameid": "381210"}),
            ("/ISteamUser/GetPlayerSummaries/{v}/", ("v2", "v0002"), {"steamids": DEMO_STEAM_ID}),
            ("/ISteamUser/ResolveVanityURL/{v}/", ("v1", "v0001"), {"vanityurl": "demo"}),
        ]
        for version in versions
    ],
)
async def test_both_version_spellings_answer(http: aiohttp.ClientSession, path: str, params: dict[str, str]) -> None:
    """Every endpoint answers 200 JSON on its short (v2) and long (v0002) version spelling."""
    status, body = await get_json(http, path, key=KEY, appid="381210", **params)
    assert status == 200
    assert body


@pytest.mark.parametrize(
    ("path", "params", "status", "body"),
    [
        (STATS, {"steamid": DEMO_STEAM_ID}, 400, {}),
        (
            ACHIEVEMENTS_PATH,
            {"steamid": DEMO_STEAM_ID},
            400,
            {"playerstats": {"error": "Requested app has no stats", "success": False}},
        ),
        (SCHEMA, {}, 400, {}),
    ],
)
async def test_wrong_or_missing_appid(
    http: aiohttp.ClientSession, path: str, params: dict[str, str], status: int, body: Any
) -> None:
    """An appid other than 381210, or none, gets Steam's JSON refusal for that endpoint."""
    assert await get_json(http, path, key=KEY, appid="440", **params) == (status, body)
    assert await get_json(http, path, key=KEY, **params) == (status, body)


async def test_rarity_of_unknown_game_is_403_empty_json(http: aiohttp.ClientSession) -> None:
    """Global percentages of another game are 403 with `{}`."""
    assert await get_json(http, RARITY, gameid="440") == (403, {})


@pytest.mark.parametrize("path", [STATS, ACHIEVEMENTS_PATH])
async def test_missing_steamid_is_a_400_page(http: aiohttp.ClientSession, path: str) -> None:
    """A player call without `steamid` is a 400 HTML page naming the parameter."""
    status, media_type, text = await get(http, path, key=KEY, appid="381210")
    assert (status, media_type) == (400, "text/html")
    assert "Required parameter 'steamid' is missing" in text


async def test_unknown_path_is_steams_404_page(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """A path Steam does not serve gets a 404 HTML page, and is not counted as a Steam request."""
    status, media_type, text = await get(http, "/ISteamUserStats/GetNothing/v1/", key=KEY)
    assert (status, media_type) == (404, "text/html")
    assert "Not Found" in text
    assert sim.state.count() == 0


async def test_profile_of_never_played_player_is_public(http: aiohttp.ClientSession) -> None:
    """The account that never played DBD still has a public profile."""
    _, body = await get_json(http, PROFILE, key=KEY, steamids=NEVER_PLAYED_STEAM_ID)
    assert [p["communityvisibilitystate"] for p in body["response"]["players"]] == [3]
