"""Typed events the resilience layer emits, and the small protocol observers implement.

Call sites never import backoff or purgatory: the resilience layer adapts backoff's handler dicts and purgatory's
listener callbacks into these frozen values and hands them to every registered `ResilienceObserver`. Telemetry
(spans, span events, metrics, logs) subscribes here. Observers run synchronously in the caller's task, so the
current span is the logical call's span; an observer must not raise (errors are logged and swallowed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from dbd_playerstats.errors import RetryClass

BreakerState = Literal["closed", "open", "half_open"]
ErrorClass = RetryClass  # declared with the error table, whose `retry` column holds it


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """One HTTP attempt of a logical call is about to be sent (attempt numbers start at 1)."""

    endpoint: str
    attempt: int
    timeout_secs: float
    steam_id: str | None


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    """One attempt ended; `error` is None on success, else the exception's class name and `error_class`."""

    endpoint: str
    attempt: int
    elapsed_secs: float
    error: str | None
    error_class: ErrorClass | None
    status: int | None


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """A failed attempt will be retried after `wait_secs` (Retry-After exactly when Steam sent one)."""

    endpoint: str
    attempt: int
    wait_secs: float
    error_class: ErrorClass
    error: str
    retry_after_secs: float | None


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The logical call stops retrying: `reason` is "exhausted", "deadline", "not_retryable" or "circuit_open"."""

    endpoint: str
    attempts: int
    reason: str
    error: str


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """A circuit breaker changed state (only in the process that caused it)."""

    breaker: str
    old: BreakerState
    new: BreakerState


@dataclass(frozen=True, slots=True)
class BreakerRejected:
    """A call failed fast because the breaker is open (or half-open with every trial slot taken)."""

    breaker: str
    retry_after_secs: float


@dataclass(frozen=True, slots=True)
class RateLimitWaited:
    """A call waited `waited_secs` for a token of the shared Steam budget."""

    endpoint: str
    waited_secs: float


@dataclass(frozen=True, slots=True)
class RateLimitRejected:
    """No token could come within the deadline; the call fails RESOURCE_EXHAUSTED."""

    endpoint: str
    retry_after_secs: float


@dataclass(frozen=True, slots=True)
class RateLimitSlowedDown:
    """Steam answered 429: the shared bucket pauses (or slows down) for `pause_secs`."""

    endpoint: str
    pause_secs: float


@dataclass(frozen=True, slots=True)
class SharedStateChanged:
    """The breaker and budget storage switched (or, at start-up, settled) between Redis and in-process.

    `degraded` True: Redis is unreachable and this replica uses its in-process breaker and its share of the
    budget; False: state is shared through Redis. `reason` is a short text for humans (the Redis error, or
    "connected" / "reachable again").
    """

    degraded: bool
    reason: str


@dataclass(frozen=True, slots=True)
class KeyRefused:
    """Steam refused the service's key: attempts fail at once for `pause_secs` (key_gate.py)."""

    endpoint: str
    pause_secs: float


@dataclass(frozen=True, slots=True)
class KeyAccepted:
    """An attempt succeeded after Steam had refused the key: the key works again."""

    endpoint: str


ResilienceEvent = (
    AttemptStarted
    | AttemptFinished
    | RetryScheduled
    | GaveUp
    | BreakerTransition
    | BreakerRejected
    | RateLimitWaited
    | RateLimitRejected
    | RateLimitSlowedDown
    | SharedStateChanged
    | KeyRefused
    | KeyAccepted
)


class ResilienceObserver(Protocol):
    """Receives every resilience event; must be fast and must not raise."""

    def __call__(self, event: ResilienceEvent) -> None: ...


__all__ = [
    "AttemptFinished",
    "AttemptStarted",
    "BreakerRejected",
    "BreakerState",
    "BreakerTransition",
    "ErrorClass",
    "GaveUp",
    "KeyAccepted",
    "KeyRefused",
    "RateLimitRejected",
    "RateLimitSlowedDown",
    "RateLimitWaited",
    "ResilienceEvent",
    "ResilienceObserver",
    "RetryScheduled",
    "SharedStateChanged",
]
