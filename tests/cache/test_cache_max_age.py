"""SharedFetch with a caller's `max_age`: a kept answer not younger than it is fetched again, 0 still joins a
fetch in flight, and `kept(key, max_age)` tells the age without a call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from opentelemetry import trace

from dbd_playerstats.cache.shared_fetch import Answer, Flight, Origin, SharedFetch
from dbd_playerstats.upstream.deadline import Deadline
from tests.support import until


class Clock:
    """Wall-clock UTC that a test moves forward by hand."""

    def __init__(self) -> None:
        self.now = datetime(2025, 6, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Endpoint:
    """Answers `<key>#<call>` fetched at the clock's time, held at `gate`."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, key: str, deadline: Deadline, flight: Flight) -> Answer[str, None]:
        self.calls += 1
        call = self.calls
        await self.gate.wait()
        return Answer(f"{key}#{call}", self.clock())


def make(ttl_secs: float = 60.0) -> tuple[SharedFetch[str, None], Endpoint, Clock]:
    clock = Clock()
    endpoint = Endpoint(clock)
    cache = SharedFetch("x", endpoint, ttl_secs=ttl_secs, max_entries=10, tracer=trace.NoOpTracer(), clock=clock)
    return cache, endpoint, clock


def later() -> Deadline:
    return Deadline.after(30)


async def test_a_kept_answer_younger_than_max_age_is_a_hit_and_an_older_one_is_fetched_again() -> None:
    """10 s old: a hit for max_age 11 and for none; fetched again for max_age 10 (not younger), and the new
    answer then replaces the old one for everybody."""
    cache, endpoint, clock = make()
    first = await cache.get("a", later())
    clock.now += timedelta(seconds=10)
    assert (await cache.get("a", later(), max_age=11)).answer is first.answer
    assert (await cache.get("a", later())).origin is Origin.CACHED
    refreshed = await cache.get("a", later(), max_age=10)
    assert (refreshed.origin, refreshed.answer.value) == (Origin.STARTED, "a#2")
    assert (await cache.get("a", later())).answer is refreshed.answer
    assert endpoint.calls == 2


async def test_max_age_zero_fetches_again_but_joins_a_fetch_in_flight() -> None:
    """0 never takes a kept answer; while a fetch runs it waits for that one (JOINED, still one call)."""
    cache, endpoint, _ = make()
    await cache.get("a", later())
    assert (await cache.get("a", later(), max_age=0)).origin is Origin.STARTED
    endpoint.gate.clear()
    started = asyncio.ensure_future(cache.get("a", later(), max_age=0))
    await until(lambda: endpoint.calls == 3)
    joined = asyncio.ensure_future(cache.get("a", later(), max_age=0))
    endpoint.gate.set()
    assert [(await started).origin, (await joined).origin] == [Origin.STARTED, Origin.JOINED]
    assert endpoint.calls == 3


async def test_kept_with_max_age_tells_the_age_of_the_kept_answer() -> None:
    """`kept(key, max_age)` is True only for a kept answer younger than max_age; never for a fetch in flight."""
    cache, endpoint, clock = make()
    assert not cache.kept("a", 60)
    await cache.get("a", later())
    clock.now += timedelta(seconds=5)
    assert cache.kept("a")
    assert cache.kept("a", 6)
    assert not cache.kept("a", 5)
    assert not cache.kept("a", 0)
    endpoint.gate.clear()
    running = asyncio.ensure_future(cache.get("a", later(), max_age=0))
    await until(lambda: cache.in_flight("a"))
    assert not cache.kept("a", 60)
    endpoint.gate.set()
    await running
    assert cache.kept("a", 1)
