"""The pure Steam parsers: every documented answer and failure, plus fuzzing with hostile inputs."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sized
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbd_playerstats.sim import DEMO_STEAM_ID
from dbd_playerstats.sim.state import Variants
from dbd_playerstats.sim.steam_api import (
    answer_achievements,
    answer_profile,
    answer_rarity,
    answer_schema,
    answer_stats,
    answer_vanity,
)
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
from dbd_playerstats.steam.parse import (
    ENDPOINTS,
    parse_global_percentages,
    parse_player_achievements,
    parse_player_summaries,
    parse_retry_after,
    parse_schema,
    parse_user_stats,
    parse_vanity,
)

SID = "76561197960265729"
JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=UTF-8"
NO_HEADERS: Mapping[str, str] = {}

Parser = Callable[[int, str, bytes, Mapping[str, str]], object]


def _stats(status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> object:
    return parse_user_stats(status, content_type, body, headers, steam_id=SID)


def _achievements(status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> object:
    return parse_player_achievements(status, content_type, body, headers, steam_id=SID)


def _profile(status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> object:
    return parse_player_summaries(status, content_type, body, headers)


PARSERS: dict[str, Parser] = {
    "stats": _stats,
    "achievements": _achievements,
    "schema": parse_schema,
    "rarity": parse_global_percentages,
    "profile": _profile,
    "vanity": parse_vanity,
}
RESULT_TYPES: dict[str, type | tuple[type, ...]] = {
    "stats": UserStats,
    "achievements": PlayerAchievements,
    "schema": GameSchema,
    "rarity": GlobalPercentages,
    "profile": dict,
    "vanity": str,
}
PLAYER_ENDPOINTS = ("stats", "achievements")

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


def encode(document: object) -> bytes:
    """JSON as Steam sends it."""
    return json.dumps(document).encode()


def run(endpoint: str, status: int, content_type: str, body: bytes, headers: Mapping[str, str] = NO_HEADERS) -> Any:
    """Run the parser of ``endpoint``."""
    return PARSERS[endpoint](status, content_type, body, headers)


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


# ----------------------------------------------------------------------------------------------------------------
# Success values
# ----------------------------------------------------------------------------------------------------------------


def test_user_stats_keep_every_stat_in_order() -> None:
    """Every usable stat is kept in Steam's order, duplicates included, with int and float values preserved."""
    body = encode(
        {
            "playerstats": {
                "steamID": "not-the-id-we-asked",
                "gameName": "DeadByDaylight",
                "stats": [
                    {"name": "DBD_BloodwebPoints", "value": 1234567},
                    {"name": "DBD_MaxBloodwebPoints_float", "value": 12.5},
                    {"name": "DBD_Camper8_Stat1", "value": 3},
                    {"name": "DBD_Camper8_Stat1", "value": 4},
                    {"name": "DBD_BurnOfferings", "value": 0},
                ],
                "achievements": [{"name": "ACH_UNLOCK_CHUCKLES", "achieved": 1}],
            }
        }
    )
    result = parse_user_stats(200, JSON, body, NO_HEADERS, steam_id=SID)
    assert result == UserStats(
        steam_id=SID,
        stats=(
            StatValue("DBD_BloodwebPoints", 1234567),
            StatValue("DBD_MaxBloodwebPoints_float", 12.5),
            StatValue("DBD_Camper8_Stat1", 3),
            StatValue("DBD_Camper8_Stat1", 4),
            StatValue("DBD_BurnOfferings", 0),
        ),
    )
    assert type(result.stats[0].value) is int


