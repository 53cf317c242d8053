"""`ResilientUpstream`: the real `Upstream`, every Steam call through retries, breaker, budget and deadline.

Data path of one logical call (`call`)::

    the request's payer charged once   refused -> CallerQuotaExceededError   (spend.py; before any attempt)
    Retrying (one backoff decorator)                 retry.py: which errors, how often, how long to wait
      └─ each attempt:
           deadline left?        no  -> DeadlineExceededError           (never retried)
           key refused lately?   yes -> SteamKeyRejectedError           (key_gate.py; no HTTP request)
           breaker "steam.<endpoint>" admits?  no -> CircuitOpenError   (breaker.py; never retried)
           token of the shared budget within the deadline?  no -> RateLimitExceededError   (ratelimit.py)
           attempt(min(API_TIMEOUT_SECS, time left))       one HTTP exchange (the caller's function)
           outcome -> breaker (only Steam being unhealthy counts); a 429 -> the budget pauses; a refused
                      key -> the key gate

The deadline is the caller's `Deadline` (min of the gRPC deadline and OVERALL_TIMEOUT_SECS). Events go to every
observer added with `add_observer`; an observer that raises is logged and ignored.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterable
from typing import TypeVar

from purgatory import AsyncAbstractUnitOfWork

from dbd_playerstats.errors import CircuitOpenError, DeadlineExceededError
from dbd_playerstats.steam.errors import SteamError, SteamRateLimitedError, SteamTimeoutError
from dbd_playerstats.upstream.breaker import Breakers
from dbd_playerstats.upstream.deadline import Clock, Deadline
from dbd_playerstats.upstream.events import (
    AttemptFinished,
    AttemptStarted,
    GaveUp,
    ResilienceEvent,
    ResilienceObserver,
    RetryScheduled,
)
from dbd_playerstats.upstream.key_gate import KeyGate
from dbd_playerstats.upstream.policy import ResiliencePolicy, classify
from dbd_playerstats.upstream.protocol import Attempt
from dbd_playerstats.upstream.ratelimit import InMemoryTokenBucket, RateLimiter, TokenBucket
from dbd_playerstats.upstream.retry import GiveUp, Retrying, ScheduledRetry, Sleep, Uniform
from dbd_playerstats.upstream.shared import SharedState
from dbd_playerstats.upstream.spend import charge

log = logging.getLogger(__name__)

T = TypeVar("T")


def breaker_name(endpoint: str) -> str:
    """The circuit breaker guarding a Steam endpoint ("stats" -> "steam.stats")."""
    return f"steam.{endpoint}"


class ResilientUpstream:
    """Runs each logical Steam call with retries, a per-endpoint circuit breaker, the shared budget and deadlines.

    `clock` (monotonic seconds) must be the clock of the deadlines handed to `call` and of the bucket;
    `sleep` waits on that clock; `uniform` draws the jitter; `wall_clock` is purgatory's (time.time).
    `breaker_uow` makes breaker state shared (purgatory unit of work; call `initialize()` first when it needs
    it); `bucket` replaces the in-memory token bucket. `shared` (REDIS_URL) supplies both, Redis-backed with an
    in-process fall-back, and its SharedStateChanged events go to this upstream's observers; `initialize()`
    connects it and `aclose()` closes it.
    """

    def __init__(
        self,
        policy: ResiliencePolicy,
        *,
        observers: Iterable[ResilienceObserver] = (),
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        uniform: Uniform = random.uniform,
        wall_clock: Clock = time.time,
        breaker_uow: AsyncAbstractUnitOfWork | None = None,
        bucket: TokenBucket | None = None,
        shared: SharedState | None = None,
    ) -> None:
        self.policy = policy
        self.shared = shared
        if shared is not None:
            breaker_uow = breaker_uow if breaker_uow is not None else shared.breaker_uow
            bucket = bucket if bucket is not None else shared.bucket
            shared.subscribe(self._emit)
        self._observers: list[ResilienceObserver] = list(observers)
        self._clock = clock
        self._sleep = sleep
        self._uniform = uniform
        self.key_gate = KeyGate(policy.key_rejected_pause_secs, emit=self._emit, clock=clock)
        self.breakers = Breakers(policy.breaker, emit=self._emit, uow=breaker_uow, wall_clock=wall_clock, clock=clock)
        self.limiter = RateLimiter(
            bucket if bucket is not None else InMemoryTokenBucket(policy.rate_limit, clock=clock),
            default_pause_secs=policy.rate_limit.interval_secs,
            sleep=sleep,
            emit=self._emit,
            policy=policy.rate_limit,
            clock=clock,
        )

    def add_observer(self, observer: ResilienceObserver) -> None:
        """Send every later event to `observer` too (synchronously, in the caller's task)."""
        self._observers.append(observer)

    def budget_tokens(self) -> float | None:
        """Tokens in the Steam budget now, as the limiter last saw them (None before the first Steam call)."""
        return self.limiter.budget_tokens()

    async def initialize(self) -> None:
        """Prepare shared storage (nothing to do in memory). An unreachable Redis is not an error: see `shared`."""
        await self.breakers.initialize()
        if self.shared is not None:
            await self.shared.initialize()

    async def aclose(self) -> None:
        """Release resources (the Redis connections and the shared state's background task, if any)."""
        if self.shared is not None:
            await self.shared.aclose()

    def rejects_now(self, endpoint: str, *, steam_id: str | None = None) -> CircuitOpenError | None:
        """The CircuitOpenError a call to `endpoint` would fail with now (its breaker is open), else None.

        Synchronous and free of side effects (no event, no half-open trial slot): lets a caller skip work that
        only matters if the call can succeed. A call must still be made to learn its outcome.
        """
        return self.breakers.rejects_now(breaker_name(endpoint), steam_id=steam_id)

    async def call(self, endpoint: str, attempt: Attempt[T], deadline: Deadline, *, steam_id: str | None = None) -> T:
        """Return the first successful attempt's result, or raise the error that ended the call.

        That error is the last attempt's own (a SteamError, or a ServiceError the attempt raised), or
        DeadlineExceededError / CircuitOpenError / RateLimitExceededError when an attempt could not start, or
        CallerQuotaExceededError when the request's payer refused to pay for the call.
        """

        def on_retry(scheduled: ScheduledRetry) -> None:
            self._emit(
                RetryScheduled(
                    endpoint,
                    scheduled.attempt,
                    scheduled.wait_secs,
                    scheduled.error_class,
                    type(scheduled.error).__name__,
                    scheduled.retry_after_secs,
                )
            )

        def on_give_up(give_up: GiveUp) -> None:
            self._emit(GaveUp(endpoint, give_up.attempts, give_up.reason, type(give_up.error).__name__))

        retrying = Retrying(
            self.policy.retry,
            deadline,
            sleep=self._sleep,
            uniform=self._uniform,
            on_retry=on_retry,
            on_give_up=on_give_up,
        )

        async def one_attempt() -> T:
            return await self._attempt(endpoint, attempt, deadline, steam_id, retrying.attempts)

        charge(endpoint)  # the request's quota pays for the call (spend.py); may refuse it before any attempt
        return await retrying(one_attempt)()

    async def _attempt(
        self, endpoint: str, attempt: Attempt[T], deadline: Deadline, steam_id: str | None, number: int
    ) -> T:
        """One attempt: deadline, key gate, breaker, budget, then the HTTP exchange."""
        self._time_left(deadline, endpoint, steam_id)
        self.key_gate.check(endpoint, steam_id=steam_id)
        admission = await self.breakers.admit(breaker_name(endpoint), steam_id=steam_id)
        try:
            await self.limiter.acquire(deadline, endpoint, steam_id=steam_id)
            timeout = self._time_left(deadline, endpoint, steam_id)
            try:
                result = await self._exchange(endpoint, attempt, timeout, steam_id, number)
            except SteamTimeoutError as exc:
                if timeout < self.policy.api_timeout_secs and deadline.expired():
                    # The caller's deadline, not API_TIMEOUT_SECS, cut the attempt short: the cause is the
                    # deadline (DEADLINE_EXCEEDED, neutral for the breaker), not a slow Steam.
                    raise DeadlineExceededError(
                        f"the caller's deadline passed during the Steam {endpoint} attempt", steam_id=steam_id
                    ) from exc
                raise
        except BaseException as exc:
            await admission.settle(exc)
            raise
        await admission.settle(None)
        return result

    def _time_left(self, deadline: Deadline, endpoint: str, steam_id: str | None) -> float:
        """The time budget of an attempt started now; DeadlineExceededError when there is none."""
        timeout = deadline.attempt_timeout(self.policy.api_timeout_secs)
        if timeout <= 0:
            raise DeadlineExceededError(f"no time left to call Steam {endpoint}", steam_id=steam_id)
        return timeout

    async def _exchange(
        self, endpoint: str, attempt: Attempt[T], timeout: float, steam_id: str | None, number: int
    ) -> T:
        """The attempt itself, framed by AttemptStarted / AttemptFinished; a 429 slows the shared budget."""
        self._emit(AttemptStarted(endpoint, number, timeout, steam_id))
        started = self._clock()
        try:
            result = await attempt(timeout)
        except BaseException as exc:  # a cancellation ends the attempt too: observers close what they opened
            status = exc.status if isinstance(exc, SteamError) else None
            elapsed = self._clock() - started
            self._emit(AttemptFinished(endpoint, number, elapsed, type(exc).__name__, classify(exc), status))
            self.key_gate.observe(endpoint, exc)
            if isinstance(exc, SteamRateLimitedError):
                await self.limiter.slow_down(endpoint, exc.retry_after)
            raise
        self._emit(AttemptFinished(endpoint, number, self._clock() - started, None, None, None))
        self.key_gate.observe(endpoint, None)
        return result

    def _emit(self, event: ResilienceEvent) -> None:
        for observer in self._observers:
            try:
                observer(event)
            except Exception:
                log.exception("resilience observer %r failed on %s", observer, type(event).__name__)


__all__ = ["ResilientUpstream", "breaker_name"]
