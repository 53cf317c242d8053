"""The one backoff decorator: per-class limits, full jitter, exact Retry-After, deadline, with a fake clock."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import pytest

from dbd_playerstats.config.settings import ResilienceSettings
from dbd_playerstats.errors import (
    CircuitOpenError,
    DeadlineExceededError,
    ProfilePrivateError,
    RateLimitExceededError,
)
from dbd_playerstats.steam.errors import (
    SteamBadResponseError,
    SteamClientError,
    SteamError,
    SteamKeyRejectedError,
    SteamNotFoundError,
    SteamProfilePrivateError,
    SteamRateLimitedError,
    SteamServerError,
    SteamTimeoutError,
    SteamTransportError,
)
from dbd_playerstats.steam.parse import parse_player_summaries
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.policy import RetryPolicy
from dbd_playerstats.upstream.retry import GiveUp, Retrying, ScheduledRetry

if TYPE_CHECKING:
    from tests.resilience.conftest import FakeClock

POLICY = RetryPolicy.from_settings(ResilienceSettings(base_backoff_ms=250, max_backoff_ms=8000, max_retries=3))


def err(cls: type[SteamError], retry_after: float | None = None) -> SteamError:
    return cls("failed", endpoint="profile", status=503, retry_after=retry_after)


class Script:
    """An attempt function failing with the scripted errors in order, then returning "ok"."""

    def __init__(self, errors: Iterable[BaseException]) -> None:
        self.errors = iter(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        error = next(self.errors, None)
        if error is not None:
            raise error
        return "ok"


def upper(a: float, b: float) -> float:
    """A 'uniform' that always draws the top of the range, so waits equal their caps."""
    return b


def make(
    clock: FakeClock,
    deadline: Deadline | None = None,
    *,
    policy: RetryPolicy = POLICY,
    uniform: Callable[[float, float], float] = upper,
) -> tuple[Retrying, list[ScheduledRetry], list[GiveUp]]:
    retries: list[ScheduledRetry] = []
    gave_up: list[GiveUp] = []
    retrying = Retrying(
        policy,
        deadline if deadline is not None else clock.deadline(1000),
        sleep=clock.sleep,
        uniform=uniform,
        on_retry=retries.append,
        on_give_up=gave_up.append,
    )
    return retrying, retries, gave_up


@pytest.mark.parametrize(
    ("cls", "attempts"),
    [
        (SteamRateLimitedError, 1 + 3),
        (SteamTimeoutError, 1 + 2),
        (SteamTransportError, 1 + 4),
        (SteamServerError, 1 + 3),
        (SteamBadResponseError, 1 + 3),
    ],
)
async def test_each_class_is_retried_exactly_its_limit(clock: FakeClock, cls: type[SteamError], attempts: int) -> None:
    """A class failing forever makes 1 + its retry limit attempts, then the last error is raised as it was."""
    errors = [err(cls) for _ in range(20)]
    script = Script(errors)
    retrying, retries, gave_up = make(clock)
    with pytest.raises(cls) as info:
        await retrying(script)()
    assert script.calls == attempts
    assert info.value is errors[attempts - 1]
    assert len(retries) == attempts - 1
    assert gave_up == [GiveUp(attempts, "exhausted", errors[attempts - 1])]
    assert not isinstance(info.value.__context__, StopIteration)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (err(SteamNotFoundError), "not_retryable"),
        (err(SteamProfilePrivateError), "not_retryable"),
        (err(SteamKeyRejectedError), "not_retryable"),
        (err(SteamClientError), "not_retryable"),
        (ProfilePrivateError("private"), "not_retryable"),
        (ValueError("bug"), "not_retryable"),
        (CircuitOpenError("open", retry_after=3), "circuit_open"),
        (RateLimitExceededError("budget", retry_after=1), "deadline"),
        (DeadlineExceededError("late"), "deadline"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
async def test_never_retried_errors_stop_after_one_attempt(clock: FakeClock, exc: Exception, reason: str) -> None:
    """The player's errors, a refused key, other 4xx, bugs and our own limits end the call at the first attempt."""
    script = Script([exc])
    retrying, retries, gave_up = make(clock)
    with pytest.raises(type(exc)):
        await retrying(script)()
    assert script.calls == 1
    assert retries == []
    assert clock.sleeps == []
    assert gave_up == [GiveUp(1, reason, exc)]  # type: ignore[arg-type]


async def test_success_after_failures_returns_the_value(clock: FakeClock) -> None:
    """Two server errors then a success: three attempts, two waits, the result, no give-up."""
    script = Script([err(SteamServerError), err(SteamServerError)])
    retrying, retries, gave_up = make(clock)
    assert await retrying(script)() == "ok"
    assert script.calls == 3
    assert [r.attempt for r in retries] == [1, 2]
    assert gave_up == []
    assert retrying.attempts == 3


async def test_waits_are_full_jitter_of_the_exponential_cap(clock: FakeClock) -> None:
    """Each wait is uniform(0, min(MAX, BASE * multiplier^(n-1))): the jitter draws are asked for exactly those."""
    draws: list[tuple[float, float]] = []

    def uniform(a: float, b: float) -> float:
        draws.append((a, b))
        return b / 2

    script = Script([err(SteamRateLimitedError) for _ in range(3)])
    retrying, retries, _ = make(clock, uniform=uniform)
    assert await retrying(script)() == "ok"
    assert draws == [(0.0, 0.25), (0.0, 0.5), (0.0, 1.0)]
    assert clock.sleeps == [0.125, 0.25, 0.5]
    assert [r.wait_secs for r in retries] == clock.sleeps
    assert {r.error_class for r in retries} == {"rate_limited"}


