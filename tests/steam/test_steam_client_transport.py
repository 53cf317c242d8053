"""The Steam client's transport failures (timeouts, resets, refusals, oversized bodies) and their translation."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest
import yarl
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from dbd_playerstats.steam.client import SteamClient, translate_transport_errors
from dbd_playerstats.steam.errors import (
    SteamBadResponseError,
    SteamError,
    SteamServerError,
    SteamTimeoutError,
    SteamTransportError,
)
from tests.steam.steam_fake import (
    ACHIEVEMENTS_PATH,
    KEY,
    RARITY_PATH,
    SCHEMA_PATH,
    SID,
    STATS_BODY,
    STATS_PATH,
    FakeSteam,
    assert_key_hidden,
)


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
    holding = asyncio.Event()

    async def hold(request: web.Request) -> web.StreamResponse:
        holding.set()
        return await _stall(request)

    fake.handlers[STATS_PATH] = hold
    connector = aiohttp.TCPConnector(limit=1)
    timeout = aiohttp.ClientTimeout(total=None, connect=0.2)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = SteamClient(session, base_url=fake.base_url, api_key=KEY)
        holder = asyncio.create_task(client.get_user_stats(SID))
        try:
            # Its request reached the server, so it holds the only connection until the handler's stall ends.
            await holding.wait()
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
