"""Steam's answer -> the JSON document it carries, or the `SteamError` it means: one table for every endpoint.

The parsers of `steam.parse` hand what the transport received, ``(status, content_type, body, headers)``, to
`decode`, which classifies it in this order ("player endpoints" are stats and achievements, where an answer can
be about the player)::

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

The per-endpoint rows are applied by the parsers with `raise_playerstats_error`, `member_object` and `objects`.

Messages are built from the endpoint name, the status and a fixed reason: never from the body or the URL, so
neither Steam's text nor our key can reach a log through them.
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, NoReturn

import orjson

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
from dbd_playerstats.steam.fields import read_int

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

_ERESULT_OK: Final = 1
_ERESULT_NO_MATCH: Final = frozenset({9, 42})
_ERESULT_RATE_LIMITED: Final = frozenset({25, 84})
_ERESULT_SERVER: Final = frozenset({2, 3, 10, 16, 20})

_KEY_MISSING: Final = re.compile(rb"parameter\s+\S{0,8}key\S{0,8}\s+is\s+missing")
_DELTA_SECONDS: Final = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,9})?")


@dataclass(frozen=True, slots=True)
class Call:
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


def decode(call: Call, content_type: str, body: bytes, headers: Mapping[str, str]) -> object:
    """Classify the status and headers; return the JSON document of an answer that claims success."""
    check_success(call, content_type, body, headers)
    return document(call, content_type, body)


def check_success(call: Call, content_type: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Raise the error the status and headers mean; return for an answer that claims success (2xx, no EResult
    error), whose body `document` (or `steam.typed`) reads next."""
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


def document(call: Call, content_type: str, body: bytes) -> object:
    """The JSON document of a successful answer; the error a body that is not JSON means."""
    loaded = _loads(body)
    if loaded is _NOT_JSON:
        if _is_html(content_type, body):
            raise call.error(SteamServerError, "HTML page instead of JSON (maintenance?)")
        raise call.error(SteamBadResponseError, "body is not JSON")
    return loaded


def _client_failure(call: Call, content_type: str, body: bytes) -> SteamError:
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


def _raise_eresult(call: Call, headers: Mapping[str, str]) -> None:
    """Raise the error a successful status carries in X-eresult / X-error_message, if it carries one."""
    raw = _header(headers, "X-eresult")
    message = _header(headers, "X-error_message")
    eresult = read_int(raw) if raw is not None else None
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


def raise_playerstats_error(call: Call, playerstats: dict[str, object]) -> None:
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
# A run of 19 or more ASCII digits, found as 19 zeros once every digit is mapped to b"0" (a C-speed scan: the
# equivalent regex search cost five times orjson's own parse of an answer, issue 12).
_DIGITS_TO_ZERO: Final = bytes.maketrans(b"0123456789", b"0" * 10)
_NINETEEN_DIGITS: Final = b"0" * 19


def _reject_constant(name: str) -> NoReturn:
    """Refuse NaN and ±Infinity: Steam never sends them, and they are not JSON."""
    raise ValueError(name)


def _loads(body: bytes) -> object:
    """The JSON document in ``body``, or _NOT_JSON (bad encoding, syntax, NaN, too deep, too long a number).

    orjson first (a few times faster on the 282 achievements of an answer: issue 12's profile); whatever it
    refuses (invalid JSON, but also numbers out of float range, lone surrogates, a byte-order mark, other
    encodings than UTF-8) goes to the standard library, whose answer it always was, so the result is the same.
    So does a body with a run of 19 or more digits: orjson turns integers beyond 64 bits into floats where the
    standard library keeps them exact (and the stat parser refuses them), found by the parser's fuzz test.
    """
    if _NINETEEN_DIGITS not in body.translate(_DIGITS_TO_ZERO):
        try:
            fast: object = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            return fast
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


def member_object(call: Call, document: object, member: str) -> dict[str, object]:
    """``document[member]`` when the document is an object holding an object there; else a wrong shape."""
    if not isinstance(document, dict):
        call.bad_shape("document is not an object")
    value = document.get(member)
    if not isinstance(value, dict):
        call.bad_shape(f"{member} is not an object")
    return value


def objects(call: Call, value: object, where: str) -> list[dict[str, object]]:
    """The objects of a JSON list (absent or null is empty); any non-object element is a wrong shape."""
    if value is None:
        return []
    if not isinstance(value, list):
        call.bad_shape(f"{where} is not a list")
    for element in value:
        if not isinstance(element, dict):
            call.bad_shape(f"{where} holds a non-object")
    return value


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
    "Call",
    "check_success",
    "decode",
    "document",
    "member_object",
    "objects",
    "parse_retry_after",
    "raise_playerstats_error",
]
