"""State shared by replicas through Redis (`REDIS_URL`), and the fall-back to in-process state when Redis is away.

`SharedState` owns one Redis client and gives the resilient upstream its two storages:

- `breaker_uow` (`FailoverUnitOfWork`): purgatory's own Redis storage (`AsyncRedisRepository`, on our client and
  under our key prefix), so a breaker opened through one replica fails fast on all of them.
- `bucket` (`FailoverTokenBucket`): the Steam budget as `redis_bucket.RedisTokenBucket`, one GCRA for the key,
  with the in-memory bucket's exact semantics (burst, waits within the deadline, 429 pauses seen by all).

**Shared breakers: what purgatory's Redis storage implies** (documented in the README too):

- *threshold and ttl are frozen* in the stored breaker at its first creation. Our keys therefore carry them
  (``<prefix>cb:<CB_MAX_FAILS>:<CB_RESET_TIMEOUT_SECS>:steam.stats``): a configuration change starts fresh shared
  breakers instead of silently keeping the old values, and during a rolling change old and new replicas keep
  separate breakers. Every breaker write also sets an expiry (`breaker_key_ttl_secs`: an hour, or ten open
  periods), so keys of old configurations and of gone deployments expire; the budget's hash expires once idle.
- *updates are GET + SET, not atomic*. The failure count itself is an atomic INCR, but each replica decides to
  open from the count it read before its call, so failures racing in several replicas can need up to one more
  failure per racing replica than CB_MAX_FAILS; one healthy answer anywhere resets the count, as in one process.
  State writes are last-writer-wins: a replica closing a breaker while another re-opens it may undo the other.
- *opened_at is the wall clock* of the replica that opened it: clock skew between replicas shifts the open
  period the others see by the skew (keep NTP on).
- *our half-open gate is per replica*: after the ttl each replica admits up to CB_HALF_OPEN_REQUESTS trials (so
  up to replicas x CB_HALF_OPEN_REQUESTS in all); the first failing trial anywhere re-opens the breaker for all,
  and the replica whose trials all succeed closes it for all.
- *transitions are seen where they happen*: purgatory's events fire in the process that caused them; the others
  learn of an open or closed breaker at their next call (`breaker.Breakers` then logs and counts the transition
  too, so each replica's `playerstats.breaker.state` gauge follows the shared state).

**Redis unreachable** (at start-up or mid-run: any redis error or OSError from a Redis call, after one immediate
reconnect attempt and at most `PLAYERSTATS_REDIS_TIMEOUT_SECS` per attempt) switches this replica to *degraded*:

- the budget becomes an in-process bucket at this replica's share, ``RATE_LIMIT_PER_MIN / PLAYERSTATS_REPLICAS``
  a minute and ``max(1, BURST_LIMIT // PLAYERSTATS_REPLICAS)`` at once, starting drained (its first token one
  share interval after the switch), so N degraded replicas together stay within the whole budget even across
  the switch; a token reserved from Redis and still waiting is given up for one of the share;
- breakers become in-process, starting from the last state this replica read from Redis (a breaker open
  everywhere stays open here for the rest of its ttl);
- no request fails or skips the limit because of Redis: the call that noticed is served from the fall-back.

It is signalled by one WARNING log line at the switch, the `SharedStateChanged` event (telemetry: gauge
``playerstats.shared_state.degraded`` = 1), and to every `add_listener` callback (the server sets the health
service ``dbd.playerstats.v1.SharedState`` NOT_SERVING; the main service stays SERVING). Every
`PLAYERSTATS_REDIS_RETRY_SECS` the replica PINGs Redis; when it answers, the shared bucket's burst is drained
(the shares spent meanwhile are not known to it) and the replica is shared again: one INFO line, gauge 0,
health SERVING. A Redis that restarted empty has forgotten breakers and budget: they start closed and drained.

Limits: a replica cut off from a Redis the others still reach spends its share on top of the shared budget
until Redis is back for it; PLAYERSTATS_REPLICAS must be the number of replicas for the shares to add up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from purgatory import AsyncAbstractUnitOfWork
from purgatory.domain.model import Context
from purgatory.service._async.repository import (
    AsyncAbstractRepository,
    AsyncInMemoryRepository,
    AsyncRedisRepository,
)
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from dbd_playerstats.config.settings import ResilienceSettings, SharedStateSettings
from dbd_playerstats.upstream.deadline import Clock
from dbd_playerstats.upstream.events import ResilienceEvent, SharedStateChanged
from dbd_playerstats.upstream.policy import BreakerPolicy, RateLimitPolicy
from dbd_playerstats.upstream.ratelimit import InMemoryTokenBucket, Reservation, TokenBucket
from dbd_playerstats.upstream.redis_breakers import RedisBreakerContexts, breaker_key_ttl_secs
from dbd_playerstats.upstream.redis_bucket import RedisTokenBucket

log = logging.getLogger(__name__)

REDIS_ERRORS: Final[tuple[type[Exception], ...]] = (RedisError, OSError)
"""What a Redis call raises when Redis cannot serve it (connection refused or lost, timeout, loading, OOM...)."""

SharedStateListener = Callable[[bool], Awaitable[None]]
"""Called with `degraded` after each switch (and once when added); must not block for long."""


class SharedState:
    """Redis (while it answers) or in-process state (while it does not) for breakers and the Steam budget.

    `client`: the Redis client (see `connect` for the options it needs); `key_prefix` starts every key;
    `replicas` divides the budget in degraded mode; `retry_secs`: time between probes while degraded;
    `where`: Redis's address for logs, without password. `clock` (monotonic seconds) drives the in-process
    bucket and the outage duration in the recovery line.
    """

    def __init__(
        self,
        client: Redis,
        *,
        breaker: BreakerPolicy,
        rate_limit: RateLimitPolicy,
        replicas: int = 1,
        key_prefix: str = "dbd-playerstats:",
        retry_secs: float = 5.0,
        where: str = "REDIS_URL",
        clock: Clock = time.monotonic,
    ) -> None:
        self.degraded = False
        self.epoch = 0
        """Incremented at every switch to degraded mode; the fall-backs restart from a clean slate per epoch."""
        self.replicas = replicas
        self.fallback_policy = rate_limit.share(replicas)
        self._client = client
        self.client = client  # for the other users of this Redis (the watch leases)
        self.key_prefix = key_prefix
        self._retry_secs = retry_secs
        self._where = where
        self._clock = clock
        self._since = 0.0
        self._subscribers: list[Callable[[ResilienceEvent], None]] = []
        self._listeners: list[SharedStateListener] = []
        self._published: bool | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.shared_bucket = RedisTokenBucket(client, f"{key_prefix}budget", rate_limit)
        self.bucket = FailoverTokenBucket(
            self.shared_bucket, InMemoryTokenBucket(self.fallback_policy, clock=clock), self
        )
        breakers_prefix = f"{key_prefix}cb:{breaker.max_fails}:{breaker.reset_timeout_secs:g}:"
        contexts = RedisBreakerContexts(client, breakers_prefix, ttl_secs=breaker_key_ttl_secs(breaker))
        self.breaker_uow = FailoverUnitOfWork(contexts, self)

    @classmethod
    def from_settings(cls, shared: SharedStateSettings, resilience: ResilienceSettings) -> SharedState:
        """The shared state REDIS_URL and its companions describe (no I/O until `initialize`)."""
        return cls(
            connect(shared.redis_url.get(), timeout_secs=shared.redis_timeout_secs),
            breaker=BreakerPolicy.from_settings(resilience),
            rate_limit=RateLimitPolicy.from_settings(resilience),
            replicas=shared.replicas,
            key_prefix=shared.redis_key_prefix,
            retry_secs=shared.redis_retry_secs,
            where=shared.redis_url.redacted(),
        )

    def subscribe(self, emit: Callable[[ResilienceEvent], None]) -> None:
        """Send `SharedStateChanged` events to `emit` (the resilient upstream's observers)."""
        self._subscribers.append(emit)

    def add_listener(self, listener: SharedStateListener) -> None:
        """Call `listener(degraded)` now (from the background task, once started) and after every switch."""
        self._listeners.append(listener)
        self._published = None
        self._wake.set()

    async def initialize(self) -> None:
        """Reach Redis (a failure means degraded from the start, never an error) and start the background task."""
        try:
            await self._client.ping()
        except REDIS_ERRORS as exc:
            self.degrade(exc, starting=True)
        else:
            log.info(
                "shared state: Redis at %s; circuit breakers and the Steam budget are shared by all replicas",
                self._where,
            )
            self._notify(SharedStateChanged(degraded=False, reason="connected"))
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name="playerstats-shared-state")

    async def aclose(self) -> None:
        """Stop the background task and close the Redis connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._client.aclose()

    def degrade(self, exc: BaseException, *, starting: bool = False) -> None:
        """Switch to in-process state after `exc` from Redis (a no-op when already degraded)."""
        if self.degraded:
            return
        self.degraded = True
        self.epoch += 1
        self._since = self._clock()
        reason = f"{type(exc).__name__}: {exc}"
        share = self.fallback_policy
        # Operators must see this without telemetry: the budget and breakers are no longer coordinated.
        log.warning(
            "shared state degraded: Redis at %s is unreachable%s (%s); circuit breakers are this replica's own and "
            "the Steam budget is its share, %g/min with burst %d (RATE_LIMIT_PER_MIN / PLAYERSTATS_REPLICAS=%d), "
            "until Redis answers again (retried every %gs)",
            self._where,
            " at start-up" if starting else "",
            reason,
            share.per_min,
            share.burst,
            self.replicas,
            self._retry_secs,
            extra={"shared_state": "degraded"},
        )
        self._notify(SharedStateChanged(degraded=True, reason=reason))
        self._wake.set()

    async def recover(self) -> bool:
        """Probe Redis once; when it answers, drain the shared burst and switch back. True when shared now."""
        if not self.degraded:
            return True
        try:
            await self._client.ping()
            # The shares spent while degraded are unknown to the shared bucket: start it without a burst.
            await self.shared_bucket.pause(0.0)
        except REDIS_ERRORS as exc:
            log.debug("shared state: Redis at %s still unreachable: %s", self._where, exc)
            return False
        self.degraded = False
        log.info(
            "shared state restored: Redis at %s answers again after %.1fs; circuit breakers and the Steam budget "
            "are shared by all replicas again",
            self._where,
            self._clock() - self._since,
            extra={"shared_state": "shared"},
        )
        self._notify(SharedStateChanged(degraded=False, reason="reachable again"))
        self._wake.set()
        return True

    def _notify(self, event: SharedStateChanged) -> None:
        for emit in self._subscribers:
            emit(event)

    async def _supervise(self) -> None:
        """Publish each switch to the listeners; while degraded, probe Redis every `retry_secs`."""
        while True:
            self._wake.clear()  # before reading the state: a later switch sets it again
            current = self.degraded
            if current != self._published:
                self._published = current
                await self._publish(current)
                continue
            if not current:
                await self._wake.wait()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._retry_secs):
                    await self._wake.wait()
            if not self._wake.is_set():
                try:
                    await self.recover()
                except Exception:  # a bug must not end the probing: the replica would stay degraded for good
                    log.exception("shared state: probing Redis at %s failed", self._where)

    async def _publish(self, degraded: bool) -> None:
        for listener in list(self._listeners):
            try:
                await listener(degraded)
            except Exception:
                log.exception("shared state listener %r failed", listener)


def connect(url: str, *, timeout_secs: float) -> Redis:
    """A Redis client for `url` that fails fast: `timeout_secs` per connect and per reply, one immediate
    reconnect (a connection left over from before a Redis restart), no backoff (redis-py's default retries for
    seconds; the fall-back is better than waiting)."""
    return Redis.from_url(
        url,
        socket_timeout=timeout_secs,
        socket_connect_timeout=timeout_secs,
        retry=Retry(NoBackoff(), 1),
    )


class FailoverTokenBucket:
    """A `TokenBucket`: `shared` while `state` is not degraded, else `fallback` (this replica's share).

    The fall-back starts each degraded period drained (paused for one share interval), so tokens granted by
    Redis just before and by the shares just after the switch do not add up to more than the budget.
    """

    def __init__(self, shared: TokenBucket, fallback: InMemoryTokenBucket, state: SharedState) -> None:
        self._shared = shared
        self._fallback = fallback
        self._state = state
        self._epoch = 0

    async def reserve(self, max_wait_secs: float) -> Reservation:
        if not self._state.degraded:
            try:
                return await self._shared.reserve(max_wait_secs)
            except REDIS_ERRORS as exc:
                self._state.degrade(exc)
        return await (await self._local()).reserve(max_wait_secs)

    async def refund(self, reservation: Reservation) -> None:
        if reservation.origin != "shared":
            await self._fallback.refund(reservation)
            return
        if self._state.degraded:
            return  # best effort: Redis keeps the token
        try:
            await self._shared.refund(reservation)
        except REDIS_ERRORS as exc:
            self._state.degrade(exc)

    async def pause(self, seconds: float) -> None:
        if not self._state.degraded:
            try:
                await self._shared.pause(seconds)
            except REDIS_ERRORS as exc:
                self._state.degrade(exc)
            else:
                return
        await (await self._local()).pause(seconds)

    async def still_valid(self, reservation: Reservation) -> bool:
        if reservation.origin != "shared":
            return await self._fallback.still_valid(reservation)
        if self._state.degraded:
            return False  # granted by Redis before the switch: wait for a token of this replica's share instead
        try:
            return await self._shared.still_valid(reservation)
        except REDIS_ERRORS as exc:
            self._state.degrade(exc)
            return False

    async def _local(self) -> InMemoryTokenBucket:
        if self._epoch != self._state.epoch:
            self._epoch = self._state.epoch
            await self._fallback.pause(self._state.fallback_policy.interval_secs)
        return self._fallback


class _FailoverContexts(AsyncAbstractRepository):
    """purgatory's repository interface over Redis, or over memory while `state` is degraded.

    Breakers read from Redis are remembered; each degraded period starts an in-memory repository holding them
    (the same objects, with whatever purgatory changed in them), so local state continues from the shared one.
    """

    def __init__(self, shared: AsyncRedisRepository, state: SharedState) -> None:
        self.messages = []
        self._shared = shared
        self._state = state
        self._seen: dict[str, Context] = {}
        self._local = AsyncInMemoryRepository()
        self._epoch = 0

    async def get(self, name: str) -> Context | None:
        if not self._state.degraded:
            try:
                context = await self._shared.get(name)
            except REDIS_ERRORS as exc:
                self._state.degrade(exc)
            else:
                if context is not None:
                    self._seen[name] = context
                return context
        return await self._fallback().get(name)

    async def register(self, context: Context) -> None:
        if not self._state.degraded:
            self._seen[context.name] = context
            if await self._shared_write(lambda: self._shared.register(context)):
                return
        await self._fallback().register(context)

    async def update_state(self, name: str, state: str, opened_at: float | None) -> None:
        if not self._state.degraded:
            await self._shared_write(lambda: self._shared.update_state(name, state, opened_at))
        # In memory the context object itself holds the state: nothing to write.

    async def inc_failures(self, name: str, failure_count: int) -> None:
        if not self._state.degraded:
            await self._shared_write(lambda: self._shared.inc_failures(name, failure_count))

    async def reset_failure(self, name: str) -> None:
        if not self._state.degraded:
            await self._shared_write(lambda: self._shared.reset_failure(name))

    async def _shared_write(self, write: Callable[[], Awaitable[None]]) -> bool:
        """Run one write to Redis; on failure degrade (the context object already holds the new state)."""
        try:
            await write()
        except REDIS_ERRORS as exc:
            self._state.degrade(exc)
            return False
        return True

    def _fallback(self) -> AsyncInMemoryRepository:
        if self._epoch != self._state.epoch:
            self._epoch = self._state.epoch
            self._local = AsyncInMemoryRepository()
            self._local.breakers.update(self._seen)
        return self._local


class FailoverUnitOfWork(AsyncAbstractUnitOfWork):
    """purgatory's unit of work over `_FailoverContexts` (commit and rollback are no-ops, as in purgatory's)."""

    def __init__(self, shared: AsyncRedisRepository, state: SharedState) -> None:
        self.contexts = _FailoverContexts(shared, state)

    async def commit(self) -> None:
        """Nothing to do: each write went to Redis (or memory) at once."""

    async def rollback(self) -> None:
        """Nothing to undo (purgatory's own units of work do the same)."""


__all__ = [
    "REDIS_ERRORS",
    "FailoverTokenBucket",
    "FailoverUnitOfWork",
    "SharedState",
    "SharedStateListener",
    "connect",
]
