"""The small API other code calls to put what it decided into the trace and the metrics, without plumbing.

Cache lookups, coalesced waits and merge decisions happen in fetch/store code that holds no telemetry object.
These functions annotate the *current* span (the logical Steam call's span inside `Upstream.call`, else the
RPC's SERVER span) and record the metric on the `Metrics` of the RPC being served, which the gRPC interceptor
puts in a context variable (tasks started by the handler inherit it). Outside an RPC, or with telemetry off,
they cost a context-variable read and do nothing else. None of them raises.

    from dbd_playerstats.telemetry import record_cache_lookup, record_event, record_merge_decision

    record_cache_lookup("stats", hit=True, age_s=12.5)
    record_merge_decision("rejected", reason="too_few_adepts", survivor_adepts=3)
    record_event("store.stale_served", age_s=4000.0)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from dbd_playerstats.telemetry.metrics import Metrics


@dataclass(slots=True)
class CallState:
    """The logical Steam call in progress in this context: its endpoint and the number of attempts started."""

    endpoint: str
    attempts: int = 0


_CURRENT_CALL: ContextVar[CallState | None] = ContextVar("playerstats_steam_call", default=None)
_ACTIVE_METRICS: ContextVar[Metrics | None] = ContextVar("playerstats_metrics", default=None)


@dataclass(slots=True)
class RpcOutcome:
    """What the error boundary decided for the RPC in progress: the ErrorInfo reason it aborted with."""

    reason: str = ""


_RPC_OUTCOME: ContextVar[RpcOutcome | None] = ContextVar("playerstats_rpc_outcome", default=None)


def current_call() -> CallState | None:
    """The logical Steam call this code runs in (None outside `TracedUpstream.call`)."""
    return _CURRENT_CALL.get()


@contextmanager
def steam_call(state: CallState) -> Iterator[CallState]:
    """Make `state` the current logical call for the duration of the block."""
    token = _CURRENT_CALL.set(state)
    try:
        yield state
    finally:
        _CURRENT_CALL.reset(token)


def active_metrics() -> Metrics | None:
    """The metrics of the RPC being served (None outside an RPC)."""
    return _ACTIVE_METRICS.get()


@contextmanager
def metrics_scope(metrics: Metrics) -> Iterator[Metrics]:
    """Make `metrics` the active metrics for the block (the gRPC interceptor wraps each RPC in one)."""
    token = _ACTIVE_METRICS.set(metrics)
    try:
        yield metrics
    finally:
        _ACTIVE_METRICS.reset(token)


class RpcScope:
    """The RPC's `Metrics` made active (as `metrics_scope` does) and a fresh `RpcOutcome` for it, filled by
    `record_rpc_error`; entered once per RPC by `MeteredRpc`. A class, as generator-based context managers per
    call were a measurable part of a cache hit (issue 12)."""

    __slots__ = ("_metrics", "_tokens", "outcome")

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self.outcome = RpcOutcome()
        self._tokens: tuple[Token[Metrics | None], Token[RpcOutcome | None]] | None = None

    def __enter__(self) -> RpcOutcome:
        self._tokens = (_ACTIVE_METRICS.set(self._metrics), _RPC_OUTCOME.set(self.outcome))
        return self.outcome

    def __exit__(self, *_exc: object) -> None:
        if self._tokens is not None:
            metrics_token, outcome_token = self._tokens
            _RPC_OUTCOME.reset(outcome_token)
            _ACTIVE_METRICS.reset(metrics_token)


def record_rpc_error(reason: str) -> None:
    """The RPC in progress is failing with ErrorInfo `reason` (`api.status.abort` calls this once per RPC)."""
    outcome = _RPC_OUTCOME.get()
    if outcome is not None:
        outcome.reason = reason


def record_store_error(operation: str) -> None:
    """A store call failed and the request goes on without it: counted per `operation`."""
    record_event("store.error", operation=operation)
    metrics = _ACTIVE_METRICS.get()
    if metrics is not None:
        metrics.store_error(operation)


def record_event(name: str, **attributes: AttributeValue) -> None:
    """Add the event `name` with `attributes` to the current span, if it records."""
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(name, attributes)


def record_cache_lookup(cache: str, *, hit: bool, **attributes: AttributeValue) -> None:
    """A lookup in `cache` hit or missed: a ``cache.hit`` / ``cache.miss`` span event and the counter."""
    record_event("cache.hit" if hit else "cache.miss", cache=cache, **attributes)
    metrics = _ACTIVE_METRICS.get()
    if metrics is not None:
        metrics.cache_lookup(cache, hit=hit)


def record_cache_hits(caches: tuple[str, ...]) -> None:
    """One hit in each of `caches` (a request served whole from what is kept): counted, no span event (such a
    request takes this path only while its span does not record)."""
    metrics = _ACTIVE_METRICS.get()
    if metrics is not None:
        metrics.cache_hits(caches)


def record_coalesced_wait(endpoint: str, *, waited_secs: float, **attributes: AttributeValue) -> None:
    """This call waited `waited_secs` for an identical call in flight: a ``coalesced.wait`` event and the counter.

    The upstream spans of a coalesced call live in the trace of the caller that started it, not in this one.
    """
    record_event("coalesced.wait", endpoint=endpoint, waited_s=waited_secs, **attributes)
    metrics = _ACTIVE_METRICS.get()
    if metrics is not None:
        metrics.coalesced_wait(endpoint)


def record_merge_decision(decision: str, *, reason: str = "", **attributes: AttributeValue) -> None:
    """A stored-vs-new achievements merge decided `decision`: a ``merge.decision`` event and the counter."""
    record_event("merge.decision", decision=decision, reason=reason, **attributes)
    metrics = _ACTIVE_METRICS.get()
    if metrics is not None:
        metrics.merge_decision(decision, reason)


__all__ = [
    "CallState",
    "RpcOutcome",
    "RpcScope",
    "active_metrics",
    "current_call",
    "metrics_scope",
    "record_cache_hits",
    "record_cache_lookup",
    "record_coalesced_wait",
    "record_event",
    "record_merge_decision",
    "record_rpc_error",
    "record_store_error",
    "steam_call",
]
