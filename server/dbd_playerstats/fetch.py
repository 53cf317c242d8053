"""Fetch orchestration: which Steam calls one request makes, in what order, and what their failures mean.

For a stream, after the player is resolved, five logical calls start at once: profile, stats, achievements,
schema and global percentages (the last two served by the catalog, refreshed in the background). The first part
is sent as soon as profile and stats are in (cached or live); the second when achievements (plus schema and
percentages, best effort) are.

Steam answers a private or never-played player's stats ambiguously (500 HTML, 400 `{}` or 200 without stats), so
a stats attempt that fails that way asks the profile's visibility and the achievements call's answer before the
failure goes back to the resilience layer: a private player becomes ProfilePrivateError (never retried, never
counted by the breaker), a public player without stats NoGameStatsError, and only a public player with a real
Steam failure is retried. A server error that is never Steam's answer about a player (502, 503, 504, a
maintenance page, a "busy" EResult) goes back at once, without waiting for either.

Coalescing and caching (one replica; `PLAYERSTATS_CACHE_*`). Each per-player Steam call goes through a
`SharedFetch`, one per endpoint, keyed by the normalised SteamID64 (by the name as given for vanity)::

    stream -> SharedFetch.get (async-lru: one task per key, kept TTL seconds, LRU-bounded) -> Upstream.call

- Concurrent identical calls share one upstream fetch: async-lru runs one task per key and hands its result, or
  its error, to every waiter. The fetch runs in the context of the request that started it, with its deadline:
  its ``steam.<endpoint>`` span is in that request's trace. A request that joined it gets a ``coalesced.wait``
  child span covering its wait and linked to that ``steam.<endpoint>`` span (to the starter's span when no
  attempt ran), plus a ``coalesced.wait`` event on its own span carrying the linked trace and span ids. A joiner
  whose fetch ran out of its starter's time (DEADLINE_EXCEEDED, RATE_LIMITED) while it has time left fetches
  again; a joiner never waits past its own deadline.
- A successful answer is kept for the endpoint's TTL (0: not kept, but still shared while in flight), at most
  `max_players` per endpoint. Failures are never kept, neither Steam's nor the player's (private, not found, no
  stats): a player who changes their privacy is seen on the next request.
- Provenance: the request that started the fetch and those that joined it serve LIVE (fetched while they
  waited); a kept answer is served as CACHE with its original fetched_at.

With a store (`dbd_playerstats.store`), what Steam says is checked against what is known, once per upstream
answer (the first request serving an answer writes it; every later one, cache hits included, serves the result
of that write):

- achievements go through the safe merge (one transaction per snapshot) and the caller receives the merged
  truth: LIVE (or CACHE) with Steam's fetch time when the snapshot is accepted (stored unlocks a rollback hid
  included); when it is rejected, the stored truth as STORED with the time of the last accepted snapshot (stale
  when that is older than MERGE_MAX_SNAPSHOT_AGE_SECS), plus `unavailable` (UPSTREAM_BAD_RESPONSE) unless the
  rejection is only "out of order" (the stored copy is then newer than Steam's answer); with nothing stored,
  only `unavailable`;
- when Steam's achievements fail for any reason but the player's (private, not found, invalid), the part
  carries the stored copy (STORED, its fetch time, stale as above) and `unavailable` says why Steam failed;
- a stats answer is saved, with its profile, as the player's last good stats snapshot; when the stats fail
  because Steam is unavailable (UNAVAILABLE, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED, never a player error) and
  that snapshot is younger than STALE_STATS_MAX_AGE_SECS, it is served as STORED and stale, with the live profile
  if it came (unless it turned private) else the stored one.

Only parsed Steam values ever reach the store, and store writes run shielded from the caller's cancellation.
A store failure never fails a request: it is logged at ERROR and the request is served as without a store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final, Generic, TypeVar

import grpc
from async_lru import alru_cache
from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, Tracer

from dbd_playerstats.achievements import UnlockState, build_view, unlock_states
from dbd_playerstats.catalog import Cached, Catalog
from dbd_playerstats.dbd.adepts import AdeptDef, adepts_from_schema, fallback_adepts
from dbd_playerstats.deadline import Deadline
from dbd_playerstats.errors import (
    DeadlineExceededError,
    InvalidPlayerError,
    NoGameStatsError,
    PlayerNotFoundError,
    ProfilePrivateError,
    RateLimitExceededError,
    ServiceError,
    public_message,
    retry_after_of,
    status_for,
)
from dbd_playerstats.model import AchievementsPart, AchievementsView, Provenance, Source, StatsPart, Unavailable
from dbd_playerstats.players import SteamId, Vanity, normalise_steam_id, parse_player
from dbd_playerstats.settings import CacheSettings, StoreSettings
from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.steam.errors import (
    SteamError,
    SteamNoStatsError,
    SteamNotFoundError,
    SteamProfilePrivateError,
    SteamServerError,
)
from dbd_playerstats.steam.models import (
    GameSchema,
    GlobalPercentages,
    PlayerAchievements,
    PlayerSummary,
    UserStats,
    Visibility,
)
from dbd_playerstats.store import (
    AchievementStore,
    Decision,
    MergePolicy,
    MergeResult,
    Snapshot,
    StatsSnapshot,
    StoredAchievements,
    StoreError,
)
from dbd_playerstats.telemetry.recording import record_cache_lookup, record_coalesced_wait
from dbd_playerstats.upstream import Attempt, Upstream

log = logging.getLogger(__name__)

T = TypeVar("T")
V = TypeVar("V")
W = TypeVar("W")
Part = StatsPart | AchievementsPart
Clock = Callable[[], datetime]

_STORE_DEFAULTS: Final = StoreSettings()  # defaults live in settings.py
# Failures that mean "Steam cannot answer now": a stored copy may stand in for the answer.
_STEAM_DOWN: Final = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED}
)
# Failures that are the player's: stored data is never shown in their place (a profile gone private stays so).
_PLAYER_FAULT: Final = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION}
)
_REJECTED_REASON: Final = "UPSTREAM_BAD_RESPONSE"
# Steam refuses the stats of a player it will not show (private, hidden game details, unknown id) with a 500 HTML
# page; no other server error (502, 503, 504, a 200 maintenance page, a "busy" EResult) is an answer about a player.
_AMBIGUOUS_SERVER_STATUS: Final = 500
# A joiner whose shared fetch failed for lack of its starter's time fetches again if it has time of its own.
_OUT_OF_STARTERS_TIME: Final = (DeadlineExceededError, RateLimitExceededError)


def _utc_now() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------------------------------------------------
# Coalescing and caching of one endpoint's calls
# ----------------------------------------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class Answer(Generic[V, W]):
    """One upstream answer as the caches keep it: the value, when Steam produced it (UTC), and the store write it
    led to, started by the first request that served it (`write` None until then, or without a store)."""

    value: V
    fetched_at: datetime
    write: asyncio.Task[W] | None = None


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
    span, then the ``steam.<endpoint>`` span once an attempt runs)."""

    deadline: Deadline
    span: SpanContext

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
        clock: Clock = _utc_now,
    ) -> None:
        self.endpoint = endpoint
        self._fetch = fetch
        self._ttl_secs = ttl_secs
        self._tracer = tracer
        self._clock = clock
        self._flights: dict[str, Flight] = {}
        self._lru = alru_cache(maxsize=max_entries, ttl=ttl_secs if ttl_secs > 0 else None, key=_cache_key)(self._run)

    def in_flight(self, key: str) -> bool:
        """Whether a fetch for `key` is running now."""
        return key in self._flights

    def kept(self, key: str) -> bool:
        """Whether an answer for `key` is kept now (a fetch in flight is not one)."""
        return key not in self._flights and self._lru.cache_contains(key)

    async def get(self, key: str, deadline: Deadline, *, observe: bool = True) -> Served[V, W]:
        """The answer for `key`: kept, joined or fetched now. `observe` False records no cache lookup and no
        coalesced wait (for the fetcher's own lookups, such as the stats verdict's)."""
        flight = self._flights.get(key)
        if flight is None and self._lru.cache_contains(key):
            answer = await self._lru(key, deadline, None)  # done: returns without suspending
            if observe:
                age_secs = (self._clock() - answer.fetched_at).total_seconds()
                record_cache_lookup(self.endpoint, hit=True, age_s=round(age_secs, 3))
            return Served(answer, Origin.CACHED)
        if observe and self._ttl_secs > 0:
            record_cache_lookup(self.endpoint, hit=False)
        if flight is not None:
            return await self._join(key, flight, deadline, observe=observe)
        flight = Flight(deadline, trace.get_current_span().get_span_context())
        self._flights[key] = flight
        return Served(await self._lru(key, deadline, flight), Origin.STARTED)

    async def aclose(self) -> None:
        """Cancel the fetches in flight and refuse new ones (at shutdown)."""
        await self._lru.cache_close()

    async def _join(self, key: str, flight: Flight, deadline: Deadline, *, observe: bool) -> Served[V, W]:
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
        finally:
            if observe:
                self._record_wait(key, flight, joined_ns, time.monotonic() - joined_at)
        log.debug("%s fetch of %s ran out of its starter's time: fetching again", self.endpoint, key)
        return await self.get(key, deadline, observe=observe)

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
            return await self._fetch(key, deadline, flight)
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
                if self._ttl_secs <= 0:
                    self._lru.cache_invalidate(key)  # not kept; its waiters still get the result