@pytest.mark.parametrize("retry_after", [0.0, 1.5, 7.25, 30.0])
async def test_retry_after_seconds_is_waited_exactly(clock: FakeClock, retry_after: float) -> None:
    """A 429's Retry-After is slept exactly: no jitter is drawn and MAX_BACKOFF does not cap it."""
    drawn: list[float] = []

    def uniform(a: float, b: float) -> float:
        drawn.append(b)
        return b

    script = Script([err(SteamRateLimitedError, retry_after)])
    retrying, retries, _ = make(clock, uniform=uniform)
    assert await retrying(script)() == "ok"
    assert clock.sleeps == [retry_after]
    assert drawn == []
    assert retries[0].retry_after_secs == retry_after


@pytest.mark.parametrize("header", ["12", "Wed, 21 Oct 2099 07:28:00 GMT"])
async def test_retry_after_header_forms_are_waited_exactly(clock: FakeClock, header: str) -> None:
    """Retry-After as seconds or as an HTTP date, parsed from a real 429 reply, is the exact sleep."""
    with pytest.raises(SteamRateLimitedError) as info:
        parse_player_summaries(429, "text/html", b"Too Many Requests", {"Retry-After": header})
    limited = info.value
    assert limited.retry_after is not None
    script = Script([limited])
    retrying, _, _ = make(clock, clock.deadline(10**10))
    assert await retrying(script)() == "ok"
    assert clock.sleeps == [limited.retry_after]


async def test_no_retry_starts_when_its_wait_would_outlast_the_deadline(clock: FakeClock) -> None:
    """Retry-After 5 s with 2 s left: no sleep, one attempt, the 429 (with its retry hint) is raised at once."""
    limited = err(SteamRateLimitedError, 5.0)
    script = Script([limited])
    retrying, _, gave_up = make(clock, clock.deadline(2.0))
    with pytest.raises(SteamRateLimitedError) as info:
        await retrying(script)()
    assert info.value.retry_after == 5.0
    assert script.calls == 1
    assert clock.sleeps == []
    assert gave_up == [GiveUp(1, "deadline", limited)]


async def test_jittered_wait_is_checked_against_the_deadline_too(clock: FakeClock) -> None:
    """With 0.3 s left, a 0.25 s wait is taken once; the next (0.25 s again) would pass the deadline: give up."""
    script = Script([err(SteamServerError) for _ in range(5)])
    retrying, _, gave_up = make(clock, clock.deadline(0.3))
    with pytest.raises(SteamServerError):
        await retrying(script)()
    assert clock.sleeps == [0.25]
    assert script.calls == 2
    assert gave_up[0].reason == "deadline"


async def test_limits_are_counted_per_class_and_the_exponent_per_call(clock: FakeClock) -> None:
    """timeout, server, timeout, then a third timeout stops (limit 2); n grows with every retry of the call."""
    draws: list[float] = []

    def uniform(a: float, b: float) -> float:
        draws.append(b)
        return 0.0

    errors = [err(SteamTimeoutError), err(SteamServerError), err(SteamTimeoutError), err(SteamTimeoutError)]
    script = Script(errors)
    retrying, retries, gave_up = make(clock, uniform=uniform)
    with pytest.raises(SteamTimeoutError):
        await retrying(script)()
    assert script.calls == 4
    assert [r.error_class for r in retries] == ["timeout", "server", "timeout"]
    assert draws == pytest.approx([0.25, 0.25, 0.25 * 1.5**2])
    assert gave_up[0].reason == "exhausted"


async def test_a_call_never_makes_more_attempts_than_all_limits_allow(clock: FakeClock) -> None:
    """Every class using all its retries, then one more failure: exactly 1 + the sum of the limits attempts."""
    limits = [(SteamRateLimitedError, 3), (SteamTimeoutError, 2), (SteamTransportError, 4)]
    limits += [(SteamServerError, 3), (SteamBadResponseError, 3)]
    sequence = [cls for cls, limit in limits for _ in range(limit)]
    script = Script(err(cls) for cls in itertools.chain(sequence, itertools.cycle([SteamServerError])))
    retrying, _, _ = make(clock, uniform=lambda a, b: 0.0)
    with pytest.raises(SteamError):
        await retrying(script)()
    assert script.calls == POLICY.max_attempts == 1 + 3 + 2 + 4 + 3 + 3


async def test_max_retries_zero_means_one_attempt_for_server_errors(clock: FakeClock) -> None:
    """MAX_RETRIES=0 turns server errors into single attempts."""
    policy = RetryPolicy.from_settings(ResilienceSettings(max_retries=0))
    script = Script([err(SteamServerError)])
    retrying, _, gave_up = make(clock, policy=policy)
    with pytest.raises(SteamServerError):
        await retrying(script)()
    assert script.calls == 1
    assert gave_up[0].reason == "exhausted"


async def test_cancellation_is_never_retried_nor_reported(clock: FakeClock) -> None:
    """A cancelled attempt propagates at once: no retry, no give-up event."""
    script = Script([asyncio.CancelledError()])
    retrying, retries, gave_up = make(clock)
    with pytest.raises(asyncio.CancelledError):
        await retrying(script)()
    assert (script.calls, retries, gave_up) == (1, [], [])
