"""Breakers and budget shared through Redis, and the switch to in-process state and back when Redis goes away.

Redis outages use private `redis-server`s (killed and restarted on the same port); the machine's Redis is never
stopped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from dbd_playerstats.config.settings import ResilienceSettings
from dbd_playerstats.errors import CircuitOpenError
from dbd_playerstats.upstream import (
    Breakers,
    BreakerTransition,
    ResilienceEvent,
    ResiliencePolicy,
    ResilientUpstream,
    SharedState,
    SharedStateChanged,
)
from dbd_playerstats.upstream.deadline import Clock, Deadline
from dbd_playerstats.upstream.policy import BreakerPolicy, RateLimitPolicy
from dbd_playerstats.upstream.redis_breakers import breaker_key_ttl_secs
from dbd_playerstats.upstream.shared import connect
from dbd_playerstats_dev.redis_testing import PrivateRedis, free_port, private_redis
from tests.support import until

pytestmark = pytest.mark.redis

NAME = "steam.stats"
BREAKER = BreakerPolicy(max_fails=2, reset_timeout_secs=30, half_open_requests=1, trial_timeout_secs=1)


def make_state(
    url: str,
    prefix: str = "t:",
    *,
    rate_limit: RateLimitPolicy,
    replicas: int = 1,
    clock: Clock = time.monotonic,
) -> SharedState:
    """A SharedState probing every 50 ms, with a 0.5 s Redis timeout."""
    return SharedState(
        connect(url, timeout_secs=0.5),
        breaker=BREAKER,
        rate_limit=rate_limit,
        replicas=replicas,
        key_prefix=prefix,
        retry_secs=0.05,
        where=url,
        clock=clock,
    )


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    """A private redis-server this test may kill and restart."""
    async with private_redis(tmp_path) as server:
        yield server


async def test_redis_down_at_start_up_is_degraded_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listening: initialize succeeds degraded, says so once, and grants this replica's share (20/min)."""
    now = [100.0]
    state = make_state(
        f"redis://127.0.0.1:{free_port()}/0", rate_limit=RateLimitPolicy(60, 6), replicas=3, clock=lambda: now[0]
    )
    events: list[ResilienceEvent] = []
    published: list[bool] = []

    async def listener(degraded: bool) -> None:
        published.append(degraded)

    state.subscribe(events.append)
    state.add_listener(listener)
    with caplog.at_level(logging.INFO, logger="dbd_playerstats.upstream.shared"):
        await state.initialize()
        try:
            await until(lambda: published == [True])
            waits = [(await state.bucket.reserve(math.inf)) for _ in range(2)]
        finally:
            await state.aclose()
    assert state.degraded
    assert len(events) == 1
    assert isinstance(events[0], SharedStateChanged)
    assert events[0].degraded
    assert "ConnectionError" in events[0].reason
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unreachable at start-up" in warnings[0]
    assert "20/min with burst 2 (RATE_LIMIT_PER_MIN / PLAYERSTATS_REPLICAS=3)" in warnings[0]
    assert [r.origin for r in waits] == ["local", "local"]
    assert [r.wait_secs for r in waits] == [3.0, 6.0], "starts drained, then one token per 3 s"


