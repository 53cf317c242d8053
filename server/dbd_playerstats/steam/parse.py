"""Steam answers -> model values or `SteamError`s: pure functions, one per endpoint, no I/O.

Every parser takes what the transport received, ``(status, content_type, body, headers)``, and either returns
the model value or raises a `SteamError` subclass. Nothing else escapes, whatever the body holds: the hostile
bodies of the property tests (random bytes, random JSON, random statuses) prove it.

Classification, applied in this order (one table for every endpoint; "player endpoints" are stats and
achievements, where an answer can be about the player)::

    429                                         SteamRateLimitedError  retry_after from Retry-After (or None)
    500-599                                     SteamServerError
    4xx, player endpoint, JSON playerstats.error
        containing "not public" (any case)      SteamProfilePrivateError
        containing "no stats" (any case)        SteamNoStatsError
    400 {} on stats                             SteamNoStatsError
    403 HTML page                               SteamKeyRejectedError  (bad/revoked key; also an IP block)
    4xx body mentioning "key=" or
        "Parameter 'key' is missing"            SteamKeyRejectedError
    other 4xx                                   SteamClientError
    1xx, 3xx, anything outside 100-599          SteamBadResponseError  (redirects are not followed)
    2xx with X-eresult != 1 (or only an
        X-error_message):
        42 NoMatch / 9 FileNotFound             SteamNotFoundError on stats/achievements/profile/vanity,
                                                SteamClientError on schema/rarity
        84 RateLimitExceeded, 25 LimitExceeded  SteamRateLimitedError
        2, 3, 10, 16, 20 (fail, busy, timeout)  SteamServerError
        any other                               SteamClientError
    2xx, body not JSON and an HTML page         SteamServerError       (maintenance page)
    2xx, body not JSON otherwise                SteamBadResponseError  (empty, truncated, binary, NaN, ...)
    2xx JSON, then per endpoint:
        stats: playerstats without "stats"      SteamNoStatsError      (private, never played or unknown)
        stats/achievements: playerstats.error   as the 4xx player rows; unknown text -> SteamBadResponseError
        vanity: success != 1                    SteamNotFoundError
        a container of the wrong type           SteamBadResponseError

Leniency inside a well-formed shape: a list that must hold objects but holds something else is a wrong shape
(SteamBadResponseError); inside an object, a field of the wrong type drops that one entry (a stat whose value is
a bool, string or null; an entry without a usable name or id) or falls back to a default (display strings -> "",
hidden -> False, visibility -> UNKNOWN, unlock time -> None). Absent or null lists are empty lists, except the
stats list of GetUserStatsForGame, whose absence is how Steam says "no stats".

Messages are built from the endpoint name, the status and a fixed reason: never from the body or the URL, so
neither Steam's text nor our key can reach a log through them.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, NoReturn

from dbd_playerstats.steam.errors import (
    SteamBadResponseError,
    SteamClientError,
    SteamError,
    SteamKeyRejectedError,
    SteamNoStatsError,
    SteamNotFoundError,
    SteamProfilePrivateError,
    SteamRateLimitedError,
    SteamServerError,
)
from dbd_playerstats.steam.models import (
    GameSchema,
    GlobalPercentages,
    PlayerAchievement,
    PlayerAchievements,
    PlayerSummary,
    SchemaAchievement,
    StatValue,
    UserStats,
    Visibility,
)

STATS: Final = "stats"
ACHIEVEMENTS: Final = "achievements"
SCHEMA: Final = "schema"
RARITY: Final = "rarity"
PROFILE: Final = "profile"
VANITY: Final = "vanity"
ENDPOINTS: Final = (STATS, ACHIEVEMENTS, SCHEMA, RARITY, PROFILE, VANITY)
"""The short endpoint names carried by `SteamError.endpoint`."""

_PLAYER_ENDPOINTS: Final = frozenset({STATS, ACHIEVEMENTS})
"""Endpoints whose 4xx JSON can describe the player (private profile, no stats)."""

_NOT_FOUND_ENDPOINTS: Final = frozenset({STATS, ACHIEVEMENTS, PROFILE, VANITY})
"""Endpoints where EResult "no match" means the player or vanity name does not exist."""

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_MAX_NUMERIC_TEXT: Final = 64
"""Longest numeric-string percent we try to read; longer ones are not numbers Steam sends."""

_ERESULT_OK: Final = 1
_ERESULT_NO_MATCH: Final = frozenset({9, 42})
_ERESULT_RATE_LIMITED: Final = frozenset({25, 84})
_ERESULT_SERVER: Final = frozenset({2, 3, 10, 16, 20})

_KEY_MISSING: Final = re.compile(rb"parameter\s+\S{0,8}key\S{0,8}\s+is\s+missing")
_DECIMAL: Final = re.compile(r"\s*[+-]?[0-9]{1,19}\s*")
_DELTA_SECONDS: Final = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,9})?")
_STEAM_ID: Final = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True, slots=True)
class _Call:
    """What a parser knows about the call it is judging: enough to build any error of the tree."""

    endpoint: str
    status: int
    steam_id: str | None = None

    def error(self, cls: type[SteamError], reason: str, *, retry_after: float | None = None) -> SteamError:
        """Build ``cls`` with a message naming only the endpoint, the status and our own fixed reason."""
        return cls(
            f"{self.endpoint}: HTTP {self.status}: {reason}",
            endpoint=self.endpoint,
            status=self.status,
            retry_after=retry_after,
            steam_id=self.steam_id,
        )

    def bad_shape(self, what: str) -> NoReturn:
        """Raise SteamBadResponseError for a JSON document whose structure is not the documented one."""
        raise self.error(SteamBadResponseError, f"unexpected JSON shape ({what})")


# --------------------------------------------------------------------------------------------------------------
# Public parsers, one per endpoint
# --------------------------------------------------------------------------------------------------------------


def parse_user_stats(
    status: int, content_type: str, body: bytes, headers: Mapping[str, str], *, steam_id: str
) -> UserStats:
    """GetUserStatsForGame -> UserStats for ``steam_id`` (the id we asked for, not Steam's echo).

    Every stat is kept in Steam's order: an int (within int64) stays int, a finite float stays float even on a
    stat whose name does not end in ``_float``, and an int on a ``*_float`` stat becomes a float. An entry whose
    value is a bool, string, null, non-finite or out of range, or whose name is not a non-empty string, is dropped.
    A ``playerstats`` without ``stats`` (or with ``"stats": null``) raises SteamNoStatsError.
    """
    call = _Call(STATS, status, steam_id)
    document = _decode(call, content_type, body, headers)
    playerstats = _member_object(call, document, "playerstats")
    _raise_playerstats_error(call, playerstats)
    raw_stats = playerstats.get("stats")
    if raw_stats is None:
        raise call.error(SteamNoStatsError, "no stats in playerstats")
    stats = tuple(
        stat for entry in _objects(call, raw_stats, "playerstats.stats") if (stat := _stat(entry)) is not None
    )
    return UserStats(steam_id=steam_id, stats=stats)


def parse_player_achievements(
    status: int, content_type: str, body: bytes, headers: Mapping[str, str], *, steam_id: str
) -> PlayerAchievements:
    """GetPlayerAchievements -> PlayerAchievements for ``steam_id``.

    ``achieved`` accepts 0/1, bools and decimal strings; ``unlocktime`` 0, absent, unreadable or out of range
    (and any unlock time of a locked achievement) becomes None. Entries without a usable ``apiname`` or
    ``achieved`` are dropped; an absent or null ``achievements`` list is empty.
    """
    call = _Call(ACHIEVEMENTS, status, steam_id)
    document = _decode(call, content_type, body, headers)
    playerstats = _member_object(call, document, "playerstats")
    _raise_playerstats_error(call, playerstats)
    entries = _objects(call, playerstats.get("achievements"), "playerstats.achievements")
    achievements = tuple(a for entry in entries if (a := _player_achievement(entry)) is not None)
    return PlayerAchievements(steam_id=steam_id, achievements=achievements)


def parse_schema(status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> GameSchema:
    """GetSchemaForGame -> GameSchema; ``{"game":{}}`` (an app without a schema) is an empty GameSchema.

    Achievements keep Steam's order; a missing ``description`` or ``displayName`` becomes "", ``hidden`` is true
    only for a non-zero number. Entries without a usable ``name`` are dropped.
    """
    call = _Call(SCHEMA, status)
    document = _decode(call, content_type, body, headers)
    game = _member_object(call, document, "game")
    available = game.get("availableGameStats")
    if available is None:
        available = {}
    elif not isinstance(available, dict):
        call.bad_shape("game.availableGameStats is not an object")
    stat_names = tuple(
        name
        for entry in _objects(call, available.get("stats"), "availableGameStats.stats")
        if (name := _name(entry.get("name"))) is not None
    )
    achievements = tuple(
        a
        for entry in _objects(call, available.get("achievements"), "availableGameStats.achievements")
        if (a := _schema_achievement(entry)) is not None
    )
    return GameSchema(game_name=_text(game.get("gameName")), achievements=achievements, stat_names=stat_names)


def parse_global_percentages(
    status: int, content_type: str, body: bytes, headers: Mapping[str, str]
) -> GlobalPercentages:
    """GetGlobalAchievementPercentagesForApp -> api name -> percent.

    A percent may be a JSON number or a numeric string; entries whose percent is not a finite number within
    0..100, or whose name is not a non-empty string, are dropped. A repeated name keeps its last percent.
    """
    call = _Call(RARITY, status)
    document = _decode(call, content_type, body, headers)
    container = _member_object(call, document, "achievementpercentages")
    percents: dict[str, float] = {}
    for entry in _objects(call, container.get("achievements"), "achievementpercentages.achievements"):
        name = _name(entry.get("name"))
        percent = _percent(entry.get("percent"))
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
    call = _Call(PROFILE, status, steam_id)
    document = _decode(call, content_type, body, headers)
    response = _member_object(call, document, "response")
    summaries: dict[str, PlayerSummary] = {}
    for entry in _objects(call, response.get("players"), "response.players"):
        summary = _player_summary(entry)
        if summary is not None:
            summaries[summary.steam_id] = summary
    return summaries


def parse_vanity(status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> str:
    """ResolveVanityURL -> the SteamID64 as a decimal string.

    ``success`` other than 1 (Steam sends 42 "No match" with HTTP 200) raises SteamNotFoundError; a success
    without a usable ``steamid`` (string or number of digits) raises SteamBadResponseError.
    """
    call = _Call(VANITY, status)
    document = _decode(call, content_type, body, headers)
    response = _member_object(call, document, "response")
    success = _as_int(response.get("success"))
    if success is None:
        call.bad_shape("response.success is missing")
    if success != 1:
        raise call.error(SteamNotFoundError, "no match")
    steam_id = _steam_id(response.get("steamid"))
    if steam_id is None:
        call.bad_shape("response.steamid is missing")
    return steam_id


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a Retry-After header value, or None when absent or unreadable.

    Delta-seconds (``"120"``, also ``"1.5"``) are returned as they are; an HTTP date (``"Wed, 21 Oct 2015
    07:28:00 GMT"``) becomes seconds from ``now`` (default: the current UTC time; a naive ``now`` or date is
    taken as UTC), clamped to >= 0 when the date is past. No upper bound is applied: the caller caps it.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    reference = now if now is not None else datetime.now(UTC)
    try:
        seconds = (_as_utc(when) - _as_utc(reference)).total_seconds()
    except OverflowError:
        return None
    return max(0.0, seconds)


# --------------------------------------------------------------------------------------------------------------
# Status, headers and body -> JSON document, or the error they mean
# --------------------------------------------------------------------------------------------------------------


def _decode(call: _Call, content_type: str, body: bytes, headers: Mapping[str, str]) -> object:
    """Classify the status and headers; return the JSON document of an answer that claims success."""
    status = call.status
    if status == 429:
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        raise call.error(SteamRateLimitedError, "rate limited", retry_after=retry_after)
    if 500 <= status <= 599:
        raise call.error(SteamServerError, "server error")
    if 400 <= status <= 499:
        raise _client_failure(call, content_type, body)
    if not 200 <= status <= 299:
        raise call.error(SteamBadResponseError, "unexpected HTTP status")
    _raise_eresult(call, headers)
    document = _loads(body)
    if document is _NOT_JSON:
        if _is_html(content_type, body):
            raise call.error(SteamServerError, "HTML page instead of JSON (maintenance?)")
        raise call.error(SteamBadResponseError, "body is not JSON")
    return document


def _client_failure(call: _Call, content_type: str, body: bytes) -> SteamError:
    """The error a 4xx means: about the player, about our key, or about the request."""
    is_html = _is_html(content_type, body)
    document = _NOT_JSON if is_html else _loads(body)
    if call.endpoint in _PLAYER_ENDPOINTS and isinstance(document, dict):
        playerstats = document.get("playerstats")
        if isinstance(playerstats, dict):
            player_error = _playerstats_error_class(playerstats)
            if player_error is not None:
                return call.error(*player_error)
    if call.endpoint == STATS and call.status == 400 and document == {}:
        return call.error(SteamNoStatsError, "empty object (no stats)")
    lowered = body.lower()
    if (call.status == 403 and is_html) or b"key=" in lowered or _KEY_MISSING.search(lowered):
        return call.error(SteamKeyRejectedError, "API key rejected or missing")
    return call.error(SteamClientError, "request refused")


def _raise_eresult(call: _Call, headers: Mapping[str, str]) -> None:
    """Raise the error a successful status carries in X-eresult / X-error_message, if it carries one."""
    raw = _header(headers, "X-eresult")
    message = _header(headers, "X-error_message")
    eresult = _as_int(raw) if raw is not None else None
    if eresult is None:
        if raw is None and message and message.strip():
            # A bare error message without a code: Steam's only documented one is "No match".
            eresult = 42 if "no match" in message.lower() else 0
        else:
            return
    if eresult == _ERESULT_OK:
        return
    cls: type[SteamError]
    if eresult in _ERESULT_NO_MATCH:
        cls = SteamNotFoundError if call.endpoint in _NOT_FOUND_ENDPOINTS else SteamClientError
    elif eresult in _ERESULT_RATE_LIMITED:
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        raise call.error(SteamRateLimitedError, f"EResult {eresult} (rate limited)", retry_after=retry_after)
    elif eresult in _ERESULT_SERVER:
        cls = SteamServerError
    else:
        cls = SteamClientError
    raise call.error(cls, f"EResult {eresult}")


def _raise_playerstats_error(call: _Call, playerstats: dict[str, object]) -> None:
    """Raise what a successful-status ``playerstats`` says when it carries ``error`` or ``success: false``."""
    error = playerstats.get("error")
    if error is None and playerstats.get("success") is not False:
        return
    player_error = _playerstats_error_class(playerstats)
    if player_error is not None:
        raise call.error(*player_error)
    call.bad_shape("playerstats reports an unknown error")


def _playerstats_error_class(playerstats: dict[str, object]) -> tuple[type[SteamError], str] | None:
    """Map Steam's ``playerstats.error`` text to a player error (class and our reason), if it is one."""
    error = playerstats.get("error")
    if not isinstance(error, str):
        return None
    lowered = error.lower()
    if "not public" in lowered:
        return SteamProfilePrivateError, "profile is not public"
    if "no stats" in lowered:
        return SteamNoStatsError, "requested app has no stats"
    return None


class _NotJson:
    """Marker for a body that is not a JSON document (distinct from a JSON ``null``)."""


_NOT_JSON: Final = _NotJson()


def _reject_constant(name: str) -> NoReturn:
    """Refuse NaN and ±Infinity: Steam never sends them, and they are not JSON."""
    raise ValueError(name)


def _loads(body: bytes) -> object:
    """The JSON document in ``body``, or _NOT_JSON (bad encoding, syntax, NaN, too deep, too long a number)."""
    try:
        document: object = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError, UnicodeDecodeError and the int digit limit.
        return _NOT_JSON
    return document


def _is_html(content_type: str, body: bytes) -> bool:
    """Whether the answer is a web page rather than an API document."""
    return "html" in content_type.lower() or body.lstrip()[:1] == b"<"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that also works on a plain dict."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None


# --------------------------------------------------------------------------------------------------------------
# JSON shape and value helpers
# --------------------------------------------------------------------------------------------------------------


def _member_object(call: _Call, document: object, member: str) -> dict[str, object]:
    """``document[member]`` when the document is an object holding an object there; else a wrong shape."""
    if not isinstance(document, dict):
        call.bad_shape("document is not an object")
    value = document.get(member)
    if not isinstance(value, dict):
        call.bad_shape(f"{member} is not an object")
    return value


def _objects(call: _Call, value: object, where: str) -> list[dict[str, object]]:
    """The objects of a JSON list (absent or null is empty); any non-object element is a wrong shape."""
    if value is None:
        return []
    if not isinstance(value, list):
        call.bad_shape(f"{where} is not a list")
    for element in value:
        if not isinstance(element, dict):
            call.bad_shape(f"{where} holds a non-object")
    return value


def _stat(entry: dict[str, object]) -> StatValue | None:
    """One stat, or None when its name or value is unusable."""
    name = _name(entry.get("name"))
    value = entry.get("value")
    if name is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            return None
        return StatValue(name, float(value) if name.endswith("_float") else value)
    if isinstance(value, float) and math.isfinite(value):
        return StatValue(name, value)
    return None


def _player_achievement(entry: dict[str, object]) -> PlayerAchievement | None:
    """One GetPlayerAchievements entry, or None without a usable apiname or achieved flag."""
    api_name = _name(entry.get("apiname"))
    achieved = _as_int(entry.get("achieved"), allow_bool=True)
    if api_name is None or achieved is None:
        return None
    unlock_time = _unix_time(entry.get("unlocktime")) if achieved else None
    return PlayerAchievement(api_name=api_name, achieved=bool(achieved), unlock_time=unlock_time)


def _schema_achievement(entry: dict[str, object]) -> SchemaAchievement | None:
    """One schema achievement, or None without a usable name."""
    api_name = _name(entry.get("name"))
    if api_name is None:
        return None
    hidden = _as_int(entry.get("hidden"), allow_bool=True)
    return SchemaAchievement(
        api_name=api_name,
        display_name=_text(entry.get("displayName")),
        description=_text(entry.get("description")),
        hidden=bool(hidden),
    )


def _player_summary(entry: dict[str, object]) -> PlayerSummary | None:
    """One GetPlayerSummaries entry, or None without a usable steamid."""
    steam_id = _steam_id(entry.get("steamid"))
    if steam_id is None:
        return None
    state = _as_int(entry.get("communityvisibilitystate"))
    try:
        visibility = Visibility(state) if state is not None else Visibility.UNKNOWN
    except ValueError:
        visibility = Visibility.UNKNOWN
    return PlayerSummary(
        steam_id=steam_id,
        persona_name=_text(entry.get("personaname")),
        profile_url=_text(entry.get("profileurl")),
        avatar_url=_text(entry.get("avatarfull")),
        visibility=visibility,
    )


def _name(value: object) -> str | None:
    """A non-empty string identifier, or None."""
    return value if isinstance(value, str) and value else None


def _text(value: object) -> str:
    """A display string; anything that is not a string becomes ""."""
    return value if isinstance(value, str) else ""


def _steam_id(value: object) -> str | None:
    """A 64-bit id sent as a string of digits (or, from a sloppy producer, as a JSON integer)."""
    if isinstance(value, str) and _STEAM_ID.fullmatch(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**64:
        return str(value)
    return None


def _as_int(value: object, *, allow_bool: bool = False) -> int | None:
    """An integer from a JSON int, an integral finite float or a short decimal string; else None."""
    if isinstance(value, bool):
        return int(value) if allow_bool else None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    return None


def _percent(value: object) -> float | None:
    """A percent within 0..100 from a JSON number or numeric string; else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str) and len(value) > _MAX_NUMERIC_TEXT:
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and 0.0 <= number <= 100.0 else None


def _unix_time(value: object) -> datetime | None:
    """A UTC datetime from Unix seconds; 0, negative, absent, unreadable or out of range is None."""
    seconds = _as_int(value)
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware datetime, naive ones taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


__all__ = [
    "ACHIEVEMENTS",
    "ENDPOINTS",
    "PROFILE",
    "RARITY",
    "SCHEMA",
    "STATS",
    "VANITY",
    "parse_global_percentages",
    "parse_player_achievements",
    "parse_player_summaries",
    "parse_retry_after",
    "parse_schema",
    "parse_user_stats",
    "parse_vanity",
]
