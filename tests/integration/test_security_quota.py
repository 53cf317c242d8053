"""Per-caller quotas on the real server: who the caller is, what a rejection looks like, what it costs Steam."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dbd_playerstats.app import RunningServer
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, RunningSimulator
from dbd_playerstats_client import PlayerStatsClient, PlayerStatsError, channel_credentials

if TYPE_CHECKING:
    from tests.conftest import Pki, ServeFn

PER_MIN = 1  # one token a minute: a rejected caller is told to wait up to 60 s
BURST = 2


def with_quota(settings: Settings) -> Settings:
    return replace(settings, limits=replace(settings.limits, caller_quota_per_min=PER_MIN, caller_burst=BURST))


@pytest.fixture
async def quota_server(serve: ServeFn, settings: Settings) -> RunningServer:
    """The real server, plaintext, with a quota of 2 calls then 1 per minute per caller."""
    return await serve(with_quota(settings))


def client(
    server: RunningServer, caller_id: str | None, creds: grpc.ChannelCredentials | None = None
) -> PlayerStatsClient:
    return PlayerStatsClient(f"127.0.0.1:{server.port}", caller_id=caller_id, credentials=creds, timeout=10)


async def spend_burst(c: PlayerStatsClient) -> None:
    """Use the caller's whole burst with calls that succeed."""
    for _ in range(BURST):
        assert (await c.resolve_player(DEMO_STEAM_ID)).profile.steam_id == DEMO_STEAM_ID


async def drain(stream: AsyncIterator[object]) -> None:
    async for _ in stream:
        pytest.fail("a rejected stream sends nothing")


async def test_caller_over_quota_is_rejected_while_another_caller_is_served(
    quota_server: RunningServer, sim: RunningSimulator
) -> None:
    """Caller A's third call (unary, then stream) fails RESOURCE_EXHAUSTED CALLER_QUOTA_EXCEEDED with RetryInfo
    and metadata caller, costing Steam nothing; caller B and a caller without id are still served."""
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
            assert err.metadata == {"caller": "id:caller-a"}
            assert err.retry_after is not None
            assert 0 < err.retry_after <= 60 / PER_MIN
        assert (await b.resolve_player("demo")).profile.steam_id == DEMO_STEAM_ID
    async with client(quota_server, None) as anonymous:
        assert (await anonymous.resolve_player(DEMO_STEAM_ID)).profile.steam_id == DEMO_STEAM_ID


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
            await c.resolve_player(DEMO_STEAM_ID)
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