def test_user_stats_value_types() -> None:
    """A float on an integer stat stays float, an int on a *_float stat becomes float, unusable entries drop."""
    body = encode(
        {
            "playerstats": {
                "stats": [
                    {"name": "int_stat", "value": 2.5},
                    {"name": "x_float", "value": 7},
                    {"name": "bool", "value": True},
                    {"name": "string", "value": "12"},
                    {"name": "null", "value": None},
                    {"name": "missing"},
                    {"name": "list", "value": [1]},
                    {"name": "too_big", "value": 2**63},
                    {"name": "too_small", "value": -(2**63) - 1},
                    {"name": "min", "value": -(2**63)},
                    {"name": "", "value": 1},
                    {"name": None, "value": 1},
                    {"value": 1},
                    {"name": 5, "value": 1},
                    {"name": "infinite", "value": "<overflow>"},
                ]
            }
        }
    ).replace(b'"<overflow>"', b"1e999")  # a JSON number that overflows to float infinity
    result = parse_user_stats(200, JSON, body, NO_HEADERS, steam_id=SID)
    assert result.stats == (StatValue("int_stat", 2.5), StatValue("x_float", 7.0), StatValue("min", -(2**63)))
    assert type(result.stats[1].value) is float


def test_user_stats_empty_list_is_not_no_stats() -> None:
    """An empty stats list is an answer with no stats in it, not Steam's "no stats" signal."""
    body = encode({"playerstats": {"steamID": SID, "stats": []}})
    assert parse_user_stats(200, JSON, body, NO_HEADERS, steam_id=SID) == UserStats(SID, ())


def test_player_achievements_values() -> None:
    """Achieved flags and unlock times are read; 0, locked, absent or absurd unlock times become None."""
    body = encode(
        {
            "playerstats": {
                "steamID": SID,
                "gameName": "DeadByDaylight",
                "achievements": [
                    {"apiname": "ACH_A", "achieved": 1, "unlocktime": 1600000000},
                    {"apiname": "ACH_B", "achieved": 0, "unlocktime": 0},
                    {"apiname": "ACH_C", "achieved": 1, "unlocktime": 0},
                    {"apiname": "ACH_D", "achieved": "1", "unlocktime": "1600000000"},
                    {"apiname": "ACH_E", "achieved": True, "unlocktime": 10**30},
                    {"apiname": "ACH_F", "achieved": 0, "unlocktime": 1600000000},
                    {"apiname": "ACH_G", "achieved": 1},
                    {"apiname": "ACH_H", "achieved": 1, "unlocktime": -5, "name": "H", "description": "d"},
                    {"apiname": "ACH_I", "achieved": None},
                    {"apiname": "", "achieved": 1},
                    {"achieved": 1},
                ],
                "success": True,
            }
        }
    )
    unlocked = datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC)
    result = parse_player_achievements(200, JSON, body, NO_HEADERS, steam_id=SID)
    assert result == PlayerAchievements(
        steam_id=SID,
        achievements=(
            PlayerAchievement("ACH_A", True, unlocked),
            PlayerAchievement("ACH_B", False, None),
            PlayerAchievement("ACH_C", True, None),
            PlayerAchievement("ACH_D", True, unlocked),
            PlayerAchievement("ACH_E", True, None),
            PlayerAchievement("ACH_F", False, None),
            PlayerAchievement("ACH_G", True, None),
            PlayerAchievement("ACH_H", True, None),
        ),
    )


@pytest.mark.parametrize("achievements", [None, "absent"])
def test_player_achievements_absent_list_is_empty(achievements: object) -> None:
    """A success without an achievements list (or with null) means no achievements."""
    playerstats: dict[str, object] = {"steamID": SID, "success": True}
    if achievements != "absent":
        playerstats["achievements"] = achievements
    result = parse_player_achievements(200, JSON, encode({"playerstats": playerstats}), NO_HEADERS, steam_id=SID)
    assert result == PlayerAchievements(SID, ())


