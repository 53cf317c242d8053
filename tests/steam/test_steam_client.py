"""The Steam client against a real aiohttp server on loopback serving canned answers."""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import aiohttp
import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from dbd_playerstats.steam.client import SteamClient, translate_transport_errors
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
    SteamTimeoutError,
    SteamTransportError,
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

KEY = "F00DBABE0123456789ABCDEFDEADBEEF"
SID = "76561197960265729"
SID2 = "76561197960265730"

STATS_PATH = "/ISteamUserStats/GetUserStatsForGame/v2/"
ACHIEVEMENTS_PATH = "/ISteamUserStats/GetPlayerAchievements/v1/"
SCHEMA_PATH = "/ISteamUserStats/GetSchemaForGame/v2/"
RARITY_PATH = "/ISteamUserStats/GetGlobalAchievementPercentagesForApp/v2/"
PROFILE_PATH = "/ISteamUser/GetPlayerSummaries/v2/"
VANITY_PATH = "/ISteamUser/ResolveVanityURL/v1/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FakeSteam:
    """A loopback HTTP server: one handler per path, every request's path and query recorded."""

    server: TestServer
    handlers: dict[str, Handler] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def answer(
        self,
        path: str,
        body: bytes | object,
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve a fixed answer on ``path`` (objects are sent as JSON)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, body=data, content_type=content_type, headers=headers)

        self.handlers[path] = handler

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.query)))
        handler = self.handlers.get(request.path)
        if handler is None:
            return web.Response(status=404, text="<html>Not Found</html>", content_type="text/html")
        return await handler(request)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSteam]:
    app = web.Application()
    server = TestServer(app, host="127.0.0.1", port=0)
    steam_fake = FakeSteam(server)
    app.router.add_route("GET", "/{tail:.*}", steam_fake.dispatch)
    await server.start_server()
    try:
        yield steam_fake
    finally:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def client(fake: FakeSteam, session: aiohttp.ClientSession) -> SteamClient:
    return SteamClient(session, base_url=fake.base_url, api_key=KEY)


def assert_key_hidden(error: BaseException) -> None:
    """The key is absent from the error's str, repr and full formatted traceback."""
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert KEY not in "".join(traceback.format_exception(error))


# ----------------------------------------------------------------------------------------------------------------
# Requests sent and answers parsed
# ----------------------------------------------------------------------------------------------------------------

STATS_BODY = {
    "playerstats": {
        "steamID": SID,
        "gameName": "DeadByDaylight",
        "stats": [{"name": "DBD_BloodwebPoints", "value": 100}, {"name": "DBD_MaxBloodwebPoints_float", "value": 1.5}],
    }
}
ACHIEVEMENTS_BODY = {
    "playerstats": {
        "steamID": SID,
        "gameName": "DeadByDaylight",
        "achievements": [{"apiname": "ACH_A", "achieved": 1, "unlocktime": 1600000000}],
        "success": True,
    }
}
SCHEMA_BODY = {
    "game": {
        "gameName": "DeadByDaylight",
        "availableGameStats": {
            "stats": [{"name": "DBD_BloodwebPoints", "defaultvalue": 0, "displayName": ""}],
            "achievements": [{"name": "ACH_A", "displayName": "A", "hidden": 0, "description": "d"}],
        },
    }
}
RARITY_BODY = {"achievementpercentages": {"achievements": [{"name": "ACH_A", "percent": "12.5"}]}}
PROFILE_BODY = {
    "response": {
        "players": [
            {
                "steamid": SID,
                "communityvisibilitystate": 3,
                "personaname": "Dwight",
                "profileurl": "u",
                "avatarfull": "a",
            }
        ]
    }
}
VANITY_BODY = {"response": {"steamid": SID, "success": 1}}


async def test_get_user_stats_sends_key_steamid_appid(fake: FakeSteam, client: SteamClient) -> None:
    """Stats are asked with key, steamid and appid, and parsed into UserStats."""
    fake.answer(STATS_PATH, STATS_BODY)
    result = await client.get_user_stats(SID)
    assert fake.requests == [(STATS_PATH, {"key": KEY, "steamid": SID, "appid": "381210"})]
    assert result == UserStats(
        SID, (StatValue("DBD_BloodwebPoints", 100), StatValue("DBD_MaxBloodwebPoints_float", 1.5))
    )