# ----------------------------------------------------------------------------------------------------------------
# The fetcher
# ----------------------------------------------------------------------------------------------------------------


class PlayerFetcher:
    """Answers one player request from Steam through the upstream policy, shared, cached and checked against
    the store.

    `store` None keeps no memory (achievements are served as Steam sent them, failures are not covered);
    `merge_policy` decides which snapshots are merged; `stale_stats_max_age_secs` bounds the age of stored stats
    served when Steam is down; `cache` sets the TTLs and bounds of the per-player caches (None: the defaults;
    the catalog has its own); `tracer` makes the ``coalesced.wait`` spans (None: none); `clock` gives the
    wall-clock UTC time (fetch times, merge times, ages).
    """

    def __init__(
        self,
        steam: SteamClient,
        upstream: Upstream,
        catalog: Catalog,
        *,
        store: AchievementStore | None = None,
        merge_policy: MergePolicy | None = None,
        stale_stats_max_age_secs: float = _STORE_DEFAULTS.stale_stats_max_age_secs,
        cache: CacheSettings | None = None,
        tracer: Tracer | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        self._steam = steam
        self._upstream = upstream
        self._catalog = catalog
        self._store = store
        self._policy = merge_policy if merge_policy is not None else MergePolicy()
        self._stale_stats_max_age_secs = stale_stats_max_age_secs
        self._clock = clock
        self._background: set[asyncio.Future[Any]] = set()
        cache = cache if cache is not None else CacheSettings()
        tracer = tracer if tracer is not None else trace.NoOpTracer()

        def shared(endpoint: str, fetch: Fetch[V, W], ttl_secs: float) -> SharedFetch[V, W]:
            return SharedFetch(
                endpoint, fetch, ttl_secs=ttl_secs, max_entries=cache.max_players, tracer=tracer, clock=clock
            )

        self.vanities = shared("vanity", self._fetch_vanity, cache.vanity_ttl_secs)
        self.profiles = shared("profile", self._fetch_profile, cache.profile_ttl_secs)
        self.stats = shared("stats", self._fetch_stats, cache.stats_ttl_secs)
        self.achievements = shared("achievements", self._fetch_achievements, cache.achievements_ttl_secs)

    async def wait_for_store_writes(self) -> None:
        """Wait until every store write started so far has finished (they outlive cancelled requests)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel background work (catalog refreshes, fetches in flight) once no request is served any more."""
        await self._catalog.aclose()
        for shared in (self.vanities, self.profiles, self.stats, self.achievements):
            await shared.aclose()

    async def resolve_id(self, player: str, deadline: Deadline) -> str:
        """The normalised SteamID64 the `player` field names (one vanity call when it is a name not kept)."""
        ref = parse_player(player)
        if isinstance(ref, SteamId):
            return ref.value
        return await self._resolve_vanity(ref, deadline)

    async def resolve(self, player: str, deadline: Deadline) -> PlayerSummary:
        """The player's public profile; PlayerNotFoundError when Steam knows no such account."""
        steam_id = await self.resolve_id(player, deadline)
        return (await self.profiles.get(steam_id, deadline)).answer.value

    async def stream(self, player: str, deadline: Deadline) -> AsyncIterator[Part]:
        """Yield the StatsPart, then the AchievementsPart; raise when the stats cannot be served."""
        steam_id = await self.resolve_id(player, deadline)
        tasks: list[asyncio.Future[object]] = []

        def start(coro: Awaitable[T]) -> asyncio.Future[T]:
            task = asyncio.ensure_future(coro)
            tasks.append(task)  # type: ignore[arg-type]
            return task

        try:
            profile_task = start(self.profiles.get(steam_id, deadline))
            achievements_task = start(self.achievements.get(steam_id, deadline))
            schema_task = start(self._catalog.schema.get(deadline))
            percents_task = start(self._catalog.percentages.get(deadline))
            stats_task = start(self.stats.get(steam_id, deadline))
            stats_part, saving = await self._stats_part(steam_id, stats_task, profile_task)
            yield stats_part
            if saving is not None:
                # Saved while the caller reads the first part; stored before the stream can end.
                await asyncio.shield(saving)
            yield await self._achievements_part(steam_id, achievements_task, schema_task, percents_task)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    # Retrieve every outcome so none is logged as "exception was never retrieved".
                    await task

    # -- the upstream fetches (run once per key by SharedFetch) ------------------------------------------------

    async def _resolve_vanity(self, ref: Vanity, deadline: Deadline) -> str:
        return (await self.vanities.get(ref.name, deadline)).answer.value

    async def _fetch_vanity(self, name: str, deadline: Deadline, flight: Flight) -> Answer[str, None]:
        try:
            raw = await self._upstream.call(
                "vanity", flight.noting(lambda t: self._steam.resolve_vanity(name, timeout=t)), deadline
            )
        except SteamNotFoundError:
            raise PlayerNotFoundError(f"no Steam player has the vanity name {name!r}") from None
        return Answer(_normalised(raw), self._clock())

    async def _fetch_profile(self, steam_id: str, deadline: Deadline, flight: Flight) -> Answer[PlayerSummary, None]:
        try:
            profile = await self._upstream.call(
                "profile",
                flight.noting(lambda t: self._steam.get_player_summary(steam_id, timeout=t)),
                deadline,
                steam_id=steam_id,
            )
        except SteamNotFoundError:
            raise PlayerNotFoundError(f"no Steam player has the SteamID64 {steam_id}", steam_id=steam_id) from None
        return Answer(profile, self._clock())

    async def _fetch_achievements(
        self, steam_id: str, deadline: Deadline, flight: Flight
    ) -> Answer[PlayerAchievements, MergeResult | None]:
        achievements = await self._upstream.call(
            "achievements",
            flight.noting(lambda t: self._steam.get_player_achievements(steam_id, timeout=t)),
            deadline,
            steam_id=steam_id,
        )
        return Answer(achievements, self._clock())

    async def _fetch_stats(self, steam_id: str, deadline: Deadline, flight: Flight) -> Answer[UserStats, bool]:
        async def profile() -> PlayerSummary:
            return (await self.profiles.get(steam_id, deadline, observe=False)).answer.value

        async def achievements() -> object:
            return await self.achievements.get(steam_id, deadline, observe=False)

        async def attempt(timeout: float) -> UserStats:
            try:
                return await self._steam.get_user_stats(steam_id, timeout=timeout)
            except (SteamNoStatsError, SteamServerError, SteamProfilePrivateError) as exc:
                verdict = await _player_verdict(steam_id, exc, profile, achievements)
                if verdict is None:
                    raise
                raise verdict from exc

        stats = await self._upstream.call("stats", flight.noting(attempt), deadline, steam_id=steam_id)
        return Answer(stats, self._clock())

    # -- the parts ---------------------------------------------------------------------------------------------

    async def _stats_part(
        self,
        steam_id: str,
        stats_task: asyncio.Future[Served[UserStats, bool]],
        profile_task: asyncio.Future[Served[PlayerSummary, None]],
    ) -> tuple[StatsPart, asyncio.Future[bool] | None]:
        """The first part, and the task saving its answer when there is a store (once per answer)."""
        try:
            served = await stats_task
        except (ServiceError, SteamError) as exc:
            return await self._stored_stats_part(steam_id, exc, profile_task), None
        profile = (await profile_task).answer.value
        answer = served.answer
        if self._store is not None and answer.write is None:
            snapshot = StatsSnapshot(profile, answer.value.stats, answer.fetched_at)
            answer.write = self._in_background(self._save_stats(steam_id, snapshot))
        provenance = Provenance(served.source, answer.fetched_at)
        return StatsPart(profile=profile, stats=answer.value.stats, provenance=provenance), answer.write

    async def _stored_stats_part(
        self,
        steam_id: str,
        failure: ServiceError | SteamError,
        profile_task: asyncio.Future[Served[PlayerSummary, None]],
    ) -> StatsPart:
        """The stored stats standing in for a failed stats call; re-raise `failure` when none may."""
        if self._store is None or status_for(failure).code not in _STEAM_DOWN:
            raise failure
        stored = await self._read_store(self._store.load_stats, steam_id)
        if stored is None:
            raise failure
        age_secs = (self._clock() - stored.fetched_at).total_seconds()
        if age_secs > self._stale_stats_max_age_secs:
            log.info("stored stats of %s are %.0fs old: too old to serve", steam_id, age_secs)
            raise failure
        profile: PlayerSummary | None
        try:
            profile = (await profile_task).answer.value
        except PlayerNotFoundError:
            raise
        except (ServiceError, SteamError):
            profile = None
        if profile is not None and profile.visibility is not Visibility.PUBLIC:
            raise failure
        log.warning(
            "stats of %s unavailable (%s): serving the stored snapshot from %s",
            steam_id,
            status_for(failure).reason,
            stored.fetched_at.isoformat(),
        )
        return StatsPart(
            profile=profile if profile is not None else stored.profile,
            stats=stored.stats,
            provenance=Provenance(Source.STORED, stored.fetched_at, stale=True),
        )

    async def _achievements_part(
        self,
        steam_id: str,
        achievements_task: asyncio.Future[Served[PlayerAchievements, MergeResult | None]],
        schema_task: asyncio.Future[Cached[GameSchema]],
        percents_task: asyncio.Future[Cached[GlobalPercentages]],
    ) -> AchievementsPart:
        try:
            served = await achievements_task
        except (ServiceError, SteamError) as exc:
            return await self._failed_achievements_part(steam_id, exc, schema_task, percents_task)
        schema = await _optional(schema_task)
        percents = await _optional(percents_task)
        answer = served.answer
        states = unlock_states(answer.value.achievements)
        fresh = Provenance(served.source, answer.fetched_at)
        if self._store is None:
            return AchievementsPart(achievements=_view(states, schema, percents), provenance=fresh)
        if answer.write is None:  # the first request serving this answer merges it; the others share the result
            answer.write = self._in_background(
                self._merge(steam_id, Snapshot(states, answer.fetched_at, _adept_defs(schema)))
            )
        result = await asyncio.shield(answer.write)
        if result is None:  # the store failed (logged): serve Steam's answer as if there were no store
            return AchievementsPart(achievements=_view(states, schema, percents), provenance=fresh)
        if result.decision.accepted and result.state is not None:
            return AchievementsPart(achievements=_view(result.state.states, schema, percents), provenance=fresh)
        rejected = Unavailable(
            grpc.StatusCode.UNAVAILABLE,
            _REJECTED_REASON,
            f"Steam's achievements for {steam_id} were not accepted ({result.reason})",
            None,
        )
        if result.state is None:
            return AchievementsPart(achievements=None, provenance=None, unavailable=rejected)
        return AchievementsPart(
            achievements=_view(result.state.states, schema, percents),
            provenance=self._stored_provenance(result.state),
            unavailable=None if result.decision is Decision.REJECTED_OUT_OF_ORDER else rejected,
        )

    async def _failed_achievements_part(
        self,
        steam_id: str,
        failure: ServiceError | SteamError,
        schema_task: asyncio.Future[Cached[GameSchema]],
        percents_task: asyncio.Future[Cached[GlobalPercentages]],
    ) -> AchievementsPart:
        """Why Steam failed, with the stored copy when there is one and the failure is not the player's."""
        entry = status_for(failure)
        log.info("achievements unavailable: %s %s", entry.reason, type(failure).__name__)
        unavailable = Unavailable(entry.code, entry.reason, public_message(failure), retry_after_of(failure))
        stored = None
        if self._store is not None and entry.code not in _PLAYER_FAULT:
            stored = await self._read_store(self._store.load_achievements, steam_id)
        if stored is None:
            return AchievementsPart(achievements=None, provenance=None, unavailable=unavailable)
        schema = await _optional(schema_task)
        percents = await _optional(percents_task)
        return AchievementsPart(
            achievements=_view(stored.states, schema, percents),
            provenance=self._stored_provenance(stored),
            unavailable=unavailable,
        )

    def _stored_provenance(self, stored: StoredAchievements) -> Provenance:
        """STORED at the last accepted snapshot's fetch time; stale once older than a snapshot may be."""
        age_secs = (self._clock() - stored.last_snapshot_at).total_seconds()
        stale = age_secs > self._policy.max_snapshot_age_secs
        return Provenance(Source.STORED, stored.last_snapshot_at, stale=stale)

    # -- the store ---------------------------------------------------------------------------------------------

    async def _merge(self, steam_id: str, snapshot: Snapshot) -> MergeResult | None:
        """Merge through the store (run in the background: a cancelled request still stores what Steam said);
        None when the store failed (logged)."""
        store = self._store
        assert store is not None
        try:
            result = await store.merge_achievements(steam_id, snapshot, self._policy, now=self._clock())
        except StoreError:
            log.error(
                "achievements snapshot of %s (%d achievements, fetched %s) NOT stored: the store failed",
                steam_id,
                len(snapshot.states),
                snapshot.fetched_at.isoformat(),
                exc_info=True,
            )
            return None
        if result.decision is Decision.ACCEPTED:
            log.debug("achievements of %s merged: %s", steam_id, result.reason)
        else:
            log.warning("achievements of %s: %s", steam_id, result.reason)
        return result

    async def _save_stats(self, steam_id: str, snapshot: StatsSnapshot) -> bool:
        store = self._store
        assert store is not None
        try:
            return await store.save_stats(steam_id, snapshot)
        except StoreError:
            log.error(
                "stats snapshot of %s (fetched %s) NOT stored: the store failed",
                steam_id,
                snapshot.fetched_at.isoformat(),
                exc_info=True,
            )
            return False

    async def _read_store(self, load: Callable[[str], Awaitable[T]], steam_id: str) -> T | None:
        """`load(steam_id)`, or None (logged at ERROR) when the store fails."""
        try:
            return await load(steam_id)
        except StoreError:
            log.error("reading the stored copy of %s failed", steam_id, exc_info=True)
            return None

    def _in_background(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `coro` to completion even if the request awaiting it is cancelled (strong reference kept)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


def _normalised(steam_id: str) -> str:
    """A SteamID64 from Steam in the normalised form the caches and the store key on (as is if it is odd)."""
    try:
        return normalise_steam_id(steam_id).value
    except InvalidPlayerError:
        return steam_id


def _adept_defs(schema: Cached[GameSchema] | None) -> tuple[AdeptDef, ...]:
    """The adepts in force: from the schema, or the built-in list when there is none (as `build_view` does)."""
    if schema is not None and schema.value.achievements:
        return adepts_from_schema(schema.value.achievements)
    return fallback_adepts()


def _view(
    states: Mapping[str, UnlockState],
    schema: Cached[GameSchema] | None,
    percents: Cached[GlobalPercentages] | None,
) -> AchievementsView:
    return build_view(
        states,
        schema.value if schema is not None else None,
        percents.value.percents if percents is not None else {},
    )


async def _optional(task: asyncio.Future[T]) -> T | None:
    """The task's result, or None when it failed: schema and percentages are best effort."""
    try:
        return await task
    except (ServiceError, SteamError) as exc:
        log.info("optional Steam data unavailable: %s", type(exc).__name__)
        return None


async def _player_verdict(
    steam_id: str,
    exc: SteamError,
    profile: Callable[[], Awaitable[PlayerSummary]],
    achievements: Callable[[], Awaitable[object]],
) -> ServiceError | None:
    """Why a stats call failed, if the failure is the player's: private, unknown or never played.

    None means Steam itself failed (a public player's stats answered with a 5xx): retrying may help. `profile`
    and `achievements` wait for those calls (shared with the request's own); only what can change the verdict
    is waited for: a server error other than Steam's ambiguous 500 is Steam's at once, and the achievements are
    asked only when the profile does not already decide.
    """
    private = ProfilePrivateError(
        f"the Steam profile {steam_id} is private: its game details cannot be read", steam_id=steam_id
    )
    if isinstance(exc, SteamProfilePrivateError):
        return private
    if isinstance(exc, SteamServerError) and exc.status != _AMBIGUOUS_SERVER_STATUS:
        return None
    summary: PlayerSummary | None
    try:
        summary = await profile()
    except PlayerNotFoundError as not_found:
        return not_found
    except (ServiceError, SteamError):
        summary = None
    if summary is not None and summary.visibility is not Visibility.PUBLIC:
        return private
    achievements_error = await _failure_of(achievements)
    if isinstance(achievements_error, SteamProfilePrivateError):
        return private  # public profile, private game details
    no_stats = NoGameStatsError(f"the Steam player {steam_id} has no Dead by Daylight stats", steam_id=steam_id)
    if isinstance(achievements_error, SteamNoStatsError):
        return no_stats
    if isinstance(exc, SteamNoStatsError) and summary is not None:
        return no_stats  # Steam answered definitively (400 {} or 200 without stats) for a public profile
    return None


async def _failure_of(call: Callable[[], Awaitable[object]]) -> Exception | None:
    """The exception `call()` ended with (None on success); a cancellation of ours propagates."""
    try:
        await call()
    except Exception as exc:
        return exc
    return None


__all__ = ["Answer", "Clock", "Flight", "Origin", "Part", "PlayerFetcher", "Served", "SharedFetch"]
