"""What a 429, a refused key and an open breaker mean to callers, through the real server and simulator.

- A 429 says "wait": it is retried within the rate-limited class (1 + 3 attempts), pauses the shared budget for
  every request, and never counts towards the breaker.
- A refused key is not a breaker failure: every request gets STEAM_KEY_REJECTED, and Steam is not asked again
  until KEY_REJECTED_PAUSE_SECS have passed (the SteamKey health status says so meanwhile).
- An open breaker says why: ErrorInfo metadata `cause` (the failure that opened it) and `opened_at`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import STEAM_KEY_SERVICE, RunningServer
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, Fault, FaultKind, RunningSimulator, synthetic_steam_id
from dbd_playerstats.upstream.resilient import breaker_name
from tests.support import until_async

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub
    from tests.conftest import ServeFn

# Three failures would open the breaker; fast retries; a budget that binds only where a test says so.
RESILIENCE = {
    "cb_max_fails": 3,
    "cb_reset_timeout_secs": 30,
    "max_retries": 3,
    "base_backoff_ms": 1,
    "max_backoff_ms": 5,
    "api_timeout_secs": 2,
    "rate_limit_per_min": 60_000,
    "burst_limit": 100,
}
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class Replica:
    server: RunningServer
    stub: AsyncStub
    health: health_pb2_grpc.HealthStub

    async def breaker(self, endpoint: str) -> str:
        assert self.server.upstream is not None
        return await self.server.upstream.breakers.state(breaker_name(endpoint))

    async def key_health(self) -> int:
        request = health_pb2.HealthCheckRequest(service=STEAM_KEY_SERVICE)
        return int((await self.health.Check(request, timeout=5)).status)


StartFn = Callable[..., Awaitable[Replica]]


@pytest.fixture
async def start(serve: ServeFn, settings: Settings) -> AsyncIterator[StartFn]:
    channels: list[grpc.aio.Channel] = []

    async def start(**overrides: float) -> Replica:
        resilience = replace(settings.resilience, **(RESILIENCE | overrides))  # type: ignore[arg-type]
        limits = replace(settings.limits, caller_quota_per_min=0)  # one client, many cold players
        server = await serve(replace(settings, resilience=resilience, limits=limits))
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{server.port}"))
        return Replica(server, pb_grpc.PlayerStatsServiceStub(channels[-1]), health_pb2_grpc.HealthStub(channels[-1]))

    yield start
    for channel in channels:
        await channel.close()


async def resolve_error(stub: AsyncStub, player: str = DEMO_STEAM_ID) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    """ResolvePlayer (one profile call), which must fail: its code, ErrorInfo reason and metadata."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=player), timeout=20)
    status = rpc_status.from_call(info.value)
    assert status is not None
    error_info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(error_info)
    return info.value.code(), error_info.reason, dict(error_info.metadata)


async def test_eight_429s_cost_the_rate_limited_retries_and_leave_the_breaker_closed(
    start: StartFn, sim: RunningSimulator
) -> None:
    """Eight 429s in a row: one call plus the rate-limited class's three retries, then UPSTREAM_RATE_LIMITED; the
    breaker (three failures would open it) stays closed, and the next call reaches Steam."""
    replica = await start()
    sim.state.script("profile", [Fault(FaultKind.RATE_LIMIT, steam_id=DEMO_STEAM_ID)] * 8)
    code, reason, _ = await resolve_error(replica.stub)
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_RATE_LIMITED")
    assert sim.state.count("profile") == 1 + 3
    assert await replica.breaker("profile") == "closed"
    sim.state.unscript("profile")
    await replica.stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=20)
    assert sim.state.count("profile") == 1 + 3 + 1


