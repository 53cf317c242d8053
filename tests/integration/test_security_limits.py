"""Server limits on the real server: message size, concurrent RPCs, keepalive enforcement, connection age."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, FRESH_STEAM_ID, RunningSimulator
from dbd_playerstats_client import PlayerStatsClient, PlayerStatsError
from tests.support import until

if TYPE_CHECKING:
    from tests.conftest import ServeFn


async def with_limits(serve: ServeFn, settings: Settings, **limits: Any) -> RunningServer:
    """Start the real server with some limits changed."""
    return await serve(replace(settings, limits=replace(settings.limits, **limits)))


async def wait_for_count(sim: RunningSimulator, endpoint: str, count: int) -> None:
    """Wait until the simulator has been asked `count` times on `endpoint` (it counts before its latency)."""
    await until(lambda: sim.state.count(endpoint) >= count, f"Steam was asked {count} times on {endpoint}")


async def test_request_larger_than_the_receive_limit_is_resource_exhausted(
    serve: ServeFn, settings: Settings, sim: RunningSimulator
) -> None:
    """A request over PLAYERSTATS_MAX_RECV_MSG_BYTES fails RESOURCE_EXHAUSTED before the handler (no Steam call);
    the connection keeps serving."""
    server = await with_limits(serve, settings, max_receive_message_bytes=4096)
    async with PlayerStatsClient(f"127.0.0.1:{server.port}", timeout=10) as client:
        with pytest.raises(PlayerStatsError) as info:
            await client.resolve_player("x" * 8192)
        assert info.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert sim.state.count() == 0
        with pytest.raises(PlayerStatsError) as just_under:
            await client.resolve_player("x" * 4000)
        assert just_under.value.reason == "INVALID_PLAYER"
        assert (await client.resolve_player(DEMO_STEAM_ID)).profile.steam_id == DEMO_STEAM_ID


async def test_rpcs_beyond_the_concurrency_cap_are_resource_exhausted(
    serve: ServeFn, settings: Settings, sim: RunningSimulator
) -> None:
    """With 2 RPCs held open by Steam latency and a cap of 2, a third fails RESOURCE_EXHAUSTED at once;
    the two finish OK."""
    server = await with_limits(serve, settings, max_concurrent_rpcs=2)
    sim.state.set_latency("profile", 0.5)
    async with PlayerStatsClient(f"127.0.0.1:{server.port}", timeout=10) as client:
        # Two players: concurrent calls for one player would share one profile call (coalescing).
        held = [asyncio.create_task(client.resolve_player(player)) for player in (DEMO_STEAM_ID, FRESH_STEAM_ID)]
        await wait_for_count(sim, "profile", 2)
        with pytest.raises(PlayerStatsError) as info:
            await client.resolve_player(DEMO_STEAM_ID, timeout=0.5)
        assert info.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert sim.state.count("profile") == 2
        assert [r.profile.steam_id for r in await asyncio.gather(*held)] == [DEMO_STEAM_ID, FRESH_STEAM_ID]


async def test_a_client_pinging_too_often_is_sent_away(
    serve: ServeFn, settings: Settings, sim: RunningSimulator
) -> None:
    """A client pinging every second against a 10 s minimum earns strikes; past the limit the server sends
    GOAWAY too_many_pings and the call in flight ends UNAVAILABLE (takes about 3 s)."""
    server = await with_limits(serve, settings, min_ping_interval_secs=10, max_ping_strikes=1)
    sim.state.set_latency("profile", 8.0)
    pinging = [
        ("grpc.keepalive_time_ms", 10),  # gRPC still waits 1 s between pings
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=pinging) as channel:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=7)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "too many pings" in (info.value.details() or "").lower()


@pytest.mark.parametrize(
    ("grace_and_latency_secs", "code"),
    [((5.0, 0.5), grpc.StatusCode.OK), ((0.2, 2.0), grpc.StatusCode.UNAVAILABLE)],
    ids=["finishes-within-grace", "cut-after-grace"],
)
async def test_connection_age_with_grace(
    serve: ServeFn,
    settings: Settings,
    sim: RunningSimulator,
    grace_and_latency_secs: tuple[float, float],
    code: grpc.StatusCode,
) -> None:
    """After max connection age the server sends GOAWAY: a call in flight finishes if it fits in the grace,
    else ends UNAVAILABLE; the client's next call reconnects and is served."""
    grace_secs, latency_secs = grace_and_latency_secs
    server = await with_limits(serve, settings, max_connection_age_secs=0.2, max_connection_age_grace_secs=grace_secs)
    sim.state.set_latency("profile", latency_secs)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        call = stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=10)
        assert await call.code() == code
        sim.state.set_latency("profile", 0)
        response = await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=10)
        assert response.profile.steam_id == DEMO_STEAM_ID