def test_schema_values() -> None:
    """Schema achievements keep order and flags; missing descriptions and names fall back to ""."""
    body = encode(
        {
            "game": {
                "gameName": "DeadByDaylight",
                "gameVersion": "12",
                "availableGameStats": {
                    "stats": [
                        {"name": "DBD_BloodwebPoints", "defaultvalue": 0, "displayName": ""},
                        {"name": "DBD_MaxBloodwebPoints_float", "defaultvalue": 0, "displayName": "Max"},
                        {"defaultvalue": 0},
                    ],
                    "achievements": [
                        {
                            "name": "ACH_A",
                            "defaultvalue": 0,
                            "displayName": "Adept Dwight",
                            "hidden": 0,
                            "description": "Achieve a merciless victory",
                            "icon": "https://x/a.jpg",
                            "icongray": "https://x/a_gray.jpg",
                        },
                        {"name": "ACH_SECRET", "defaultvalue": 0, "displayName": "Secret", "hidden": 1},
                        {"name": "ACH_ODD", "displayName": None, "hidden": "1", "description": 5},
                        {"displayName": "nameless"},
                    ],
                },
            }
        }
    )
    assert parse_schema(200, JSON, body, NO_HEADERS) == GameSchema(
        game_name="DeadByDaylight",
        achievements=(
            SchemaAchievement("ACH_A", "Adept Dwight", "Achieve a merciless victory", hidden=False),
            SchemaAchievement("ACH_SECRET", "Secret", "", hidden=True),
            SchemaAchievement("ACH_ODD", "", "", hidden=True),
        ),
        stat_names=("DBD_BloodwebPoints", "DBD_MaxBloodwebPoints_float"),
    )


@pytest.mark.parametrize(
    "game",
    [{}, {"gameName": "x", "availableGameStats": None}, {"availableGameStats": {}}, {"gameName": 3}],
)
def test_schema_without_content_is_empty(game: dict[str, object]) -> None:
    """``{"game":{}}`` and its null or empty variants are an empty schema, not an error."""
    result = parse_schema(200, JSON, encode({"game": game}), NO_HEADERS)
    assert result.achievements == ()
    assert result.stat_names == ()
    assert result.game_name == (game["gameName"] if isinstance(game.get("gameName"), str) else "")


def test_global_percentages_values() -> None:
    """Numbers and numeric strings become floats; unusable or out-of-range percents are dropped."""
    body = encode(
        {
            "achievementpercentages": {
                "achievements": [
                    {"name": "ACH_A", "percent": 45.5},
                    {"name": "ACH_B", "percent": "12.300000190734863"},
                    {"name": "ACH_C", "percent": 3},
                    {"name": "ACH_D", "percent": "n/a"},
                    {"name": "ACH_E", "percent": True},
                    {"name": "ACH_F", "percent": None},
                    {"name": "ACH_G", "percent": "nan"},
                    {"name": "ACH_H", "percent": 100.5},
                    {"name": "ACH_I", "percent": -1},
                    {"name": "ACH_J", "percent": 10**400},
                    {"name": "ACH_K", "percent": "1" * 100},
                    {"name": "ACH_L", "percent": "0"},
                    {"percent": 50},
                ]
            }
        }
    )
    result = parse_global_percentages(200, JSON, body, NO_HEADERS)
    assert result == GlobalPercentages({"ACH_A": 45.5, "ACH_B": 12.300000190734863, "ACH_C": 3.0, "ACH_L": 0.0})
    assert all(type(value) is float for value in result.percents.values())


def test_player_summaries_values() -> None:
    """Summaries are keyed by id; visibility maps 1/2/3 and anything else to UNKNOWN; bad ids are dropped."""
    body = encode(
        {
            "response": {
                "players": [
                    {
                        "steamid": SID,
                        "communityvisibilitystate": 3,
                        "profilestate": 1,
                        "personaname": "Dwight",
                        "profileurl": f"https://steamcommunity.com/profiles/{SID}/",
                        "avatarfull": "https://avatars/x_full.jpg",
                    },
                    {"steamid": "76561197960265730", "communityvisibilitystate": 1, "personaname": "Meg"},
                    {"steamid": "76561197960265731", "communityvisibilitystate": 2},
                    {"steamid": 76561197960265732, "communityvisibilitystate": 7},
                    {"steamid": "76561197960265733", "communityvisibilitystate": "3", "personaname": None},
                    {"steamid": "76561197960265734", "communityvisibilitystate": True},
                    {"steamid": "not-an-id", "communityvisibilitystate": 3},
                    {"steamid": True},
                    {"personaname": "no id"},
                ]
            }
        }
    )
    result = parse_player_summaries(200, JSON, body, NO_HEADERS)
    assert result == {
        SID: PlayerSummary(
            SID,
            "Dwight",
            f"https://steamcommunity.com/profiles/{SID}/",
            "https://avatars/x_full.jpg",
            Visibility.PUBLIC,
        ),
        "76561197960265730": PlayerSummary("76561197960265730", "Meg", "", "", Visibility.PRIVATE),
        "76561197960265731": PlayerSummary("76561197960265731", "", "", "", Visibility.FRIENDS_ONLY),
        "76561197960265732": PlayerSummary("76561197960265732", "", "", "", Visibility.UNKNOWN),
        "76561197960265733": PlayerSummary("76561197960265733", "", "", "", Visibility.PUBLIC),
        "76561197960265734": PlayerSummary("76561197960265734", "", "", "", Visibility.UNKNOWN),
    }


