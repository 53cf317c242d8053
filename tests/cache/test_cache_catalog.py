"""The catalog's RefreshingValue on a fake clock: one shared first load, background refreshes, old value kept."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import trace

from dbd_playerstats.cache.catalog import REFRESH_AHEAD, RefreshingValue
from dbd_playerstats.errors import DeadlineExceededError
from dbd_playerstats.steam.errors import SteamServerError
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats_dev.captured_telemetry import CapturedTelemetry
from tests.support import until

TTL = 100.0


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeLoad:
    """A schema fetch answering `schema-<n>` on its n-th call, held at `gate`, failing with `failures` first."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures: list[Exception] = []
        self.deadlines: list[float] = []
        self.parents: list[bool] = []

    async def __call__(self, deadline: Deadline) -> str:
        self.calls += 1
        call = self.calls
        self.deadlines.append(deadline.remaining())
        self.parents.append(trace.get_current_span().get_span_context().is_valid)
        await self.gate.wait()
        if self.failures:
            raise self.failures.pop(0)
        return f"schema-{call}"


def down() -> SteamServerError:
    return SteamServerError("server error", endpoint="schema", status=503)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def load() -> FakeLoad:
    return FakeLoad()


@pytest.fixture
def value(clock: FakeClock, load: FakeLoad) -> RefreshingValue[str]:
    return RefreshingValue("schema", load, ttl_secs=TTL, clock=clock, load_timeout_secs=30)


def soon() -> Deadline:
    return Deadline.after(5)


async def test_the_first_load_is_shared_and_waited_for(value: RefreshingValue[str], load: FakeLoad) -> None:
    """Three concurrent gets before anything is loaded wait for one load, run with its own 30 s deadline."""
    load.gate.clear()
    tasks = [asyncio.create_task(value.get(Deadline.after(1))) for _ in range(3)]
    await until(lambda: load.calls == 1)
    load.gate.set()
    results = await asyncio.gather(*tasks)
    assert [r.value for r in results] == ["schema-1"] * 3
    assert load.calls == 1
    assert load.deadlines[0] > 5, "the load's deadline is its own, not the first caller's 1 s"


async def test_a_fresh_value_is_served_without_loading(
    value: RefreshingValue[str], load: FakeLoad, clock: FakeClock
) -> None:
    """Until REFRESH_AHEAD of the TTL has passed the value is served and Steam is not asked."""
    first = await value.get(soon())
    clock.now = TTL * REFRESH_AHEAD - 1
    assert await value.get(soon()) is first
    assert not value.refreshing
    assert load.calls == 1


async def test_the_refresh_starts_in_the_background_before_expiry(
    value: RefreshingValue[str], load: FakeLoad, clock: FakeClock
) -> None:
    """Between REFRESH_AHEAD x TTL and the TTL a get returns the value at once and starts one refresh, so the
    value is replaced before it expires and no request waits for Steam."""
    first = await value.get(soon())
    load.gate.clear()
    clock.now = TTL * REFRESH_AHEAD + 1
    assert await value.get(soon()) is first
    assert value.refreshing
    assert await value.get(soon()) is first
    await until(lambda: load.calls == 2)
    load.gate.set()
    await until(lambda: not value.refreshing)
    assert (await value.get(soon())).value == "schema-2"
    assert load.calls == 2


async def test_after_expiry_the_old_value_is_served_while_one_refresh_runs(
    value: RefreshingValue[str], load: FakeLoad, clock: FakeClock
) -> None:
    """Past the TTL, concurrent gets all get the old value at once while exactly one refresh runs."""
    first = await value.get(soon())
    load.gate.clear()
    clock.now = TTL * 3
    served = await asyncio.gather(*(value.get(soon()) for _ in range(5)))
    assert all(s is first for s in served)
    await until(lambda: load.calls == 2)
    load.gate.set()
    await until(lambda: not value.refreshing)
    assert (await value.get(soon())).value == "schema-2"
    assert load.calls == 2


async def test_a_failed_refresh_keeps_the_old_value_and_is_retried_later(
    value: RefreshingValue[str], load: FakeLoad, clock: FakeClock
) -> None:
    """A refresh that fails keeps serving the old value; the next refresh waits a minute, then succeeds."""
    first = await value.get(soon())
    load.failures = [down()]
    clock.now = TTL * 2
    assert await value.get(soon()) is first
    await until(lambda: not value.refreshing)
    assert load.calls == 2
    clock.now += 59
    assert await value.get(soon()) is first
    assert not value.refreshing, "no new refresh within the minute after a failure"
    clock.now += 1
    assert await value.get(soon()) is first
    await until(lambda: not value.refreshing)
    assert load.calls == 3
    refreshed = await value.get(soon())
    assert refreshed.value == "schema-3"
    assert refreshed.fetched_at > first.fetched_at


async def test_a_failed_first_load_is_the_callers_and_the_next_get_tries_again(
    value: RefreshingValue[str], load: FakeLoad
) -> None:
    """With nothing loaded, the load's failure goes to its callers (who fall back) and nothing is kept."""
    load.failures = [down()]
    with pytest.raises(SteamServerError):
        await value.get(soon())
    assert value.peek() is None
    assert (await value.get(soon())).value == "schema-2"


async def test_a_caller_out_of_time_does_not_stop_the_first_load(value: RefreshingValue[str], load: FakeLoad) -> None:
    """A caller whose deadline has passed gets DEADLINE_EXCEEDED; the load goes on for the next caller."""
    load.gate.clear()
    with pytest.raises(DeadlineExceededError):
        await value.get(Deadline.after(0))
    assert value.refreshing
    waiting = asyncio.create_task(value.get(soon()))
    await asyncio.sleep(0)
    load.gate.set()
    assert (await waiting).value == "schema-1"
    assert load.calls == 1


async def test_ttl_zero_keeps_nothing(clock: FakeClock, load: FakeLoad) -> None:
    """TTL 0 disables the cache: every get waits for a load of its own (or shares one in flight)."""
    value = RefreshingValue("schema", load, ttl_secs=0, clock=clock)
    assert (await value.get(soon())).value == "schema-1"
    assert (await value.get(soon())).value == "schema-2"
    assert value.peek() is None


async def test_a_background_refresh_belongs_to_no_request(
    value: RefreshingValue[str], load: FakeLoad, clock: FakeClock
) -> None:
    """The first load runs in the waiting request's trace; a background refresh in none (it is not the request's)."""
    captured = CapturedTelemetry.create()
    tracer = captured.telemetry.tracer
    try:
        with tracer.start_as_current_span("request-1"):
            await value.get(soon())
        clock.now = TTL * 2
        with tracer.start_as_current_span("request-2"):
            await value.get(soon())
        await until(lambda: not value.refreshing)
        request_2 = captured.span("request-2")
    finally:
        captured.telemetry.shutdown()
    assert load.parents == [True, False]
    assert [e.name for e in request_2.events] == ["cache.refresh", "cache.hit"]
