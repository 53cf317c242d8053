"""Per-caller quotas on the real server: they charge the Steam calls a caller's requests trigger, not its RPCs.

Who the caller is (certificate subject, x-caller-id, peer host), what a refusal looks like (RESOURCE_EXHAUSTED
CALLER_QUOTA_EXCEEDED, RetryInfo, metadata `caller` and `quota`), and what costs: a cold player's Steam calls do,
a cache hit, a request joining a fetch in flight and an invalid request do not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, RunningSimulator, synthetic_steam_id
from dbd_playerstats_client import PlayerStatsClient, PlayerStatsError, channel_credentials
from tests.support import error_details

if TYPE_CHECKING:
    from tests.conftest import Pki, ServeFn

PER_MIN = 1  # one Steam call a minute: a refused caller is told to wait up to 60 s
BURST = 2


def with_quota(settings: Settings, *, per_min: int = PER_MIN, burst: int = BURST) -> Settings:
    return replace(settings, limits=replace(settings.limits, caller_quota_per_min=per_min, caller_burst=burst))


@pytest.fixture
async def quota_server(serve: ServeFn, settings: Settings) -> RunningServer:
    """The real server, plaintext, with a quota of 2 Steam calls then 1 per minute per caller."""
    return await serve(with_quota(settings))


def client(
    server: RunningServer, caller_id: str | None, creds: grpc.ChannelCredentials | None = None
) -> PlayerStatsClient:
    return PlayerStatsClient(f"127.0.0.1:{server.port}", caller_id=caller_id, credentials=creds, timeout=10)


async def spend_burst(c: PlayerStatsClient) -> None:
    """Spend the caller's whole burst: two cold players, one profile call each (ResolvePlayer by SteamID64)."""
    for index in range(BURST):
        player = synthetic_steam_id(index)
        assert (await c.resolve_player(player)).profile.steam_id == player


async def drain(stream: AsyncIterator[object]) -> None:
    async for _ in stream:
        pytest.fail("a refused stream sends nothing")


async def test_a_caller_out_of_steam_calls_is_refused_a_cold_player_but_served_kept_ones(
    quota_server: RunningServer, sim: RunningSimulator
) -> None:
    """Caller A's burst paid two profile calls: a cold player (unary, then stream) is refused RESOURCE_EXHAUSTED
    CALLER_QUOTA_EXCEEDED with RetryInfo and metadata, costing Steam nothing; the players already kept are still
    served to A for free; caller B and a caller without id have their own buckets."""
    async with client(quota_server, "caller-a") as a, client(quota_server, "caller-b") as b:
        await spend_burst(a)
        steam_calls = sim.state.count()
        with pytest.raises(PlayerStatsError) as unary:
            await a.get_player_stats(DEMO_STEAM_ID)
        with pytest.raises(PlayerStatsError) as stream:
            await drain(a.stream_player_stats(DEMO_STEAM_ID))
        assert sim.state.count() == steam_calls
        for err in (unary.value, stream.value):
            assert err.code is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert err.reason == "CALLER_QUOTA_EXCEEDED"
            assert err.metadata == {"caller": "id:caller-a", "quota": "steam_calls"}
            assert err.retry_after is not None
            assert 0 < err.retry_after <= 60 / PER_MIN
        for _ in range(5):
            assert (await a.resolve_player(synthetic_steam_id(0))).profile.steam_id == synthetic_steam_id(0)
        assert sim.state.count() == steam_calls, "cache hits cost nothing"
        assert (await b.resolve_player(DEMO_STEAM_ID)).profile.steam_id == DEMO_STEAM_ID
    async with client(quota_server, None) as anonymous:
        assert (await anonymous.resolve_player(synthetic_steam_id(5))).profile.steam_id == synthetic_steam_id(5)


async def test_a_lobby_of_a_caller_out_of_steam_calls_serves_kept_players_and_refuses_cold_ones(
    quota_server: RunningServer, sim: RunningSimulator
) -> None:
    """Out of Steam calls, a lobby of a kept player and a cold one: the kept player's stats and achievements,
    the cold one's `error` CALLER_QUOTA_EXCEEDED (not the whole stream), and no Steam call."""
    async with client(quota_server, "overlay") as c:
        await c.get_player_stats(DEMO_STEAM_ID)  # its calls spend the burst (into debt): DEMO is kept now
        steam_calls = sim.state.count()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{quota_server.port}") as channel:
            stub = pb_grpc.PlayerStatsServiceStub(channel)
            request = pb.StreamLobbyStatsRequest(players=[DEMO_STEAM_ID, synthetic_steam_id(3)])
            metadata = (("x-caller-id", "overlay"),)
            messages = [m async for m in stub.StreamLobbyStats(request, timeout=20, metadata=metadata)]
    parts = {(m.index, m.WhichOneof("part")) for m in messages}
    assert parts == {(0, "stats"), (0, "achievements"), (1, "error")}
    (error,) = [m.error for m in messages if m.WhichOneof("part") == "error"]
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert "exceeded its quota" in error.message
    assert sim.state.count() == steam_calls


