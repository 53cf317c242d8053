"""Game-wide data every request needs (achievement schema, global percentages), kept in process.

Both change rarely and cost a Steam call each, so they are cached for hours (`PLAYERSTATS_CACHE_CATALOG_TTL_SECS`)
and refreshed in the background: once a value is loaded no request waits for Steam again. The first load is
shared by every caller that needs it; a refresh that fails keeps serving the previous value (a schema from an
hour ago beats no adepts at all), and with no previous value the failure is returned so the caller can fall
back to the built-in adepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Generic, TypeVar

from dbd_playerstats.config.settings import CacheSettings, ResilienceSettings
from dbd_playerstats.errors import DeadlineExceededError
from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.steam.models import GameSchema, GlobalPercentages
from dbd_playerstats.telemetry.recording import record_cache_lookup, record_event
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.protocol import Upstream

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TTL_SECS: Final = CacheSettings().catalog_ttl_secs  # defaults live in settings.py
DEFAULT_LOAD_TIMEOUT_SECS: Final = ResilienceSettings().overall_timeout_secs
REFRESH_AHEAD: Final = 0.9
"""A value is due for its background refresh at this fraction of its TTL, so it is replaced before it expires."""
MAX_RETRY_SECS: Final = 60.0
"""After a failed load the next one starts no sooner than min(this, TTL) later: Steam being down is not hammered."""


@dataclass(frozen=True, slots=True)
class Cached(Generic[T]):
    """A value with the wall-clock time Steam produced it."""

    value: T
    fetched_at: datetime


class RefreshingValue(Generic[T]):
    """One game-wide value, cached `ttl_secs` and refreshed in the background before it expires.

    - Nothing loaded yet: callers share one load and wait for it, each at most until its own deadline
      (DeadlineExceededError; the load goes on for the others). Its failure is theirs; nothing is kept.
    - Loaded less than REFRESH_AHEAD x `ttl_secs` ago: served as is.
    - Older, and also past `ttl_secs`: still served at once, and one refresh starts in the background, detached
      from the request that noticed (its ``steam.<endpoint>`` span is the root of its own trace). A refresh that
      fails keeps the old value; the next is not tried before min(MAX_RETRY_SECS, `ttl_secs`) have passed.
    - `ttl_secs` 0: nothing is kept; every get waits for a load (concurrent gets share one).

    Loads run with their own deadline of `load_timeout_secs`, never a caller's. `clock` (monotonic seconds)
    measures ages; `name` labels the cache in traces and metrics ("schema", "rarity").
    """

    def __init__(
        self,
        name: str,
        fetch: Callable[[Deadline], Awaitable[T]],
        *,
        ttl_secs: float,
        clock: Callable[[], float] = time.monotonic,
        load_timeout_secs: float = DEFAULT_LOAD_TIMEOUT_SECS,
    ) -> None:
        self.name = name
        self._fetch = fetch
        self._ttl_secs = ttl_secs
        self._clock = clock
        self._load_timeout_secs = load_timeout_secs
        self._retry_secs = min(MAX_RETRY_SECS, ttl_secs)
        self._current: Cached[T] | None = None
        self._loaded_at = 0.0
        self._due_at = 0.0
        self._loading: asyncio.Task[Cached[T]] | None = None

    def peek(self) -> Cached[T] | None:
        """The value held now (None before the first successful load), without loading anything."""
        return self._current

    @property
    def refreshing(self) -> bool:
        """Whether a load is running now."""
        return self._loading is not None and not self._loading.done()

    def held(self) -> Cached[T] | None:
        """The value held now, starting its background refresh when due, as `get` does, but recording no lookup
        (None before the first successful load: `get` would wait for a load)."""
        current = self._current
        if current is not None:
            self._refresh_when_due()
        return current

    def _refresh_when_due(self) -> float:
        """Start the background refresh when it is due; the held value's age in seconds."""
        now = self._clock()
        age_secs = now - self._loaded_at
        if now >= self._due_at and not self.refreshing:
            self._start_load(detached=True)
            record_event("cache.refresh", cache=self.name, age_s=round(age_secs, 3))
        return age_secs

    async def get(self, deadline: Deadline) -> Cached[T]:
        """The value held (starting its background refresh when due), else the result of a shared load."""
        current = self._current
        if current is not None:
            age_secs = self._refresh_when_due()
            record_cache_lookup(self.name, hit=True, age_s=round(age_secs, 3), stale=age_secs >= self._ttl_secs)
            return current
        if self._ttl_secs > 0:
            record_cache_lookup(self.name, hit=False)
        loading = self._loading if self._loading is not None and self.refreshing else self._start_load(detached=False)
        waiting = asyncio.timeout(deadline.remaining())
        try:
            async with waiting:
                # shield: one caller giving up must not cancel the load others wait for.
                return await asyncio.shield(loading)
        except TimeoutError:
            if waiting.expired():
                raise DeadlineExceededError(f"no time left waiting for Steam {self.name}") from None
            raise

    async def aclose(self) -> None:
        """Cancel a load in progress (at shutdown)."""
        loading = self._loading
        if loading is not None and not loading.done():
            loading.cancel()
            with contextlib.suppress(BaseException):
                await loading

    def _start_load(self, *, detached: bool) -> asyncio.Task[Cached[T]]:
        loop = asyncio.get_running_loop()
        # A background refresh belongs to no request: an empty context gives it no parent span and no RPC metrics.
        context = contextvars.Context() if detached else None
        task = loop.create_task(self._load(), context=context)
        task.add_done_callback(_retrieve)
        self._loading = task
        return task

    async def _load(self) -> Cached[T]:
        try:
            value = await self._fetch(Deadline.after(self._load_timeout_secs))
        except Exception as exc:
            self._due_at = self._clock() + self._retry_secs
            if self._current is not None:
                log.warning(
                    "refreshing the %s failed (%s): keeping the one fetched %s",
                    self.name,
                    type(exc).__name__,
                    self._current.fetched_at.isoformat(),
                )
            raise
        cached = Cached(value, datetime.now(UTC))
        if self._ttl_secs > 0:
            now = self._clock()
            self._current = cached
            self._loaded_at = now
            self._due_at = now + self._ttl_secs * REFRESH_AHEAD
        return cached


