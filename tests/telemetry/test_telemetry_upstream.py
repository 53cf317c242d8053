"""TracedUpstream: one span per logical Steam call around any Upstream, attempts counted, statuses by outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TypeVar

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from dbd_playerstats.errors import CircuitOpenError, ProfilePrivateError
from dbd_playerstats.steam.errors import SteamServerError
from dbd_playerstats.telemetry import TracedUpstream
from dbd_playerstats.telemetry.recording import current_call
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.events import BreakerRejected, ResilienceObserver, RetryScheduled
from dbd_playerstats.upstream.protocol import Attempt, DirectUpstream
from dbd_playerstats_dev.captured_telemetry import CapturedTelemetry

T = TypeVar("T")


class RetryingUpstream:
    """An Upstream double honouring the resilience contract: retries SteamServerError, emits events in the caller."""

    def __init__(self, max_attempts: int = 3) -> None:
        self.max_attempts = max_attempts
        self.observers: list[ResilienceObserver] = []

    def add_observer(self, observer: ResilienceObserver) -> None:
        self.observers.append(observer)

    async def call(self, endpoint: str, attempt: Attempt[T], deadline: Deadline, *, steam_id: str | None = None) -> T:
        del deadline, steam_id
        for number in range(1, self.max_attempts + 1):
            try:
                return await attempt(1.0)
            except SteamServerError as exc:
                if number == self.max_attempts:
                    raise
                for observer in self.observers:
                    observer(RetryScheduled(endpoint, number, 0.0, "server", type(exc).__name__, None))
        raise AssertionError("unreachable")


class OpenBreakerUpstream:
    """An Upstream double whose breaker is open: no attempt, a BreakerRejected event, CircuitOpenError."""

    def __init__(self) -> None:
        self.observers: list[ResilienceObserver] = []

    def add_observer(self, observer: ResilienceObserver) -> None:
        self.observers.append(observer)

    async def call(self, endpoint: str, attempt: Attempt[T], deadline: Deadline, *, steam_id: str | None = None) -> T:
        for observer in self.observers:
            observer(BreakerRejected(f"steam.{endpoint}", 30.0))
        raise CircuitOpenError("Steam is failing", retry_after=30.0)


@pytest.fixture
def captured() -> Iterator[CapturedTelemetry]:
    running = CapturedTelemetry.create()
    yield running
    running.telemetry.shutdown()


def failing(times: int, error: Exception | None = None) -> Attempt[str]:
    """An attempt that fails `times` times with a 503 (or `error`), then answers "ok"."""
    calls = 0

    async def attempt(timeout: float) -> str:
        nonlocal calls
        calls += 1
        if calls <= times:
            raise error or SteamServerError("stats: HTTP 503", endpoint="stats", status=503)
        return "ok"

    return attempt


async def test_retried_call_is_one_span_with_attempts_and_retry_events(captured: CapturedTelemetry) -> None:
    """Two failures then success: one steam.stats span, attempts=3, outcome ok, two steam.retry events, status unset."""
    upstream = captured.telemetry.wrap_upstream(RetryingUpstream())
    result = await upstream.call("stats", failing(2), Deadline.after(5), steam_id="76561198000000001")
    assert result == "ok"
    span = captured.span("steam.stats")
    assert span.attributes is not None
    assert span.attributes["steam.endpoint"] == "stats"
    assert span.attributes["steam.steam_id"] == "76561198000000001"
    assert span.attributes["steam.attempts"] == 3
    assert span.attributes["steam.outcome"] == "ok"
    assert 0 < float(span.attributes["steam.deadline.remaining_s"]) <= 5  # type: ignore[arg-type]
    assert [e.attributes["attempt"] for e in span.events if e.name == "steam.retry" and e.attributes] == [1, 2]
    assert span.status.status_code is StatusCode.UNSET
    assert sorted(captured.points("playerstats.steam.attempts"), key=str) == [
        ({"steam.endpoint": "stats", "steam.outcome": "UPSTREAM_UNAVAILABLE"}, 2),
        ({"steam.endpoint": "stats", "steam.outcome": "ok"}, 1),
    ]
    assert captured.points("playerstats.steam.call.duration") == [
        ({"steam.endpoint": "stats", "steam.outcome": "ok"}, 1)
    ]


async def test_attempts_run_inside_the_span_with_their_number(captured: CapturedTelemetry) -> None:
    """Each attempt runs with the logical span current and current_call() counting it (the resend-count source)."""
    seen: list[tuple[str, int]] = []

    async def attempt(timeout: float) -> str:
        state = current_call()
        assert state is not None
        seen.append((trace.get_current_span().name, state.attempts))  # type: ignore[attr-defined]
        if state.attempts < 2:
            raise SteamServerError("stats: HTTP 503", endpoint="stats", status=503)
        return "ok"

    await captured.telemetry.wrap_upstream(RetryingUpstream()).call("stats", attempt, Deadline.after(5))
    assert seen == [("steam.stats", 1), ("steam.stats", 2)]
    assert current_call() is None


async def test_steam_failure_marks_the_span_error_with_the_exception(captured: CapturedTelemetry) -> None:
    """Retries exhausted: the error propagates, the span is ERROR with the exception and its ErrorInfo reason."""
    upstream = captured.telemetry.wrap_upstream(RetryingUpstream(max_attempts=2))
    with pytest.raises(SteamServerError):
        await upstream.call("stats", failing(5), Deadline.after(5))
    span = captured.span("steam.stats")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["steam.outcome"] == "UPSTREAM_UNAVAILABLE"
    assert span.attributes["error.type"] == "SteamServerError"
    assert [e.name for e in span.events] == ["steam.retry", "exception"]


async def test_players_answer_is_recorded_without_error_status(captured: CapturedTelemetry) -> None:
    """A private profile ends the call with PROFILE_PRIVATE recorded, but the span status stays unset."""
    private = ProfilePrivateError("private", steam_id="76561198000000002")
    upstream = captured.telemetry.wrap_upstream(DirectUpstream(5.0))
    with pytest.raises(ProfilePrivateError):
        await upstream.call("stats", failing(1, private), Deadline.after(5))
    span = captured.span("steam.stats")
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes is not None
    assert span.attributes["steam.outcome"] == "PROFILE_PRIVATE"
    assert [e.name for e in span.events] == ["exception"]


async def test_open_breaker_is_an_error_span_with_no_attempt(captured: CapturedTelemetry) -> None:
    """A breaker rejection: zero attempts, a breaker.rejected event, outcome UPSTREAM_CIRCUIT_OPEN, status ERROR."""
    upstream = captured.telemetry.wrap_upstream(OpenBreakerUpstream())
    with pytest.raises(CircuitOpenError):
        await upstream.call("profile", failing(0), Deadline.after(5))
    span = captured.span("steam.profile")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["steam.attempts"] == 0
    assert span.attributes["steam.outcome"] == "UPSTREAM_CIRCUIT_OPEN"
    assert [e.name for e in span.events] == ["breaker.rejected", "exception"]
    assert captured.points("playerstats.breaker.rejections") == [({"breaker": "steam.profile"}, 1)]


async def test_cancelled_call_is_outcome_cancelled_without_error(captured: CapturedTelemetry) -> None:
    """A cancelled call propagates CancelledError; its span says cancelled and is not an error."""
    started = asyncio.Event()

    async def hang(timeout: float) -> str:
        started.set()
        await asyncio.sleep(60)
        return "late"

    upstream = captured.telemetry.wrap_upstream(DirectUpstream(5.0))
    task = asyncio.ensure_future(upstream.call("achievements", hang, Deadline.after(5)))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = captured.span("steam.achievements")
    assert span.attributes is not None
    assert span.attributes["steam.outcome"] == "cancelled"
    assert span.status.status_code is StatusCode.UNSET
    assert not span.events


def test_wrap_upstream_subscribes_the_observer_only_where_it_can(captured: CapturedTelemetry) -> None:
    """wrap_upstream adds the resilience observer to an upstream with add_observer, and wraps any upstream."""
    resilient = RetryingUpstream()
    assert isinstance(captured.telemetry.wrap_upstream(resilient), TracedUpstream)
    assert resilient.observers == [captured.telemetry.resilience_observer]
    direct = DirectUpstream(1.0)
    assert captured.telemetry.wrap_upstream(direct).inner is direct
