"""`TracedUpstream`: a span per logical Steam call around whatever `Upstream` does the calling.

It implements the `dbd_playerstats.upstream.protocol.Upstream` protocol by delegating to the wrapped upstream (direct or
resilient) inside an INTERNAL span named ``steam.<endpoint>``, and hands it an attempt function that counts the
attempts it is asked to make. Each attempt is one HTTP request whose CLIENT span (aiohttp instrumentation) is a
child of the logical span; `steam_http` reads the attempt number from the current `CallState` to set
``http.request.resend_count``. Retry, breaker and rate-limit events arrive on the same span through
`dbd_playerstats.telemetry.observer.ResilienceTelemetry`, which runs in the caller's task.

Attributes of ``steam.<endpoint>``: ``steam.endpoint``, ``steam.steam_id`` (when the call is about one player;
SteamID64s are public), ``steam.deadline.remaining_s`` (at the start), ``steam.attempts`` (attempts started),
``steam.outcome`` (``ok``, else the error kind's `outcome` cell: ``cancelled`` or the ErrorInfo reason) and
``error.type`` on failure. Status: ERROR, with the exception recorded, when the kind's `span_error` cell says so
(a failure of Steam or of our side); a definitive answer about the player (private, unknown, never played:
INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION) records the exception but leaves the status unset, as gRPC's
own semantic conventions do for those codes; a cancellation leaves it unset too. Both cells are in
`dbd_playerstats.errors.ErrorKind`.
"""

from __future__ import annotations

import time
from typing import Final, TypeVar

from opentelemetry.trace import Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from dbd_playerstats.errors import ErrorKind, ServiceError, kind_of
from dbd_playerstats.telemetry.metrics import Metrics
from dbd_playerstats.telemetry.recording import CallState, steam_call
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.protocol import Attempt, Upstream, rejects_now

T = TypeVar("T")

OK: Final = "ok"
CANCELLED: Final = ErrorKind.CANCELLED.outcome


def outcome_of(exc: BaseException) -> str:
    """The low-cardinality outcome label of a failed call or attempt (its kind's `outcome`: the ErrorInfo reason,
    or "cancelled")."""
    return kind_of(exc).outcome


def is_failure(exc: BaseException) -> bool:
    """Whether `exc` marks a span ERROR (its kind's `span_error`): not a cancellation nor an answer about the
    player."""
    return kind_of(exc).span_error


class TracedUpstream:
    """An `Upstream` that wraps each logical call of `inner` in a ``steam.<endpoint>`` span and counts attempts."""

    def __init__(self, inner: Upstream, *, tracer: Tracer, metrics: Metrics) -> None:
        self._inner = inner
        self._tracer = tracer
        self._metrics = metrics

    @property
    def inner(self) -> Upstream:
        """The wrapped upstream."""
        return self._inner

    def rejects_now(self, endpoint: str, *, steam_id: str | None = None) -> ServiceError | None:
        """`inner.rejects_now(...)` when the inner upstream has it (`dbd_playerstats.upstream.protocol.rejects_now`)."""
        return rejects_now(self._inner, endpoint, steam_id=steam_id)

    async def call(self, endpoint: str, attempt: Attempt[T], deadline: Deadline, *, steam_id: str | None = None) -> T:
        """`inner.call(...)` inside the logical call's span; exceptions propagate unchanged."""
        attributes: dict[str, AttributeValue] = {
            "steam.endpoint": endpoint,
            "steam.deadline.remaining_s": round(deadline.remaining(), 3),
        }
        if steam_id:
            attributes["steam.steam_id"] = steam_id
        state = CallState(endpoint)
        outcome = OK
        started = time.perf_counter()
        with (
            self._tracer.start_as_current_span(
                f"steam.{endpoint}", attributes=attributes, record_exception=False, set_status_on_exception=False
            ) as span,
            steam_call(state),
        ):
            try:
                return await self._inner.call(endpoint, self._counted(state, attempt), deadline, steam_id=steam_id)
            except BaseException as exc:
                outcome = outcome_of(exc)
                if outcome != CANCELLED:
                    span.set_attribute("error.type", type(exc).__name__)
                    span.record_exception(exc, escaped=True)
                if is_failure(exc):
                    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                raise
            finally:
                span.set_attribute("steam.attempts", state.attempts)
                span.set_attribute("steam.outcome", outcome)
                self._metrics.steam_call_finished(endpoint, outcome, time.perf_counter() - started)

    def _counted(self, state: CallState, attempt: Attempt[T]) -> Attempt[T]:
        """`attempt`, counting each run in `state` and in the attempts metric."""

        async def counted(timeout: float) -> T:
            state.attempts += 1
            try:
                result = await attempt(timeout)
            except BaseException as exc:
                self._metrics.steam_attempt(state.endpoint, outcome_of(exc))
                raise
            self._metrics.steam_attempt(state.endpoint, OK)
            return result

        return counted


__all__ = ["CANCELLED", "OK", "TracedUpstream", "is_failure", "outcome_of"]
