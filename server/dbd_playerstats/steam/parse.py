"""Steam answers -> model values or `SteamError`s: pure functions, one per endpoint, no I/O.

Every parser takes what the transport received, ``(status, content_type, body, headers)``, and either returns
the model value or raises a `SteamError` subclass. Nothing else escapes, whatever the body holds: the hostile
bodies of the property tests (random bytes, random JSON, random statuses) prove it.

A parser reads top to bottom: `classify.decode` turns the status, headers and body into the JSON document or the
error they mean (the classification table is in `steam.classify`), the parser walks the documented shape (a
container of the wrong type is a SteamBadResponseError) and `steam.fields` reads each entry leniently. The stats
and achievements parsers first try `steam.typed` on a successful answer: msgspec decodes a body whose every entry
is well formed straight into the model values, and returns None for anything else, which is then read as above.

Leniency inside a well-formed shape: a list that must hold objects but holds something else is a wrong shape
(SteamBadResponseError); inside an object, a field of the wrong type drops that one entry (a stat whose value is
a bool, string or null; an entry without a usable name or id) or falls back to a default (display strings -> "",
hidden -> False, visibility -> UNKNOWN, unlock time -> None). Absent or null lists are empty lists, except the
stats list of GetUserStatsForGame, whose absence is how Steam says "no stats".

The endpoint names and `parse_retry_after` are defined in `steam.classify` and exported here too, so callers need
one import.
"""

from __future__ import annotations

from collections.abc import Mapping

from dbd_playerstats.steam import typed
from dbd_playerstats.steam.classify import (
    ACHIEVEMENTS,
    ENDPOINTS,
    PROFILE,
    RARITY,
    SCHEMA,
    STATS,
    VANITY,
    Call,
    check_success,
    decode,
    document,
    member_object,
    objects,
    parse_retry_after,
    raise_playerstats_error,
)
from dbd_playerstats.steam.errors import SteamNoStatsError, SteamNotFoundError
from dbd_playerstats.steam.fields import (
    read_int,
    read_name,
    read_percent,
    read_player_achievement,
    read_player_summary,
    read_schema_achievement,
    read_stat,
    read_steam_id,
    read_text,
)
from dbd_playerstats.steam.models import (
    GameSchema,
    GlobalPercentages,
    PlayerAchievement,
    PlayerAchievements,
    PlayerSummary,
    StatValue,
    UserStats,
)


def parse_user_stats(
    status: int, content_type: str, body: bytes, headers: Mapping[str, str], *, steam_id: str
) -> UserStats:
    """GetUserStatsForGame -> UserStats for ``steam_id`` (the id we asked for, not Steam's echo).

    Every stat is kept in Steam's order: an int (within int64) stays int, a finite float stays float even on a
    stat whose name does not end in ``_float``, and an int on a ``*_float`` stat becomes a float. An entry whose
    value is a bool, string, null, non-finite or out of range, or whose name is not a non-empty string, is dropped.
    A ``playerstats`` without ``stats`` (or with ``"stats": null``) raises SteamNoStatsError.
    """
    call = Call(STATS, status, steam_id)
    check_success(call, content_type, body, headers)
    stats = typed.user_stats(body)
    if stats is None:
        stats = lenient_user_stats(call, content_type, body)
    return UserStats(steam_id=steam_id, stats=stats)


def lenient_user_stats(call: Call, content_type: str, body: bytes) -> tuple[StatValue, ...]:
    """The stats of a successful answer that `steam.typed` did not take (public for the test comparing them)."""
    playerstats = _playerstats(call, content_type, body)
    raw_stats = playerstats.get("stats")
    if raw_stats is None:
        raise call.error(SteamNoStatsError, "no stats in playerstats")
    return tuple(
        stat for entry in objects(call, raw_stats, "playerstats.stats") if (stat := read_stat(entry)) is not None
    )


def parse_player_achievements(
    status: int, content_type: str, body: bytes, headers: Mapping[str, str], *, steam_id: str
) -> PlayerAchievements:
    """GetPlayerAchievements -> PlayerAchievements for ``steam_id``.

    ``achieved`` accepts 0/1, bools and decimal strings; ``unlocktime`` 0, absent, unreadable or out of range
    (and any unlock time of a locked achievement) becomes None. Entries without a usable ``apiname`` or
    ``achieved`` are dropped; an absent or null ``achievements`` list is empty.
    """
    call = Call(ACHIEVEMENTS, status, steam_id)
    check_success(call, content_type, body, headers)
    achievements = typed.player_achievements(body)
    if achievements is None:
        achievements = lenient_player_achievements(call, content_type, body)
    return PlayerAchievements(steam_id=steam_id, achievements=achievements)


