"""The pure Steam parsers' classification: every documented answer and failure, and Retry-After."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest

from dbd_playerstats.steam import classify
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
from dbd_playerstats.steam.parse import ENDPOINTS, parse_retry_after
from tests.steam.parse_support import HTML, JSON, PLAYER_ENDPOINTS, RESULT_TYPES, SID, encode, run

FORBIDDEN_PAGE = (
    b"<html><head><title>Forbidden</title></head><body><h1>Forbidden</h1>Access is denied. "
    b"Retrying will not help. Please verify your <pre>key=</pre> parameter.</body></html>"
)
KEY_MISSING_PAGE = (
    b"<html><head><title>Bad Request</title></head><body><h1>Bad Request</h1>"
    b"Required parameter 'key' is missing</body></html>"
)
MAINTENANCE_PAGE = b"<!DOCTYPE html><html><body>Steam is down for routine maintenance</body></html>"
TOO_MANY_PAGE = b"<html><head><title>Too Many Requests</title></head><body>Too Many Requests</body></html>"
SERVER_ERROR_PAGE = b"<html><head><title>500 Internal Server Error</title></head><body></body></html>"

VALID_BODIES: dict[str, object] = {
    "stats": {"playerstats": {"steamID": SID, "gameName": "DeadByDaylight", "stats": [{"name": "x", "value": 1}]}},
    "achievements": {
        "playerstats": {"steamID": SID, "gameName": "g", "achievements": [], "success": True},
    },
    "schema": {"game": {}},
    "rarity": {"achievementpercentages": {"achievements": []}},
    "profile": {"response": {"players": []}},
    "vanity": {"response": {"steamid": SID, "success": 1}},
}


# ----------------------------------------------------------------------------------------------------------------
# The classification table
# ----------------------------------------------------------------------------------------------------------------

ALL = ENDPOINTS
PRIVATE = encode({"playerstats": {"error": "Profile is not public", "success": False}})
NO_STATS = encode({"playerstats": {"error": "Requested app has no stats", "success": False}})

# (endpoints, status, content type, body, headers, expected class)
TABLE: list[tuple[str, tuple[str, ...], int, str, bytes, dict[str, str], type[SteamError]]] = [
    ("429 html", ALL, 429, HTML, TOO_MANY_PAGE, {}, SteamRateLimitedError),
    ("429 empty", ALL, 429, "", b"", {}, SteamRateLimitedError),
    ("500 html", ALL, 500, HTML, SERVER_ERROR_PAGE, {}, SteamServerError),
    ("502 html", ALL, 502, HTML, b"<html>Bad Gateway</html>", {}, SteamServerError),
    ("503 html", ALL, 503, HTML, b"<html>Service Unavailable</html>", {}, SteamServerError),
    ("500 json", ALL, 500, JSON, b"{}", {}, SteamServerError),
    ("200 maintenance html", ALL, 200, HTML, MAINTENANCE_PAGE, {}, SteamServerError),
    ("200 html without content type", ALL, 200, "", b"  \n<html><body>down</body></html>", {}, SteamServerError),
    ("403 bad key page", ALL, 403, HTML, FORBIDDEN_PAGE, {}, SteamKeyRejectedError),
    ("403 html without key mention", ALL, 403, HTML, b"<html>Forbidden</html>", {}, SteamKeyRejectedError),
    ("403 text mentioning key=", ALL, 403, "text/plain", b"please verify your key= parameter", {},
     SteamKeyRejectedError),
    ("400 key missing page", ALL, 400, HTML, KEY_MISSING_PAGE, {}, SteamKeyRejectedError),
    ("400 key missing html entity", ALL, 400, HTML, b"<h1>Parameter &#39;key&#39; is missing</h1>", {},
     SteamKeyRejectedError),
    ("400 other html", ALL, 400, HTML, b"<html>Bad Request</html>", {}, SteamClientError),
    ("403 private", PLAYER_ENDPOINTS, 403, JSON, PRIVATE, {}, SteamProfilePrivateError),
    ("403 private upper case", PLAYER_ENDPOINTS, 403, JSON,
     encode({"playerstats": {"error": "PROFILE IS NOT PUBLIC"}}), {}, SteamProfilePrivateError),
    ("403 private other endpoints", ("schema", "rarity", "profile", "vanity"), 403, JSON, PRIVATE, {},
     SteamClientError),
    ("400 no stats", PLAYER_ENDPOINTS, 400, JSON, NO_STATS, {}, SteamNoStatsError),
    ("400 other playerstats error", PLAYER_ENDPOINTS, 400, JSON,
     encode({"playerstats": {"error": "Invalid SteamID", "success": False}}), {}, SteamClientError),
    ("stats 400 empty object", ("stats",), 400, JSON, b"{}", {}, SteamNoStatsError),
    ("400 empty object elsewhere", ("achievements", "schema", "rarity", "profile", "vanity"), 400, JSON, b"{}", {},
     SteamClientError),
    ("rarity unknown app 403 {}", ("rarity",), 403, JSON, b"{}", {}, SteamClientError),
    ("404", ALL, 404, HTML, b"<html>Not Found</html>", {}, SteamClientError),
    ("401 json", ALL, 401, JSON, b"{}", {}, SteamClientError),
    ("302 redirect", ALL, 302, HTML, b"", {"Location": "/elsewhere"}, SteamBadResponseError),
    ("100 informational", ALL, 100, "", b"", {}, SteamBadResponseError),
    ("status 0", ALL, 0, "", b"", {}, SteamBadResponseError),
    ("status 600", ALL, 600, JSON, b"{}", {}, SteamBadResponseError),
    ("stats without stats key", ("stats",), 200, JSON,
     encode({"playerstats": {"steamID": SID, "gameName": "DeadByDaylight"}}), {}, SteamNoStatsError),
    ("stats with null stats", ("stats",), 200, JSON, encode({"playerstats": {"stats": None}}), {}, SteamNoStatsError),
    ("200 private playerstats", PLAYER_ENDPOINTS, 200, JSON, PRIVATE, {}, SteamProfilePrivateError),
    ("200 no stats playerstats", PLAYER_ENDPOINTS, 200, JSON, NO_STATS, {}, SteamNoStatsError),
    ("200 unknown playerstats error", PLAYER_ENDPOINTS, 200, JSON,
     encode({"playerstats": {"error": "Something", "success": False}}), {}, SteamBadResponseError),
    ("200 success false without error", ("achievements",), 200, JSON,
     encode({"playerstats": {"success": False}}), {}, SteamBadResponseError),
    ("vanity no match", ("vanity",), 200, JSON, encode({"response": {"success": 42, "message": "No match"}}), {},
     SteamNotFoundError),
    ("vanity other failure", ("vanity",), 200, JSON, encode({"response": {"success": 2}}), {}, SteamNotFoundError),
    ("vanity success without id", ("vanity",), 200, JSON, encode({"response": {"success": 1}}), {},
     SteamBadResponseError),
    ("vanity without success", ("vanity",), 200, JSON, encode({"response": {"steamid": SID}}), {},
     SteamBadResponseError),
    ("eresult 42 player", ("stats", "achievements", "profile", "vanity"), 200, JSON, b"{}",
     {"X-eresult": "42", "X-error_message": "No match"}, SteamNotFoundError),
    ("eresult 42 app", ("schema", "rarity"), 200, JSON, b"{}", {"X-eresult": "42"}, SteamClientError),
    ("eresult lower-case header", ("vanity",), 200, JSON, b"{}", {"x-eresult": "42"}, SteamNotFoundError),
    ("eresult 84", ALL, 200, JSON, b"{}", {"X-eresult": "84"}, SteamRateLimitedError),
    ("eresult 2 fail", ALL, 200, JSON, b"{}", {"X-eresult": "2"}, SteamServerError),
    ("eresult 20 unavailable", ALL, 200, JSON, b"{}", {"X-eresult": "20"}, SteamServerError),
    ("eresult 15 access denied", ALL, 200, JSON, b"{}", {"X-eresult": "15"}, SteamClientError),
    ("error message only, no match", ("vanity", "profile"), 200, JSON, b"{}",
     {"X-error_message": "No match"}, SteamNotFoundError),
    ("error message only, other", ALL, 200, JSON, b"{}", {"X-error_message": "Invalid"}, SteamClientError),
    ("200 empty body", ALL, 200, JSON, b"", {}, SteamBadResponseError),
    ("200 not json", ALL, 200, JSON, b"hello", {}, SteamBadResponseError),
    ("200 truncated json", ALL, 200, JSON, b'{"playerstats":{"steamID":"765', {}, SteamBadResponseError),
    ("200 invalid utf-8", ALL, 200, JSON, b'{"a":"\xff\xfe"}', {}, SteamBadResponseError),
    ("200 NaN", ALL, 200, JSON, b"NaN", {}, SteamBadResponseError),
    ("200 deeply nested", ALL, 200, JSON, b"[" * 200_000, {}, SteamBadResponseError),
    ("200 huge integer", ALL, 200, JSON, b"9" * 10_000, {}, SteamBadResponseError),
    ("200 json array", ALL, 200, JSON, b"[]", {}, SteamBadResponseError),
    ("200 json null", ALL, 200, JSON, b"null", {}, SteamBadResponseError),
    ("200 empty object", ALL, 200, JSON, b"{}", {}, SteamBadResponseError),
    ("stats playerstats list", ("stats",), 200, JSON, encode({"playerstats": []}), {}, SteamBadResponseError),
    ("stats playerstats null", ("stats",), 200, JSON, encode({"playerstats": None}), {}, SteamBadResponseError),
    ("stats list of strings", ("stats",), 200, JSON, encode({"playerstats": {"stats": ["a", "b"]}}), {},
     SteamBadResponseError),
    ("stats as object", ("stats",), 200, JSON, encode({"playerstats": {"stats": {"a": 1}}}), {},
     SteamBadResponseError),
    ("achievements as string", ("achievements",), 200, JSON, encode({"playerstats": {"achievements": "x"}}), {},
     SteamBadResponseError),
    ("schema game null", ("schema",), 200, JSON, encode({"game": None}), {}, SteamBadResponseError),
    ("schema availableGameStats list", ("schema",), 200, JSON, encode({"game": {"availableGameStats": []}}), {},
     SteamBadResponseError),
    ("rarity list of numbers", ("rarity",), 200, JSON, encode({"achievementpercentages": {"achievements": [1]}}),
     {}, SteamBadResponseError),
    ("profile players object", ("profile",), 200, JSON, encode({"response": {"players": {}}}), {},
     SteamBadResponseError),
    ("vanity response string", ("vanity",), 200, JSON, encode({"response": "x"}), {}, SteamBadResponseError),
]  # fmt: skip


class Case(NamedTuple):
    """One row of the table applied to one endpoint."""

    endpoint: str
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]
    expected: type[SteamError]


def _table_cases() -> list[Any]:
    return [
        pytest.param(Case(endpoint, status, content_type, body, headers, expected), id=f"{name}-{endpoint}")
        for name, endpoints, status, content_type, body, headers, expected in TABLE
        for endpoint in endpoints
    ]


@pytest.mark.parametrize("case", _table_cases())
def test_classification_table(case: Case) -> None:
    """Each documented answer raises exactly its class, labelled with endpoint, status and player."""
    with pytest.raises(SteamError) as caught:
        run(case.endpoint, case.status, case.content_type, case.body, case.headers)
    error = caught.value
    assert type(error) is case.expected
    assert error.endpoint == case.endpoint
    assert error.status == case.status
    assert error.steam_id == (SID if case.endpoint in PLAYER_ENDPOINTS else None)
    assert str(error).startswith(f"{case.endpoint}: HTTP {case.status}: ")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_valid_minimal_bodies_parse(endpoint: str) -> None:
    """The smallest documented success body of each endpoint yields its model type."""
    assert isinstance(run(endpoint, 200, JSON, encode(VALID_BODIES[endpoint])), RESULT_TYPES[endpoint])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_eresult_one_is_success(endpoint: str) -> None:
    """X-eresult 1 on a 200 is Steam's OK and does not disturb parsing."""
    body = encode(VALID_BODIES[endpoint])
    assert isinstance(run(endpoint, 200, JSON, body, {"X-eresult": "1"}), RESULT_TYPES[endpoint])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_json_served_as_html_is_still_json(endpoint: str) -> None:
    """A valid JSON body with a text/html content type is parsed, not taken for a maintenance page."""
    assert isinstance(run(endpoint, 200, HTML, encode(VALID_BODIES[endpoint])), RESULT_TYPES[endpoint])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_messages_never_echo_the_body(endpoint: str) -> None:
    """An error body echoing a key is not copied into the error's str or repr."""
    body = b"<html>Forbidden: verify your key=SECRET-KEY-123 parameter</html>"
    with pytest.raises(SteamKeyRejectedError) as caught:
        run(endpoint, 403, HTML, body)
    assert "SECRET-KEY-123" not in str(caught.value)
    assert "SECRET-KEY-123" not in repr(caught.value)


