"""The Steam budget in Redis: the in-memory GCRA's exact semantics, atomic across clients, on the real Redis."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from dbd_playerstats.errors import RateLimitExceededError
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.events import ResilienceEvent
from dbd_playerstats.upstream.policy import RateLimitPolicy
from dbd_playerstats.upstream.ratelimit import InMemoryTokenBucket, RateLimiter, Reservation, TokenUnavailable
from dbd_playerstats.upstream.redis_bucket import RedisTokenBucket

pytestmark = pytest.mark.redis

ONE_PER_SEC_BURST_3 = RateLimitPolicy(per_min=60, burst=3)
SLACK = 0.5
"""Real time passing between two calls on the real Redis clock: half a token interval of the 1/s buckets below,
which a loaded 2-core machine may spend between two round trips; still tells every expected wait from the one a
token earlier or later."""


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    """Two separate clients of the test Redis, as two replicas would have."""
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    yield first, second
    await first.aclose()
    await second.aclose()


async def test_burst_then_the_sustained_rate(clients: tuple[Redis, Redis], redis_prefix: str) -> None:
    """60/min with burst 3: three tokens at once, then the queue is told 1 s, 2 s, 3 s (Redis's own clock)."""
    bucket = RedisTokenBucket(clients[0], f"{redis_prefix}budget", ONE_PER_SEC_BURST_3)
    waits = [(await bucket.reserve(math.inf)).wait_secs for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    for got, expected in zip(waits[3:], (1.0, 2.0, 3.0), strict=True):
        assert expected - SLACK < got <= expected


async def test_due_times_of_two_clients_never_exceed_burst_plus_rate(
    clients: tuple[Redis, Redis], redis_prefix: str
) -> None:
    """Two clients taking 60 tokens concurrently get due times where every window W holds <= burst + W / T."""
    policy = RateLimitPolicy(per_min=600, burst=5)
    buckets = [RedisTokenBucket(client, f"{redis_prefix}budget", policy) for client in clients]
    reservations = await asyncio.gather(*(buckets[i % 2].reserve(math.inf) for i in range(60)))
    dues = sorted(r.due for r in reservations)  # microseconds on Redis's clock
    assert len({r.mark for r in reservations}) == 60, "no token was handed out twice"
    interval_us = 100_000
    for first in range(len(dues)):
        for last in range(first, len(dues)):
            assert last - first + 1 <= policy.burst + (dues[last] - dues[first]) / interval_us
    assert dues[-1] - dues[0] >= (60 - policy.burst) * interval_us


async def test_no_token_within_the_wait_allowed_is_refused_with_the_time_until_one(
    clients: tuple[Redis, Redis], redis_prefix: str
) -> None:
    """30/min burst 1: after one token, a 0.5 s wait is refused with retry_after ~2 s and reserves nothing."""
    bucket = RedisTokenBucket(clients[0], f"{redis_prefix}budget", RateLimitPolicy(per_min=30, burst=1))
    assert (await bucket.reserve(0.5)).wait_secs == 0.0
    with pytest.raises(TokenUnavailable) as info:
        await bucket.reserve(0.5)
    assert 2.0 - SLACK < info.value.retry_after_secs <= 2.0
    assert 2.0 - SLACK < (await bucket.reserve(math.inf)).wait_secs <= 2.0, "the refusal took no token"


async def test_a_429_through_one_limiter_pauses_the_other(clients: tuple[Redis, Redis], redis_prefix: str) -> None:
    """Limiter A slows down for 1 s; limiter B (another client) is refused within 0.5 s and waits ~1 s within 3 s."""
    policy = RateLimitPolicy(per_min=6000, burst=10)
    events: list[ResilienceEvent] = []
    waits: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waits.append(seconds)

    a, b = (
        RateLimiter(
            RedisTokenBucket(client, f"{redis_prefix}budget", policy),
            default_pause_secs=policy.interval_secs,
            sleep=record_sleep,
            emit=events.append,
        )
        for client in clients
    )
    await a.slow_down("stats", 1.0)
    with pytest.raises(RateLimitExceededError) as info:
        await b.acquire(_fixed(0.5), "achievements")
    assert info.value.retry_after is not None
    assert 1.0 - SLACK < info.value.retry_after <= 1.0
    waited = await b.acquire(_fixed(3.0), "achievements")
    assert 1.0 - SLACK < waited <= 1.0
    assert waits == [waited]


async def test_a_pause_after_a_reservation_invalidates_it_for_every_client(
    clients: tuple[Redis, Redis], redis_prefix: str
) -> None:
    """B holds a token due in ~1 s; A's 3 s pause makes it invalid (take a new one); one reserved later is valid."""
    key = f"{redis_prefix}budget"
    a = RedisTokenBucket(clients[0], key, ONE_PER_SEC_BURST_3)
    b = RedisTokenBucket(clients[1], key, ONE_PER_SEC_BURST_3)
    for _ in range(3):
        await b.reserve(math.inf)
    held = await b.reserve(math.inf)
    assert held.wait_secs > 0.5
    assert await b.still_valid(held)
    await a.pause(3.0)
    assert not await b.still_valid(held)
    after = await b.reserve(math.inf)
    assert 3.0 - SLACK < after.wait_secs <= 3.0, "the pause drained the burst"
    assert await a.still_valid(after)


async def test_refund_returns_only_the_latest_token(clients: tuple[Redis, Redis], redis_prefix: str) -> None:
    """A refund of the last reservation gives its slot back; a refund of an older one changes nothing."""
    bucket = RedisTokenBucket(clients[0], f"{redis_prefix}budget", RateLimitPolicy(per_min=60, burst=1))
    first = await bucket.reserve(math.inf)
    second = await bucket.reserve(math.inf)
    await bucket.refund(first)
    assert 2.0 - SLACK < (await bucket.reserve(math.inf)).wait_secs <= 2.0, "older refund ignored"
    third = await bucket.reserve(math.inf)
    await bucket.refund(third)
    assert 3.0 - SLACK < (await bucket.reserve(math.inf)).wait_secs <= 3.0, "latest refund honoured"
    assert second.origin == "shared"


async def test_an_idle_budget_leaves_nothing_in_redis(clients: tuple[Redis, Redis], redis_prefix: str) -> None:
    """The bucket's hash expires one second after its last due time (then it equals a fresh, full bucket)."""
    key = f"{redis_prefix}budget"
    bucket = RedisTokenBucket(clients[0], key, RateLimitPolicy(per_min=600, burst=1))
    await bucket.reserve(math.inf)
    ttl_ms = await clients[0].pttl(key)
    assert 1000 <= ttl_ms <= 1100


def _fixed(remaining: float) -> Deadline:
    """A deadline that always has `remaining` seconds left (the recording sleep never waits)."""
    return Deadline.after(remaining, lambda: 0.0)


OPS = st.one_of(
    st.tuples(st.just("advance"), st.integers(min_value=0, max_value=3000)),
    st.tuples(st.just("reserve"), st.integers(min_value=-1, max_value=8000)),
    st.tuples(st.just("pause"), st.integers(min_value=0, max_value=3000)),
    st.tuples(st.just("refund"), st.just(0)),
    st.tuples(st.just("still_valid"), st.just(0)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    per_min=st.sampled_from([6, 10, 12, 15, 20, 30, 60, 120, 240, 600, 1000]),
    burst=st.integers(min_value=1, max_value=6),
    ops=st.lists(OPS, max_size=40),
)
def test_redis_answers_exactly_as_the_in_memory_bucket(
    redis_url: str, redis_prefix: str, per_min: int, burst: int, ops: list[tuple[str, int]]
) -> None:
    """For any sequence of reserve / pause / refund / still_valid / time passing, both buckets give the same answers.

    Times are whole milliseconds and waits allowed are half a millisecond off that grid, so float rounding of the
    in-memory bucket never meets a tie; the Redis bucket reads the same clock (its test seam instead of TIME).
    """
    asyncio.run(_compare(redis_url, f"{redis_prefix}{uuid.uuid4().hex}", RateLimitPolicy(per_min, burst), ops))


async def _compare(url: str, key: str, policy: RateLimitPolicy, ops: list[tuple[str, int]]) -> None:
    now_ms = [1_000_000]

    def clock() -> float:
        return now_ms[0] / 1000

    client = Redis.from_url(url)
    try:
        memory = InMemoryTokenBucket(policy, clock=clock)
        redis = RedisTokenBucket(client, key, policy, clock=clock)
        held: tuple[Reservation, Reservation] | None = None
        for op, value in ops:
            if op == "advance":
                now_ms[0] += value
            elif op == "reserve":
                allowed = math.inf if value < 0 else (value + 0.5) / 1000
                answers = [await _reserve(bucket, allowed) for bucket in (memory, redis)]
                kinds = [type(answer) for answer in answers]
                assert kinds[0] is kinds[1], (op, value, answers)
                waits = [a.wait_secs if isinstance(a, Reservation) else a.retry_after_secs for a in answers]
                assert waits[0] == pytest.approx(waits[1], abs=1e-6), (op, value, answers)
                if isinstance(answers[0], Reservation) and isinstance(answers[1], Reservation):
                    held = (answers[0], answers[1])
            elif op == "pause":
                await memory.pause(value / 1000)
                await redis.pause(value / 1000)
            elif held is not None and op == "refund":
                await memory.refund(held[0])
                await redis.refund(held[1])
            elif held is not None:
                assert await memory.still_valid(held[0]) == await redis.still_valid(held[1]), held
        await client.delete(key)
    finally:
        await client.aclose()


async def _reserve(bucket: InMemoryTokenBucket | RedisTokenBucket, allowed: float) -> Reservation | TokenUnavailable:
    try:
        return await bucket.reserve(allowed)
    except TokenUnavailable as exc:
        return exc
