"""Endpoint breakers: purgatory's closed/open with our half-open gate, exclusions and transitions."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from dbd_playerstats.errors import (
    CircuitOpenError,
    DeadlineExceededError,
    NoGameStatsError,
    PlayerNotFoundError,
    ProfilePrivateError,
    RateLimitExceededError,
)
from dbd_playerstats.steam.errors import (
    SteamKeyRejectedError,
    SteamNotFoundError,
    SteamProfilePrivateError,
    SteamRateLimitedError,
    SteamServerError,
    SteamTimeoutError,
)
from dbd_playerstats.upstream.breaker import Breakers, outcome_of
from dbd_playerstats.upstream.events import BreakerRejected, BreakerTransition, ResilienceEvent
from dbd_playerstats.upstream.policy import BreakerPolicy

if TYPE_CHECKING:
    from tests.resilience.conftest import FakeClock

NAME = "steam.stats"
POLICY = BreakerPolicy(max_fails=3, reset_timeout_secs=10.0, half_open_requests=2, trial_timeout_secs=4.0)


def server_error() -> SteamServerError:
    return SteamServerError("503", endpoint="stats", status=503)


def make(clock: FakeClock, policy: BreakerPolicy = POLICY) -> tuple[Breakers, list[ResilienceEvent]]:
    events: list[ResilienceEvent] = []
    return Breakers(policy, emit=events.append, wall_clock=clock.wall, clock=clock), events


async def run(breakers: Breakers, exc: BaseException | None, name: str = NAME) -> None:
    """One admitted attempt ending with `exc` (None: success)."""
    admission = await breakers.admit(name)
    await admission.settle(exc)


async def open_breaker(breakers: Breakers) -> None:
    for _ in range(POLICY.max_fails):
        await run(breakers, server_error())


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (None, "healthy"),
        (SteamProfilePrivateError("p", endpoint="stats"), "healthy"),
        (SteamNotFoundError("n", endpoint="profile"), "healthy"),
        (ProfilePrivateError("p"), "healthy"),
        (NoGameStatsError("n"), "healthy"),
        (PlayerNotFoundError("n"), "healthy"),
        (asyncio.CancelledError(), "neutral"),
        (RateLimitExceededError("r"), "neutral"),
        (DeadlineExceededError("d"), "neutral"),
        (CircuitOpenError("c"), "neutral"),
        (server_error(), "failure"),
        (SteamTimeoutError("t", endpoint="stats"), "failure"),
        (SteamRateLimitedError("r", endpoint="stats"), "neutral"),
        (SteamKeyRejectedError("k", endpoint="stats"), "neutral"),
        (ValueError("bug"), "failure"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) or v is None else str(v),
)
def test_outcomes_follow_the_exclude_list(exc: BaseException | None, outcome: str) -> None:
    """The player's errors are healthy answers, cancellations and our own limits are neutral, the rest fails."""
    assert outcome_of(exc) == outcome


async def test_opens_after_max_consecutive_failures_and_fails_fast(clock: FakeClock) -> None:
    """Three failures open it; then admission is refused with retry_after = time left until half-open."""
    breakers, events = make(clock)
    await run(breakers, server_error())
    await run(breakers, server_error())
    assert await breakers.state(NAME) == "closed"
    await run(breakers, server_error())
    assert await breakers.state(NAME) == "open"
    assert events == [BreakerTransition(NAME, "closed", "open")]
    clock.advance(3.5)
    with pytest.raises(CircuitOpenError) as info:
        await breakers.admit(NAME, steam_id="76561198000000001")
    assert info.value.retry_after == pytest.approx(6.5)
    assert info.value.steam_id == "76561198000000001"
    assert events[-1] == BreakerRejected(NAME, pytest.approx(6.5))  # type: ignore[arg-type]


async def test_breakers_are_per_endpoint(clock: FakeClock) -> None:
    """Opening steam.stats leaves steam.profile closed."""
    breakers, _ = make(clock)
    await open_breaker(breakers)
    assert await breakers.state("steam.profile") == "closed"
    await run(breakers, None, "steam.profile")


async def test_the_players_errors_reset_the_consecutive_count(clock: FakeClock) -> None:
    """failure, failure, private, failure, failure: never three in a row, so it stays closed."""
    breakers, _ = make(clock)
    for exc in (server_error(), server_error(), ProfilePrivateError("p"), server_error(), server_error()):
        await run(breakers, exc)
    assert await breakers.state(NAME) == "closed"


async def test_many_private_profiles_never_open_it(clock: FakeClock) -> None:
    """Twenty private-profile answers in a row are not failures."""
    breakers, _ = make(clock)
    for _ in range(20):
        await run(breakers, SteamProfilePrivateError("private", endpoint="stats"))
    assert await breakers.state(NAME) == "closed"


async def test_neutral_outcomes_neither_count_nor_reset(clock: FakeClock) -> None:
    """Cancellation and our own limits between failures do not reset the count: the third failure opens it."""
    breakers, _ = make(clock)
    await run(breakers, server_error())
    await run(breakers, asyncio.CancelledError())
    await run(breakers, server_error())
    await run(breakers, RateLimitExceededError("budget"))
    await run(breakers, DeadlineExceededError("late"))
    assert await breakers.state(NAME) == "closed"
    await run(breakers, server_error())
    assert await breakers.state(NAME) == "open"


