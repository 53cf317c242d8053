"""The Connect (JSON/HTTP) face over real sockets, read by plain aiohttp: the same data and the same errors as gRPC.

Each test runs one real server with both ports open (gRPC and `PLAYERSTATS_HTTP_LISTEN`) against the simulator.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import aiohttp
import grpc
import pytest
from google.protobuf import json_format

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, PRIVATE_STEAM_ID, FaultKind, RunningSimulator, synthetic_steam_id
from tests.http_support import (
    END_STREAM_FLAG,
    SERVICE_PATH,
    connect_failure,
    envelope,
    split_envelopes,
    with_http,
)
from tests.support import error_details

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub
    from tests.conftest import ServeFn

BREAKER = {"cb_max_fails": 3, "cb_reset_timeout_secs": 30, "max_retries": 0}


@pytest.fixture
async def running(serve: ServeFn, settings: Settings) -> RunningServer:
    """The real server with its HTTP face on a free loopback port."""
    return await serve(with_http(settings))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
async def grpc_stub(running: RunningServer) -> AsyncIterator[AsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield pb_grpc.PlayerStatsServiceStub(channel)


def base_url(running: RunningServer) -> str:
    assert running.http is not None
    return f"http://127.0.0.1:{running.http.port}{SERVICE_PATH}"


async def post_json(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """A Connect unary POST exactly as curl would send it: content-type application/json, a JSON body."""
    async with http.post(url, data=json.dumps(body), headers={"content-type": "application/json"}) as resp:
        return resp.status, await resp.json(content_type=None), dict(resp.headers)


async def grpc_failure(call: Any) -> tuple[grpc.StatusCode, str, float | None]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    reason, retry = error_details(info.value)
    return info.value.code(), reason, retry


def same_data(left: pb.GetPlayerStatsResponse, right: pb.GetPlayerStatsResponse) -> None:
    """Profile, stats and achievements equal; provenance may differ only in LIVE vs CACHE (the second call)."""
    assert left.stats.profile == right.stats.profile
    assert left.stats.stats == right.stats.stats
    assert left.achievements.achievements == right.achievements.achievements
    assert left.stats.provenance.fetched_at == right.stats.provenance.fetched_at


async def test_public_player_same_data_as_grpc(
    running: RunningServer, grpc_stub: AsyncStub, http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    """curl's request (POST JSON `{"player": "demo"}`) answers the proto3 JSON of the gRPC response."""
    over_grpc = await grpc_stub.GetPlayerStats(pb.GetPlayerStatsRequest(player="demo"), timeout=20)
    status, body, headers = await post_json(http, f"{base_url(running)}/GetPlayerStats", {"player": "demo"})
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body["stats"]["profile"]["steamId"] == DEMO_STEAM_ID  # proto3 JSON: lowerCamelCase names
    over_http = json_format.Parse(json.dumps(body), pb.GetPlayerStatsResponse())
    same_data(over_grpc, over_http)
    assert over_http.stats.provenance.source == pb.DATA_SOURCE_CACHE  # one service, one cache behind both faces
    assert sim.state.count("stats") == 1


async def test_private_player_same_error_as_grpc(
    running: RunningServer, grpc_stub: AsyncStub, http: aiohttp.ClientSession
) -> None:
    """FAILED_PRECONDITION / PROFILE_PRIVATE on both; HTTP 400 with the Connect code failed_precondition."""
    code, reason, _ = await grpc_failure(grpc_stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=PRIVATE_STEAM_ID)))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PROFILE_PRIVATE")
    status, body, _ = await post_json(http, f"{base_url(running)}/GetPlayerStats", {"player": PRIVATE_STEAM_ID})
    assert status == 400
    failure = connect_failure(body)
    assert (failure.code, failure.reason, failure.domain) == (
        "failed_precondition",
        "PROFILE_PRIVATE",
        "playerstats.dbd",
    )