@pytest.mark.parametrize("response", [{"players": []}, {"players": None}, {}])
def test_player_summaries_without_players_is_empty(response: dict[str, object]) -> None:
    """Unknown ids are simply missing: an empty, null or absent players list is an empty dict."""
    assert parse_player_summaries(200, JSON, encode({"response": response}), NO_HEADERS) == {}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"steamid": SID, "success": 1}, SID),
        ({"steamid": int(SID), "success": 1}, SID),
        ({"steamid": SID, "success": "1"}, SID),
        ({"steamid": SID, "success": 1.0}, SID),
    ],
)
def test_vanity_values(response: dict[str, object], expected: str) -> None:
    """A resolved vanity name yields the SteamID64 string, whether Steam sent it as a string or a number."""
    assert parse_vanity(200, JSON, encode({"response": response}), NO_HEADERS) == expected


def test_summary_error_carries_single_steam_id() -> None:
    """A profile failure is labelled with the one id asked for, when the caller passes it."""
    with pytest.raises(SteamServerError) as caught:
        parse_player_summaries(503, HTML, b"<html/>", NO_HEADERS, steam_id=SID)
    assert caught.value.steam_id == SID


# ----------------------------------------------------------------------------------------------------------------
# Fuzzing: whatever comes in, only a model value or a SteamError comes out
# ----------------------------------------------------------------------------------------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "0", "1", "42", "12.5", "nan", "1e999", SID, "Profile is not public", "no stats"])
)
finite_leaves = json_leaves.filter(lambda value: not (isinstance(value, float) and math.isinf(value)))
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
statuses = st.integers(min_value=-1, max_value=1000) | st.sampled_from([200, 400, 403, 404, 429, 500, 503])
content_types = st.sampled_from(["", JSON, HTML, "text/plain", "application/octet-stream"]) | st.text(max_size=30)
header_maps = st.dictionaries(
    st.sampled_from(["Retry-After", "retry-after", "X-eresult", "x-eresult", "X-error_message", "Other"]),
    st.text(max_size=40) | st.sampled_from(["1", "42", "84", "2", "15", "120", "Sat, 01 Mar 2025 12:00:30 GMT"]),
    max_size=4,
)


