"""What each Steam endpoint answers for given query parameters, as pure functions over the fixtures.

The app's pipeline has already counted the request, slept, applied faults and checked the key; these
functions hold only Steam's semantics (steam-web-api.md), so each rule is testable without a socket:

- wrong or missing `appid`: stats 400 `{}`, achievements 400 "Requested app has no stats", schema 400 `{}`;
  rarity takes `gameid` (a missing one is a 400 page, an unknown one 403 `{}`).
- stats of a player Steam will not show: the configured `StatsVariant` (private or hidden game details,
  never played, unknown id).
- achievements: private or hidden game details 403 "Profile is not public"; never played and unknown ids
  400 "Requested app has no stats" (Steam cannot tell an unknown id from an account without the game).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from dbd_playerstats.sim import fixtures
from dbd_playerstats.sim.answers import Answer, bad_request, html_answer, json_answer, missing_parameter
from dbd_playerstats.sim.fixtures import ACHIEVEMENTS, Player, PlayerKind
from dbd_playerstats.sim.state import StatsVariant, Variants

MAX_SUMMARY_IDS: Final = 100
"""GetPlayerSummaries refuses longer `steamids` lists with a 400."""

_APP_ID_TEXT: Final = str(fixtures.APP_ID)
_PRIVATE_ACHIEVEMENTS: Final = {"playerstats": {"error": "Profile is not public", "success": False}}
_NO_STATS_ACHIEVEMENTS: Final = {"playerstats": {"error": "Requested app has no stats", "success": False}}
# The two game-wide bodies never change: encode them once (the schema is ~50 kB, asked for by every cold cache).
_SCHEMA_ANSWER: Final = json_answer(fixtures.SCHEMA)
_RARITY_ANSWER: Final = json_answer(fixtures.GLOBAL_PERCENTAGES)


def _stats_refusal(variant: StatsVariant, steam_id: str) -> Answer:
    if variant is StatsVariant.HTML500:
        # Steam's page for a stats call it cannot serve carries no explanation at all.
        return html_answer(500, "Internal Server Error")
    if variant is StatsVariant.EMPTY400:
        return json_answer({}, status=400)
    return json_answer({"playerstats": {"steamID": steam_id, "gameName": fixtures.STATS_GAME_NAME}})


def _stats_body(player: Player, overrides: Mapping[str, int | float]) -> dict[str, Any]:
    stats = dict(player.stats) | dict(overrides)
    playerstats: dict[str, Any] = {
        "steamID": player.steam_id,
        "gameName": fixtures.STATS_GAME_NAME,
        "stats": [{"name": name, "value": value} for name, value in stats.items()],
    }
    unlocked = [
        {"name": achievement.api_name, "achieved": 1}
        for achievement, unlock_time in zip(ACHIEVEMENTS, player.unlock_times, strict=True)
        if unlock_time
    ]
    # GetUserStatsForGame lists only unlocked achievements and drops the key when there are none.
    if unlocked:
        playerstats["achievements"] = unlocked
    return {"playerstats": playerstats}


def answer_stats(
    query: Mapping[str, str], variants: Variants, overrides: Mapping[str, int | float] | None = None
) -> Answer:
    """GetUserStatsForGame (`steamid`, `appid`)."""
    steam_id = query.get("steamid", "")
    if not steam_id:
        return missing_parameter("steamid")
    if query.get("appid") != _APP_ID_TEXT:
        return json_answer({}, status=400)
    player = fixtures.find_player(steam_id)
    if player is None:
        return _stats_refusal(variants.unknown_stats, steam_id)
    if player.kind in {PlayerKind.PRIVATE, PlayerKind.HIDDEN_GAMES}:
        return _stats_refusal(variants.private_stats, steam_id)
    if player.kind is PlayerKind.NEVER_PLAYED:
        return _stats_refusal(variants.never_played_stats, steam_id)
    return json_answer(_stats_body(player, overrides or {}))


def answer_achievements(query: Mapping[str, str], overrides: Mapping[str, int | None] | None = None) -> Answer:
    """GetPlayerAchievements (`steamid`, `appid`, optional `l` adding `name` and `description`).

    `overrides` (`SimState.override_achievements`) replaces unlock times by api name (0: locked; None: the
    achievement is left out of the answer).
    """
    steam_id = query.get("steamid", "")
    if not steam_id:
        return missing_parameter("steamid")
    player = fixtures.find_player(steam_id)
    if query.get("appid") != _APP_ID_TEXT or player is None or player.kind is PlayerKind.NEVER_PLAYED:
        return json_answer(_NO_STATS_ACHIEVEMENTS, status=400)
    if player.kind in {PlayerKind.PRIVATE, PlayerKind.HIDDEN_GAMES}:
        return json_answer(_PRIVATE_ACHIEVEMENTS, status=403)
    with_text = bool(query.get("l"))
    entries: list[dict[str, Any]] = []
    overrides = overrides or {}
    for achievement, fixture_time in zip(ACHIEVEMENTS, player.unlock_times, strict=True):
        unlock_time = overrides.get(achievement.api_name, fixture_time)
        if unlock_time is None:
            continue
        entry: dict[str, Any] = {
            "apiname": achievement.api_name,
            "achieved": 1 if unlock_time else 0,
            "unlocktime": unlock_time,
        }
        if with_text:
            entry["name"] = achievement.display_name
            entry["description"] = achievement.description or ""
        entries.append(entry)
    return json_answer(
        {
            "playerstats": {
                "steamID": player.steam_id,
                "gameName": fixtures.ACHIEVEMENTS_GAME_NAME,
                "achievements": entries,
                "success": True,
            }
        }
    )


def answer_schema(query: Mapping[str, str]) -> Answer:
    """GetSchemaForGame (`appid`; `l` is accepted and ignored: the simulator speaks English only)."""
    if query.get("appid") != _APP_ID_TEXT:
        return json_answer({}, status=400)
    return _SCHEMA_ANSWER


def answer_rarity(query: Mapping[str, str]) -> Answer:
    """GetGlobalAchievementPercentagesForApp (`gameid`, no key)."""
    game_id = query.get("gameid", "")
    if not game_id:
        return missing_parameter("gameid")
    if game_id != _APP_ID_TEXT:
        return json_answer({}, status=403)
    return _RARITY_ANSWER


def summary_ids(query: Mapping[str, str]) -> tuple[str, ...]:
    """The distinct ids of a `steamids` comma list, in request order (blank items ignored)."""
    items = (item.strip() for item in query.get("steamids", "").split(","))
    return tuple(dict.fromkeys(item for item in items if item))


def _summary(player: Player) -> dict[str, Any]:
    avatar_hash = fixtures.avatar_hash(player.steam_id)
    avatar = f"https://avatars.steamstatic.com/{avatar_hash}"
    summary: dict[str, Any] = {
        "steamid": player.steam_id,
        "communityvisibilitystate": player.visibility,
        "profilestate": 1,
        "personaname": player.persona_name,
        "profileurl": player.profile_url,
        "avatar": f"{avatar}.jpg",
        "avatarmedium": f"{avatar}_medium.jpg",
        "avatarfull": f"{avatar}_full.jpg",
        "avatarhash": avatar_hash,
        "personastate": 0,
    }
    if player.visibility == 3:
        # Only public profiles expose these; private ones stop at the basic card.
        summary["commentpermission"] = 1
        summary["lastlogoff"] = fixtures.last_logoff(player.steam_id)
        summary["primaryclanid"] = "103582791429521408"
        summary["timecreated"] = fixtures.time_created(player.steam_id)
    summary["personastateflags"] = 0
    return summary


def answer_profile(query: Mapping[str, str]) -> Answer:
    """GetPlayerSummaries (`steamids`, at most 100); unknown ids are left out of `players`.

    Steam does not promise any order; the simulator answers in descending id order so that a client
    relying on request order fails its tests instead of production.
    """
    steam_ids = summary_ids(query)
    if not steam_ids:
        return missing_parameter("steamids")
    if len(steam_ids) > MAX_SUMMARY_IDS:
        return bad_request(f"Too many steamids requested (at most {MAX_SUMMARY_IDS})")
    players = (fixtures.find_player(steam_id) for steam_id in steam_ids)
    known = sorted((player for player in players if player), key=lambda p: int(p.steam_id), reverse=True)
    return json_answer({"response": {"players": [_summary(player) for player in known]}})


def answer_vanity(query: Mapping[str, str]) -> Answer:
    """ResolveVanityURL (`vanityurl`, the bare name): "No match" is still HTTP 200, with success 42."""
    vanity = query.get("vanityurl", "")
    if not vanity:
        return missing_parameter("vanityurl")
    steam_id = fixtures.resolve_vanity(vanity)
    if steam_id is None:
        return json_answer({"response": {"success": 42, "message": "No match"}})
    return json_answer({"response": {"steamid": steam_id, "success": 1}})


__all__ = [
    "MAX_SUMMARY_IDS",
    "answer_achievements",
    "answer_profile",
    "answer_rarity",
    "answer_schema",
    "answer_stats",
    "answer_vanity",
    "summary_ids",
]