async def test_get_player_achievements_sends_key_steamid_appid(fake: FakeSteam, client: SteamClient) -> None:
    """Achievements are asked with key, steamid and appid, and parsed with unlock times."""
    fake.answer(ACHIEVEMENTS_PATH, ACHIEVEMENTS_BODY)
    result = await client.get_player_achievements(SID)
    assert fake.requests == [(ACHIEVEMENTS_PATH, {"key": KEY, "steamid": SID, "appid": "381210"})]
    assert result.steam_id == SID
    assert [(a.api_name, a.achieved, a.unlock_time is not None) for a in result.achievements] == [("ACH_A", True, True)]
    assert isinstance(result.achievements[0], PlayerAchievement)
    assert isinstance(result, PlayerAchievements)


async def test_get_schema_sends_key_appid_language(fake: FakeSteam, session: aiohttp.ClientSession) -> None:
    """The schema is asked with key, appid and l (the client's language)."""
    client = SteamClient(session, base_url=fake.base_url, api_key=KEY, app_id=480, language="french")
    fake.answer(SCHEMA_PATH, SCHEMA_BODY)
    result = await client.get_schema()
    assert fake.requests == [(SCHEMA_PATH, {"key": KEY, "appid": "480", "l": "french"})]
    assert result == GameSchema(
        "DeadByDaylight", (SchemaAchievement("ACH_A", "A", "d", hidden=False),), ("DBD_BloodwebPoints",)
    )


async def test_get_global_percentages_sends_gameid_without_key(fake: FakeSteam, client: SteamClient) -> None:
    """Rarity is asked with gameid (not appid) and no key at all."""
    fake.answer(RARITY_PATH, RARITY_BODY)
    result = await client.get_global_percentages()
    assert fake.requests == [(RARITY_PATH, {"gameid": "381210"})]
    assert result == GlobalPercentages({"ACH_A": 12.5})


async def test_get_player_summaries_sends_comma_joined_ids(fake: FakeSteam, client: SteamClient) -> None:
    """Summaries are asked with key and the distinct ids comma-joined; unknown ids are absent."""
    fake.answer(PROFILE_PATH, PROFILE_BODY)
    result = await client.get_player_summaries([SID, SID2, SID])
    assert fake.requests == [(PROFILE_PATH, {"key": KEY, "steamids": f"{SID},{SID2}"})]
    assert result == {SID: PlayerSummary(SID, "Dwight", "u", "a", Visibility.PUBLIC)}


async def test_get_player_summary_returns_the_one(fake: FakeSteam, client: SteamClient) -> None:
    """A single summary is returned when Steam knows the id."""
    fake.answer(PROFILE_PATH, PROFILE_BODY)
    assert (await client.get_player_summary(SID)).persona_name == "Dwight"
    assert fake.requests == [(PROFILE_PATH, {"key": KEY, "steamids": SID})]


async def test_get_player_summary_missing_is_not_found(fake: FakeSteam, client: SteamClient) -> None:
    """An id missing from GetPlayerSummaries raises SteamNotFoundError naming that id."""
    fake.answer(PROFILE_PATH, {"response": {"players": []}})
    with pytest.raises(SteamNotFoundError) as caught:
        await client.get_player_summary(SID)
    assert (caught.value.endpoint, caught.value.status, caught.value.steam_id) == ("profile", 200, SID)
    assert_key_hidden(caught.value)


async def test_resolve_vanity_sends_key_vanityurl(fake: FakeSteam, client: SteamClient) -> None:
    """A vanity name is resolved with key and vanityurl into the SteamID64."""
    fake.answer(VANITY_PATH, VANITY_BODY)
    assert await client.resolve_vanity("dwight_fairfield") == SID
    assert fake.requests == [(VANITY_PATH, {"key": KEY, "vanityurl": "dwight_fairfield"})]


async def test_resolve_vanity_no_match_is_not_found(fake: FakeSteam, client: SteamClient) -> None:
    """Steam's 200 "No match" (success 42) raises SteamNotFoundError."""
    fake.answer(VANITY_PATH, {"response": {"success": 42, "message": "No match"}})
    with pytest.raises(SteamNotFoundError) as caught:
        await client.resolve_vanity("nobody-here")
    assert (caught.value.endpoint, caught.value.status) == ("vanity", 200)


async def test_base_url_path_prefix_and_trailing_slash(fake: FakeSteam, session: aiohttp.ClientSession) -> None:
    """A base URL with a path prefix and trailing slash is honoured without doubling the slash."""
    client = SteamClient(session, base_url=f"{fake.base_url}/steam/", api_key=KEY)
    assert client.base_url == f"{fake.base_url}/steam"
    fake.answer("/steam" + VANITY_PATH, VANITY_BODY)
    assert await client.resolve_vanity("x1") == SID