async def test_a_429_pauses_the_budget_for_every_request_for_its_retry_after(
    start: StartFn, sim: RunningSimulator
) -> None:
    """A 429 with Retry-After: 1 on one player's call: another player's call, started after it, reaches Steam
    no sooner than the pause ends (the shared budget grants no token meanwhile), and both succeed."""
    replica = await start()
    sim.state.script("profile", [Fault(FaultKind.RATE_LIMIT, retry_after="1", steam_id=DEMO_STEAM_ID)])
    first = asyncio.ensure_future(replica.stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=20))

    async def limited() -> float | None:
        return next((r.time for r in sim.state.requests() if r.endpoint == "profile" and r.status == 429), None)

    limited_at = await until_async(limited, "Steam answered 429")
    other = synthetic_steam_id(7)
    await replica.stub.ResolvePlayer(pb.ResolvePlayerRequest(player=other), timeout=20)
    await first
    other_at = next(r.time for r in sim.state.requests() if r.endpoint == "profile" and r.steam_id == other)
    assert other_at - limited_at >= 0.95, "the other player's call waited for the pause"
    assert await replica.breaker("profile") == "closed"


async def test_a_refused_key_answers_every_request_without_asking_steam_until_the_pause_ends(
    start: StartFn, sim: RunningSimulator
) -> None:
    """Steam refuses the key once: ten requests all get STEAM_KEY_REJECTED (never UPSTREAM_CIRCUIT_OPEN), Steam
    sees one request, health says SteamKey NOT_SERVING; after the pause Steam is asked again and, the key
    accepted, health is SERVING again."""
    replica = await start(key_rejected_pause_secs=0.5)
    assert await replica.key_health() == SERVING
    sim.state.script("profile", [Fault(FaultKind.BAD_KEY)])
    for i in range(10):
        code, reason, _ = await resolve_error(replica.stub, synthetic_steam_id(i))
        assert (code, reason) == (grpc.StatusCode.INTERNAL, "STEAM_KEY_REJECTED")
    assert sim.state.count("profile") == 1, "one refusal; the other nine were answered by the key gate"
    assert await replica.breaker("profile") == "closed"
    assert await replica.key_health() == NOT_SERVING

    async def accepted() -> bool:
        try:
            await replica.stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=20)
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.INTERNAL:
                raise
            return False  # still within the pause
        return True

    await until_async(accepted, "the key gate asked Steam again after the pause", interval=0.1)
    assert sim.state.count("profile") == 2
    assert await replica.key_health() == SERVING


@pytest.mark.parametrize(
    ("fault", "cause"), [(FaultKind.HTTP_503, "UPSTREAM_UNAVAILABLE"), (FaultKind.TIMEOUT, "UPSTREAM_TIMEOUT")]
)
async def test_an_open_breaker_names_its_cause_and_when_it_opened(
    start: StartFn, sim: RunningSimulator, fault: FaultKind, cause: str
) -> None:
    """Three failing attempts open the breaker; the refusals then carry ErrorInfo `cause` and `opened_at`."""
    replica = await start(max_retries=0, api_timeout_secs=0.3)
    before = time.time()
    sim.state.script("profile", [Fault(fault, stall_seconds=2) if fault is FaultKind.TIMEOUT else fault] * 3)
    # 503s: three calls of one attempt each; timeouts: one call, its attempt and its class's two retries.
    first = await resolve_error(replica.stub, synthetic_steam_id(0))
    assert first[:2] == (grpc.StatusCode.UNAVAILABLE, cause)
    for i in (1, 2):
        code, reason, _ = await resolve_error(replica.stub, synthetic_steam_id(i))
        assert (code, reason) in (
            (grpc.StatusCode.UNAVAILABLE, cause),
            (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CIRCUIT_OPEN"),
        )
    code, reason, metadata = await resolve_error(replica.stub, synthetic_steam_id(9))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CIRCUIT_OPEN")
    assert metadata["cause"] == cause
    opened_at = datetime.fromisoformat(metadata["opened_at"])
    assert before - 1 <= opened_at.timestamp() <= time.time()
    assert opened_at.tzinfo == UTC
    assert sim.state.count("profile") == 3
