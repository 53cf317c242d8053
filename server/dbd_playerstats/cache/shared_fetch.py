"""Coalescing and caching (one replica; `PLAYERSTATS_CACHE_*`). Each per-player Steam call goes through a
`SharedFetch`, one per endpoint, keyed by the normalised SteamID64 (by the name as given for vanity)::

    stream -> SharedFetch.get (async-lru: one task per key, kept TTL seconds, LRU-bounded) -> Upstream.call

- Concurrent identical calls share one upstream fetch: async-lru runs one task per key and hands its result, or
  its error, to every waiter. The fetch runs in the context of the request that started it, with its deadline:
  its ``steam.<endpoint>`` span is in that request's trace. A request that joined it gets a ``coalesced.wait``
  child span covering its wait and linked to that ``steam.<endpoint>`` span (to the starter's span when no
  attempt ran), plus a ``coalesced.wait`` event on its own span carrying the linked trace and span ids. A joiner
  whose fetch ran out of its starter's time (DEADLINE_EXCEEDED, RATE_LIMITED) while it has time left, or was
  refused by its starter's quota (CALLER_QUOTA_EXCEEDED: `upstream/spend.py`), fetches again; a joiner never
  waits past its own deadline.
- A successful answer is kept for the endpoint's TTL (0: not kept, but still shared while in flight), at most
  `max_players` per endpoint. Steam's failures are never kept; an answer about the player (private, not found,
  no stats: the kinds whose blame is the player's) is kept `error_ttl_secs` (PLAYERSTATS_CACHE_PLAYER_ERROR_TTL_SECS),
  so that five lookups of a private player cost one call; a player who changes their privacy is seen after it.
- Provenance: the request that started the fetch and those that joined it serve LIVE (fetched while they
  waited); a kept answer is served as CACHE with its original fetched_at.
- A caller's `max_age` (seconds; None: the TTL decides) refuses a kept answer that is not younger than that: the
  answer is dropped and fetched again (0: always, unless a fetch is in flight, which is joined: it is live).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Final, Generic, TypeVar

from async_lru import alru_cache
from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, Tracer

from dbd_playerstats.domain.clock import UtcClock, utc_now
from dbd_playerstats.domain.memo import Memo
from dbd_playerstats.domain.model import Source
from dbd_playerstats.errors import CallerQuotaExceededError, DeadlineExceededError, RateLimitExceededError, kind_of
from dbd_playerstats.telemetry.recording import record_cache_lookup, record_coalesced_wait
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.protocol import Attempt
from dbd_playerstats.upstream.spend import Payer, current_payer

log = logging.getLogger(__name__)

T = TypeVar("T")
V = TypeVar("V")
W = TypeVar("W")

# A joiner whose shared fetch failed for lack of its starter's time fetches again if it has time of its own.
_OUT_OF_STARTERS_TIME: Final = (DeadlineExceededError, RateLimitExceededError)


@dataclass(eq=False, slots=True)
class Answer(Generic[V, W]):
    """One upstream answer as the caches keep it: the value, when Steam produced it (UTC), and the store write it
    led to, started by the first request that served it (`write` None until then, or without a store), and
    what requests derived from it (`memo`)."""

    value: V
    fetched_at: datetime
    write: asyncio.Task[W] | None = None
    memo: Memo = field(default_factory=Memo)
    """What is derived from this answer (views, protobuf parts), built once and reused by its cache hits."""


class Origin(Enum):
    """How a request came by an answer."""

    STARTED = "started"  # it started the upstream fetch
    JOINED = "joined"  # it waited for a fetch another request had started
    CACHED = "cached"  # the answer was kept from an earlier fetch


@dataclass(frozen=True, slots=True)
class Served(Generic[V, W]):
    """An answer as one request got it."""

    answer: Answer[V, W]
    origin: Origin

    @property
    def source(self) -> Source:
        """CACHE for a kept answer; LIVE when it was fetched while this request waited."""
        return Source.CACHE if self.origin is Origin.CACHED else Source.LIVE


@dataclass(slots=True)
class Flight:
    """An upstream fetch in progress: its starter's deadline, and the span joiners link to (the starter's current
    span, then the ``steam.<endpoint>`` span once an attempt runs), and who pays for it."""

    deadline: Deadline
    span: SpanContext
    payer: Payer | None = field(default_factory=current_payer)

    def noting(self, attempt: Attempt[T]) -> Attempt[T]:
        """`attempt`, noting the span it runs in (the logical Steam call's) as the one joiners link to."""

        async def noted(timeout: float) -> T:
            self.span = trace.get_current_span().get_span_context()
            return await attempt(timeout)

        return noted


Fetch = Callable[[str, Deadline, Flight], Coroutine[Any, Any, Answer[V, W]]]


def _cache_key(key: str, *_: object) -> str:
    """async-lru's key: the player (or vanity name) alone, never the deadline or the flight."""
    return key


class SharedFetch(Generic[V, W]):
    """One endpoint's calls: concurrent identical ones share one upstream fetch, answers are kept `ttl_secs`.

    async-lru does the sharing and keeping: one task per key, awaited shielded by every caller (the task is
    cancelled only when its last waiter is), an exception handed to the waiters of that task and dropped, a
    success dropped `ttl_secs` after the fetch finished (`ttl_secs` 0: dropped at once), the least recently used
    key dropped beyond `max_entries`. This class adds what it lacks: telling a starter from a joiner from a cache
    hit (provenance, telemetry), the span link, a joiner's own deadline, and a second try for a joiner whose
    fetch failed only for lack of its starter's time.

    `fetch(key, deadline, flight)` makes the upstream call; it should wrap its attempts in `flight.noting`.
    """

    def __init__(
        self,
        endpoint: str,
        fetch: Fetch[V, W],
        *,
        ttl_secs: float,
        max_entries: int,
        tracer: Tracer,
        clock: UtcClock = utc_now,
        error_ttl_secs: float = 0.0,
    ) -> None:
        self.endpoint = endpoint
        self._fetch = fetch
        self._ttl_secs = ttl_secs
        self._tracer = tracer
        self._clock = clock
        self._flights: dict[str, Flight] = {}
        self._max_entries = max_entries
        # The last answer of each key, for `kept(key, max_age)` and `kept_answer` (async-lru cannot be peeked
        # without a call); it is the kept one exactly while async-lru holds the key and no fetch is in flight.
        self._answers: OrderedDict[str, Answer[V, W]] = OrderedDict()
        self._error_ttl_secs = error_ttl_secs
        # Answers about the player (an exception whose kind the player is to blame for), and when they came.
        self._failures: OrderedDict[str, tuple[BaseException, datetime]] = OrderedDict()
        self._lru = alru_cache(maxsize=max_entries, ttl=ttl_secs if ttl_secs > 0 else None, key=_cache_key)(self._run)

    def in_flight(self, key: str) -> bool:
        """Whether a fetch for `key` is running now."""
        return key in self._flights

    def kept(self, key: str, max_age: float | None = None) -> bool:
        """Whether an answer for `key` is kept now (a fetch in flight is not one), younger than `max_age` seconds
        when given."""
        if key in self._flights or not self._lru.cache_contains(key):
            return False
        if max_age is None:
            return True
        answer = self._answers.get(key)  # None only past its bound: then "not young enough" (re-asked)
        return answer is not None and (self._clock() - answer.fetched_at).total_seconds() < max_age

    def kept_answer(self, key: str) -> Answer[V, W] | None:
        """The answer a `get(key)` would serve from the cache now, without a call, a wait or a lookup recorded
        (None when it would not serve a kept one). Unlike `get`, it does not refresh the key's LRU position."""
        if key in self._flights or key in self._failures or not self._lru.cache_contains(key):
            return None
        return self._answers.get(key)

    async def get(
        self, key: str, deadline: Deadline, *, observe: bool = True, max_age: float | None = None
    ) -> Served[V, W]:
        """The answer for `key`: kept (younger than `max_age` seconds when given), joined or fetched now.
        `observe` False records no cache lookup and no coalesced wait (for the fetcher's own lookups, such as the
        stats verdict's)."""
        flight = self._flights.get(key)
        if flight is None and key in self._failures:
            self._raise_kept_failure(key, max_age, observe=observe)
        if flight is None and self._lru.cache_contains(key):
            answer = await self._lru(key, deadline, None)  # done: returns without suspending
            age_secs = self._age_secs(answer)
            if max_age is None or age_secs < max_age:
                if observe:
                    record_cache_lookup(self.endpoint, hit=True, age_s=round(age_secs, 3))
                return Served(answer, Origin.CACHED)
            self._lru.cache_invalidate(key)  # older than this caller accepts: fetched again below
        if observe and self._ttl_secs > 0:
            record_cache_lookup(self.endpoint, hit=False)
        if flight is not None:
            return await self._join(key, flight, deadline, observe=observe, max_age=max_age)
        flight = Flight(deadline, trace.get_current_span().get_span_context())
        self._flights[key] = flight
        return Served(await self._lru(key, deadline, flight), Origin.STARTED)

    async def aclose(self) -> None:
        """Cancel the fetches in flight and refuse new ones (at shutdown)."""
        await self._lru.cache_close()

    def _raise_kept_failure(self, key: str, max_age: float | None, *, observe: bool) -> None:
        """Raise the kept answer about the player for `key` when it is young enough; else forget it."""
        exc, at = self._failures[key]
        age_secs = (self._clock() - at).total_seconds()
        if age_secs < self._error_ttl_secs and (max_age is None or age_secs < max_age):
            if observe:
                record_cache_lookup(self.endpoint, hit=True, age_s=round(age_secs, 3))
            raise exc.with_traceback(None)  # the same instance, as async-lru hands one to every waiter
        del self._failures[key]

    def _keep_failure(self, key: str, exc: BaseException) -> None:
        if self._error_ttl_secs <= 0 or not kind_of(exc).players_fault:
            return
        self._failures[key] = (exc, self._clock())
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_entries:
            self._failures.popitem(last=False)

    def _note_answer(self, key: str, answer: Answer[V, W]) -> None:
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self._max_entries:
            self._answers.popitem(last=False)

    def _age_secs(self, answer: Answer[V, W]) -> float:
        return (self._clock() - answer.fetched_at).total_seconds()

    async def _join(
        self, key: str, flight: Flight, deadline: Deadline, *, observe: bool, max_age: float | None
    ) -> Served[V, W]:
        joined_at, joined_ns = time.monotonic(), time.time_ns()
        again = False
        try:
            waiting = asyncio.timeout(deadline.remaining())
            try:
                async with waiting:
                    return Served(await self._lru(key, deadline, flight), Origin.JOINED)
            except TimeoutError:
                if waiting.expired():
                    raise DeadlineExceededError(f"no time left waiting for Steam {self.endpoint}") from None
                raise
        except _OUT_OF_STARTERS_TIME:
            again = flight.deadline.expires_at < deadline.expires_at and not deadline.expired()
            if not again:
                raise
        except CallerQuotaExceededError:  # the starter's quota refused the fetch: this request's own may pay
            again = flight.payer is not current_payer() and not deadline.expired()
            if not again:
                raise
        finally:
            if observe:
                self._record_wait(key, flight, joined_ns, time.monotonic() - joined_at)
        log.debug("%s fetch of %s ran out of its starter's time or quota: fetching again", self.endpoint, key)
        return await self.get(key, deadline, observe=observe, max_age=max_age)

    def _record_wait(self, key: str, flight: Flight, joined_ns: int, waited_secs: float) -> None:
        """A ``coalesced.wait`` event on the current span and a child span of the same name over the wait, linked
        to the fetch waited for (links are set when a span starts, so the span is made once the wait is over)."""
        linked = flight.span
        record_coalesced_wait(
            self.endpoint,
            waited_secs=round(waited_secs, 4),
            **{"link.trace_id": f"{linked.trace_id:032x}", "link.span_id": f"{linked.span_id:016x}"},
        )
        span = self._tracer.start_span(
            "coalesced.wait",
            attributes={"steam.endpoint": self.endpoint, "coalesced.key": key},
            links=[Link(linked, {"steam.endpoint": self.endpoint})],
            start_time=joined_ns,
        )
        span.end()

    async def _run(self, key: str, deadline: Deadline, flight: Flight | None) -> Answer[V, W]:
        """The fetch itself, in async-lru's task (started in the starter's context)."""
        if flight is None:  # only when async-lru dropped an entry in flight (LRU) and a joiner restarted it
            flight = Flight(deadline, trace.get_current_span().get_span_context())
        try:
            answer = await self._fetch(key, deadline, flight)
        except Exception as exc:
            self._keep_failure(key, exc)
            raise
        else:
            self._failures.pop(key, None)
            self._note_answer(key, answer)
            return answer
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
                if self._ttl_secs <= 0:
                    self._lru.cache_invalidate(key)  # not kept; its waiters still get the result


__all__ = ["Answer", "Fetch", "Flight", "Origin", "Served", "SharedFetch"]