async def test_invalid_id_same_error_as_grpc_without_steam_calls(
    running: RunningServer, grpc_stub: AsyncStub, http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    """INVALID_ARGUMENT / INVALID_PLAYER with the same message on both, and no request to Steam."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await grpc_stub.ResolvePlayer(pb.ResolvePlayerRequest(player="???"), timeout=20)
    assert error_details(info.value)[0] == "INVALID_PLAYER"
    status, body, _ = await post_json(http, f"{base_url(running)}/ResolvePlayer", {"player": "???"})
    assert status == 400
    failure = connect_failure(body)
    assert (failure.code, failure.reason) == ("invalid_argument", "INVALID_PLAYER")
    assert failure.message == info.value.details()
    assert sim.state.count() == 0


async def test_open_breaker_same_error_and_retry_info_as_grpc(
    serve: ServeFn, settings: Settings, http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    """Once the profile breaker is open, both faces fail fast UNAVAILABLE / UPSTREAM_CIRCUIT_OPEN with RetryInfo;
    HTTP says 503 with a Retry-After header, and neither call reaches Steam."""
    running = await serve(with_http(replace(settings, resilience=replace(settings.resilience, **BREAKER))))
    sim.state.script("profile", [FaultKind.HTTP_503] * 3)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        for _ in range(3):
            code, reason, _ = await grpc_failure(stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID)))
            assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE")
        code, reason, grpc_retry = await grpc_failure(stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID)))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CIRCUIT_OPEN")
    status, body, headers = await post_json(http, f"{base_url(running)}/ResolvePlayer", {"player": DEMO_STEAM_ID})
    assert status == 503
    failure = connect_failure(body)
    assert (failure.code, failure.reason) == ("unavailable", "UPSTREAM_CIRCUIT_OPEN")
    assert failure.retry_secs is not None
    assert grpc_retry is not None
    assert 0 < failure.retry_secs <= grpc_retry <= 30
    assert 1 <= int(headers["Retry-After"]) <= 30
    assert sim.state.count("profile") == 3


async def test_connect_get_answers_unary_calls(
    running: RunningServer, grpc_stub: AsyncStub, http: aiohttp.ClientSession
) -> None:
    """GET ?encoding=json&message=<JSON> (a browser's address bar) answers like POST; streams refuse GET."""
    params = {"encoding": "json", "message": json.dumps({"player": "demo"})}
    async with http.get(f"{base_url(running)}/ResolvePlayer", params=params) as resp:
        assert resp.status == 200
        body = await resp.json()
    over_grpc = await grpc_stub.ResolvePlayer(pb.ResolvePlayerRequest(player="demo"), timeout=20)
    assert json_format.Parse(json.dumps(body), pb.ResolvePlayerResponse()) == over_grpc

    async with http.get(f"{base_url(running)}/GetPlayerStats", params=params) as resp:
        assert resp.status == 200
        assert (await resp.json())["stats"]["profile"]["steamId"] == DEMO_STEAM_ID
    async with http.get(f"{base_url(running)}/StreamPlayerStats", params=params) as resp:
        assert resp.status == 405


async def test_stream_sends_stats_before_achievements(
    running: RunningServer, http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    """Connect server streaming: the stats envelope arrives while Steam still holds the achievements back, then
    the achievements, then an end-of-stream envelope without error."""
    sim.state.set_latency("achievements", 1.0)
    headers = {"content-type": "application/connect+json"}
    url = f"{base_url(running)}/StreamPlayerStats"
    async with http.post(url, data=envelope({"player": "demo"}), headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/connect+json"
        head = await resp.content.readexactly(5)
        first = json.loads(await resp.content.readexactly(int.from_bytes(head[1:], "big")))
        assert list(first) == ["stats"]
        assert sim.state.count("achievements") == 1  # asked, and still sleeping: the stats did not wait
        rest = split_envelopes(await resp.read())
    assert [list(message) for _, message in rest] == [["achievements"], []]
    assert [flags for flags, _ in rest] == [0, END_STREAM_FLAG]
    assert first["stats"]["profile"]["steamId"] == DEMO_STEAM_ID


async def test_stream_error_is_in_the_end_of_stream_envelope(
    running: RunningServer, http: aiohttp.ClientSession
) -> None:
    """A failing stream answers HTTP 200 and one end-of-stream envelope with the Connect error and its details."""
    headers = {"content-type": "application/connect+json"}
    url = f"{base_url(running)}/StreamPlayerStats"
    async with http.post(url, data=envelope({"player": PRIVATE_STEAM_ID}), headers=headers) as resp:
        assert resp.status == 200
        frames = split_envelopes(await resp.read())
    assert len(frames) == 1
    flags, end = frames[0]
    assert flags == END_STREAM_FLAG
    failure = connect_failure(end["error"])
    assert (failure.code, failure.reason) == ("failed_precondition", "PROFILE_PRIVATE")


async def test_connect_timeout_ms_is_the_deadline(
    running: RunningServer, http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    """`connect-timeout-ms` bounds the call as a gRPC deadline does: a slow Steam makes it deadline_exceeded."""
    sim.state.set_latency("profile", 5.0)
    headers = {"content-type": "application/json", "connect-timeout-ms": "300"}
    url = f"{base_url(running)}/ResolvePlayer"
    async with http.post(url, data=json.dumps({"player": DEMO_STEAM_ID}), headers=headers) as resp:
        assert resp.status == 504
        failure = connect_failure(await resp.json())
    assert failure.code == "deadline_exceeded"


async def test_one_caller_quota_across_both_protocols(
    serve: ServeFn, settings: Settings, http: aiohttp.ClientSession
) -> None:
    """A caller's Steam-call bucket is shared by gRPC and HTTP: resolving "demo" over gRPC spends two of a burst of
    three (vanity and profile calls); over HTTP a cold player spends the last, the next cold one is refused
    RESOURCE_EXHAUSTED / CALLER_QUOTA_EXCEEDED (HTTP 429, Retry-After), and "demo" again, kept, costs nothing."""
    limits = replace(settings.limits, caller_quota_per_min=1, caller_burst=3)
    running = await serve(with_http(replace(settings, limits=limits)))
    metadata = (("x-caller-id", "dashboard"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        await stub.ResolvePlayer(pb.ResolvePlayerRequest(player="demo"), timeout=20, metadata=metadata)
    url = f"{base_url(running)}/ResolvePlayer"
    headers = {"content-type": "application/json", "x-caller-id": "dashboard"}
    statuses = []
    for player in (synthetic_steam_id(1), synthetic_steam_id(2), "demo"):
        async with http.post(url, data=json.dumps({"player": player}), headers=headers) as resp:
            statuses.append(resp.status)
            if resp.status != 200:
                last = connect_failure(await resp.json())
                retry_after = resp.headers.get("Retry-After")
    assert statuses == [200, 429, 200]
    assert (last.code, last.reason) == ("resource_exhausted", "CALLER_QUOTA_EXCEEDED")
    assert retry_after is not None
    assert int(retry_after) >= 1


async def test_http2_and_the_grpc_protocol_on_the_http_port(running: RunningServer) -> None:
    """The HTTP port speaks HTTP/2 (h2c, prior knowledge): the generated gRPC stub streams over it unchanged."""
    assert running.http is not None
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.http.port}") as channel:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player="demo"), timeout=20)
        parts = [message.WhichOneof("part") async for message in call]
        assert parts == ["stats", "achievements"]
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ResolvePlayer(pb.ResolvePlayerRequest(player="???"), timeout=20)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(info.value)[0] == "INVALID_PLAYER"


async def test_stop_drains_a_stream_in_flight(
    running: RunningServer, http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    """`RunningServer.stop(grace)` lets an HTTP stream in flight finish within the grace, like a gRPC one."""
    sim.state.set_latency("achievements", 1.0)
    headers = {"content-type": "application/connect+json"}
    async with http.post(
        f"{base_url(running)}/StreamPlayerStats", data=envelope({"player": "demo"}), headers=headers
    ) as resp:
        head = await resp.content.readexactly(5)
        await resp.content.readexactly(int.from_bytes(head[1:], "big"))
        stopping = asyncio.create_task(running.stop(10))
        rest = split_envelopes(await resp.read())
    await stopping
    assert [list(message) for _, message in rest] == [["achievements"], []]