# ----------------------------------------------------------------------------------------------------------------
# Errors per status, through the real HTTP stack
# ----------------------------------------------------------------------------------------------------------------


class StatusCase(NamedTuple):
    """A canned answer and the class it must raise."""

    status: int
    content_type: str
    body: bytes
    expected: type[SteamError]


FORBIDDEN = b"<html><body>Forbidden. Access is denied. Please verify your key= parameter.</body></html>"


@pytest.mark.parametrize(
    "case",
    [
        StatusCase(*row)
        for row in [
        (429, "text/html", b"<html>Too Many Requests</html>", SteamRateLimitedError),
        (500, "text/html", b"<html>Internal Server Error</html>", SteamServerError),
        (502, "text/html", b"<html>Bad Gateway</html>", SteamServerError),
        (503, "text/html", b"<html>Service Unavailable</html>", SteamServerError),
        (200, "text/html", b"<html>Steam is under maintenance</html>", SteamServerError),
        (403, "text/html", FORBIDDEN, SteamKeyRejectedError),
        (400, "text/html", b"<html>Bad Request. Parameter 'key' is missing</html>", SteamKeyRejectedError),
        (403, "application/json", b'{"playerstats":{"error":"Profile is not public","success":false}}',
         SteamProfilePrivateError),
        (400, "application/json", b'{"playerstats":{"error":"Requested app has no stats","success":false}}',
         SteamNoStatsError),
        (400, "application/json", b"{}", SteamNoStatsError),
        (200, "application/json", b'{"playerstats":{"steamID":"76561197960265729","gameName":"x"}}',
         SteamNoStatsError),
        (404, "text/html", b"<html>Not Found</html>", SteamClientError),
        (200, "application/json", b'{"playerstats":{"stats":', SteamBadResponseError),
        (200, "application/json", b"", SteamBadResponseError),
        (302, "text/html", b"", SteamBadResponseError),
        ]
    ],
    ids=lambda case: f"{case.status}-{case.expected.__name__}",
)  # fmt: skip
async def test_error_class_per_status(fake: FakeSteam, client: SteamClient, case: StatusCase) -> None:
    """Each status and body Steam can send raises its SteamError class with endpoint, status and player."""
    fake.answer(STATS_PATH, case.body, status=case.status, content_type=case.content_type, headers={"Location": "/x"})
    with pytest.raises(SteamError) as caught:
        await client.get_user_stats(SID)
    assert type(caught.value) is case.expected
    assert (caught.value.endpoint, caught.value.status, caught.value.steam_id) == ("stats", case.status, SID)
    assert len(fake.requests) == 1  # a redirect is not followed
    assert_key_hidden(caught.value)


@pytest.mark.parametrize(
    ("method", "path", "endpoint"),
    [
        ("get_schema", SCHEMA_PATH, "schema"),
        ("get_global_percentages", RARITY_PATH, "rarity"),
    ],
)
async def test_app_endpoints_label_errors(
    fake: FakeSteam, client: SteamClient, method: str, path: str, endpoint: str
) -> None:
    """Schema and rarity failures carry their own endpoint name and no player."""
    fake.answer(path, b"{}", status=403)
    with pytest.raises(SteamClientError) as caught:
        await getattr(client, method)()
    assert (caught.value.endpoint, caught.value.status, caught.value.steam_id) == (endpoint, 403, None)


async def test_rate_limit_retry_after_reaches_the_error(fake: FakeSteam, client: SteamClient) -> None:
    """A 429's Retry-After header becomes retry_after in seconds."""
    fake.answer(PROFILE_PATH, b"Too Many Requests", status=429, content_type="text/html", headers={"Retry-After": "7"})
    with pytest.raises(SteamRateLimitedError) as caught:
        await client.get_player_summaries([SID])
    assert caught.value.retry_after == 7.0
    assert caught.value.endpoint == "profile"


async def test_eresult_header_on_200_is_read(fake: FakeSteam, client: SteamClient) -> None:
    """A 200 carrying X-eresult 42 raises SteamNotFoundError."""
    fake.answer(VANITY_PATH, {"response": {}}, headers={"X-eresult": "42", "X-error_message": "No match"})
    with pytest.raises(SteamNotFoundError):
        await client.resolve_vanity("nobody")


# ----------------------------------------------------------------------------------------------------------------
# Transport failures
# ----------------------------------------------------------------------------------------------------------------