def lenient_player_achievements(call: Call, content_type: str, body: bytes) -> tuple[PlayerAchievement, ...]:
    """The achievements of a successful answer that `steam.typed` did not take (public for the test)."""
    playerstats = _playerstats(call, content_type, body)
    entries = objects(call, playerstats.get("achievements"), "playerstats.achievements")
    return tuple(a for entry in entries if (a := read_player_achievement(entry)) is not None)


def _playerstats(call: Call, content_type: str, body: bytes) -> dict[str, object]:
    """The ``playerstats`` object of a player answer, or the error it reports."""
    playerstats = member_object(call, document(call, content_type, body), "playerstats")
    raise_playerstats_error(call, playerstats)
    return playerstats


def parse_schema(status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> GameSchema:
    """GetSchemaForGame -> GameSchema; ``{"game":{}}`` (an app without a schema) is an empty GameSchema.

    Achievements keep Steam's order; a missing ``description`` or ``displayName`` becomes "", ``hidden`` is true
    only for a non-zero number. Entries without a usable ``name`` are dropped.
    """
    call = Call(SCHEMA, status)
    document = decode(call, content_type, body, headers)
    game = member_object(call, document, "game")
    available = game.get("availableGameStats")
    if available is None:
        available = {}
    elif not isinstance(available, dict):
        call.bad_shape("game.availableGameStats is not an object")
    stat_names = tuple(
        name
        for entry in objects(call, available.get("stats"), "availableGameStats.stats")
        if (name := read_name(entry.get("name"))) is not None
    )
    achievements = tuple(
        a
        for entry in objects(call, available.get("achievements"), "availableGameStats.achievements")
        if (a := read_schema_achievement(entry)) is not None
    )
    return GameSchema(game_name=read_text(game.get("gameName")), achievements=achievements, stat_names=stat_names)


def parse_global_percentages(
    status: int, content_type: str, body: bytes, headers: Mapping[str, str]
) -> GlobalPercentages:
    """GetGlobalAchievementPercentagesForApp -> api name -> percent.

    A percent may be a JSON number or a numeric string; entries whose percent is not a finite number within
    0..100, or whose name is not a non-empty string, are dropped. A repeated name keeps its last percent.
    """
    call = Call(RARITY, status)
    document = decode(call, content_type, body, headers)
    container = member_object(call, document, "achievementpercentages")
    percents: dict[str, float] = {}
    for entry in objects(call, container.get("achievements"), "achievementpercentages.achievements"):
        name = read_name(entry.get("name"))
        percent = read_percent(entry.get("percent"))
        if name is not None and percent is not None:
            percents[name] = percent
    return GlobalPercentages(percents=percents)


def parse_player_summaries(
    status: int,
    content_type: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    steam_id: str | None = None,
) -> dict[str, PlayerSummary]:
    """GetPlayerSummaries -> steam id -> PlayerSummary; ids Steam does not know are simply absent.

    ``steam_id`` only labels errors (pass it when exactly one id was asked for). A ``steamid`` may be a JSON
    string or number; entries without a usable one are dropped. Unknown ``communityvisibilitystate`` values
    become Visibility.UNKNOWN, missing display strings "".
    """
    call = Call(PROFILE, status, steam_id)
    document = decode(call, content_type, body, headers)
    response = member_object(call, document, "response")
    summaries: dict[str, PlayerSummary] = {}
    for entry in objects(call, response.get("players"), "response.players"):
        summary = read_player_summary(entry)
        if summary is not None:
            summaries[summary.steam_id] = summary
    return summaries


def parse_vanity(status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> str:
    """ResolveVanityURL -> the SteamID64 as a decimal string.

    ``success`` other than 1 (Steam sends 42 "No match" with HTTP 200) raises SteamNotFoundError; a success
    without a usable ``steamid`` (string or number of digits) raises SteamBadResponseError.
    """
    call = Call(VANITY, status)
    document = decode(call, content_type, body, headers)
    response = member_object(call, document, "response")
    success = read_int(response.get("success"))
    if success is None:
        call.bad_shape("response.success is missing")
    if success != 1:
        raise call.error(SteamNotFoundError, "no match")
    steam_id = read_steam_id(response.get("steamid"))
    if steam_id is None:
        call.bad_shape("response.steamid is missing")
    return steam_id


__all__ = [
    "ACHIEVEMENTS",
    "ENDPOINTS",
    "PROFILE",
    "RARITY",
    "SCHEMA",
    "STATS",
    "VANITY",
    "lenient_player_achievements",
    "lenient_user_stats",
    "parse_global_percentages",
    "parse_player_achievements",
    "parse_player_summaries",
    "parse_retry_after",
    "parse_schema",
    "parse_user_stats",
    "parse_vanity",
]