def field_values(*names: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose keys come from ``names`` and whose values are anything JSON."""
    return st.dictionaries(st.sampled_from(names), json_values, max_size=len(names))


def lists_of(entries: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly well-typed lists of entries, sometimes any JSON value."""
    return st.lists(entries, max_size=6) | json_values


SHAPED: dict[str, st.SearchStrategy[Any]] = {
    "stats": st.fixed_dictionaries(
        {
            "playerstats": st.fixed_dictionaries({}, optional={"stats": lists_of(field_values("name", "value"))})
            | json_values
        }
    ),
    "achievements": st.fixed_dictionaries(
        {
            "playerstats": st.fixed_dictionaries(
                {},
                optional={
                    "achievements": lists_of(field_values("apiname", "achieved", "unlocktime")),
                    "success": json_values,
                    "error": json_values,
                },
            )
        }
    ),
    "schema": st.fixed_dictionaries(
        {
            "game": st.fixed_dictionaries(
                {},
                optional={
                    "gameName": json_values,
                    "availableGameStats": st.fixed_dictionaries(
                        {},
                        optional={
                            "stats": lists_of(field_values("name", "displayName")),
                            "achievements": lists_of(field_values("name", "displayName", "description", "hidden")),
                        },
                    )
                    | json_values,
                },
            )
        }
    ),
    "rarity": st.fixed_dictionaries(
        {
            "achievementpercentages": st.fixed_dictionaries(
                {}, optional={"achievements": lists_of(field_values("name", "percent"))}
            )
        }
    ),
    "profile": st.fixed_dictionaries(
        {
            "response": st.fixed_dictionaries(
                {},
                optional={
                    "players": lists_of(
                        field_values("steamid", "communityvisibilitystate", "personaname", "profileurl", "avatarfull")
                    )
                },
            )
        }
    ),
    "vanity": st.fixed_dictionaries(
        {"response": st.fixed_dictionaries({}, optional={"steamid": json_values, "success": json_values})}
    ),
}


def assert_model_or_steam_error(
    endpoint: str, status: int, content_type: str, body: bytes, headers: Mapping[str, str]
) -> None:
    """The parser returns its model type or raises a SteamError labelled with this call; nothing else."""
    result = outcome(endpoint, status, content_type, body, headers)
    if isinstance(result, SteamError):
        assert result.endpoint == endpoint
        assert result.status == status
    else:
        assert 200 <= status <= 299
        assert isinstance(result, RESULT_TYPES[endpoint])


def outcome(endpoint: str, status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> object:
    """The parser's value, or the SteamError it raised (any other exception fails the test)."""
    try:
        return run(endpoint, status, content_type, body, headers)
    except SteamError as error:
        return error


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    status=statuses,
    content_type=content_types,
    body=st.binary(max_size=200),
    headers=header_maps,
)
def test_fuzz_arbitrary_bytes(
    endpoint: str, status: int, content_type: str, body: bytes, headers: dict[str, str]
) -> None:
    """Arbitrary bytes under any status, content type and headers give a model or a SteamError."""
    assert_model_or_steam_error(endpoint, status, content_type, body, headers)


@FUZZ
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    status=statuses,
    content_type=content_types,
    document=json_values,
    headers=header_maps,
)
def test_fuzz_arbitrary_json(
    endpoint: str, status: int, content_type: str, document: object, headers: dict[str, str]
) -> None:
    """Arbitrary JSON documents give a model or a SteamError."""
    assert_model_or_steam_error(endpoint, status, content_type, encode(document), headers)


@FUZZ
@given(data=st.data(), endpoint=st.sampled_from(ENDPOINTS), status=st.sampled_from([200, 200, 200, 400, 403]))
def test_fuzz_documented_shapes_with_hostile_leaves(endpoint: str, status: int, data: st.DataObject) -> None:
    """Documents of each endpoint's shape with arbitrary values anywhere give a model or a SteamError."""
    document = data.draw(SHAPED[endpoint])
    assert_model_or_steam_error(endpoint, status, JSON, encode(document), NO_HEADERS)


@FUZZ
@given(
    stats=st.lists(
        st.fixed_dictionaries({"name": st.text(min_size=1, max_size=10), "value": finite_leaves}), max_size=10
    )
)
def test_fuzz_stats_keep_exactly_the_numeric_values(stats: list[dict[str, Any]]) -> None:
    """Exactly the entries with a finite non-bool number (int within int64) survive, in order."""
    body = encode({"playerstats": {"stats": stats}})
    result = parse_user_stats(200, JSON, body, NO_HEADERS, steam_id=SID)

    def usable(value: object) -> bool:
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return -(2**63) <= value < 2**63
        return isinstance(value, float) and math.isfinite(value)

    assert [s.name for s in result.stats] == [entry["name"] for entry in stats if usable(entry["value"])]


