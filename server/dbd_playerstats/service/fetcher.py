"""The service's face to the servicer and the app: `PlayerFetcher` wires one request's pieces together.

A request reads top to bottom in `stream` (the calls it starts, in order, and the parts it yields); the pieces:
`steam_calls` (the per-player Steam calls, shared and cached), `verdict` (whose fault a failed stats call is),
`parts` (the two parts, with stored stand-ins) and `store_guard` (writes once per answer; a store failure never
fails a request).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from opentelemetry import trace
from opentelemetry.trace import Tracer

from dbd_playerstats.cache.catalog import Catalog
from dbd_playerstats.config.settings import CacheSettings, StoreSettings
from dbd_playerstats.domain.clock import UtcClock, utc_now
from dbd_playerstats.service.kept import KeptRequest, kept_request
from dbd_playerstats.service.parts import PartBuilder
from dbd_playerstats.service.retention import HistoryPruner
from dbd_playerstats.service.steam_calls import SteamCalls
from dbd_playerstats.service.store_guard import StoreGuard
from dbd_playerstats.service.stream import Part, stream_parts
from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.steam.models import PlayerSummary
from dbd_playerstats.store import AchievementStore, MergePolicy
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.protocol import Upstream

_STORE_DEFAULTS: Final = StoreSettings()  # defaults live in settings.py


class PlayerFetcher:
    """Answers one player request from Steam through the upstream policy, shared, cached and checked against
    the store.

    `store` None keeps no memory (achievements are served as Steam sent them, failures are not covered);
    `merge_policy` decides which snapshots are merged; `stale_stats_max_age_secs` bounds the age of stored stats
    served when Steam is down; `store_timeout_secs` bounds each wait for the store; `history_retention_days`
    is how long history is kept (pruned by `start_background`'s loop); `cache` sets the TTLs and
    bounds of the per-player caches (None: the defaults; the catalog has its own); `tracer` makes the
    ``coalesced.wait`` spans (None: none); `clock` gives the wall-clock UTC time (fetch times, merge times, ages);
    `traced` False (no span is ever exported) spares `kept` its look at the current span.
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
        store_timeout_secs: float = _STORE_DEFAULTS.timeout_secs,
        history_retention_days: float = _STORE_DEFAULTS.history_retention_days,
        cache: CacheSettings | None = None,
        tracer: Tracer | None = None,
        clock: UtcClock = utc_now,
        traced: bool = True,
    ) -> None:
        policy = merge_policy if merge_policy is not None else MergePolicy()
        self._upstream = upstream
        self._catalog = catalog
        self._calls = SteamCalls(
            steam,
            upstream,
            cache=cache if cache is not None else CacheSettings(),
            tracer=tracer if tracer is not None else trace.NoOpTracer(),
            clock=clock,
        )
        self._guard = StoreGuard(store, policy, clock, timeout_secs=store_timeout_secs) if store is not None else None
        self._parts = PartBuilder(
            self._guard,
            max_snapshot_age_secs=policy.max_snapshot_age_secs,
            stale_stats_max_age_secs=stale_stats_max_age_secs,
            clock=clock,
        )
        # The per-endpoint shared fetches, for whoever needs to see what is kept or in flight.
        self.vanities = self._calls.vanities
        self.profiles = self._calls.profiles
        self.stats = self._calls.stats
        self.achievements = self._calls.achievements
        # For `freshness` and `lobby`: the lobby's profile batches, the store's copies, the catalog, the clock.
        self.summaries = self._calls.summaries
        self.store = self._guard
        self._pruner = HistoryPruner(self._guard, history_retention_days) if self._guard is not None else None
        self.catalog = catalog
        self.traced = traced  # spans may be exported: a request whose span records is never served by `kept`
        self.clock = clock

    def stream(
        self, player: str, deadline: Deadline, max_age: float | None = None, *, stand_in: bool = True
    ) -> AsyncIterator[Part]:
        """Yield the StatsPart, then the AchievementsPart; raise when the stats cannot be served (see
        `dbd_playerstats.service.stream`; `max_age` in seconds, None: the cache TTLs decide; `stand_in` False:
        no stored stats for failed ones)."""
        return stream_parts(
            player,
            deadline,
            calls=self._calls,
            catalog=self._catalog,
            upstream=self._upstream,
            parts=self._parts,
            max_age=max_age,
            stand_in=stand_in,
        )

    def kept(self, player: str) -> KeptRequest | None:
        """What a request for `player` without `max_age` would be served from now, if only kept answers; its
        response is kept with them (`dbd_playerstats.service.kept`)."""
        return kept_request(player, self._calls, self._catalog, with_store=self._guard is not None, traced=self.traced)

    async def resolve_id(self, player: str, deadline: Deadline) -> str:
        """The normalised SteamID64 the `player` field names (one vanity call when it is a name not kept)."""
        return await self._calls.resolve_id(player, deadline)

    async def resolve(self, player: str, deadline: Deadline) -> PlayerSummary:
        """The player's public profile; PlayerNotFoundError when Steam knows no such account."""
        steam_id = await self._calls.resolve_id(player, deadline)
        return (await self._calls.profiles.get(steam_id, deadline)).answer.value

    async def wait_for_store_writes(self) -> None:
        """Wait until every store write started so far has finished (they outlive cancelled requests)."""
        if self._guard is not None:
            await self._guard.wait_for_writes()

    def start_background(self) -> None:
        """Start the background work that belongs to no request (history pruning)."""
        if self._pruner is not None:
            self._pruner.start()

    async def aclose(self) -> None:
        """Cancel background work (catalog refreshes, pruning, fetches in flight) once no request is served."""
        if self._pruner is not None:
            await self._pruner.aclose()
        await self._catalog.aclose()
        await self._calls.aclose()


__all__ = ["Part", "PlayerFetcher"]