async def _stall(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(30)
    return web.Response(text="{}")


async def test_stalled_headers_time_out(fake: FakeSteam, client: SteamClient) -> None:
    """A server that never answers raises SteamTimeoutError once the attempt's timeout elapses."""
    fake.handlers[STATS_PATH] = _stall
    started = time.monotonic()
    with pytest.raises(SteamTimeoutError) as caught:
        await client.get_user_stats(SID, timeout=0.2)
    assert time.monotonic() - started < 5
    assert (caught.value.endpoint, caught.value.status, caught.value.steam_id) == ("stats", None, SID)
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert_key_hidden(caught.value)


async def test_stalled_body_times_out(fake: FakeSteam, client: SteamClient) -> None:
    """A body that stops half-way is covered by the same total timeout."""

    async def half_body(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "100"})
        await response.prepare(request)
        await response.write(b'{"game":')
        await asyncio.sleep(30)
        return response

    fake.handlers[SCHEMA_PATH] = half_body
    with pytest.raises(SteamTimeoutError) as caught:
        await client.get_schema(timeout=0.3)
    assert caught.value.endpoint == "schema"


@pytest.mark.parametrize("timeout", [0.0, -1.0])
async def test_no_time_left_fails_without_sending(fake: FakeSteam, client: SteamClient, timeout: float) -> None:
    """A timeout <= 0 raises SteamTimeoutError at once and sends nothing (aiohttp would treat 0 as no limit)."""
    fake.answer(STATS_PATH, STATS_BODY)
    with pytest.raises(SteamTimeoutError):
        await client.get_user_stats(SID, timeout=timeout)
    assert fake.requests == []


async def test_connection_reset_is_transport_error(fake: FakeSteam, client: SteamClient) -> None:
    """A connection dropped before any answer raises SteamTransportError (not a timeout), chained."""

    async def reset(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    fake.handlers[ACHIEVEMENTS_PATH] = reset
    with pytest.raises(SteamTransportError) as caught:
        await client.get_player_achievements(SID, timeout=5)
    assert type(caught.value) is SteamTransportError
    assert isinstance(caught.value.__cause__, aiohttp.ClientError)
    assert (caught.value.endpoint, caught.value.steam_id) == ("achievements", SID)
    assert_key_hidden(caught.value)


async def test_body_cut_short_is_transport_error(fake: FakeSteam, client: SteamClient) -> None:
    """A body shorter than its Content-Length raises SteamTransportError from ClientPayloadError."""

    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b'{"playerstats":')
        assert request.transport is not None
        request.transport.abort()
        return response

    fake.handlers[STATS_PATH] = cut
    with pytest.raises(SteamTransportError) as caught:
        await client.get_user_stats(SID, timeout=5)
    assert isinstance(caught.value.__cause__, aiohttp.ClientPayloadError)


async def test_connection_refused_is_transport_error(session: aiohttp.ClientSession) -> None:
    """Nothing listening on the port raises SteamTransportError."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = SteamClient(session, base_url=f"http://127.0.0.1:{port}", api_key=KEY)
    with pytest.raises(SteamTransportError) as caught:
        await client.resolve_vanity("x1", timeout=5)
    assert type(caught.value) is SteamTransportError
    assert caught.value.endpoint == "vanity"
    assert_key_hidden(caught.value)


async def test_aiohttp_message_with_key_is_not_chained(fake: FakeSteam) -> None:
    """aiohttp's connect timeout names the full URL (key included): it is not chained, so no traceback shows it."""
    fake.handlers[STATS_PATH] = _stall
    connector = aiohttp.TCPConnector(limit=1)
    timeout = aiohttp.ClientTimeout(total=None, connect=0.2)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = SteamClient(session, base_url=fake.base_url, api_key=KEY)
        holder = asyncio.create_task(client.get_user_stats(SID))  # takes the only connection
        await asyncio.sleep(0.05)
        try:
            with pytest.raises(SteamTimeoutError) as caught:
                await client.get_user_stats(SID)  # waits for a connection, under the session's connect timeout
        finally:
            holder.cancel()
            with pytest.raises(asyncio.CancelledError):
                await holder
    error = caught.value
    assert "ConnectionTimeoutError" in str(error)
    assert KEY in str(error.__context__)  # proves aiohttp's own text would have leaked
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert_key_hidden(error)


