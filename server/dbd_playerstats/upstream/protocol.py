"""The seam between fetch orchestration and the resilience layer.

Fetch code hands `Upstream.call` one *attempt* function (`timeout -> awaitable result`); the upstream decides how
many attempts to make, when, and whether to make any at all (breaker, rate budget, deadline). `DirectUpstream`
makes exactly one attempt, bounded by the deadline; `dbd_playerstats.upstream.ResilientUpstream` is the real one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from dbd_playerstats.errors import DeadlineExceededError, ServiceError
from dbd_playerstats.upstream.deadline import Deadline

T = TypeVar("T")

Attempt = Callable[[float], Awaitable[T]]


class Upstream(Protocol):
    """Runs a logical Steam call made of one or more attempts."""

    async def call(self, endpoint: str, attempt: Attempt[T], deadline: Deadline, *, steam_id: str | None = None) -> T:
        """Return the first successful attempt's result or raise the error that ended the call."""
        ...


def rejects_now(upstream: object, endpoint: str, *, steam_id: str | None = None) -> ServiceError | None:
    """The error a call to `endpoint` through `upstream` would fail with at once now (an open circuit breaker),
    or None when it might be made (or `upstream` cannot tell).

    The optional part of the `Upstream` protocol: an upstream may define ``rejects_now(endpoint, *, steam_id)``,
    synchronous and without side effects (`dbd_playerstats.upstream.ResilientUpstream` does, and
    `dbd_playerstats.telemetry.TracedUpstream` passes it on); `DirectUpstream` never rejects.
    """
    query = getattr(upstream, "rejects_now", None)
    if query is None:
        return None
    error = query(endpoint, steam_id=steam_id)
    return error if isinstance(error, ServiceError) else None


class DirectUpstream:
    """One attempt per call, bounded by min(api_timeout_secs, the deadline)."""

    def __init__(self, api_timeout_secs: float) -> None:
        self._api_timeout_secs = api_timeout_secs

    async def call(self, endpoint: str, attempt: Attempt[T], deadline: Deadline, *, steam_id: str | None = None) -> T:
        timeout = deadline.attempt_timeout(self._api_timeout_secs)
        if timeout <= 0:
            raise DeadlineExceededError(f"no time left to call Steam {endpoint}", steam_id=steam_id)
        return await attempt(timeout)


__all__ = ["Attempt", "DirectUpstream", "Upstream", "rejects_now"]
