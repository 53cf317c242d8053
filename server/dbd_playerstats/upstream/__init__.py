"""Resilience between fetch orchestration and Steam: retries, circuit breakers, the shared budget, deadlines.

`ResilientUpstream(ResiliencePolicy.from_settings(settings.resilience), shared=...)` is the `protocol.Upstream`
the server uses; telemetry subscribes to its typed events with `add_observer`. Modules, one job each: `protocol`
(the seam fetch code calls), `deadline` (the time an RPC may still spend), `policy` (frozen values and error
classes), `retry` (the one backoff decorator), `breaker` (purgatory plus the half-open gate), `ratelimit` (token
bucket), `redis_bucket` (the same bucket in Redis), `shared` (breakers and budget shared by replicas through Redis, with
the in-process fall-back), `resilient` (the assembly), `events` (what observers receive).

The package exports what the wiring and its tests assemble a resilient upstream from; everything else is imported
from its module (`from dbd_playerstats.upstream.ratelimit import RateLimiter`).
"""

from dbd_playerstats.upstream.breaker import Breakers
from dbd_playerstats.upstream.events import BreakerTransition, ResilienceEvent, SharedStateChanged
from dbd_playerstats.upstream.policy import ResiliencePolicy
from dbd_playerstats.upstream.resilient import ResilientUpstream
from dbd_playerstats.upstream.shared import SharedState, SharedStateListener

__all__ = [
    "BreakerTransition",
    "Breakers",
    "ResilienceEvent",
    "ResiliencePolicy",
    "ResilientUpstream",
    "SharedState",
    "SharedStateChanged",
    "SharedStateListener",
]
