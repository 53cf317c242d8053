"""Fakes for the resilience unit tests: one clock (monotonic and wall) whose sleep advances it without waiting."""

from __future__ import annotations

import asyncio
import types

import pytest
from purgatory.domain import model as purgatory_model

from dbd_playerstats.deadline import Deadline

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
