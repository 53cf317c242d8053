"""ResilientUpstream end to end with fakes: attempt budgets, the order breaker -> budget -> attempt, events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

import pytest

from dbd_playerstats.config.settings import ResilienceSettings
from dbd_playerstats.errors import CircuitOpenError, DeadlineExceededError, RateLimitExceededError
from dbd_playerstats.steam.errors import SteamError, SteamRateLimitedError, SteamServerError, SteamTimeoutError
from dbd_playerstats.upstream import ResilientUpstream
from dbd_playerstats.upstream.events import (
    AttemptFinished,
    AttemptStarted,
    BreakerTransition,
    GaveUp,
    RateLimitRejected,
    RateLimitSlowedDown,
    ResilienceEvent,
    RetryScheduled,
)
from dbd_playerstats.upstream.policy import ResiliencePolicy
from dbd_playerstats.upstream.protocol import Upstream

if TYPE_CHECKING:
    from tests.resilience.conftest import FakeClock

E = TypeVar("E", bound=ResilienceEvent)

SETTINGS = ResilienceSettings(
    cb_max_fails=3,
    cb_reset_timeout_secs=10,
    cb_half_open_requests=2,
    api_timeout_secs=4,
    overall_timeout_secs=30,
    max_retries=2,
    base_backoff_ms=100,
    max_backoff_ms=1000,
    rate_limit_per_min=60,
    burst_limit=5,
)


class Attempts:
    """An attempt function failing with the scripted errors, then answering; records each attempt's timeout."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.timeouts: list[float] = []

    async def __call__(self, timeout: float) -> str:
        self.timeouts.append(timeout)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class Recorder(list[ResilienceEvent]):
    """An observer keeping every event."""

    def __call__(self, event: ResilienceEvent) -> None:
        self.append(event)


def make(
    clock: FakeClock, settings: ResilienceSettings = SETTINGS, **overrides: float
) -> tuple[ResilientUpstream, list[ResilienceEvent]]:
    events = Recorder()
    upstream = ResilientUpstream(
        ResiliencePolicy.from_settings(replace(settings, **overrides)),  # type: ignore[arg-type]
        observers=[events],
        clock=clock,
        sleep=clock.sleep,
        uniform=lambda a, b: b,
        wall_clock=clock.wall,
    )
    return upstream, events


