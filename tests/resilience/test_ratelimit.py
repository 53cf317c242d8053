"""The shared Steam budget: GCRA token bucket, waiting within the deadline, refusing at once, 429 pauses."""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbd_playerstats.errors import RateLimitExceededError
from dbd_playerstats.upstream.events import (
    RateLimitRejected,
    RateLimitSlowedDown,
    RateLimitWaited,
    ResilienceEvent,
)
from dbd_playerstats.upstream.policy import RateLimitPolicy
from dbd_playerstats.upstream.ratelimit import InMemoryTokenBucket, RateLimiter, TokenUnavailable

if TYPE_CHECKING:
    from tests.resilience.conftest import FakeClock

ONE_PER_SEC_BURST_3 = RateLimitPolicy(per_min=60, burst=3)


class Now:
    """A bare settable clock for property tests (no fixture per example)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def limiter(
    clock: FakeClock, policy: RateLimitPolicy
) -> tuple[RateLimiter, InMemoryTokenBucket, list[ResilienceEvent]]:
    events: list[ResilienceEvent] = []
    bucket = InMemoryTokenBucket(policy, clock=clock)
    return (
        RateLimiter(bucket, default_pause_secs=policy.interval_secs, sleep=clock.sleep, emit=events.append),
        bucket,
        events,
    )


async def test_burst_is_immediate_then_tokens_come_at_the_rate(clock: FakeClock) -> None:
    """60/min with burst 3: three tokens now, then one per second for callers queued behind."""
    bucket = InMemoryTokenBucket(ONE_PER_SEC_BURST_3, clock=clock)
    waits = [(await bucket.reserve(math.inf)).wait_secs for _ in range(6)]
    assert waits == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]


async def test_the_burst_refills_over_time(clock: FakeClock) -> None:
    """After 2 s of quiet, two of the three burst tokens are back."""
    bucket = InMemoryTokenBucket(ONE_PER_SEC_BURST_3, clock=clock)
    for _ in range(3):
        await bucket.reserve(math.inf)
    clock.advance(2.0)
    waits = [(await bucket.reserve(math.inf)).wait_secs for _ in range(3)]
    assert waits == [0.0, 0.0, 1.0]


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0.0, max_value=3.0, allow_nan=False), min_size=1, max_size=60),
    burst=st.integers(min_value=1, max_value=6),
    per_min=st.integers(min_value=6, max_value=600),
)
def test_no_window_ever_holds_more_than_burst_plus_rate(gaps: list[float], burst: int, per_min: int) -> None:
    """For any arrival pattern, in every window of W seconds at most burst + rate * W tokens are due."""
    now = Now()
    policy = RateLimitPolicy(per_min=per_min, burst=burst)
    bucket = InMemoryTokenBucket(policy, clock=now)

    async def arrivals() -> list[float]:
        dues = []
        for gap in gaps:
            now.t += gap
            dues.append((await bucket.reserve(math.inf)).due)
        return dues

    dues = asyncio.run(arrivals())
    rate = per_min / 60.0
    for first in range(len(dues)):
        for last in range(first, len(dues)):
            assert last - first + 1 <= burst + rate * (dues[last] - dues[first]) + 1e-6


async def test_acquire_waits_for_a_token_due_within_the_deadline(clock: FakeClock) -> None:
    """With the burst spent, a call with 5 s left sleeps exactly until its token (1 s) and reports the wait."""
    rate_limiter, _, events = limiter(clock, RateLimitPolicy(per_min=60, burst=1))
    assert await rate_limiter.acquire(clock.deadline(5), "stats") == 0.0
    assert await rate_limiter.acquire(clock.deadline(5), "stats") == 1.0
    assert clock.sleeps == [1.0]
    assert events == [RateLimitWaited("stats", 1.0)]


async def test_no_token_in_time_fails_at_once_with_the_time_until_one(clock: FakeClock) -> None:
    """A token due in 1 s for a call with 0.5 s left: RateLimitExceededError(retry_after=1) without waiting."""
    rate_limiter, bucket, events = limiter(clock, RateLimitPolicy(per_min=60, burst=1))
    await rate_limiter.acquire(clock.deadline(5), "stats")
    with pytest.raises(RateLimitExceededError) as info:
        await rate_limiter.acquire(clock.deadline(0.5), "profile", steam_id="76561198000000001")
    assert info.value.retry_after == 1.0
    assert info.value.steam_id == "76561198000000001"
    assert clock.sleeps == []
    assert events == [RateLimitRejected("profile", 1.0)]
    assert bucket.next_due_in() == 1.0, "a refused call reserves nothing"


async def test_a_429_pauses_every_grant_and_drains_the_burst(clock: FakeClock) -> None:
    """Retry-After 2 s: with a full burst, no token before 2 s; after it, tokens at the sustained rate only."""
    rate_limiter, bucket, events = limiter(clock, ONE_PER_SEC_BURST_3)
    assert await rate_limiter.slow_down("stats", 2.0) == 2.0
    assert events == [RateLimitSlowedDown("stats", 2.0)]
    waits = [(await bucket.reserve(math.inf)).wait_secs for _ in range(3)]
    assert waits == [2.0, 3.0, 4.0]


async def test_a_429_without_retry_after_pauses_one_interval(clock: FakeClock) -> None:
    """No Retry-After: the bucket is emptied, the next token comes one emission interval (60/RATE) later."""
    rate_limiter, bucket, events = limiter(clock, RateLimitPolicy(per_min=120, burst=10))
    assert await rate_limiter.slow_down("profile", None) == 0.5
    assert events == [RateLimitSlowedDown("profile", 0.5)]
    assert bucket.next_due_in() == 0.5


async def test_a_waiter_caught_by_a_later_pause_takes_a_new_token(clock: FakeClock) -> None:
    """A token reserved for t+1 s, then a 429 pausing until t+2.5 s: the waiter re-reserves and waits until then."""
    events: list[ResilienceEvent] = []
    bucket = InMemoryTokenBucket(RateLimitPolicy(per_min=60, burst=1), clock=clock)
    released = asyncio.Event()
    sleeping = asyncio.Event()
    sleeps: list[float] = []

    async def held_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        sleeping.set()
        if len(sleeps) == 1:
            await released.wait()  # the test moves the clock meanwhile
        else:
            clock.advance(seconds)

    rate_limiter = RateLimiter(bucket, default_pause_secs=1.0, sleep=held_sleep, emit=events.append)
    await bucket.reserve(math.inf)  # the burst token
    waiter = asyncio.create_task(rate_limiter.acquire(clock.deadline(10), "stats"))
    await sleeping.wait()
    assert sleeps == [1.0]
    clock.advance(0.5)
    await bucket.pause(2.0)  # until t+2.5
    clock.advance(0.5)  # the first sleep ends at t+1
    released.set()
    assert await waiter == pytest.approx(2.5)
    assert sleeps == [1.0, 1.5]


async def test_a_cancelled_waiter_gives_its_token_back(clock: FakeClock) -> None:
    """Cancelling a call waiting for its token returns the token: the next caller is not pushed back."""
    bucket = InMemoryTokenBucket(RateLimitPolicy(per_min=60, burst=1), clock=clock)
    never = asyncio.Event()

    async def blocked_sleep(seconds: float) -> None:
        await never.wait()

    rate_limiter = RateLimiter(bucket, default_pause_secs=1.0, sleep=blocked_sleep, emit=lambda event: None)
    await bucket.reserve(math.inf)
    before = bucket.next_due_in()
    waiter = asyncio.create_task(rate_limiter.acquire(clock.deadline(10), "stats"))
    await asyncio.sleep(0)
    assert bucket.next_due_in() == before + 1.0
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.next_due_in() == before


async def test_token_unavailable_carries_the_wait(clock: FakeClock) -> None:
    """The bucket's own verdict says how long until a token, and reserves nothing."""
    bucket = InMemoryTokenBucket(RateLimitPolicy(per_min=30, burst=1), clock=clock)
    await bucket.reserve(math.inf)
    with pytest.raises(TokenUnavailable) as info:
        await bucket.reserve(1.0)
    assert info.value.retry_after_secs == 2.0
    assert bucket.next_due_in() == 2.0
