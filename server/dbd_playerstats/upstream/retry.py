"""Retries of one logical call: a single `backoff.on_exception` decorator driven by our own wait generator.

How `backoff` is used, and why (see ../shared/docs/library-notes.md):

- **One decorator** per logical call (stacked decorators multiply attempts), built only once its first attempt
  has failed: that attempt's failure is handed to it as its first outcome (most calls never need it). Per-class
  limits and multipliers live in one wait generator that receives each exception through ``send()`` and
  returns (stops) when the exception's class has used its retries, or when the wait would outlast the deadline.
- ``giveup`` stops at once on errors that are never retried (`policy.classify` says "other"): the player's own
  errors, a refused key, other 4xx, our own CircuitOpenError / RateLimitExceededError / DeadlineExceededError.
- ``jitter=None``: backoff would jitter every wait, a Retry-After too. Full jitter is applied by the generator
  to computed waits only; a Retry-After is waited exactly.
- ``max_tries`` is a plain int (`RetryPolicy.max_attempts`), a backstop the generator never reaches; no
  configuration callable is passed (one that raises TypeError silently means *unlimited* tries).
- The wait itself is slept by our ``on_backoff`` handler with the injected ``sleep`` (the generator hands backoff
  0 s), so unit tests run without real sleeping; handlers run in the caller's task, so the caller's span is
  current while waiting. ``logger=None``: our events are the log, backoff's own ERROR line on every give-up
  (a private profile included) would only be noise.
- CancelledError is not an ``Exception``: a cancelled call is never retried and never reported as given up.

What the caller gets when the call stops: the last exception as it was raised (the last upstream error, with its
Retry-After when Steam sent one), whether the limit was reached or the next wait would not fit in the deadline.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Literal, TypeVar

import backoff
from backoff.types import Details

from dbd_playerstats.errors import CircuitOpenError, DeadlineExceededError, RateLimitExceededError
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.events import ErrorClass
from dbd_playerstats.upstream.policy import RetryPolicy, classify, steam_retry_after

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
"""Sleeps the given seconds (asyncio.sleep in production, a fake clock's sleep in tests)."""
Uniform = Callable[[float, float], float]
"""uniform(a, b): a random float in [a, b] (random.uniform in production)."""

GiveUpReason = Literal["exhausted", "deadline", "not_retryable", "circuit_open"]


@dataclass(frozen=True, slots=True)
class ScheduledRetry:
    """Attempt `attempt` failed with `error`; the next one starts after `wait_secs`.

    `retry_after_secs` is Steam's Retry-After when it sent one (then `wait_secs` equals it).
    """

    attempt: int
    wait_secs: float
    error_class: ErrorClass
    error: BaseException
    retry_after_secs: float | None


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The call stops after `attempts` attempts because of `reason`; `error` is what the caller gets.

    Reasons: "exhausted" (the error's class used all its retries), "deadline" (the next wait would outlast the
    deadline, or our rate limit / deadline refused the attempt), "not_retryable", "circuit_open".
    """

    attempts: int
    reason: GiveUpReason
    error: BaseException


def _ignore(_value: object) -> None:
    return None


class Retrying:
    """The retry state of one logical call; calling it on an attempt function returns the retrying function.

    Use one instance per logical call: it counts attempts and retries per error class.
    `on_retry` and `on_give_up` are synchronous hooks that must not raise.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        deadline: Deadline,
        *,
        sleep: Sleep = asyncio.sleep,
        uniform: Uniform = random.uniform,
        on_retry: Callable[[ScheduledRetry], None] = _ignore,
        on_give_up: Callable[[GiveUp], None] = _ignore,
    ) -> None:
        self._policy = policy
        self._deadline = deadline
        self._sleep = sleep
        self._uniform = uniform
        self._on_retry = on_retry
        self._on_give_up = on_give_up
        self._attempts = 0
        self._retries = 0
        self._retries_by_class: Counter[ErrorClass] = Counter()
        self._scheduled: ScheduledRetry | None = None
        self._reason: GiveUpReason | None = None
        self._last_error: BaseException | None = None

    @property
    def attempts(self) -> int:
        """Attempts started so far (the current one included, while it runs)."""
        return self._attempts

    def __call__(self, target: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        async def counted() -> T:
            self._attempts += 1
            return await target()

        async def run() -> T:
            # The first attempt runs before backoff is involved: most calls succeed at once, and building the
            # decorator costs more than the attempt's own bookkeeping (issue 12's profile of a cache miss).
            try:
                return await counted()
            except Exception as exc:
                failure = exc
            if self._not_retryable(failure):
                # What backoff would do with it (give up at once, on_giveup, re-raise), without building it: an
                # open breaker fails every call this way (issue 12's row 5, fail-fast latency).
                self._gave_up(None)
                raise failure
            return await self._decorated(counted, failure)()

        return run

    def _decorated(self, counted: Callable[[], Awaitable[T]], failure: Exception) -> Callable[[], Awaitable[T]]:
        """The backoff decorator around the attempts, handed the first attempt's `failure` as its first outcome,
        so backoff sees exactly the sequence of outcomes it would have made itself."""
        replayed: Exception | None = failure

        async def attempts() -> T:
            nonlocal replayed
            if replayed is not None:
                first, replayed = replayed, None
                raise first
            return await counted()

        decorated = backoff.on_exception(
            self._waits,
            Exception,
            max_tries=self._policy.max_attempts,
            jitter=None,
            giveup=self._not_retryable,
            on_backoff=self._before_retry,
            on_giveup=self._gave_up,
            raise_on_giveup=True,
            logger=None,
        )(attempts)

        async def run() -> T:
            try:
                return await decorated()
            except Exception as exc:
                # backoff re-raises a generator-stopped error from inside `except StopIteration`.
                if isinstance(exc.__context__, StopIteration):
                    exc.__context__ = None
                raise

        return run

    # -- backoff callbacks ----------------------------------------------------------------------------------

    def _waits(self) -> Generator[float, BaseException | None, None]:
        """The wait generator: receives each failure, stops (returns) when no retry may follow."""
        error = yield 0.0  # backoff primes the generator with send(None)
        while error is not None:
            scheduled = self._schedule(error)
            if scheduled is None:
                return
            self._scheduled = scheduled
            error = yield 0.0  # the real wait is slept by _before_retry

    def _schedule(self, error: BaseException) -> ScheduledRetry | None:
        error_class = classify(error)
        policy = self._policy.for_class(error_class)
        if policy is None:
            self._reason = "not_retryable"
            return None
        if self._retries_by_class[error_class] >= policy.max_retries:
            self._reason = "exhausted"
            return None
        retry = self._retries + 1
        retry_after = steam_retry_after(error)
        if retry_after is not None:
            wait = retry_after
        else:
            wait = self._uniform(0.0, self._policy.backoff_cap(retry, error_class))
        if wait >= self._deadline.remaining():
            self._reason = "deadline"
            return None
        self._retries = retry
        self._retries_by_class[error_class] += 1
        return ScheduledRetry(self._attempts, wait, error_class, error, retry_after)

    def _not_retryable(self, error: Exception) -> bool:
        self._last_error = error
        self._reason = None
        if classify(error) != "other":
            return False
        if isinstance(error, CircuitOpenError):
            self._reason = "circuit_open"
        elif isinstance(error, RateLimitExceededError | DeadlineExceededError):
            self._reason = "deadline"
        else:
            self._reason = "not_retryable"
        return True

    async def _before_retry(self, _details: Details) -> None:
        scheduled = self._scheduled
        assert scheduled is not None, "backoff calls on_backoff only after the generator scheduled a retry"
        self._on_retry(scheduled)
        await self._sleep(scheduled.wait_secs)

    def _gave_up(self, _details: Details | None) -> None:
        assert self._last_error is not None, "backoff gives up only after a failure"
        self._on_give_up(GiveUp(self._attempts, self._reason or "exhausted", self._last_error))


__all__ = ["GiveUp", "GiveUpReason", "Retrying", "ScheduledRetry", "Sleep", "Uniform"]
