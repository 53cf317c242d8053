"""The budget gauge: tokens left after each grant, refilled at the sustained rate, 0 after a refusal or a 429, in
memory and in Redis alike, and exported as ``playerstats.ratelimit.tokens`` once a Steam call has been made."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest
from redis.asyncio import Redis

from dbd_playerstats.config.settings import ResilienceSettings
from dbd_playerstats.errors import RateLimitExceededError
from dbd_playerstats.upstream.events import ResilienceEvent
from dbd_playerstats.upstream.policy import RateLimitPolicy, ResiliencePolicy
from dbd_playerstats.upstream.ratelimit import InMemoryTokenBucket, RateLimiter
from dbd_playerstats.upstream.redis_bucket import RedisTokenBucket
from dbd_playerstats.upstream.resilient import ResilientUpstream
from dbd_playerstats_dev.captured_telemetry import CapturedTelemetry

if TYPE_CHECKING:
    from tests.resilience.conftest import FakeClock

ONE_PER_SEC_BURST_3 = RateLimitPolicy(per_min=60, burst=3)


def limiter(clock: FakeClock, bucket: InMemoryTokenBucket | RedisTokenBucket) -> RateLimiter:
    events: list[ResilienceEvent] = []
    return RateLimiter(
        bucket,
        default_pause_secs=ONE_PER_SEC_BURST_3.interval_secs,
        sleep=clock.sleep,
        emit=events.append,
        policy=ONE_PER_SEC_BURST_3,
        clock=clock,
    )


async def test_each_reservation_says_the_tokens_left(clock: FakeClock) -> None:
    bucket = InMemoryTokenBucket(ONE_PER_SEC_BURST_3, clock=clock)
    left = [(await bucket.reserve(math.inf)).tokens_left for _ in range(5)]
    assert left == [pytest.approx(2.0), pytest.approx(1.0), pytest.approx(0.0), 0.0, 0.0]


async def test_the_limiter_refills_its_count_at_the_rate_up_to_the_burst(clock: FakeClock) -> None:
    limit = limiter(clock, InMemoryTokenBucket(ONE_PER_SEC_BURST_3, clock=clock))
    assert limit.budget_tokens() is None  # nothing known before the first call
    for _ in range(3):
        await limit.acquire(clock.deadline(10), "stats")
    assert limit.budget_tokens() == pytest.approx(0.0)
    clock.advance(1.5)
    assert limit.budget_tokens() == pytest.approx(1.5)
    clock.advance(60)
    assert limit.budget_tokens() == 3.0


async def test_a_refusal_and_a_429_pause_leave_the_gauge_at_zero(clock: FakeClock) -> None:
    limit = limiter(clock, InMemoryTokenBucket(ONE_PER_SEC_BURST_3, clock=clock))
    for _ in range(3):
        await limit.acquire(clock.deadline(10), "stats")
    with pytest.raises(RateLimitExceededError):
        await limit.acquire(clock.deadline(0.5), "stats")
    assert limit.budget_tokens() == 0.0
    clock.advance(60)
    await limit.slow_down("stats", 4.0)
    clock.advance(3)
    assert limit.budget_tokens() == 0.0  # still inside the pause
    clock.advance(2)
    assert limit.budget_tokens() == pytest.approx(1.0)  # one second of sustained rate after it


@pytest.mark.redis
async def test_the_redis_bucket_counts_tokens_as_the_in_memory_one(
    clock: FakeClock, redis_url: str, redis_prefix: str
) -> None:
    client = Redis.from_url(redis_url)
    try:
        shared = RedisTokenBucket(client, f"{redis_prefix}budget", ONE_PER_SEC_BURST_3, clock=clock)
        memory = InMemoryTokenBucket(ONE_PER_SEC_BURST_3, clock=clock)
        for step in range(5):
            answers = [await bucket.reserve(math.inf) for bucket in (memory, shared)]
            assert answers[1].tokens_left == pytest.approx(answers[0].tokens_left, abs=1e-5), step
            clock.advance(0.4)
    finally:
        await client.aclose()


async def test_the_gauge_is_read_from_the_upstream_at_collection(clock: FakeClock) -> None:
    """`Telemetry.wrap_upstream` makes ``playerstats.ratelimit.tokens`` read the resilient upstream's
    `budget_tokens()` at each collection: absent before the first grant, then the tokens left, refilling."""
    upstream = ResilientUpstream(
        ResiliencePolicy.from_settings(ResilienceSettings(rate_limit_per_min=60, burst_limit=3)),
        clock=clock,
        sleep=clock.sleep,
    )
    captured = CapturedTelemetry.create()
    try:
        captured.telemetry.wrap_upstream(upstream)
        assert captured.points("playerstats.ratelimit.tokens") == []
        await upstream.limiter.acquire(clock.deadline(10), "stats")
        assert captured.points("playerstats.ratelimit.tokens") == [({}, pytest.approx(2.0))]
        clock.advance(0.5)
        assert captured.points("playerstats.ratelimit.tokens") == [({}, pytest.approx(2.5))]
    finally:
        captured.telemetry.shutdown()
        await upstream.aclose()