async def test_half_open_admits_exactly_the_trial_count(clock: FakeClock) -> None:
    """After the ttl, two trials are admitted together; a third concurrent call is refused at once."""
    breakers, events = make(clock)
    await open_breaker(breakers)
    clock.advance(10.01)
    first = await breakers.admit(NAME)
    clock.advance(1.0)
    second = await breakers.admit(NAME)
    assert events[-1] == BreakerTransition(NAME, "open", "half_open")
    with pytest.raises(CircuitOpenError) as info:
        await breakers.admit(NAME)
    assert info.value.retry_after == pytest.approx(POLICY.trial_timeout_secs)
    assert await breakers.state(NAME) == "half_open"
    await first.settle(None)
    assert await breakers.state(NAME) == "half_open", "one success is not enough"
    await second.settle(None)
    assert await breakers.state(NAME) == "closed"
    assert events[-1] == BreakerTransition(NAME, "half_open", "closed")
    await run(breakers, None)


async def test_sequential_trials_also_need_every_success(clock: FakeClock) -> None:
    """With two trial slots, a success then another call: that call is the second trial and closes it."""
    breakers, _ = make(clock)
    await open_breaker(breakers)
    clock.advance(10.01)
    await run(breakers, None)
    assert await breakers.state(NAME) == "half_open"
    await run(breakers, None)
    assert await breakers.state(NAME) == "closed"


async def test_a_failing_trial_reopens_for_a_full_ttl(clock: FakeClock) -> None:
    """One trial failure re-opens it at once with a fresh ttl; the other trial's later success is ignored."""
    breakers, events = make(clock)
    await open_breaker(breakers)
    clock.advance(10.01)
    first = await breakers.admit(NAME)
    second = await breakers.admit(NAME)
    await first.settle(server_error())
    assert await breakers.state(NAME) == "open"
    assert events[-1] == BreakerTransition(NAME, "half_open", "open")
    await second.settle(None)
    assert await breakers.state(NAME) == "open"
    with pytest.raises(CircuitOpenError) as info:
        await breakers.admit(NAME)
    assert info.value.retry_after == pytest.approx(10.0)


async def test_a_neutral_trial_frees_its_slot(clock: FakeClock) -> None:
    """A trial that was cancelled (or found no token) decides nothing and lets another call take its place."""
    breakers, _ = make(clock)
    await open_breaker(breakers)
    clock.advance(10.01)
    first = await breakers.admit(NAME)
    second = await breakers.admit(NAME)
    await first.settle(asyncio.CancelledError())
    third = await breakers.admit(NAME)
    await second.settle(None)
    await third.settle(ProfilePrivateError("p"))  # Steam answered properly: a successful trial
    assert await breakers.state(NAME) == "closed"


async def test_a_straggler_from_before_opening_decides_nothing(clock: FakeClock) -> None:
    """An attempt admitted while closed that ends during the half-open round neither closes nor re-opens it."""
    breakers, _ = make(clock)
    straggler_ok = await breakers.admit(NAME)
    straggler_failed = await breakers.admit(NAME)
    await open_breaker(breakers)
    clock.advance(10.01)
    trial = await breakers.admit(NAME)
    await straggler_ok.settle(None)
    await straggler_failed.settle(server_error())
    assert await breakers.state(NAME) == "half_open"
    await trial.settle(None)
    await run(breakers, None)
    assert await breakers.state(NAME) == "closed"


async def test_a_raising_listener_does_not_break_the_call(clock: FakeClock) -> None:
    """Transitions are reported through a hook that must never raise into the protected call."""

    def explode(event: ResilienceEvent) -> None:
        raise RuntimeError("observer bug")

    breakers = Breakers(POLICY, emit=explode, wall_clock=clock.wall, clock=clock)
    for _ in range(POLICY.max_fails):
        await run(breakers, server_error())  # the third one opens it: the transition is emitted inside purgatory
    assert await breakers.state(NAME) == "open"


async def test_rejects_now_answers_without_an_attempt_or_a_trial_slot(clock: FakeClock) -> None:
    """`rejects_now` is None while closed, the open breaker's CircuitOpenError (time left) while open, None once
    due; asking emits nothing and takes no half-open trial slot."""
    breakers, events = make(clock)
    assert breakers.rejects_now(NAME) is None
    await open_breaker(breakers)  # opened by purgatory's event: known without a refused admission
    clock.advance(4.0)
    emitted = len(events)
    rejected = breakers.rejects_now(NAME, steam_id="76561197960287930")
    assert isinstance(rejected, CircuitOpenError)
    assert rejected.retry_after == pytest.approx(6.0, abs=0.01)
    assert breakers.rejects_now("steam.profile") is None
    assert len(events) == emitted, "a query emits nothing"
    clock.advance(6.01)
    assert breakers.rejects_now(NAME) is None  # due: the next call is a trial
    for _ in range(3):
        assert breakers.rejects_now(NAME) is None
    await run(breakers, None)  # the first trial slot is still there
    await run(breakers, None)
    assert await breakers.state(NAME) == "closed"
    assert breakers.rejects_now(NAME) is None