async def test_cancellation_propagates(fake: FakeSteam, client: SteamClient) -> None:
    """Cancelling a call in flight raises CancelledError in the caller, never a SteamError."""
    arrived = asyncio.Event()

    async def stall_after_signal(request: web.Request) -> web.StreamResponse:
        arrived.set()
        return await _stall(request)

    fake.handlers[STATS_PATH] = stall_after_signal
    task = asyncio.create_task(client.get_user_stats(SID, timeout=10))
    await asyncio.wait_for(arrived.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_oversized_success_body_is_bad_response(fake: FakeSteam, session: aiohttp.ClientSession) -> None:
    """A 2xx body beyond the cap raises SteamBadResponseError, with or without Content-Length."""
    client = SteamClient(session, base_url=fake.base_url, api_key=KEY, max_body_bytes=1024)
    fake.answer(SCHEMA_PATH, b" " * 2048 + b"{}")

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b" " * 512)
        await response.write(b"{}")
        return response

    fake.handlers[RARITY_PATH] = chunked
    with pytest.raises(SteamBadResponseError) as caught:
        await client.get_schema(timeout=5)
    assert (caught.value.endpoint, caught.value.status) == ("schema", 200)
    with pytest.raises(SteamBadResponseError) as caught:
        await client.get_global_percentages(timeout=5)
    assert (caught.value.endpoint, caught.value.status) == ("rarity", 200)


async def test_oversized_error_body_still_classified(fake: FakeSteam, session: aiohttp.ClientSession) -> None:
    """An error page beyond the cap is still classified by its status."""
    client = SteamClient(session, base_url=fake.base_url, api_key=KEY, max_body_bytes=64)
    fake.answer(STATS_PATH, b"<html>" + b"x" * 4096 + b"</html>", status=503, content_type="text/html")
    with pytest.raises(SteamServerError):
        await client.get_user_stats(SID, timeout=5)


# ----------------------------------------------------------------------------------------------------------------
# The translation table itself
# ----------------------------------------------------------------------------------------------------------------


def _request_info(url: str) -> aiohttp.RequestInfo:
    return aiohttp.RequestInfo(yarl.URL(url), "GET", CIMultiDictProxy(CIMultiDict()), yarl.URL(url))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError(), SteamTimeoutError),
        (aiohttp.ServerTimeoutError("read"), SteamTimeoutError),
        (aiohttp.ConnectionTimeoutError("connect"), SteamTimeoutError),
        (aiohttp.SocketTimeoutError("sock"), SteamTimeoutError),
        (aiohttp.ServerDisconnectedError(), SteamTransportError),
        (aiohttp.ClientOSError(104, "reset"), SteamTransportError),
        (aiohttp.ClientConnectionResetError("reset"), SteamTransportError),
        (aiohttp.ClientPayloadError("short"), SteamTransportError),
        (aiohttp.ClientResponseError(_request_info("http://h/"), (), status=400, message="bad"), SteamTransportError),
        (aiohttp.TooManyRedirects(_request_info("http://h/"), ()), SteamTransportError),
        (aiohttp.InvalidURL("http://["), SteamTransportError),
        (ConnectionResetError(104, "reset"), SteamTransportError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value.__name__,
)
def test_translation_table_row(exc: BaseException, expected: type[SteamError]) -> None:
    """Each aiohttp/asyncio failure becomes its SteamError class, chained to the original."""
    with pytest.raises(SteamError) as caught, translate_transport_errors("profile", steam_id=SID, secret=KEY):
        raise exc
    assert type(caught.value) is expected
    assert caught.value.__cause__ is exc
    assert (caught.value.endpoint, caught.value.status, caught.value.steam_id) == ("profile", None, SID)


def test_translation_drops_a_cause_that_holds_the_key() -> None:
    """An original exception whose text contains the key is not chained (and its type is still named)."""
    exc = aiohttp.ClientResponseError(_request_info(f"http://h/x?key={KEY}"), (), status=400, message="bad")
    with pytest.raises(SteamTransportError) as caught, translate_transport_errors("stats", secret=KEY):
        raise exc
    assert caught.value.__cause__ is None
    assert "ClientResponseError" in str(caught.value)
    assert_key_hidden(caught.value)


@pytest.mark.parametrize(
    "exc",
    [ValueError("not ours"), asyncio.CancelledError(), KeyboardInterrupt(), SteamServerError("x", endpoint="stats")],
    ids=type,
)
def test_translation_leaves_other_exceptions_alone(exc: BaseException) -> None:
    """Cancellation, SteamErrors and exceptions without a row pass through untouched."""
    with pytest.raises(type(exc)) as caught, translate_transport_errors("stats", secret=KEY):
        raise exc
    assert caught.value is exc


