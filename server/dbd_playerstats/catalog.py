"""Game-wide data every request needs (achievement schema, global percentages), kept in process.

Both change rarely and cost a Steam call each, so they are cached for hours. Concurrent requests for an expired
entry share one refresh; a refresh that fails keeps serving the previous value (a schema from an hour ago beats
no adepts at all), and with no previous value the failure is returned so the caller can fall back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from dbd_playerstats.deadline import Deadline
from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.steam.models import GameSchema, GlobalPercentages
from dbd_playerstats.upstream import Upstream

T = TypeVar("T")

DEFAULT_TTL_SECS = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class Cached(Generic[T]):
    """A value with the wall-clock time Steam produced it."""

    value: T
    fetched_at: datetime


class RefreshingValue(Generic[T]):
    """One cached value, refreshed after `ttl_secs`, single-flight, keeping the old value on failure."""

    def __init__(self, fetch: Callable[[Deadline], Awaitable[T]], ttl_secs: float, clock: Callable[[], float]) -> None:
        self._fetch = fetch
        self._ttl_secs = ttl_secs
        self._clock = clock
        self._current: Cached[T] | None = None
        self._loaded_at = 0.0
        self._refresh: asyncio.Task[Cached[T]] | None = None

    def peek(self) -> Cached[T] | None:
        return self._current

    async def get(self, deadline: Deadline) -> Cached[T]:
        """The cached value if fresh; else the result of a (shared) refresh; else the stale value."""
        current = self._current
        if current is not None and self._clock() - self._loaded_at < self._ttl_secs:
            return current
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._load(deadline))
        try:
            # shield: one caller giving up must not cancel the refresh others wait for.
            return await asyncio.shield(self._refresh)
        except asyncio.CancelledError:
            raise
        except Exception:
            if current is not None:
                return current
            raise

    async def _load(self, deadline: Deadline) -> Cached[T]:
        value = await self._fetch(deadline)
        cached = Cached(value, datetime.now(UTC))
        self._current = cached
        self._loaded_at = self._clock()
        return cached


class Catalog:
    """The game's schema and global achievement percentages, cached."""

    def __init__(
        self,
        steam: SteamClient,
        upstream: Upstream,
        *,
        ttl_secs: float = DEFAULT_TTL_SECS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._steam = steam
        self._upstream = upstream
        self.schema = RefreshingValue(self._fetch_schema, ttl_secs, clock)
        self.percentages = RefreshingValue(self._fetch_percentages, ttl_secs, clock)

    async def _fetch_schema(self, deadline: Deadline) -> GameSchema:
        return await self._upstream.call("schema", lambda t: self._steam.get_schema(timeout=t), deadline)

    async def _fetch_percentages(self, deadline: Deadline) -> GlobalPercentages:
        return await self._upstream.call("rarity", lambda t: self._steam.get_global_percentages(timeout=t), deadline)


__all__ = ["Cached", "Catalog", "RefreshingValue"]