def of(kind: type[E], events: list[ResilienceEvent]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def test_it_is_an_upstream(clock: FakeClock) -> None:
    """ResilientUpstream satisfies the Upstream protocol the fetcher and catalog use."""
    upstream: Upstream = make(clock)[0]
    assert upstream is not None


async def test_a_success_is_one_attempt_with_its_events(clock: FakeClock) -> None:
    """One attempt bounded by API_TIMEOUT_SECS, framed by AttemptStarted and AttemptFinished."""
    upstream, events = make(clock)
    attempts = Attempts()
    assert await upstream.call("stats", attempts, clock.deadline(30), steam_id="7656") == "ok"
    assert attempts.timeouts == [4.0]
    assert events == [AttemptStarted("stats", 1, 4.0, "7656"), AttemptFinished("stats", 1, 0.0, None, None, None)]


async def test_each_attempt_gets_at_most_what_is_left_of_the_deadline(clock: FakeClock) -> None:
    """4.05 s left, API_TIMEOUT_SECS 4: the attempt gets 4 s; a 0.1 s backoff would outlast the rest: give up."""
    upstream, events = make(clock)
    attempts = Attempts(SteamServerError("503", endpoint="stats", status=503))
    clock_start = clock.now
    deadline = clock.deadline(4.05)

    async def slow(timeout: float) -> str:
        clock.advance(timeout)  # the attempt uses its whole budget
        return await attempts(timeout)

    with pytest.raises(SteamServerError):
        await upstream.call("stats", slow, deadline)
    assert attempts.timeouts == [4.0]
    assert clock.now - clock_start == pytest.approx(4.0)
    assert of(GaveUp, events) == [GaveUp("stats", 1, "deadline", "SteamServerError")]


async def test_a_shorter_deadline_bounds_the_attempt(clock: FakeClock) -> None:
    """A caller with 1.5 s left gives the attempt 1.5 s, not API_TIMEOUT_SECS."""
    upstream, _ = make(clock)
    attempts = Attempts()
    await upstream.call("stats", attempts, clock.deadline(1.5))
    assert attempts.timeouts == [1.5]


async def test_an_attempt_cut_short_by_the_callers_deadline_is_deadline_exceeded(clock: FakeClock) -> None:
    """1.5 s left (API_TIMEOUT_SECS 4): the attempt times out when the caller's deadline does, so the caller hears
    DEADLINE_EXCEEDED (its own deadline), not UPSTREAM_TIMEOUT, and the breaker counts nothing against Steam."""
    upstream, events = make(clock, max_retries=0)
    for _ in range(5):  # more than CB_MAX_FAILS: counted as Steam failures, these would open the breaker
        deadline = clock.deadline(1.5)

        async def times_out(timeout: float) -> str:
            clock.advance(timeout)
            raise SteamTimeoutError("stats: timed out", endpoint="stats")

        with pytest.raises(DeadlineExceededError) as info:
            await upstream.call("stats", times_out, deadline, steam_id="7656")
        assert isinstance(info.value.__cause__, SteamTimeoutError)
        assert info.value.steam_id == "7656"
    assert not [e for e in events if isinstance(e, BreakerTransition)], "the breaker stayed closed"
    assert await upstream.call("stats", Attempts(), clock.deadline(30)) == "ok"


async def test_an_attempt_timing_out_with_time_left_is_a_steam_timeout(clock: FakeClock) -> None:
    """API_TIMEOUT_SECS (4 s) ran out while the caller still had time: Steam was slow, UPSTREAM_TIMEOUT."""
    upstream, _ = make(clock, max_retries=0)

    async def times_out(timeout: float) -> str:
        clock.advance(timeout)
        raise SteamTimeoutError("stats: timed out", endpoint="stats")

    with pytest.raises(SteamTimeoutError):
        await upstream.call("stats", times_out, clock.deadline(30))


async def test_no_time_left_is_deadline_exceeded_without_an_attempt(clock: FakeClock) -> None:
    """An expired deadline: DeadlineExceededError, no attempt, no token spent."""
    upstream, events = make(clock)
    attempts = Attempts()
    with pytest.raises(DeadlineExceededError):
        await upstream.call("stats", attempts, clock.deadline(0))
    assert attempts.timeouts == []
    assert events == [GaveUp("stats", 1, "deadline", "DeadlineExceededError")]


async def test_server_errors_retry_max_retries_times_with_events(clock: FakeClock) -> None:
    """MAX_RETRIES=2: three attempts, two RetryScheduled with the capped waits, then GaveUp exhausted."""
    upstream, events = make(clock)
    errors = [SteamServerError("503", endpoint="stats", status=503) for _ in range(5)]
    attempts = Attempts(*errors)
    with pytest.raises(SteamServerError) as info:
        await upstream.call("stats", attempts, clock.deadline(30))
    assert info.value is errors[2]
    assert len(attempts.timeouts) == 3
    assert of(RetryScheduled, events) == [
        RetryScheduled("stats", 1, 0.1, "server", "SteamServerError", None),
        RetryScheduled("stats", 2, 0.1, "server", "SteamServerError", None),
    ]
    assert of(GaveUp, events) == [GaveUp("stats", 3, "exhausted", "SteamServerError")]
    finished = of(AttemptFinished, events)
    assert [(e.attempt, e.error_class, e.status) for e in finished] == [
        (1, "server", 503),
        (2, "server", 503),
        (3, "server", 503),
    ]


async def test_an_open_breaker_fails_fast_without_calling(clock: FakeClock) -> None:
    """After CB_MAX_FAILS failed calls, the next call raises CircuitOpenError and never reaches the attempt."""
    upstream, events = make(clock, max_retries=0)
    for _ in range(3):
        with pytest.raises(SteamServerError):
            await upstream.call("stats", Attempts(SteamServerError("503", endpoint="stats")), clock.deadline(30))
    assert BreakerTransition("steam.stats", "closed", "open") in events
    attempts = Attempts()
    with pytest.raises(CircuitOpenError) as info:
        await upstream.call("stats", attempts, clock.deadline(30), steam_id="7656")
    assert attempts.timeouts == []
    assert info.value.retry_after == pytest.approx(10.0)
    assert info.value.steam_id == "7656"
    assert of(GaveUp, events)[-1] == GaveUp("stats", 1, "circuit_open", "CircuitOpenError")
    assert await upstream.call("profile", Attempts(), clock.deadline(30)) == "ok", "other endpoints still work"


async def test_a_breaker_opening_mid_call_stops_its_retries(clock: FakeClock) -> None:
    """The call's own third failure opens the breaker: its next retry is refused, not sent."""
    upstream, _ = make(clock, max_retries=5)
    attempts = Attempts(*[SteamServerError("503", endpoint="stats") for _ in range(10)])
    with pytest.raises(CircuitOpenError):
        await upstream.call("stats", attempts, clock.deadline(30))
    assert len(attempts.timeouts) == 3


async def test_a_429_slows_every_endpoint_and_its_retry_after_is_waited_exactly(clock: FakeClock) -> None:
    """Retry-After 2.5: the retry sleeps exactly 2.5 s and the shared bucket pauses as long for other endpoints."""
    upstream, events = make(clock)
    limited = SteamRateLimitedError("429", endpoint="profile", status=429, retry_after=2.5)
    attempts = Attempts(limited)
    assert await upstream.call("profile", attempts, clock.deadline(30)) == "ok"
    assert clock.sleeps == [2.5]
    assert RateLimitSlowedDown("profile", 2.5) in events
    assert of(RetryScheduled, events) == [
        RetryScheduled("profile", 1, 2.5, "rate_limited", "SteamRateLimitedError", 2.5)
    ]
    await upstream.call("stats", Attempts(), clock.deadline(30))
    assert clock.sleeps == [2.5, 1.0], "after the pause the burst is drained: the next token comes 1/rate later"


async def test_no_token_within_the_deadline_is_rate_limit_exceeded(clock: FakeClock) -> None:
    """Burst spent, one token a second, 0.5 s left: RateLimitExceededError with the wait, no attempt, no failure."""
    upstream, events = make(clock, burst_limit=1)
    await upstream.call("stats", Attempts(), clock.deadline(30))
    attempts = Attempts()
    with pytest.raises(RateLimitExceededError) as info:
        await upstream.call("stats", attempts, clock.deadline(0.5))
    assert info.value.retry_after == pytest.approx(1.0)
    assert attempts.timeouts == []
    assert RateLimitRejected("stats", pytest.approx(1.0)) in events  # type: ignore[arg-type]
    assert await upstream.breakers.state("steam.stats") == "closed"


async def test_a_raising_observer_is_ignored(clock: FakeClock) -> None:
    """Observers must not raise; when one does, the call is unaffected and later observers still get events."""
    upstream, events = make(clock)

    class Broken:
        def __call__(self, event: ResilienceEvent) -> None:
            raise RuntimeError("observer bug")

    later = Recorder()
    upstream.add_observer(Broken())
    upstream.add_observer(later)
    assert await upstream.call("stats", Attempts(), clock.deadline(30)) == "ok"
    assert later == events


@pytest.mark.parametrize("error", [SteamServerError, SteamRateLimitedError])
async def test_errors_keep_their_endpoint_and_status(clock: FakeClock, error: Callable[..., SteamError]) -> None:
    """The error the caller gets is the last upstream error itself, so its ErrorInfo metadata survives."""
    upstream, _ = make(clock, max_retries=0, cb_max_fails=100)
    failure = error("failed", endpoint="stats", status=503, steam_id="7656", retry_after=None)
    attempts = Attempts(*[failure] * 10)
    with pytest.raises(SteamError) as info:
        await upstream.call("stats", attempts, clock.deadline(30), steam_id="7656")
    assert (info.value.endpoint, info.value.status, info.value.steam_id) == ("stats", 503, "7656")