# ----------------------------------------------------------------------------------------------------------------
# Construction, lifetime, arguments, repr, package surface
# ----------------------------------------------------------------------------------------------------------------


def test_repr_hides_the_key(session: aiohttp.ClientSession) -> None:
    """repr(client) shows where it calls but never the key."""
    client = SteamClient(session, base_url="https://api.steampowered.com/", api_key=KEY)
    assert KEY not in repr(client)
    assert KEY not in str(client)
    assert "https://api.steampowered.com" in repr(client)
    assert client.base_url == "https://api.steampowered.com"
    assert (client.app_id, client.language) == (381210, "english")


@pytest.mark.parametrize("base_url", ["api.steampowered.com", "ftp://h", "https://h/?key=x", "/relative"])
def test_invalid_base_url_is_refused(session: aiohttp.ClientSession, base_url: str) -> None:
    """A base URL that is not absolute http(s) without query is a ValueError at construction."""
    with pytest.raises(ValueError, match="base_url"):
        SteamClient(session, base_url=base_url, api_key=KEY)


async def test_borrowed_session_stays_open(fake: FakeSteam, session: aiohttp.ClientSession) -> None:
    """Leaving ``async with`` on a client given a session does not close that session."""
    async with SteamClient(session, base_url=fake.base_url, api_key=KEY) as client:
        fake.answer(VANITY_PATH, VANITY_BODY)
        assert await client.resolve_vanity("x1") == SID
    assert not session.closed


async def test_created_client_owns_and_closes_its_session(fake: FakeSteam) -> None:
    """A client from create() works, closes its own session on exit, and aclose() is idempotent."""
    fake.answer(RARITY_PATH, RARITY_BODY)
    async with await SteamClient.create(fake.base_url, KEY) as client:
        assert (await client.get_global_percentages()).percents == {"ACH_A": 12.5}
        assert "owns_session=True" in repr(client)
    assert client._session.closed
    await client.aclose()


async def test_create_refuses_bad_url_without_leaking_a_session() -> None:
    """create() with an invalid base URL raises ValueError (its session is closed, no unclosed warning)."""
    with pytest.raises(ValueError, match="base_url"):
        await SteamClient.create("not a url", KEY)


@pytest.mark.parametrize("steam_id", ["", "abc", "7656119796026572,9", " 76561197960265729", "٧٦٥", "1" * 21])
async def test_invalid_steam_id_is_refused_before_sending(fake: FakeSteam, client: SteamClient, steam_id: str) -> None:
    """Ids that are not decimal SteamID64 strings raise ValueError and send nothing."""
    with pytest.raises(ValueError, match="steam_id"):
        await client.get_user_stats(steam_id)
    with pytest.raises(ValueError, match="steam_id"):
        await client.get_player_summaries([SID, steam_id])
    assert fake.requests == []


async def test_summaries_argument_limits(fake: FakeSteam, client: SteamClient) -> None:
    """More than 100 distinct ids is a ValueError, one string a TypeError, no ids an empty answer; none is sent."""
    ids = [str(76561197960265729 + n) for n in range(101)]
    with pytest.raises(ValueError, match="100"):
        await client.get_player_summaries(ids)
    with pytest.raises(TypeError):
        await client.get_player_summaries(SID)
    assert await client.get_player_summaries([]) == {}
    assert fake.requests == []
    fake.answer(PROFILE_PATH, {"response": {"players": []}})
    assert await client.get_player_summaries(ids[:100] + ids[:5]) == {}
    assert len(fake.requests[0][1]["steamids"].split(",")) == 100


async def test_empty_vanity_is_refused(client: SteamClient) -> None:
    """An empty vanity name is a ValueError."""
    with pytest.raises(ValueError, match="vanity"):
        await client.resolve_vanity(" ")


def test_every_method_takes_a_keyword_timeout() -> None:
    """Every endpoint method accepts ``timeout`` as a keyword-only float | None defaulting to None."""
    methods: list[Callable[..., object]] = [
        SteamClient.get_user_stats,
        SteamClient.get_player_achievements,
        SteamClient.get_schema,
        SteamClient.get_global_percentages,
        SteamClient.get_player_summaries,
        SteamClient.get_player_summary,
        SteamClient.resolve_vanity,
    ]
    for method in methods:
        parameter = inspect.signature(method).parameters["timeout"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        assert parameter.default is None