def _retrieve(task: asyncio.Task[object]) -> None:
    """Mark a load's failure as seen: its waiters (if any) got it; a background refresh has none."""
    if not task.cancelled():
        task.exception()


class Catalog:
    """The game's schema and global achievement percentages, cached (see `RefreshingValue`)."""

    def __init__(
        self,
        steam: SteamClient,
        upstream: Upstream,
        *,
        ttl_secs: float = DEFAULT_TTL_SECS,
        clock: Callable[[], float] = time.monotonic,
        load_timeout_secs: float = DEFAULT_LOAD_TIMEOUT_SECS,
    ) -> None:
        self._steam = steam
        self._upstream = upstream
        self.schema = RefreshingValue(
            "schema", self._fetch_schema, ttl_secs=ttl_secs, clock=clock, load_timeout_secs=load_timeout_secs
        )
        self.percentages = RefreshingValue(
            "rarity", self._fetch_percentages, ttl_secs=ttl_secs, clock=clock, load_timeout_secs=load_timeout_secs
        )

    async def aclose(self) -> None:
        """Cancel the loads in progress (at shutdown)."""
        await self.schema.aclose()
        await self.percentages.aclose()

    async def _fetch_schema(self, deadline: Deadline) -> GameSchema:
        return await self._upstream.call("schema", lambda t: self._steam.get_schema(timeout=t), deadline)

    async def _fetch_percentages(self, deadline: Deadline) -> GlobalPercentages:
        return await self._upstream.call("rarity", lambda t: self._steam.get_global_percentages(timeout=t), deadline)


__all__ = ["REFRESH_AHEAD", "Cached", "Catalog", "RefreshingValue"]