async def test_losing_redis_mid_run_falls_back_to_the_share_and_comes_back(
    redis_server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis killed: the next token comes from the share (0.2 s); restarted: shared again, its burst drained."""
    state = make_state(redis_server.url, rate_limit=RateLimitPolicy(600, 5), replicas=2)
    events: list[ResilienceEvent] = []
    published: list[bool] = []

    async def listener(degraded: bool) -> None:
        published.append(degraded)

    state.subscribe(events.append)
    state.add_listener(listener)
    client = Redis.from_url(redis_server.url)
    with caplog.at_level(logging.INFO, logger="dbd_playerstats.upstream.shared"):
        await state.initialize()
        try:
            before = await state.bucket.reserve(math.inf)
            assert before.origin == "shared"
            assert await client.exists("t:budget") == 1
            await redis_server.kill()
            during = await state.bucket.reserve(math.inf)
            assert state.degraded
            assert not await state.bucket.still_valid(before), "a Redis token is not trusted after the switch"
            await until(lambda: published == [False, True])
            await redis_server.start()
            await until(lambda: not state.degraded)
            await until(lambda: published == [False, True, False])
            after = [await state.bucket.reserve(math.inf) for _ in range(2)]
        finally:
            await state.aclose()
            await client.aclose()
    assert during.origin == "local"
    assert during.wait_secs == pytest.approx(0.2, abs=0.001), "the 300/min share starts drained"
    assert [r.origin for r in after] == ["shared", "shared"]
    assert after[0].wait_secs == 0.0
    # Any wait at all tells a drained burst from a full one (a burst of 5 would hand this token out at once).
    assert 0.0 < after[1].wait_secs <= 0.1, "the shared burst starts drained after the outage"
    assert [(e.degraded, e.reason.split(":")[0]) for e in events if isinstance(e, SharedStateChanged)] == [
        (False, "connected"),
        (True, "ConnectionError"),
        (False, "reachable again"),
    ]
    levels = [(r.levelno, r.getMessage().split(":")[0]) for r in caplog.records if r.levelno >= logging.INFO]
    assert levels == [
        (logging.INFO, "shared state"),
        (logging.WARNING, "shared state degraded"),
        (logging.INFO, "shared state restored"),
    ]


async def test_a_breaker_opened_through_one_replica_fails_fast_on_another_and_outlives_redis(
    redis_server: PrivateRedis,
) -> None:
    """A opens steam.stats; B refuses at once without having failed itself, and still refuses once Redis is gone."""
    states = [make_state(redis_server.url, rate_limit=RateLimitPolicy(600, 5)) for _ in range(2)]
    events: list[list[ResilienceEvent]] = [[], []]
    a, b = (Breakers(BREAKER, emit=events[i].append, uow=states[i].breaker_uow, wall_clock=time.time) for i in range(2))
    for state in states:
        await state.initialize()
    try:
        assert (await b.admit(NAME)).trial is None
        for _ in range(BREAKER.max_fails):
            admission = await a.admit(NAME)
            await admission.settle(RuntimeError("Steam answered 503"))
        with pytest.raises(CircuitOpenError) as info:
            await b.admit(NAME)
        assert info.value.retry_after is not None
        assert 29 < info.value.retry_after <= 30
        assert BreakerTransition(NAME, "closed", "open") in events[1], "B logs and counts what it saw"
        await redis_server.kill()
        with pytest.raises(CircuitOpenError):
            await b.admit(NAME)
        assert states[1].degraded
        assert await b.state(NAME) == "open"
    finally:
        for state in states:
            await state.aclose()


async def test_an_upstream_call_succeeds_while_redis_is_unreachable() -> None:
    """ResilientUpstream with an unreachable Redis starts, serves the call from the share, and reports it."""
    policy = ResiliencePolicy.from_settings(ResilienceSettings(rate_limit_per_min=6000, burst_limit=10))
    state = SharedState(
        connect(f"redis://127.0.0.1:{free_port()}/0", timeout_secs=0.5),
        breaker=policy.breaker,
        rate_limit=policy.rate_limit,
        retry_secs=0.05,
    )
    events: list[ResilienceEvent] = []

    def observe(event: ResilienceEvent) -> None:
        events.append(event)

    upstream = ResilientUpstream(policy, observers=[observe], shared=state)
    await upstream.initialize()
    try:

        async def attempt(timeout: float) -> str:
            return "answered" if timeout > 4 else "late"

        assert await upstream.call("stats", attempt, Deadline.after(5)) == "answered"
    finally:
        await upstream.aclose()
    assert [e.degraded for e in events if isinstance(e, SharedStateChanged)] == [True]


async def test_shared_breaker_and_budget_keys_expire(redis_url: str, redis_prefix: str) -> None:
    """Every key the shared state writes carries an expiry: the breaker's two keys (an hour, or ten open periods)
    and the budget's hash (once its state lies in the past), so a dead deployment leaves nothing behind."""
    state = make_state(redis_url, redis_prefix, rate_limit=RateLimitPolicy(600, 5))
    breakers = Breakers(BREAKER, emit=lambda _: None, uow=state.breaker_uow, wall_clock=time.time)
    await state.initialize()
    try:
        for _ in range(BREAKER.max_fails):
            admission = await breakers.admit(NAME)
            await admission.settle(RuntimeError("Steam answered 503"))
        await state.bucket.reserve(1.0)
        client = Redis.from_url(redis_url)
        try:
            keys = [key.decode() async for key in client.scan_iter(match=f"{redis_prefix}*")]
            assert {key.removeprefix(redis_prefix).split(":")[0] for key in keys} == {"cb", "budget"}
            assert any(key.endswith("::failure_count") for key in keys)
            ttls = {key: await client.pttl(key) for key in keys}
        finally:
            await client.aclose()
    finally:
        await state.aclose()
    for key, ttl_ms in ttls.items():
        limit_ms = breaker_key_ttl_secs(BREAKER) * 1000 if ":cb:" in f":{key}" else 60_000
        assert 0 < ttl_ms <= limit_ms, (key, ttl_ms)
