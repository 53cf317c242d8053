"""Circuit breakers, one per Steam endpoint ("steam.stats", ...): purgatory plus the half-open gate it lacks.

purgatory (`AsyncCircuitBreakerFactory`) keeps each breaker's state, its consecutive-failure count, `opened_at`
and ttl, in a pluggable unit of work (in memory, or `shared.FailoverUnitOfWork`: purgatory's Redis storage shared
by replicas, see that module for what sharing implies), and fires the listener events turned into
`BreakerTransition`. What this module adds, and why:

Admission (`Breakers.admit`, before each attempt, no upstream traffic when refused):

- **closed**: admitted.
- **open** (``time.time() <= opened_at + ttl``): refused with CircuitOpenError, retry_after = ``opened_at + ttl -
  time.time()`` seconds (the time left until half-open); a BreakerRejected event.
- **due or half-open** (the ttl has passed): a *trial round* starts (BreakerTransition open -> half_open) and at
  most CB_HALF_OPEN_REQUESTS trial attempts are admitted; further calls are refused at once with retry_after =
  what is left of API_TIMEOUT_SECS since the latest trial was admitted (by then the trials have settled).

Outcomes (`Admission.settle`, after the attempt) are each error kind's `breaker` cell in
`dbd_playerstats.errors.ErrorKind`; `EXCLUDE` (given to purgatory) and `NEUTRAL` are derived from it:

- **failure**: Steam unhealthy (5xx, timeouts, network errors, bad answers), and bugs.
- **healthy**: success, or the player's own errors (private, not found, no stats, invalid player): Steam
  answered properly. For purgatory an excluded error *is* a successful request (it resets the consecutive-failure
  count).
- **neutral**: cancellation, our own limits (rate budget, deadline, open circuit, caller quota), a 429 (Steam
  says "wait": the budget pauses instead), a refused key and other 4xx (about our request: the key gate of
  `resilient.py` answers a refused key): nothing is learnt about Steam's health. These are **not reported to
  purgatory at all**, because purgatory would count an excluded error as a success: a cancelled call would reset
  the failure count, and one ending while half-open would close the breaker. A neutral trial frees its slot for
  another trial.

Reporting to purgatory happens only here, with ``async with breaker`` around nothing (healthy) or around a
private marker exception (failure), so purgatory's own state machine moves: closed -> open after CB_MAX_FAILS
consecutive failures. The half-open rule (purgatory alone admits every call while half-open and closes on the
first success) is ours: trial outcomes are collected while purgatory still says "opened"; **the first failing
trial** re-opens the breaker at once (purgatory: half-opened -> opened, fresh ``opened_at``); **when
CB_HALF_OPEN_REQUESTS trials have succeeded** it closes (purgatory: half-opened -> closed). Results of trials of
a round already decided are ignored, and so is the outcome of an attempt admitted while closed that ends after
the breaker opened (purgatory must not let a straggler decide a half-open breaker).

With shared storage another replica may open or close a breaker: purgatory's events fire only there, so `admit`
also turns a state it reads that differs from the last one this process knew into a `BreakerTransition` (one
log line and the state gauge per replica); the half-open gate above stays per process.

The listener hook is synchronous and never raises (it would break the protected call). Purgatory raises the
*same* OpenedState instance for every refusal; where it can reach us its ``__traceback__`` is cleared so it does
not grow. purgatory's wall clock (``time.time``) decides open vs due; `wall_clock` must be that clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, NoReturn

from purgatory import AsyncAbstractUnitOfWork, AsyncCircuitBreakerFactory
from purgatory.domain.model import CLOSED, HALF_OPENED, OPENED, Context, OpenedState

from dbd_playerstats.errors import KIND_OF_CLASS, BreakerCount, CircuitOpenError, kind_of
from dbd_playerstats.upstream.deadline import Clock
from dbd_playerstats.upstream.events import BreakerRejected, BreakerState, BreakerTransition, ResilienceEvent
from dbd_playerstats.upstream.policy import BreakerPolicy

log = logging.getLogger(__name__)

EXCLUDE: Final[tuple[type[BaseException], ...]] = tuple(
    cls for cls, kind in KIND_OF_CLASS.items() if kind.breaker != "failure"
)
"""Exceptions that are not breaker failures (purgatory's `exclude`): the classes of healthy and neutral kinds."""

NEUTRAL: Final[tuple[type[BaseException], ...]] = tuple(
    cls for cls, kind in KIND_OF_CLASS.items() if kind.breaker == "neutral"
)
"""Outcomes that say nothing about Steam: never reported to purgatory."""

Outcome = BreakerCount

_STATES: Final[dict[str, BreakerState]] = {CLOSED: "closed", OPENED: "open", HALF_OPENED: "half_open"}


def outcome_of(exc: BaseException | None) -> Outcome:
    """How an attempt's result counts for its breaker (see the module docstring)."""
    if exc is None:
        return "healthy"
    return kind_of(exc).breaker


class _UpstreamFailed(Exception):
    """Raised inside purgatory's context to record one failure."""


def _fail(name: str) -> NoReturn:
    raise _UpstreamFailed(name)


@dataclass(eq=False, slots=True)
class _Round:
    """The trials of one half-open period: slots taken (in flight or succeeded) and successes."""

    admitted: int = 0
    succeeded: int = 0
    last_admitted_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Admission:
    """Permission for one attempt; `settle` it exactly once with the attempt's exception (None on success)."""

    breakers: Breakers
    name: str
    trial: _Round | None = field(default=None)

    async def settle(self, exc: BaseException | None) -> None:
        await self.breakers.settle(self, exc)


class Breakers:
    """All endpoint breakers of one process, over one purgatory factory.

    `uow`: purgatory's unit of work (None: in memory); call `initialize()` before use when it needs it (Redis).
    `emit` receives BreakerTransition and BreakerRejected events. `wall_clock` must be purgatory's clock
    (time.time); `clock` (monotonic) only dates trial admissions.
    """

    def __init__(
        self,
        policy: BreakerPolicy,
        *,
        emit: Callable[[ResilienceEvent], None],
        uow: AsyncAbstractUnitOfWork | None = None,
        wall_clock: Clock = time.time,
        clock: Clock = time.monotonic,
    ) -> None:
        self._policy = policy
        self._emit = emit
        self._wall_clock = wall_clock
        self._clock = clock
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=policy.max_fails,
            default_ttl=policy.reset_timeout_secs,
            exclude=list(EXCLUDE),
            uow=uow,
        )
        self._factory.add_listener(self._on_purgatory_event)
        self._rounds: dict[str, _Round] = {}
        self._known: dict[str, BreakerState] = {}
        # Wall-clock time until which each breaker this process saw open stays open (for `rejects_now`).
        self._open_until: dict[str, float] = {}
        # Why each breaker opened: the reason of the latest failure reported before it opened, and when it opened.
        self._last_failure: dict[str, str] = {}
        self._opened: dict[str, tuple[str, float | None]] = {}

    async def initialize(self) -> None:
        """Prepare the storage (a no-op in memory)."""
        await self._factory.initialize()

    async def state(self, name: str) -> BreakerState:
        """The breaker's state as this process sees it ("half_open" once the ttl has passed)."""
        context = (await self._factory.get_breaker(name)).context
        if context.state == CLOSED:
            return "closed"
        if name in self._rounds or context.state == HALF_OPENED or self._open_for(context) < 0:
            return "half_open"
        return "open"

    def rejects_now(self, name: str, *, steam_id: str | None = None) -> CircuitOpenError | None:
        """The error `admit` would refuse an attempt with now because breaker `name` is open, else None.

        A synchronous query of what this process last saw (no storage read, no event, no trial slot taken): an
        open breaker it saw refuse or open, until its ttl passes. None is no promise that `admit` will admit
        (half-open trials in flight, or opened by another replica since); the caller still calls through it.
        """
        open_until = self._open_until.get(name)
        if open_until is None:
            return None
        left = open_until - self._wall_clock()
        if left < 0:
            return None
        return self._circuit_open(name, left, steam_id)

    async def admit(self, name: str, *, steam_id: str | None = None) -> Admission:
        """Admit one attempt through breaker `name`, or raise CircuitOpenError at once."""
        context = (await self._factory.get_breaker(name)).context
        if context.state == CLOSED:
            self._rounds.pop(name, None)  # closed by a decided round (or, with shared storage, elsewhere)
            self._transition(name, "closed")  # no-op unless it was closed elsewhere
            return Admission(self, name)
        if context.state == OPENED:
            left = self._open_for(context)
            if left >= 0:
                self._open_until[name] = self._wall_clock() + left
                self._rounds.pop(name, None)  # (shared storage) re-opened elsewhere: that round is over
                self._transition(name, "open")  # no-op unless it was opened elsewhere
                raise self._reject(name, left, steam_id)
        trial = self._rounds.get(name)
        if trial is None:
            trial = self._rounds[name] = _Round()
            self._transition(name, "half_open")
        now = self._clock()
        if trial.admitted >= self._policy.half_open_requests:
            left = max(0.0, trial.last_admitted_at + self._policy.trial_timeout_secs - now)
            raise self._reject(name, left, steam_id)
        trial.admitted += 1
        trial.last_admitted_at = now
        return Admission(self, name, trial)

    async def settle(self, admission: Admission, exc: BaseException | None) -> None:
        """Record how an admitted attempt ended (see `Admission.settle`)."""
        outcome = outcome_of(exc)
        name, trial = admission.name, admission.trial
        if outcome == "failure" and exc is not None:
            self._last_failure[name] = kind_of(exc).reason
        if trial is None:
            if outcome != "neutral":
                await self._report(name, failed=outcome == "failure", only_if_closed=True)
            return
        if self._rounds.get(name) is not trial:
            return  # the round was already decided
        if outcome == "neutral":
            trial.admitted -= 1
        elif outcome == "failure":
            del self._rounds[name]
            await self._report(name, failed=True)
        else:
            trial.succeeded += 1
            if trial.succeeded >= self._policy.half_open_requests:
                del self._rounds[name]
                await self._report(name, failed=False)

    async def _report(self, name: str, *, failed: bool, only_if_closed: bool = False) -> None:
        breaker = await self._factory.get_breaker(name)
        if only_if_closed and breaker.context.state != CLOSED:
            return  # a straggler from before the breaker opened
        try:
            async with breaker:
                if failed:
                    _fail(name)
        except _UpstreamFailed:
            pass
        except OpenedState as opened:
            # Re-opened elsewhere (shared storage): purgatory raises its one shared instance; keep it small.
            opened.__traceback__ = None

    def _open_for(self, context: Context) -> float:
        """Seconds until an open breaker is due for half-open (negative once due)."""
        if context.opened_at is None:
            return -1.0
        return context.opened_at + context.ttl - self._wall_clock()

    def _reject(self, name: str, retry_after: float, steam_id: str | None) -> CircuitOpenError:
        self._emit(BreakerRejected(name, retry_after))
        return self._circuit_open(name, retry_after, steam_id)

    def cause(self, name: str) -> tuple[str, float | None]:
        """Why breaker `name` opened, as this process knows it: the failure's reason and the opening's wall time.

        Opened by another replica (shared storage) it is the latest failure this process saw itself, else
        "UNKNOWN" (the cause is not shared through Redis).
        """
        return self._opened.get(name) or (self._last_failure.get(name, "UNKNOWN"), None)

    def _circuit_open(self, name: str, retry_after: float, steam_id: str | None) -> CircuitOpenError:
        cause, opened_at = self.cause(name)
        return CircuitOpenError(
            f"Steam calls through {name} are failing ({cause}); the circuit breaker is open "
            f"(retry in {retry_after:.1f}s)",
            steam_id=steam_id,
            retry_after=retry_after,
            cause=cause,
            opened_at=opened_at,
        )

    def _transition(self, name: str, new: BreakerState) -> None:
        if new != "open":
            self._open_until.pop(name, None)
        old = self._known.get(name, "closed")
        if old == new:
            return
        self._known[name] = new
        # Operators need this line even without telemetry: an open breaker means callers get UNAVAILABLE.
        level = logging.WARNING if new == "open" else logging.INFO
        log.log(level, "circuit breaker %s: %s -> %s", name, old, new)
        self._emit(BreakerTransition(name, old, new))

    def _on_purgatory_event(self, name: str, event_type: str, payload: object) -> None:
        """purgatory's synchronous listener: state changes become BreakerTransition events. Never raises."""
        try:
            if event_type != "state_changed":
                return
            new = _STATES.get(str(getattr(payload, "state", "")))
            opened_at = getattr(payload, "opened_at", None)
            if new == "open" and isinstance(opened_at, (int, float)):
                self._open_until[name] = opened_at + self._policy.reset_timeout_secs
                self._opened[name] = (self._last_failure.get(name, "UNKNOWN"), float(opened_at))
            if new is not None:
                self._transition(name, new)
        except Exception:
            log.exception("breaker listener failed for %s", name)


__all__ = ["EXCLUDE", "NEUTRAL", "Admission", "Breakers", "Outcome", "outcome_of"]
