"""The shared Steam budget, deadlines and partial results through the real server and simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, Fault, FaultKind, RunningSimulator, synthetic_steam_id
from tests.support import StartFn, error_details, stub_starter, until

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub
    from tests.conftest import ServeFn

ROOMY = {
    "base_backoff_ms": 1,
    "max_backoff_ms": 5,
    "rate_limit_per_min": 60_000,
    "burst_limit": 100,
    "cb_max_fails": 1000,
}
NO_TOKEN_DEADLINE_SECS = 10.0
LAG_SECS = 0.2
"""Allowed difference between a token's grant and the simulator's log of the request (loopback + event loops):
one token interval of the 5/s budget below, as a loaded 2-core machine can deliver a burst a few hundred ms late
next to a punctual later call. Still far from an unbucketed run: eight calls at once would exceed it by five."""


@pytest.fixture
async def start(serve: ServeFn, settings: Settings) -> AsyncIterator[StartFn]:
    """Start the real server with ROOMY resilience settings (plus overrides) and return a stub on it."""
    async with stub_starter(serve, settings, ROOMY) as start_stub:
        yield start_stub


async def resolve(stub: AsyncStub, player: str, timeout: float = 20) -> pb.ResolvePlayerResponse:
    return await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=player), timeout=timeout)


async def wait_for_status(sim: RunningSimulator, status: int) -> float:
    """The log time of the first request answered with `status`, waiting for it (at most 5 s)."""
    record = await until(
        lambda: next((r for r in sim.state.requests() if r.status == status), None), f"Steam answered {status}"
    )
    return record.time


async def test_steam_never_sees_more_than_the_bucket_allows(start: StartFn, sim: RunningSimulator) -> None:
    """Eight concurrent calls at 5/s with burst 2: in every window W, requests <= burst + rate * W."""
    burst, rate, calls = 2, 5.0, 8
    stub = await start(rate_limit_per_min=int(rate * 60), burst_limit=burst)
    players = [synthetic_steam_id(i) for i in range(calls)]
    await asyncio.gather(*(resolve(stub, player) for player in players))
    times = sorted(record.time for record in sim.state.requests())
    assert len(times) == calls
    for first in range(len(times)):
        for last in range(first, len(times)):
            window = times[last] - times[first]
            assert last - first + 1 <= burst + rate * (window + LAG_SECS), (first, last, window)
    assert times[-1] - times[0] >= (calls - burst) / rate - LAG_SECS


async def test_no_token_within_the_deadline_is_resource_exhausted(start: StartFn, sim: RunningSimulator) -> None:
    """A token a minute, burst 1: a second call with 10 s left fails at once RESOURCE_EXHAUSTED + RetryInfo (the
    time until that token), without waiting for its deadline."""
    stub = await start(rate_limit_per_min=1, burst_limit=1)
    await resolve(stub, DEMO_STEAM_ID)
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await resolve(stub, synthetic_steam_id(1), timeout=NO_TOKEN_DEADLINE_SECS)
    # Generous on purpose: "at once" against a 10 s deadline, not a speed a loaded machine must reach; waiting
    # for the deadline would also end DEADLINE_EXCEEDED, not RESOURCE_EXHAUSTED.
    assert time.monotonic() - started < NO_TOKEN_DEADLINE_SECS / 2, "refused at once, not at the deadline"
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    reason, retry = error_details(info.value)
    assert reason == "RATE_LIMITED"
    assert retry is not None
    assert 50.0 < retry <= 60.0
    assert sim.state.count() == 1


async def test_a_429_pauses_the_budget_for_every_call(start: StartFn, sim: RunningSimulator) -> None:
    """After a 429 with Retry-After: 1, no request about anyone reaches Steam for that second."""
    stub = await start()
    limited, other = synthetic_steam_id(1), synthetic_steam_id(2)
    sim.state.script("profile", [Fault(FaultKind.RATE_LIMIT, retry_after="1")], steam_id=limited)
    first = asyncio.create_task(resolve(stub, limited))
    answered_429_at = await wait_for_status(sim, 429)
    await resolve(stub, other)
    await first
    later = [record for record in sim.state.requests() if record.status != 429]
    assert {record.steam_id for record in later} == {limited, other}
    assert all(record.time >= answered_429_at + 1.0 - 0.01 for record in later), "10 ms for timer granularity"


async def test_a_short_client_deadline_is_respected(start: StartFn, sim: RunningSimulator) -> None:
    """Steam slow (0.4 s) and failing, a 1 s client deadline: the RPC ends within a bound, no attempt starts late."""
    stub = await start(max_retries=10, base_backoff_ms=50, max_backoff_ms=50)
    sim.state.set_latency("profile", 0.4)
    sim.state.script("profile", [FaultKind.HTTP_503] * 20)
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await resolve(stub, DEMO_STEAM_ID, timeout=1.0)
    # Generous on purpose: the call ends at its 1 s deadline, long before ten 0.45 s attempts (4.5 s) would.
    assert time.monotonic() - started < 1.0 + 2.5
    assert info.value.code() in {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE}
    answered = [record for record in sim.state.requests() if record.status == 503]
    assert 1 <= len(answered) <= 3
    assert all(record.time - 0.4 < started + 1.0 for record in answered), "every attempt started before the deadline"
    assert sim.state.count("profile") <= 3


async def test_achievements_failing_leave_the_stream_with_stats(start: StartFn, sim: RunningSimulator) -> None:
    """Achievements 429 with a Retry-After beyond the deadline: stats, then achievements unavailable with the hint."""
    stub = await start()
    sim.state.script("achievements", [Fault(FaultKind.RATE_LIMIT, retry_after="30")])
    started = time.monotonic()
    call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=DEMO_STEAM_ID), timeout=20)
    messages = [message async for message in call]
    # Generous on purpose: the stream ends long before its 20 s deadline (the 30 s Retry-After is past it).
    assert time.monotonic() - started < 10, "a wait past the deadline is not taken"
    assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
    assert messages[0].stats.profile.steam_id == DEMO_STEAM_ID
    unavailable = messages[1].achievements.unavailable
    assert unavailable.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert unavailable.reason == "UPSTREAM_RATE_LIMITED"
    assert unavailable.retry_after_ms == 30_000
    assert sim.state.count("achievements") == 1


async def test_an_open_achievements_breaker_leaves_unary_stats(start: StartFn, sim: RunningSimulator) -> None:
    """With the achievements breaker open, GetPlayerStats returns stats and achievements unavailable + retry hint."""
    stub = await start(cb_max_fails=2, max_retries=0, cb_reset_timeout_secs=30)
    sim.state.script("achievements", [FaultKind.HTTP_503] * 2)
    for _ in range(2):
        response = await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=DEMO_STEAM_ID), timeout=10)
        assert response.achievements.unavailable.reason == "UPSTREAM_UNAVAILABLE"
    response = await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=DEMO_STEAM_ID), timeout=10)
    assert response.stats.profile.steam_id == DEMO_STEAM_ID
    unavailable = response.achievements.unavailable
    assert unavailable.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert unavailable.reason == "UPSTREAM_CIRCUIT_OPEN"
    assert 25_000 < unavailable.retry_after_ms <= 30_000
    assert sim.state.count("achievements") == 2
