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

Coalescing and caching (one replica; `PLAYERSTATS_CACHE_*`): each per-player Steam call goes through a
`dbd_playerstats.cache.shared_fetch.SharedFetch`, one per endpoint (concurrent identical calls share one upstream fetch;
answers are kept for the endpoint's TTL and served as CACHE with their original fetched_at).

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
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any, Final, TypeVar

import grpc
from opentelemetry import trace
from opentelemetry.trace import Tracer

from dbd_playerstats.cache.catalog import Cached, Catalog
from dbd_playerstats.cache.shared_fetch import Answer, Clock, Fetch, Flight, Served, SharedFetch, utc_now
from dbd_playerstats.config.settings import CacheSettings, StoreSettings
from dbd_playerstats.domain.achievements import UnlockState, build_view, unlock_states
from dbd_playerstats.domain.adepts import AdeptDef, adepts_from_schema, fallback_adepts
from dbd_playerstats.domain.model import AchievementsPart, AchievementsView, Provenance, Source, StatsPart, Unavailable
from dbd_playerstats.domain.players import SteamId, Vanity, normalise_steam_id, parse_player
from dbd_playerstats.errors import (
    InvalidPlayerError,
    NoGameStatsError,
    PlayerNotFoundError,
    ProfilePrivateError,
    ServiceError,
    public_message,
    retry_after_of,
    status_for,
)
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
from dbd_playerstats.telemetry.recording import record_merge_decision, record_store_error
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.protocol import Upstream, rejects_now

log = logging.getLogger(__name__)

T = TypeVar("T")
V = TypeVar("V")
W = TypeVar("W")
Part = StatsPart | AchievementsPart

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
        clock: Clock = utc_now,
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
        """Yield the StatsPart, then the AchievementsPart; raise when the stats cannot be served.

        The stats call starts first (the first part waits for it), then profile, achievements, schema and
        percentages. While the stats breaker is open (and the stats are not kept), the others start only once
        stored stats are found to stand in: without them the request fails at once, costing Steam nothing.
        """
        steam_id = await self.resolve_id(player, deadline)
        tasks: list[asyncio.Future[object]] = []

        def start(coro: Awaitable[T]) -> asyncio.Future[T]:
            task = asyncio.ensure_future(coro)
            tasks.append(task)  # type: ignore[arg-type]
            return task

        def lazily(make: Callable[[], Awaitable[T]]) -> Callable[[], asyncio.Future[T]]:
            """A function starting `make()` as a task on its first call and returning that task on each."""
            started: list[asyncio.Future[T]] = []

            def task() -> asyncio.Future[T]:
                if not started:
                    started.append(start(make()))
                return started[0]

            return task

        try:
            fail_fast = (
                not self.stats.kept(steam_id)
                and not self.stats.in_flight(steam_id)
                and rejects_now(self._upstream, "stats", steam_id=steam_id) is not None
            )
            stats_task = start(self.stats.get(steam_id, deadline))
            profile = lazily(lambda: self.profiles.get(steam_id, deadline))
            achievements = lazily(lambda: self.achievements.get(steam_id, deadline))
            schema = lazily(lambda: self._catalog.schema.get(deadline))
            percents = lazily(lambda: self._catalog.percentages.get(deadline))
            if not fail_fast:
                for begin in (profile, achievements, schema, percents):
                    begin()
            stats_part, saving = await self._stats_part(steam_id, stats_task, profile)
            yield stats_part
            if saving is not None:
                # Saved while the caller reads the first part; stored before the stream can end.
                await asyncio.shield(saving)
            yield await self._achievements_part(steam_id, achievements(), schema(), percents())
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
        profile_task: Callable[[], asyncio.Future[Served[PlayerSummary, None]]],
    ) -> tuple[StatsPart, asyncio.Future[bool] | None]:
        """The first part, and the task saving its answer when there is a store (once per answer)."""
        try:
            served = await stats_task
        except (ServiceError, SteamError) as exc:
            return await self._stored_stats_part(steam_id, exc, profile_task), None
        profile = (await profile_task()).answer.value
        answer = served.answer
        if self._store is not None and answer.write is None:
            snapshot = StatsSnapshot(profile, answer.value.stats, answer.fetched_at)
            answer.write = self._in_background(self._save_stats(steam_id, snapshot))
        provenance = Provenance(served.source, answer.fetched_at)
        part = StatsPart(profile=profile, stats=answer.value.stats, provenance=provenance, memo=answer.memo)
        return part, answer.write

    async def _stored_stats_part(
        self,
        steam_id: str,
        failure: ServiceError | SteamError,
        profile_task: Callable[[], asyncio.Future[Served[PlayerSummary, None]]],
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
            profile = (await profile_task()).answer.value
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
        memo = answer.memo
        steam_states = memo.get("states", (), lambda: unlock_states(answer.value.achievements))

        def view_of(owner: object, states: Mapping[str, UnlockState]) -> AchievementsView:
            """The view of `states` (those of `owner`: the answer or a merge result), built once per answer."""
            return memo.get("view", (owner, schema, percents), lambda: _view(states, schema, percents))

        fresh = Provenance(served.source, answer.fetched_at)
        if self._store is None:
            return AchievementsPart(achievements=view_of(answer, steam_states), provenance=fresh, memo=memo)
        if answer.write is None:  # the first request serving this answer merges it; the others share the result
            answer.write = self._in_background(
                self._merge(steam_id, Snapshot(steam_states, answer.fetched_at, _adept_defs(schema)))
            )
        result = await asyncio.shield(answer.write)
        if result is None:  # the store failed (logged): serve Steam's answer as if there were no store
            return AchievementsPart(achievements=view_of(answer, steam_states), provenance=fresh, memo=memo)
        if result.decision.accepted and result.state is not None:
            view = view_of(result.state, result.state.states)
            return AchievementsPart(achievements=view, provenance=fresh, memo=memo)
        rejected = Unavailable(
            grpc.StatusCode.UNAVAILABLE,
            _REJECTED_REASON,
            f"Steam's achievements for {steam_id} were not accepted ({result.reason})",
            None,
        )
        if result.state is None:
            return AchievementsPart(achievements=None, provenance=None, unavailable=rejected)
        return AchievementsPart(
            achievements=view_of(result.state, result.state.states),
            provenance=self._stored_provenance(result.state),
            unavailable=None if result.decision is Decision.REJECTED_OUT_OF_ORDER else rejected,
            memo=memo,
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
            record_store_error("merge")
            log.error(
                "achievements snapshot of %s (%d achievements, fetched %s) NOT stored: the store failed",
                steam_id,
                len(snapshot.states),
                snapshot.fetched_at.isoformat(),
                exc_info=True,
            )
            return None
        record_merge_decision(result.decision.value)
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
            record_store_error("save_stats")
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
            record_store_error("read")
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


__all__ = ["Clock", "Part", "PlayerFetcher"]