@FUZZ
@given(value=st.none() | st.text(max_size=60), now=st.datetimes(timezones=st.just(UTC)))
def test_fuzz_retry_after(value: str | None, now: datetime) -> None:
    """parse_retry_after never raises and never returns a negative or non-finite number."""
    seconds = parse_retry_after(value, now=now)
    assert seconds is None or (seconds >= 0 and math.isfinite(seconds))


# ----------------------------------------------------------------------------------------------------------------
# Hostile upstream families (issue 7): real documents cut short, retyped, blown up, or replaced by HTML
# ----------------------------------------------------------------------------------------------------------------
# The documents are the simulator's real answers for the demo player (the same bytes the integration tests see),
# so the fuzz starts from full-size Steam bodies rather than from small shaped ones. Each hostile test tallies its
# outcomes; `pytest -s` prints the tally (the "inputs tried" of docs/reliability.md).

REAL_ANSWERS = {
    "stats": answer_stats({"steamid": DEMO_STEAM_ID, "appid": "381210"}, Variants()),
    "achievements": answer_achievements({"steamid": DEMO_STEAM_ID, "appid": "381210", "l": "english"}),
    "schema": answer_schema({"appid": "381210"}),
    "rarity": answer_rarity({"gameid": "381210"}),
    "profile": answer_profile({"steamids": DEMO_STEAM_ID}),
    "vanity": answer_vanity({"vanityurl": "demo"}),
}
REAL_BODIES = {endpoint: answer.body for endpoint, answer in REAL_ANSWERS.items()}
HOSTILE = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TALLY: Counter[tuple[str, str]] = Counter()

NodePath = tuple[str | int, ...]

# Containers each parser reads, by path into the real document: a non-null value of another type there is a wrong
# shape (SteamBadResponseError). Index -1 is the last entry of a list.
READ_CONTAINERS: dict[str, tuple[NodePath, ...]] = {
    "stats": (
        (),
        ("playerstats",),
        ("playerstats", "stats"),
        ("playerstats", "stats", 0),
        ("playerstats", "stats", -1),
    ),
    "achievements": (
        (),
        ("playerstats",),
        ("playerstats", "achievements"),
        ("playerstats", "achievements", 0),
        ("playerstats", "achievements", -1),
    ),
    "schema": (
        (),
        ("game",),
        ("game", "availableGameStats"),
        ("game", "availableGameStats", "stats"),
        ("game", "availableGameStats", "stats", -1),
        ("game", "availableGameStats", "achievements"),
        ("game", "availableGameStats", "achievements", 0),
    ),
    "rarity": (
        (),
        ("achievementpercentages",),
        ("achievementpercentages", "achievements"),
        ("achievementpercentages", "achievements", 0),
    ),
    "profile": ((), ("response",), ("response", "players"), ("response", "players", 0)),
    "vanity": ((), ("response",)),
}
# Where each endpoint keeps its list of entries, and one valid entry to fill it with.
ENTRY_LISTS: dict[str, tuple[NodePath, dict[str, Any]]] = {
    "stats": (("playerstats", "stats"), {"name": "DBD_BloodwebPoints", "value": 7}),
    "achievements": (("playerstats", "achievements"), {"apiname": "ACH_X", "achieved": 1, "unlocktime": 1600000000}),
    "schema": (("game", "availableGameStats", "achievements"), {"name": "ACH_X", "displayName": "X", "hidden": 0}),
    "rarity": (("achievementpercentages", "achievements"), {"name": "ACH_X", "percent": 12.5}),
    "profile": (("response", "players"), {"steamid": SID, "communityvisibilitystate": 3}),
}


def record(family: str, result: object) -> None:
    """Count one hostile input of `family` by what it gave (the error class, or "model")."""
    TALLY[family, type(result).__name__ if isinstance(result, SteamError) else "model"] += 1


