"""Resilience between fetch orchestration and Steam: retries, circuit breakers, the shared budget, deadlines.

`ResilientUpstream.from_settings(settings.resilience, shared=...)` is the `protocol.Upstream` the server uses;
telemetry subscribes to its typed events with `add_observer`. Modules, one job each: `protocol` (the seam fetch
code calls), `deadline` (the time an RPC may still spend), `policy` (frozen values and error classes), `retry`
(the one backoff decorator), `breaker` (purgatory plus the half-open gate), `ratelimit` (token bucket),
`redis_bucket` (the same bucket in Redis), `shared` (breakers and budget shared by replicas through Redis, with
the in-process fall-back), `resilient` (the assembly), `events` (what observers receive).
"""

from dbd_playerstats.upstream.breaker import EXCLUDE, NEUTRAL, Admission, Breakers, Outcome, outcome_of
from dbd_playerstats.upstream.events import (
    AttemptFinished,
    AttemptStarted,
    BreakerRejected,
    BreakerState,
    BreakerTransition,
    ErrorClass,
    GaveUp,
    RateLimitRejected,
    RateLimitSlowedDown,
    RateLimitWaited,
    ResilienceEvent,
    ResilienceObserver,
    RetryScheduled,
    SharedStateChanged,
)
from dbd_playerstats.upstream.policy import (
    BreakerPolicy,
    ClassPolicy,
    RateLimitPolicy,
    ResiliencePolicy,
    RetryPolicy,
    classify,
    steam_retry_after,
)
from dbd_playerstats.upstream.ratelimit import (
    InMemoryTokenBucket,
    RateLimiter,
    Reservation,
    TokenBucket,
    TokenUnavailable,
)
from dbd_playerstats.upstream.redis_bucket import RedisTokenBucket
from dbd_playerstats.upstream.resilient import ResilientUpstream, breaker_name
from dbd_playerstats.upstream.retry import GiveUp, GiveUpReason, Retrying, ScheduledRetry, Sleep, Uniform
from dbd_playerstats.upstream.shared import (
    REDIS_ERRORS,
    FailoverTokenBucket,
    FailoverUnitOfWork,
    SharedState,
    SharedStateListener,
    connect,
)

__all__ = [
    "EXCLUDE",
    "NEUTRAL",
    "REDIS_ERRORS",
    "Admission",
    "AttemptFinished",
    "AttemptStarted",
    "BreakerPolicy",
    "BreakerRejected",
    "BreakerState",
    "BreakerTransition",
    "Breakers",
    "ClassPolicy",
    "ErrorClass",
    "FailoverTokenBucket",
    "FailoverUnitOfWork",
    "GaveUp",
    "GiveUp",
    "GiveUpReason",
    "InMemoryTokenBucket",
    "Outcome",
    "RateLimitPolicy",
    "RateLimitRejected",
    "RateLimitSlowedDown",
    "RateLimitWaited",
    "RateLimiter",
    "RedisTokenBucket",
    "Reservation",
    "ResilienceEvent",
    "ResilienceObserver",
    "ResiliencePolicy",
    "ResilientUpstream",
    "RetryPolicy",
    "RetryScheduled",
    "Retrying",
    "ScheduledRetry",
    "SharedState",
    "SharedStateChanged",
    "SharedStateListener",
    "Sleep",
    "TokenBucket",
    "TokenUnavailable",
    "Uniform",
    "breaker_name",
    "classify",
    "connect",
    "outcome_of",
    "steam_retry_after",
]
