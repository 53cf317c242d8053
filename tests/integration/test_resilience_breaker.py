"""The per-endpoint circuit breaker through the real server: opens, fails fast, admits N trials, closes, re-opens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, FaultKind, RunningSimulator, synthetic_steam_id
from tests.support import StartFn, error_details, stub_starter

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub
    from tests.conftest import ServeFn

STEAM_STALL_SECS = 10.0
"""Steam's latency while the breaker is open: a call that reached Steam could not look fast."""
# Three failures open it, two trials close it; one attempt per call so each failed RPC is one breaker failure.
BREAKER = {
    "cb_max_fails": 3,
    "cb_half_open_requests": 2,
    "max_retries": 0,
    "base_backoff_ms": 1,
    "max_backoff_ms": 5,
    "rate_limit_per_min": 60_000,
    "burst_limit": 100,
}


@pytest.fixture
async def start(serve: ServeFn, settings: Settings) -> AsyncIterator[StartFn]:
    """Start the real server with the BREAKER resilience settings (plus overrides) and return a stub on it."""
    async with stub_starter(serve, settings, BREAKER) as start_stub:
        yield start_stub


async def resolve(stub: AsyncStub, player: str = DEMO_STEAM_ID) -> grpc.aio.AioRpcError | None:
    """ResolvePlayer for `player` (one profile call): None on success, else the error."""
    try:
        await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=player), timeout=20)
    except grpc.aio.AioRpcError as err:
        return err
    return None


async def open_breaker(stub: AsyncStub, sim: RunningSimulator) -> None:
    """Three failed profile calls (503): each is UNAVAILABLE / UPSTREAM_UNAVAILABLE and reaches Steam."""
    sim.state.script("profile", [FaultKind.HTTP_503] * 3)
    for _ in range(3):
        err = await resolve(stub)
        assert err is not None
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        assert error_details(err)[0] == "UPSTREAM_UNAVAILABLE"
    assert sim.state.count("profile") == 3


async def wait_until_half_open(stub: AsyncStub) -> None:
    """Ask once (refused without Steam traffic) and sleep for the RetryInfo the breaker answers with."""
    err = await resolve(stub)
    assert err is not None
    reason, retry = error_details(err)
    assert reason == "UPSTREAM_CIRCUIT_OPEN"
    assert retry is not None
    await asyncio.sleep(retry + 0.05)


async def test_opens_after_max_fails_then_fails_fast_with_retry_info(start: StartFn, sim: RunningSimulator) -> None:
    """After CB_MAX_FAILS failures: UNAVAILABLE, UPSTREAM_CIRCUIT_OPEN, RetryInfo = time left, no Steam request."""
    stub = await start(cb_reset_timeout_secs=30)
    await open_breaker(stub, sim)
    sim.state.set_latency("profile", STEAM_STALL_SECS)  # a call that reached Steam now would take 10 s
    for _ in range(3):
        started = time.monotonic()
        err = await resolve(stub)
        elapsed = time.monotonic() - started
        assert err is not None
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        reason, retry = error_details(err)
        assert reason == "UPSTREAM_CIRCUIT_OPEN"
        assert retry is not None
        assert 25 < retry <= 30
        # Generous on purpose: the bound is the behaviour (no wait on Steam's 10 s), not a speed a loaded
        # machine must reach; the count below proves no request left.
        assert elapsed < STEAM_STALL_SECS / 2, "failing fast means no upstream wait"
    assert sim.state.count("profile") == 3, "no traffic while open"


async def test_half_open_admits_exactly_the_trials_then_closes(start: StartFn, sim: RunningSimulator) -> None:
    """After the ttl, of five concurrent calls exactly CB_HALF_OPEN_REQUESTS reach Steam; their success closes it."""
    stub = await start(cb_reset_timeout_secs=0.5)
    await open_breaker(stub, sim)
    await wait_until_half_open(stub)
    sim.state.set_latency("profile", 0.5)  # keep the trials in flight while the others arrive
    # Five players: concurrent calls for one player would share one profile call (coalescing).
    results = await asyncio.gather(*(resolve(stub, synthetic_steam_id(i)) for i in range(5)))
    rejected = [err for err in results if err is not None]
    assert len(rejected) == 3
    assert {error_details(err)[0] for err in rejected} == {"UPSTREAM_CIRCUIT_OPEN"}
    assert all(error_details(err)[1] is not None for err in rejected)
    assert sim.state.count("profile") == 3 + 2
    sim.state.set_latency("profile", 0)
    assert await resolve(stub) is None, "closed after both trials succeeded"
    assert sim.state.count("profile") == 3 + 2 + 1


async def test_a_failed_trial_reopens_it(start: StartFn, sim: RunningSimulator) -> None:
    """A trial that fails re-opens the breaker at once for a full CB_RESET_TIMEOUT_SECS."""
    stub = await start(cb_reset_timeout_secs=1.0)
    await open_breaker(stub, sim)
    await wait_until_half_open(stub)
    sim.state.script("profile", [FaultKind.HTTP_503])
    trial = await resolve(stub)
    assert trial is not None
    assert error_details(trial)[0] == "UPSTREAM_UNAVAILABLE"
    err = await resolve(stub)
    assert err is not None
    reason, retry = error_details(err)
    assert reason == "UPSTREAM_CIRCUIT_OPEN"
    assert retry is not None
    assert 0.5 < retry <= 1.0, "a fresh ttl, not what was left of the old one"
    assert sim.state.count("profile") == 3 + 1


async def test_open_stats_breaker_fails_a_stream_before_any_other_steam_call(
    start: StartFn, sim: RunningSimulator
) -> None:
    """With the stats breaker open and nothing stored for the player, GetPlayerStats fails UPSTREAM_CIRCUIT_OPEN
    without starting the profile or achievements calls (Steam sees nothing)."""
    stub = await start(cb_reset_timeout_secs=30)
    sim.state.script("stats", [FaultKind.HTTP_503] * 3)
    for i in range(3):
        with pytest.raises(grpc.aio.AioRpcError) as opening:
            await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=synthetic_steam_id(100 + i)), timeout=20)
        assert error_details(opening.value)[0] == "UPSTREAM_UNAVAILABLE"
    before = {endpoint: sim.state.count(endpoint) for endpoint in ("profile", "achievements", "stats")}
    for i in range(3):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=synthetic_steam_id(200 + i)), timeout=20)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        reason, retry = error_details(failed.value)
        assert reason == "UPSTREAM_CIRCUIT_OPEN"
        assert retry is not None
    assert {endpoint: sim.state.count(endpoint) for endpoint in before} == before, "no Steam call while open"