@pytest.fixture(scope="module", autouse=True)
def _print_tally() -> Iterator[None]:
    """After the module: print how many hostile inputs each family tried and what they gave."""
    yield
    if TALLY:
        families = sorted({family for family, _ in TALLY})
        for family in families:
            parts = {result: n for (f, result), n in sorted(TALLY.items()) if f == family}
            print(f"\nparser fuzz {family}: {sum(parts.values())} inputs -> {parts}")


def document(endpoint: str) -> Any:
    """A fresh copy of the real document of `endpoint`."""
    return json.loads(REAL_BODIES[endpoint])


def replace_at(root: Any, path: NodePath, value: object) -> Any:
    """`root` with the node at `path` replaced by `value` (the root itself when `path` is empty)."""
    if not path:
        return value
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return root


def all_paths(node: object, prefix: NodePath = ()) -> list[NodePath]:
    """The path of every node under `node` (itself included)."""
    paths = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            paths.extend(all_paths(child, (*prefix, key)))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            paths.extend(all_paths(child, (*prefix, index)))
    return paths


ALL_PATHS = {endpoint: all_paths(document(endpoint)) for endpoint in ENDPOINTS}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_simulators_real_answers_parse(endpoint: str) -> None:
    """The simulator's full-size answers (the seeds of the hostile families) are models, not errors."""
    answer = REAL_ANSWERS[endpoint]
    assert isinstance(run(endpoint, answer.status, JSON, answer.body), RESULT_TYPES[endpoint])


@HOSTILE
@given(data=st.data(), endpoint=st.sampled_from(ENDPOINTS), content_type=st.sampled_from([JSON, "", "text/plain"]))
def test_fuzz_truncated_real_json_is_a_bad_response(endpoint: str, content_type: str, data: st.DataObject) -> None:
    """Any strict prefix of a real answer (empty, mid-token, mid-UTF-8 character) is SteamBadResponseError."""
    body = REAL_BODIES[endpoint]
    cut = data.draw(st.integers(min_value=0, max_value=len(body) - 1), label="cut")
    result = outcome(endpoint, 200, content_type, body[:cut], NO_HEADERS)
    record("truncated JSON", result)
    assert type(result) is SteamBadResponseError


def test_truncation_inside_a_multibyte_character_is_a_bad_response() -> None:
    """The schema cut after the first byte of each non-ASCII character (Onryō, Élodie, ...) never decodes."""
    body = REAL_BODIES["schema"]
    cuts = [index + 1 for index, byte in enumerate(body) if byte >= 0xC0]
    assert cuts, "the schema has non-ASCII names"
    for cut in cuts:
        result = outcome("schema", 200, JSON, body[:cut], NO_HEADERS)
        record("truncated JSON", result)
        assert type(result) is SteamBadResponseError


non_null_json = json_values.filter(lambda value: value is not None)


@HOSTILE
@given(data=st.data(), endpoint=st.sampled_from(ENDPOINTS))
def test_fuzz_wrong_type_in_a_read_container_is_a_bad_response(endpoint: str, data: st.DataObject) -> None:
    """A container the parser reads holding any non-null value of another JSON type is SteamBadResponseError."""
    path = data.draw(st.sampled_from(READ_CONTAINERS[endpoint]), label="path")
    current: Any = document(endpoint)
    for key in path:
        current = current[key]
    wrong = data.draw(non_null_json.filter(lambda value: type(value) is not type(current)), label="value")
    result = outcome(endpoint, 200, JSON, encode(replace_at(document(endpoint), path, wrong)), NO_HEADERS)
    record("wrong type (read container)", result)
    assert type(result) is SteamBadResponseError, (path, wrong)


