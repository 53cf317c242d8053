"""The Steam key's budget: one token bucket shared by every Steam call, slowed down when Steam answers 429.

`TokenBucket` is the storage seam: `InMemoryTokenBucket` for one process, `redis_bucket.RedisTokenBucket` (the
same arithmetic in one Lua script, shared by replicas) and `shared.FailoverTokenBucket` (Redis, else in process).
`InMemoryTokenBucket` is an exact GCRA (generic cell rate algorithm, the
"virtual scheduling" form of a token bucket) with reservations:

- emission interval ``T = 60 / RATE_LIMIT_PER_MIN`` seconds, burst tolerance ``tau = (BURST_LIMIT - 1) * T``;
  state: the theoretical arrival time ``TAT`` of the next token at the sustained rate.
- ``reserve(max_wait)`` at time ``now``: the token is due at ``due = max(now, max(TAT, now) - tau)``; if it is
  due within ``max_wait`` it is reserved (``TAT = max(TAT, now) + T``) and the caller sleeps until ``due``;
  otherwise nothing is reserved and `TokenUnavailable` says how long until the token would be due.
- Guarantee: the due times form a GCRA-conforming sequence, so in any window of ``W`` seconds at most
  ``BURST_LIMIT + W / T`` tokens are due (``BURST_LIMIT`` at once after a quiet period).
- ``pause(s)`` (a 429): no token is due before ``now + s`` and the burst is drained
  (``TAT = max(TAT, now + s + tau)``), so after the pause tokens come at the sustained rate and the burst refills
  gradually. A waiter whose reserved token falls inside a pause that began after it reserved takes a new token.

Why not pyrate-limiter (the library notes' candidate): its limiter waits by polling until the timeout and only then
raises, so it cannot refuse *at once* a call whose token cannot come within the deadline, nor say when the next
token is due for a caller queued behind others; and it has no pause for a 429. The arithmetic above is a few lines,
and the service has no other token bucket (`redis_bucket` runs the same arithmetic in Lua): the per-caller quotas
of `api.quota` keep one `InMemoryTokenBucket` per caller and take tokens with `try_reserve`, the synchronous form
of `reserve` (an in-process bucket needs no I/O).

`RateLimiter` is what the resilient upstream uses: ``acquire(deadline)`` and ``slow_down(retry_after)``, emitting
RateLimitWaited / RateLimitRejected / RateLimitSlowedDown. It also keeps the tokens left after its latest grant
(``burst - (TAT - now) / T``, 0 after a refusal or a pause) and `budget_tokens` refills that at the sustained rate,
which is the budget gauge of the dashboards (for a Redis bucket: as this replica last saw it).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from dbd_playerstats.errors import RateLimitExceededError
from dbd_playerstats.upstream.deadline import Clock, Deadline
from dbd_playerstats.upstream.events import (
    RateLimitRejected,
    RateLimitSlowedDown,
    RateLimitWaited,
    ResilienceEvent,
)
from dbd_playerstats.upstream.policy import RateLimitPolicy


class TokenUnavailable(Exception):
    """No token can be due within the time allowed; `retry_after_secs` is when the next one would be."""

    def __init__(self, retry_after_secs: float) -> None:
        super().__init__(f"next token in {retry_after_secs:.3f}s")
        self.retry_after_secs = retry_after_secs


@dataclass(frozen=True, slots=True)
class Reservation:
    """A token reserved for `wait_secs` from the reservation; `due` and `mark` are the bucket's own values.

    `origin` names the bucket that granted it ("local" in process, "shared" in Redis), so a bucket that
    delegates to either routes `refund` and `still_valid` back to it.
    """

    wait_secs: float
    due: float
    mark: float
    origin: str = "local"
    tokens_left: float | None = None


class TokenBucket(Protocol):
    """Storage of the shared budget. Every method is one atomic step on the bucket's state."""

    async def reserve(self, max_wait_secs: float) -> Reservation:
        """Reserve the next token if it is due within `max_wait_secs` (or now); else raise TokenUnavailable."""
        ...

    async def refund(self, reservation: Reservation) -> None:
        """Give back a reserved token that will not be used (best effort: only the latest one is returned)."""
        ...

    async def pause(self, seconds: float) -> None:
        """Grant no token for `seconds` from now, and drain the burst."""
        ...

    async def still_valid(self, reservation: Reservation) -> bool:
        """False when a pause that began after the reservation covers its due time: take a new token."""
        ...


