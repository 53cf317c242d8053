"""Resilience events become span events on the current span, metrics and debug logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from dbd_playerstats.upstream.events import (
    AttemptFinished,
    AttemptStarted,
    BreakerRejected,
    BreakerTransition,
    GaveUp,
    RateLimitRejected,
    RateLimitSlowedDown,
    RateLimitWaited,
    RetryScheduled,
)
from dbd_playerstats_dev.captured_telemetry import CapturedTelemetry as Captured


@pytest.fixture
def captured() -> Iterator[Captured]:
    running = Captured.create()
    yield running
    running.telemetry.shutdown()


def test_every_event_lands_on_the_current_span(captured: Captured) -> None:
    """Each event kind adds its span event with its attributes to the span current when it is emitted."""
    observe = captured.telemetry.resilience_observer
    with captured.telemetry.tracer.start_as_current_span("steam.stats"):
        observe(AttemptStarted("stats", 1, 10.0, "7656"))
        observe(AttemptFinished("stats", 1, 0.01, "SteamServerError", "server", 503))
        observe(RetryScheduled("stats", 1, 0.25, "rate_limited", "SteamRateLimitedError", 2.0))
        observe(BreakerTransition("steam.stats", "closed", "open"))
        observe(BreakerRejected("steam.stats", 59.5))
        observe(RateLimitWaited("stats", 0.6))
        observe(RateLimitRejected("stats", 3.0))
        observe(RateLimitSlowedDown("stats", 2.0))
        observe(GaveUp("stats", 2, "circuit_open", "CircuitOpenError"))
    (span,) = captured.spans()
    events = {e.name: dict(e.attributes or {}) for e in span.events}
    assert list(events) == [
        "steam.retry",
        "breaker.transition",
        "breaker.rejected",
        "ratelimit.waited",
        "ratelimit.rejected",
        "ratelimit.slowed",
        "steam.gave_up",
    ]
    assert events["steam.retry"] == {
        "attempt": 1,
        "wait_s": 0.25,
        "error.class": "rate_limited",
        "error.type": "SteamRateLimitedError",
        "retry_after_s": 2.0,
    }
    assert events["breaker.transition"] == {"breaker": "steam.stats", "from": "closed", "to": "open"}
    assert events["breaker.rejected"] == {"breaker": "steam.stats", "retry_after_s": 59.5}
    assert events["steam.gave_up"] == {"attempts": 2, "reason": "circuit_open", "error.type": "CircuitOpenError"}
    assert span.attributes is not None
    assert span.attributes["steam.gave_up.reason"] == "circuit_open"


def test_events_feed_the_metrics(captured: Captured) -> None:
    """Retries by error class, breaker state and counts, rate-limit waits, rejections and slow-downs are measured."""
    observe = captured.telemetry.resilience_observer
    observe(RetryScheduled("stats", 1, 0.1, "server", "SteamServerError", None))
    observe(RetryScheduled("stats", 2, 0.2, "server", "SteamServerError", None))
    observe(BreakerTransition("steam.stats", "closed", "open"))
    observe(BreakerTransition("steam.stats", "open", "half_open"))
    observe(BreakerRejected("steam.stats", 1.0))
    observe(RateLimitWaited("profile", 0.5))
    observe(RateLimitRejected("profile", 1.0))
    observe(RateLimitSlowedDown("profile", 2.0))
    assert captured.points("playerstats.steam.retries") == [({"steam.endpoint": "stats", "error.class": "server"}, 2)]
    assert captured.points("playerstats.breaker.state") == [({"breaker": "steam.stats"}, 1)]
    assert len(captured.points("playerstats.breaker.transitions")) == 2
    assert captured.points("playerstats.breaker.rejections") == [({"breaker": "steam.stats"}, 1)]
    assert captured.points("playerstats.ratelimit.wait.duration") == [({"steam.endpoint": "profile"}, 1)]
    assert captured.points("playerstats.ratelimit.rejections") == [({"steam.endpoint": "profile"}, 1)]
    assert captured.points("playerstats.ratelimit.slowdowns") == [({"steam.endpoint": "profile"}, 1)]


def test_retries_are_logged_at_debug(captured: Captured, caplog: pytest.LogCaptureFixture) -> None:
    """A scheduled retry is one DEBUG line naming the endpoint, the attempt and the error class."""
    with caplog.at_level(logging.DEBUG, logger="dbd_playerstats.telemetry"):
        captured.telemetry.resilience_observer(RetryScheduled("stats", 1, 0.25, "server", "SteamServerError", None))
    (record,) = [r for r in caplog.records if r.name == "dbd_playerstats.telemetry"]
    assert record.levelno == logging.DEBUG
    assert "retrying stats" in record.getMessage()
    assert "attempt 1" in record.getMessage()


def test_observer_never_raises(captured: Captured, caplog: pytest.LogCaptureFixture) -> None:
    """An event the observer cannot handle is dropped, not raised into the resilience layer: nothing of it is
    recorded, one DEBUG line says so, and the next event is recorded as usual."""
    observe = captured.telemetry.resilience_observer
    with (
        caplog.at_level(logging.DEBUG, logger="dbd_playerstats.telemetry"),
        captured.telemetry.tracer.start_as_current_span("steam.stats"),
    ):
        observe(RetryScheduled("stats", 1, "soon", "server", "E", None))  # type: ignore[arg-type]
        dropped = [r for r in caplog.records if r.name.startswith("dbd_playerstats.telemetry")]
        assert captured.points("playerstats.steam.retries") == [], "nothing of the bad event was measured"
        observe(RetryScheduled("stats", 2, 0.25, "server", "SteamServerError", None))
    assert [(r.levelno, r.getMessage()) for r in dropped] == [
        (logging.DEBUG, "telemetry could not record RetryScheduled")
    ]
    assert dropped[0].exc_info is not None, "the reason is in the debug log"
    (span,) = captured.spans()
    assert [dict(e.attributes or {})["attempt"] for e in span.events if e.name == "steam.retry"] == [2]
    assert captured.points("playerstats.steam.retries") == [({"steam.endpoint": "stats", "error.class": "server"}, 1)]