@HOSTILE
@given(data=st.data(), endpoint=st.sampled_from(ENDPOINTS))
def test_fuzz_wrong_types_anywhere_in_a_real_document(endpoint: str, data: st.DataObject) -> None:
    """Up to three nodes anywhere in a real document replaced by arbitrary JSON give a model or a SteamError."""
    hostile = document(endpoint)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="replacements")):
        paths = all_paths(hostile)
        path = data.draw(st.sampled_from(paths), label="path")
        hostile = replace_at(hostile, path, data.draw(json_values, label="value"))
    body = encode(hostile)
    record("wrong types anywhere", outcome(endpoint, 200, JSON, body, NO_HEADERS))
    assert_model_or_steam_error(endpoint, 200, JSON, body, NO_HEADERS)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    endpoint=st.sampled_from(sorted(ENTRY_LISTS)),
    size=st.sampled_from([10_000, 60_000]),
    poison=st.none() | st.sampled_from([1, "x", [], True]),
    where=st.floats(min_value=0, max_value=1),
)
def test_fuzz_huge_arrays(endpoint: str, size: int, poison: object, where: float) -> None:
    """Tens of thousands of entries parse to a model (every entry kept in a list, one per name in a map); one
    non-object anywhere among them makes the whole list a wrong shape."""
    path, entry = ENTRY_LISTS[endpoint]
    entries: list[object] = [entry] * size
    if poison is not None:
        entries[min(size - 1, int(where * size))] = poison
    result = outcome(endpoint, 200, JSON, encode(replace_at(document(endpoint), path, entries)), NO_HEADERS)
    record("huge arrays", result)
    if poison is not None:
        assert type(result) is SteamBadResponseError
        return
    # Lists keep every entry, in order (the service decides later what repeated names mean); maps keep one.
    kept: Sized
    if isinstance(result, UserStats):
        kept = result.stats
    elif isinstance(result, PlayerAchievements | GameSchema):
        kept = result.achievements
    elif isinstance(result, GlobalPercentages):
        kept = result.percents
    else:
        assert isinstance(result, dict)
        kept = result
    assert len(kept) == (1 if isinstance(result, GlobalPercentages | dict) else size)


html_pages = st.builds(
    lambda lead, title, text, doctype: (
        f"{lead}{doctype}<html><head><title>{title}</title></head><body><h1>{title}</h1>{text}</body></html>".encode()
    ),
    st.sampled_from(["", " ", "\n", "\r\n\t "]),
    st.text(max_size=30),
    st.text(max_size=300),
    st.sampled_from(["", "<!DOCTYPE html>", "<!doctype html>\n"]),
) | st.builds(lambda text: ("<" + text).encode(errors="surrogatepass"), st.text(max_size=200))


@HOSTILE
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    status=st.sampled_from([200, 200, 200, 203, 400, 401, 403, 404, 429, 500, 502, 503]),
    content_type=st.sampled_from([HTML, JSON, "", "text/plain"]),
    body=html_pages,
)
def test_fuzz_html_bodies(endpoint: str, status: int, content_type: str, body: bytes) -> None:
    """An HTML page is never parsed as data: under 2xx it is SteamServerError (maintenance), under an error
    status it is classified by the status (429 rate limited, 5xx server, 403 key, other 4xx client or key)."""
    result = outcome(endpoint, status, content_type, body, NO_HEADERS)
    record("HTML bodies", result)
    expected: tuple[type[SteamError], ...]
    if 200 <= status <= 299 or 500 <= status <= 599:
        expected = (SteamServerError,)
    elif status == 429:
        expected = (SteamRateLimitedError,)
    elif status == 403:
        expected = (SteamKeyRejectedError,)
    else:
        expected = (SteamClientError, SteamKeyRejectedError)
    assert type(result) in expected, (status, body[:80])


@HOSTILE
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    status=st.sampled_from([200, 200, 204, 400, 403, 500]),
    seed=st.integers(min_value=0, max_value=2**32),
    size=st.sampled_from([1024, 65_536, 1_048_576]),
    content_type=content_types,
)
def test_fuzz_large_random_bodies(endpoint: str, status: int, seed: int, size: int, content_type: str) -> None:
    """Up to 1 MiB of random bytes gives a SteamError under every status, never a model or another exception."""
    body = random.Random(seed).randbytes(size)
    result = outcome(endpoint, status, content_type, body, NO_HEADERS)
    record("large random bytes", result)
    assert isinstance(result, SteamError)
    assert (result.endpoint, result.status) == (endpoint, status)
