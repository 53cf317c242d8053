"""How the simulator refuses players Steam will not show: private, hidden game details, never played, unknown."""

from __future__ import annotations

import json

import aiohttp
import pytest

from dbd_playerstats.sim import (
    HIDDEN_GAMES_STEAM_ID,
    NEVER_PLAYED_STEAM_ID,
    PRIVATE_STEAM_ID,
    RunningSimulator,
    StatsVariant,
)

KEY = "sim-key"
STATS = "/ISteamUserStats/GetUserStatsForGame/v0002/"
ACHIEVEMENTS = "/ISteamUserStats/GetPlayerAchievements/v0001/"
UNKNOWN_STEAM_ID = "76561197960265729"
NOT_PUBLIC = {"playerstats": {"error": "Profile is not public", "success": False}}
NO_STATS = {"playerstats": {"error": "Requested app has no stats", "success": False}}


async def get(http: aiohttp.ClientSession, path: str, steam_id: str) -> tuple[int, str, str]:
    """GET a player endpoint for `steam_id` with a valid key; return (status, media type, body text)."""
    params = {"key": KEY, "steamid": steam_id, "appid": "381210"}
    async with http.get(path, params=params) as response:
        return response.status, response.content_type, await response.text()


@pytest.mark.parametrize(
    ("steam_id", "status", "media_type", "fragment"),
    [
        (PRIVATE_STEAM_ID, 500, "text/html", "<h1>Internal Server Error</h1>"),
        (HIDDEN_GAMES_STEAM_ID, 500, "text/html", "<h1>Internal Server Error</h1>"),
        (NEVER_PLAYED_STEAM_ID, 400, "application/json", "{}"),
        (UNKNOWN_STEAM_ID, 500, "text/html", "<h1>Internal Server Error</h1>"),
    ],
)
async def test_default_stats_refusals(
    http: aiohttp.ClientSession, steam_id: str, status: int, media_type: str, fragment: str
) -> None:
    """By default private, hidden and unknown stats are a 500 HTML page and never-played stats a 400 `{}`."""
    got_status, got_type, text = await get(http, STATS, steam_id)
    assert (got_status, got_type) == (status, media_type)
    assert fragment in text


@pytest.mark.parametrize("steam_id", [PRIVATE_STEAM_ID, HIDDEN_GAMES_STEAM_ID, NEVER_PLAYED_STEAM_ID, UNKNOWN_STEAM_ID])
async def test_no_stats200_variant_has_no_stats_key(
    sim: RunningSimulator, http: aiohttp.ClientSession, steam_id: str
) -> None:
    """The `no_stats200` variant answers 200 with only steamID and gameName, for every kind of refusal."""
    sim.state.set_variants(
        private_stats=StatsVariant.NO_STATS200,
        never_played_stats=StatsVariant.NO_STATS200,
        unknown_stats=StatsVariant.NO_STATS200,
    )
    status, media_type, text = await get(http, STATS, steam_id)
    assert (status, media_type) == (200, "application/json")
    assert json.loads(text) == {"playerstats": {"steamID": steam_id, "gameName": "DeadByDaylight"}}


async def test_variants_are_chosen_per_kind_of_player(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """Private, never-played and unknown stats each follow their own configured variant."""
    sim.state.set_variants(
        private_stats=StatsVariant.EMPTY400,
        never_played_stats=StatsVariant.HTML500,
        unknown_stats=StatsVariant.NO_STATS200,
    )
    assert (await get(http, STATS, PRIVATE_STEAM_ID))[:2] == (400, "application/json")
    assert (await get(http, STATS, NEVER_PLAYED_STEAM_ID))[:2] == (500, "text/html")
    assert (await get(http, STATS, UNKNOWN_STEAM_ID))[:2] == (200, "application/json")


@pytest.mark.parametrize(
    ("steam_id", "status", "body"),
    [
        (PRIVATE_STEAM_ID, 403, NOT_PUBLIC),
        (HIDDEN_GAMES_STEAM_ID, 403, NOT_PUBLIC),
        (NEVER_PLAYED_STEAM_ID, 400, NO_STATS),
        (UNKNOWN_STEAM_ID, 400, NO_STATS),
    ],
)
async def test_achievement_refusals(
    sim: RunningSimulator, http: aiohttp.ClientSession, steam_id: str, status: int, body: object
) -> None:
    """Achievements are 403 "Profile is not public" for private data, else 400 "Requested app has no stats"."""
    sim.state.set_variants(private_stats=StatsVariant.EMPTY400)  # achievement refusals ignore stats variants
    got_status, media_type, text = await get(http, ACHIEVEMENTS, steam_id)
    assert (got_status, media_type) == (status, "application/json")
    assert json.loads(text) == body
