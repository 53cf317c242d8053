"""How fresh a caller wants a player's parts (`max_age`), and the stored copies young enough to stand in.

`max_age` is in seconds; None leaves it to the cache TTLs (the behaviour without the field). The caches apply it
themselves (`SharedFetch.get(..., max_age=)`): a kept answer not younger than `max_age` is fetched again, and 0
fetches every part live, joined with a fetch already in flight. What they cannot do is reach past their TTL: a
leaderboard that accepts hour-old data should not cost Steam a call every 30 s. So with a positive `max_age`,
before any Steam call, the store's copies are looked at; when both the stats snapshot and the achievements are
younger than `max_age` (and neither part is kept young enough or in flight, which is fresher), they are served
as they are: STORED with their own fetch times, not stale (the caller accepted that age), the profile the stats
snapshot was saved with, the schema and percentages of the catalog. Otherwise the parts are fetched as usual.

Those copies were saved from a public profile's answers no older than the caller accepts, as a cache hit of
that age would be; the player errors of the normal path (private, not found) are Steam's word on a fresh call.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime
from typing import TypeVar

from dbd_playerstats.cache.catalog import Cached
from dbd_playerstats.domain.achievements import build_view
from dbd_playerstats.domain.model import AchievementsPart, Provenance, Source, StatsPart
from dbd_playerstats.errors import ServiceError
from dbd_playerstats.service.fetcher import Part, PlayerFetcher
from dbd_playerstats.steam.errors import SteamError
from dbd_playerstats.steam.models import GameSchema, GlobalPercentages
from dbd_playerstats.store import StatsSnapshot, StoredAchievements
from dbd_playerstats.upstream.deadline import Deadline

log = logging.getLogger(__name__)

T = TypeVar("T")
StoredParts = tuple[StatsPart, AchievementsPart]


class PlayerParts:
    """One player's parts as fresh as the caller asks: the store's young copies, else the fetcher's."""

    def __init__(self, fetcher: PlayerFetcher) -> None:
        self._fetcher = fetcher

    async def stream(self, player: str, deadline: Deadline, max_age: float | None) -> AsyncIterator[Part]:
        """The StatsPart, then the AchievementsPart of `player`, none older than `max_age` seconds when given."""
        steam_id = await self._fetcher.resolve_id(player, deadline)
        stored = await self.stored(steam_id, deadline, max_age)
        async for part in self.stream_resolved(steam_id, deadline, max_age, stored):
            yield part

    async def stream_resolved(
        self, steam_id: str, deadline: Deadline, max_age: float | None, stored: StoredParts | None
    ) -> AsyncIterator[Part]:
        """The parts of a resolved player: `stored` (from `stored()`) when there are, else the fetcher's."""
        if stored is not None:
            for part in stored:
                yield part
            return
        async for part in self._fetcher.stream(steam_id, deadline, max_age):
            yield part

    async def stored(self, steam_id: str, deadline: Deadline, max_age: float | None) -> StoredParts | None:
        """Both parts from the store when `max_age` is positive, neither part is kept younger than it or in
        flight, and both stored copies are younger than it; else None (fetch as usual)."""
        fetcher = self._fetcher
        store = fetcher.store  # its reads answer None when the store fails (logged): fetched as usual then
        if store is None or not max_age:
            return None
        for shared in (fetcher.stats, fetcher.achievements):
            if shared.kept(steam_id, max_age) or shared.in_flight(steam_id):
                return None
        stats = await store.load_stats(steam_id)
        achievements = await store.load_achievements(steam_id) if stats is not None else None
        if stats is None or achievements is None or not self._young(stats, achievements, max_age):
            return None
        return await self._parts(stats, achievements, deadline)

    async def from_store(self, steam_id: str, deadline: Deadline) -> StoredParts | None:
        """Both parts as the store has them, whatever their age (None when either is missing or unreadable):
        how a replica that does not lead a watched player's looks sees the look another replica made."""
        store = self._fetcher.store
        if store is None:
            return None
        stats = await store.load_stats(steam_id)
        achievements = await store.load_achievements(steam_id) if stats is not None else None
        if stats is None or achievements is None:
            return None
        return await self._parts(stats, achievements, deadline)

    def _young(self, stats: StatsSnapshot, achievements: StoredAchievements, max_age: float) -> bool:
        now = self._fetcher.clock()
        return all(_age_secs(now, at) < max_age for at in (stats.fetched_at, achievements.last_snapshot_at))

    async def _parts(self, stats: StatsSnapshot, achievements: StoredAchievements, deadline: Deadline) -> StoredParts:
        catalog = self._fetcher.catalog
        schema: Cached[GameSchema] | None = await _optional(catalog.schema.get(deadline))
        percents: Cached[GlobalPercentages] | None = await _optional(catalog.percentages.get(deadline))
        view = build_view(
            achievements.states,
            schema.value if schema is not None else None,
            percents.value.percents if percents is not None else {},
        )
        return (
            StatsPart(profile=stats.profile, stats=stats.stats, provenance=Provenance(Source.STORED, stats.fetched_at)),
            AchievementsPart(achievements=view, provenance=Provenance(Source.STORED, achievements.last_snapshot_at)),
        )


def _age_secs(now: datetime, then: datetime) -> float:
    return (now - then).total_seconds()


async def _optional(call: Awaitable[T]) -> T | None:
    """The call's result, or None when it failed: schema and percentages are best effort."""
    try:
        return await call
    except (ServiceError, SteamError) as exc:
        log.info("optional Steam data unavailable: %s", type(exc).__name__)
        return None


__all__ = ["PlayerParts", "StoredParts"]