async def test_invalid_requests_cost_nothing(quota_server: RunningServer, sim: RunningSimulator) -> None:
    """Twenty invalid requests spend none of the caller's Steam calls: its burst still pays two cold players."""
    async with client(quota_server, "sloppy") as c:
        for _ in range(20):
            with pytest.raises(PlayerStatsError) as info:
                await c.resolve_player("not a player!")
            assert info.value.reason == "INVALID_PLAYER"
        assert sim.state.count() == 0
        await spend_burst(c)


async def test_a_hundred_concurrent_identical_requests_from_one_host_all_succeed_with_the_defaults(
    serve: ServeFn, settings: Settings, sim: RunningSimulator
) -> None:
    """The default quotas, one peer address, 100 concurrent GetPlayerStats of one cold player: every one is OK,
    and the service spent one call per endpoint (the first request paid; the others joined or hit the cache)."""
    defaults = Settings.from_env({}).limits
    server = await serve(replace(settings, limits=defaults))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        request = pb.GetPlayerStatsRequest(player=DEMO_STEAM_ID)
        answers = await asyncio.gather(*(stub.GetPlayerStats(request, timeout=30) for _ in range(100)))
    assert {answer.stats.profile.steam_id for answer in answers} == {DEMO_STEAM_ID}
    assert (sim.state.count("stats"), sim.state.count("profile"), sim.state.count("achievements")) == (1, 1, 1)


async def test_one_caller_asking_for_many_cold_players_is_throttled_long_before_the_steam_budget_is_spent(
    serve: ServeFn, settings: Settings, sim: RunningSimulator
) -> None:
    """With the default quotas and Steam budget, one caller asking for distinct cold players one after another is
    refused after its burst of Steam calls (plus the debt of the request that crossed it), far below the
    budget's 100 calls a minute."""
    defaults = Settings.from_env({})
    server = await serve(replace(settings, limits=defaults.limits))
    async with client(server, "crawler") as c:
        served = 0
        refused: PlayerStatsError | None = None
        for index in range(100):
            try:
                await c.get_player_stats(synthetic_steam_id(index))
            except PlayerStatsError as err:
                refused = err
                break
            served += 1
    assert refused is not None, "100 cold players in a row were all served"
    assert (refused.reason, refused.metadata["quota"]) == ("CALLER_QUOTA_EXCEEDED", "steam_calls")
    spent = sim.state.count()
    assert served >= 1
    burst = defaults.limits.caller_burst
    assert burst <= spent <= burst + 5 + 2, "the burst, one request's calls of debt, a token or two of refill"
    assert spent < defaults.resilience.rate_limit_per_min / 2


async def test_the_rpc_limit_counts_every_rpc(serve: ServeFn, settings: Settings) -> None:
    """PLAYERSTATS_CALLER_RPC_*: even cache hits count; the fourth RPC of a burst of three is refused with
    metadata quota=rpcs."""
    limits = replace(settings.limits, caller_quota_per_min=0, caller_rpc_per_min=1, caller_rpc_burst=3)
    server = await serve(replace(settings, limits=limits))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        for _ in range(3):
            await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    reason, retry = error_details(info.value)
    assert reason == "CALLER_QUOTA_EXCEEDED"
    assert retry is not None
    assert 0 < retry <= 60


async def test_health_checks_do_not_spend_the_quota(quota_server: RunningServer) -> None:
    """A caller over its quota can still ask the health service (only PlayerStatsService is metered)."""
    async with client(quota_server, "prober") as c:
        await spend_burst(c)
        with pytest.raises(PlayerStatsError):
            await c.resolve_player(DEMO_STEAM_ID)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{quota_server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(BURST + 3):
            response = await health.Check(health_pb2.HealthCheckRequest(), metadata=(("x-caller-id", "prober"),))
            assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_under_mtls_the_certificate_subject_is_the_caller_whatever_x_caller_id_says(
    serve: ServeFn, settings: Settings, pki: Pki, sim: RunningSimulator
) -> None:
    """Alice rotating x-caller-id values still shares one bucket, keyed by her certificate subject; Bob is served."""
    server = await serve(replace(with_quota(settings), tls=Settings.from_env(pki.tls_env(mutual=True)).tls))
    ca = pki.ca_cert.read_bytes()
    alice = channel_credentials(ca, pki.alice_cert.read_bytes(), pki.alice_key.read_bytes())
    bob = channel_credentials(ca, pki.bob_cert.read_bytes(), pki.bob_key.read_bytes())
    for index in range(BURST):
        async with client(server, f"spoofed-{index}", alice) as c:
            await c.resolve_player(synthetic_steam_id(index))
    steam_calls = sim.state.count()
    async with client(server, "spoofed-again", alice) as c:
        with pytest.raises(PlayerStatsError) as info:
            await c.resolve_player(DEMO_STEAM_ID)
    assert info.value.reason == "CALLER_QUOTA_EXCEEDED"
    assert info.value.metadata["caller"].startswith("cert:")
    assert "CN=alice" in info.value.metadata["caller"]
    assert sim.state.count() == steam_calls
    async with client(server, "spoofed-0", bob) as c:
        assert (await c.resolve_player(DEMO_STEAM_ID)).profile.steam_id == DEMO_STEAM_ID
