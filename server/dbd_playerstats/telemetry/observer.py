"""`ResilienceTelemetry`: resilience events -> events on the current span, metrics and debug logs.

The resilience layer calls its observers synchronously in the caller's task, inside `TracedUpstream.call`, so
the current span is the logical Steam call's span (``steam.<endpoint>``). Span events:

========================  ==========================================================================
event                     attributes
========================  ==========================================================================
``steam.retry``           attempt (the failed one, from 1), wait_s, error.class, error.type, retry_after_s
``steam.gave_up``         attempts, reason (exhausted / deadline / not_retryable / circuit_open), error.type
``breaker.transition``    breaker, from, to
``breaker.rejected``      breaker, retry_after_s
``ratelimit.waited``      endpoint, waited_s
``ratelimit.rejected``    endpoint, retry_after_s
``ratelimit.slowed``      endpoint, pause_s
``shared_state.changed``  degraded, reason (on the span of the call that noticed Redis was gone)
========================  ==========================================================================

`GaveUp` also sets ``steam.gave_up.reason`` on the span. Attempt events are not repeated here: every attempt
already has its CLIENT span, and `TracedUpstream` counts them.
"""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from dbd_playerstats.telemetry.metrics import Metrics
from dbd_playerstats.upstream.events import (
    AttemptFinished,
    AttemptStarted,
    BreakerRejected,
    BreakerTransition,
    GaveUp,
    RateLimitRejected,
    RateLimitSlowedDown,
    RateLimitWaited,
    ResilienceEvent,
    RetryScheduled,
    SharedStateChanged,
)

log = logging.getLogger("dbd_playerstats.telemetry")


class ResilienceTelemetry:
    """A `ResilienceObserver`: fast, never raises (a failure is logged at debug and dropped)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def __call__(self, event: ResilienceEvent) -> None:
        """Record `event` on the current span and in the metrics."""
        try:
            self._record(event)
        except Exception:
            log.debug("telemetry could not record %s", type(event).__name__, exc_info=True)

    def _record(self, event: ResilienceEvent) -> None:
        span = trace.get_current_span()
        metrics = self._metrics
        match event:
            case RetryScheduled():
                attributes: dict[str, AttributeValue] = {
                    "attempt": event.attempt,
                    "wait_s": round(event.wait_secs, 6),
                    "error.class": event.error_class,
                    "error.type": event.error,
                }
                if event.retry_after_secs is not None:
                    attributes["retry_after_s"] = event.retry_after_secs
                span.add_event("steam.retry", attributes)
                metrics.steam_retry(event.endpoint, event.error_class)
                log.debug(
                    "retrying %s in %.1f ms: attempt %d failed (%s, %s)",
                    event.endpoint,
                    event.wait_secs * 1000,
                    event.attempt,
                    event.error_class,
                    event.error,
                    extra={
                        "steam_endpoint": event.endpoint,
                        "attempt": event.attempt,
                        "wait_s": round(event.wait_secs, 6),
                    },
                )
            case GaveUp():
                span.set_attribute("steam.gave_up.reason", event.reason)
                span.add_event(
                    "steam.gave_up", {"attempts": event.attempts, "reason": event.reason, "error.type": event.error}
                )
                log.debug("gave up on %s after %d attempts: %s", event.endpoint, event.attempts, event.reason)
            case BreakerTransition():
                span.add_event("breaker.transition", {"breaker": event.breaker, "from": event.old, "to": event.new})
                metrics.breaker_transition(event.breaker, event.new)
            case BreakerRejected():
                span.add_event(
                    "breaker.rejected", {"breaker": event.breaker, "retry_after_s": round(event.retry_after_secs, 3)}
                )
                metrics.breaker_rejection(event.breaker)
            case RateLimitWaited():
                span.add_event("ratelimit.waited", {"endpoint": event.endpoint, "waited_s": event.waited_secs})
                metrics.ratelimit_wait(event.endpoint, event.waited_secs)
            case RateLimitRejected():
                span.add_event(
                    "ratelimit.rejected", {"endpoint": event.endpoint, "retry_after_s": event.retry_after_secs}
                )
                metrics.ratelimit_rejection(event.endpoint)
            case RateLimitSlowedDown():
                span.add_event("ratelimit.slowed", {"endpoint": event.endpoint, "pause_s": event.pause_secs})
                metrics.ratelimit_slowdown(event.endpoint)
            case SharedStateChanged():
                span.add_event("shared_state.changed", {"degraded": event.degraded, "reason": event.reason})
                metrics.shared_state_degraded(event.degraded)
            case AttemptStarted() | AttemptFinished():
                pass


__all__ = ["ResilienceTelemetry"]