class InMemoryTokenBucket:
    """The GCRA of the module docstring, for one process. `clock` is monotonic seconds.

    Slotted: the per-caller quotas keep thousands of them.
    """

    __slots__ = ("_clock", "_interval", "_paused_until", "_tat", "_tolerance")

    def __init__(self, policy: RateLimitPolicy, *, clock: Clock = time.monotonic) -> None:
        self._interval = policy.interval_secs
        self._tolerance = (policy.burst - 1) * policy.interval_secs
        self._clock = clock
        self._tat = -math.inf
        self._paused_until = -math.inf

    async def reserve(self, max_wait_secs: float) -> Reservation:
        return self.try_reserve(max_wait_secs)

    def try_reserve(self, max_wait_secs: float) -> Reservation:
        """`reserve` without a coroutine, for synchronous callers; a refusal changes nothing in the bucket."""
        now = self._clock()
        tat = max(self._tat, now)
        due = max(now, tat - self._tolerance)
        wait = due - now
        if wait > 0 and wait >= max_wait_secs:
            raise TokenUnavailable(wait)
        self._tat = tat + self._interval
        tokens_left = (self._tolerance + self._interval - (self._tat - now)) / self._interval
        return Reservation(wait, due, self._tat, tokens_left=max(0.0, tokens_left))

    async def refund(self, reservation: Reservation) -> None:
        if self._tat == reservation.mark:
            self._tat -= self._interval

    async def pause(self, seconds: float) -> None:
        now = self._clock()
        self._paused_until = max(self._paused_until, now + seconds)
        self._tat = max(self._tat, now + seconds + self._tolerance)

    async def still_valid(self, reservation: Reservation) -> bool:
        # A reservation made after a pause is due at or after its end; one made before may fall inside it. The
        # microsecond of slack absorbs float rounding of (end + tau) - tau, which must not invalidate the former.
        return self._paused_until <= reservation.due + 1e-6

    def next_due_in(self) -> float:
        """Seconds until a token would be due now (0 when one is available): for tests and introspection."""
        now = self._clock()
        return max(0.0, max(self._tat, now) - self._tolerance - now)


class RateLimiter:
    """Waits for the shared budget within a call's deadline, and slows it down when Steam says 429.

    `default_pause_secs` is the pause after a 429 without Retry-After (one emission interval: the burst is
    drained and the next token comes at the sustained rate). `emit` receives the rate-limit events.
    """

    def __init__(
        self,
        bucket: TokenBucket,
        *,
        default_pause_secs: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        emit: Callable[[ResilienceEvent], None],
        policy: RateLimitPolicy | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._bucket = bucket
        self._default_pause_secs = default_pause_secs
        self._sleep = sleep
        self._emit = emit
        self._policy = policy
        self._clock = clock
        self._tokens: tuple[float, float] | None = None  # (tokens left, when) after the latest grant or refusal

    def budget_tokens(self) -> float | None:
        """Tokens in the budget now, refilled at the sustained rate since the latest grant (None: none yet)."""
        if self._tokens is None or self._policy is None:
            return None
        tokens, at = self._tokens
        refilled = max(0.0, self._clock() - at) / self._policy.interval_secs
        return min(float(self._policy.burst), tokens + refilled)

    def _note_tokens(self, tokens: float | None, at: float | None = None) -> None:
        if tokens is not None:
            self._tokens = (tokens, self._clock() if at is None else at)

    async def acquire(self, deadline: Deadline, endpoint: str, *, steam_id: str | None = None) -> float:
        """Wait for a token due before `deadline`; return the seconds waited.

        Raises RateLimitExceededError (retry_after = seconds until a token would be due) at once, without
        waiting, when no token can be due before the deadline.
        """
        waited = 0.0
        while True:
            try:
                reservation = await self._bucket.reserve(deadline.remaining())
            except TokenUnavailable as exc:
                self._note_tokens(0.0)
                self._emit(RateLimitRejected(endpoint, exc.retry_after_secs))
                raise RateLimitExceededError(
                    f"the Steam call budget has no token for {endpoint} within the deadline "
                    f"(next in {exc.retry_after_secs:.2f}s)",
                    steam_id=steam_id,
                    retry_after=exc.retry_after_secs,
                ) from None
            self._note_tokens(reservation.tokens_left)
            if reservation.wait_secs <= 0:
                break
            try:
                await self._sleep(reservation.wait_secs)
            except asyncio.CancelledError:
                await self._bucket.refund(reservation)
                raise
            waited += reservation.wait_secs
            if await self._bucket.still_valid(reservation):
                break
        if waited > 0:
            self._emit(RateLimitWaited(endpoint, waited))
        return waited

    async def slow_down(self, endpoint: str, retry_after_secs: float | None) -> float:
        """Steam answered 429: pause every token grant for Retry-After (or the default pause); return it."""
        pause = self._default_pause_secs if retry_after_secs is None else max(retry_after_secs, 0.0)
        await self._bucket.pause(pause)
        self._note_tokens(0.0, at=self._clock() + pause)  # drained, and nothing refills before the pause ends
        self._emit(RateLimitSlowedDown(endpoint, pause))
        return pause


__all__ = ["InMemoryTokenBucket", "RateLimiter", "Reservation", "TokenBucket", "TokenUnavailable"]