# ----------------------------------------------------------------------------------------------------------------
# Retry-After
# ----------------------------------------------------------------------------------------------------------------

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", None),
        ("soon", None),
        ("1e3", None),
        ("Sat, 01 Mar 2025 12:00:30 GMT", 30.0),
        ("Saturday, 01-Mar-25 12:01:00 GMT", 60.0),
        ("Sat Mar  1 12:00:10 2025", 10.0),
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),
        ("Sat, 01 Mar 2025 13:00:00 +0100", 0.0),
        ("Sat, 01 Mar 2025 14:00:00 +0100", 3600.0),
        ("Sat, 99 Foo 2025 12:00:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After is read as seconds or as an HTTP date relative to now, clamped at 0, None when unreadable."""
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_defaults_to_current_time() -> None:
    """Without ``now`` an HTTP date is measured from the current UTC time."""
    future = datetime.now(UTC) + timedelta(seconds=100)
    seconds = parse_retry_after(future.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert seconds is not None
    assert 90 <= seconds <= 100


def test_parse_retry_after_accepts_naive_now() -> None:
    """A naive ``now`` is taken as UTC."""
    assert parse_retry_after("Sat, 01 Mar 2025 12:00:30 GMT", now=NOW.replace(tzinfo=None)) == 30.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "17"}, 17.0),
        ({"retry-after": "3"}, 3.0),
        ({"Retry-After": "later"}, None),
    ],
)
def test_rate_limited_carries_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """A 429's Retry-After (any header case) becomes retry_after; absent or unreadable leaves None."""
    with pytest.raises(SteamRateLimitedError) as caught:
        run("stats", 429, HTML, TOO_MANY_PAGE, headers)
    assert caught.value.retry_after == expected


def test_rate_limited_http_date_retry_after_is_positive() -> None:
    """A 429 with a future HTTP-date Retry-After yields seconds from now."""
    when = (datetime.now(UTC) + timedelta(seconds=60)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    with pytest.raises(SteamRateLimitedError) as caught:
        run("profile", 429, HTML, TOO_MANY_PAGE, {"Retry-After": when})
    assert caught.value.retry_after is not None
    assert 50 <= caught.value.retry_after <= 60


@pytest.mark.parametrize(
    "body",
    [
        b'{"playerstats":{"stats":[{"name":"DBD_X","value":-9223372036854775809}]}}',
        b'{"playerstats":{"stats":[{"name":"DBD_X","value":18446744073709551616}]}}',
        b'\xef\xbb\xbf{"playerstats":{"stats":[{"name":"DBD_X","value":1}]}}',
        b'{"playerstats":{"stats":[{"name":"DBD_X","value":1e400}]}}',
    ],
)
def test_the_fast_json_decoder_gives_the_standard_librarys_result(body: bytes) -> None:
    """Integers beyond 64 bits, a byte-order mark, a float out of range: what the standard library alone made
    of the body (orjson is only a faster way to the same document)."""
    assert classify._loads(body) == json.loads(body)
