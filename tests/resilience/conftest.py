"""Fakes for the resilience unit tests: one clock (monotonic and wall) whose sleep advances it without waiting;
and the machine's Redis under a throw-away key prefix for the shared-state tests (a failure when it is down)."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator

import pytest
from purgatory.domain import model as purgatory_model

from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats_dev.redis_testing import RedisUnavailableError, redis_test_url, temporary_prefix
from tests.support import entered_or_fail

WALL_OFFSET = 1_700_000_000.0


class FakeClock:
    """Monotonic seconds (`clock()`), a matching wall clock (`wall()`) and an instant `sleep` that records waits."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL_OFFSET + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)

    def deadline(self, seconds: float) -> Deadline:
        return Deadline.after(seconds, self)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A fake clock that purgatory's breakers read too (their `opened_at` and ttl checks use time.time())."""
    fake = FakeClock()
    monkeypatch.setattr(purgatory_model, "time", types.SimpleNamespace(time=fake.wall))
    return fake


@pytest.fixture
def redis_url() -> str:
    """The test Redis (PLAYERSTATS_TEST_REDIS_URL, default the machine's 127.0.0.1:6379)."""
    return redis_test_url()


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own on the test Redis, emptied before and after; fails when Redis is down."""
    async with entered_or_fail(temporary_prefix(redis_url), RedisUnavailableError) as prefix:
        yield prefix
