"""Watching players (WatchPlayer): one poller per watched player, shared by every watcher of this replica.

However many callers watch one player, the player is looked at once per interval (the shortest any of its
watchers asked for, at least PLAYERSTATS_WATCH_MIN_INTERVAL_SECS): one task per player makes the look, a live
fetch of both parts through the same coalescing, budget and breaker as every request (`max_age` 0), and hands
its events (`watch_events`) to every watcher's queue. A watcher that joins a poller with a successful look gets
that look as its snapshot at once, without a Steam call. The pollers run in an empty context: their Steam calls
belong to no request (no caller's quota pays for them, no RPC's trace holds them).

All polling together may spend at most PLAYERSTATS_WATCH_BUDGET_SHARE of RATE_LIMIT_PER_MIN (a look costs three
calls: profile, stats, achievements): a token bucket of that rate paces the looks, so with many watched players
intervals stretch instead of starving ordinary requests, and `observed_at` shows when each look was made. A
caller may hold PLAYERSTATS_WATCH_MAX_PER_CALLER watches at once (WATCH_LIMIT_EXCEEDED beyond). `close` (server
shutdown) ends every watch with SHUTTING_DOWN (UNAVAILABLE).

Across replicas (REDIS_URL with a shared store, DATABASE_URL): before each look a poller takes or renews its
player's lease (`upstream/watch_lease.py`); the holder asks Steam, the others read that look from the store each
interval (the holder's answers are saved there before its look ends), so the replicas ask Steam once per
interval between them and their watchers see the same events, at most one interval later. Without the lease
(no Redis, or Redis away) each replica looks for its own watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final

from dbd_playerstats.config.settings import WatchSettings
from dbd_playerstats.domain.clock import UtcClock, utc_now
from dbd_playerstats.domain.model import StatsPart
from dbd_playerstats.errors import ServiceError, ShuttingDownError, WatchLimitExceededError
from dbd_playerstats.service.fetcher import PlayerFetcher
from dbd_playerstats.service.freshness import PlayerParts
from dbd_playerstats.service.watch_events import Look, Problem, Snapshot, WatchEvent, changes
from dbd_playerstats.steam.errors import SteamError
from dbd_playerstats.upstream.deadline import Clock, Deadline
from dbd_playerstats.upstream.policy import RateLimitPolicy
from dbd_playerstats.upstream.ratelimit import InMemoryTokenBucket
from dbd_playerstats.upstream.retry import Sleep
from dbd_playerstats.upstream.watch_lease import WatchLeases

log = logging.getLogger(__name__)

CALLS_PER_LOOK: Final = 3
LEASE_INTERVALS: Final = 3  # a lease outlives its holder's looks by two intervals


@dataclass(eq=False)
class _Watcher:
    interval_secs: float
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)  # None: the server stops
    has_snapshot: bool = False

    def send(self, event: WatchEvent) -> None:
        self.queue.put_nowait(event)


class Watches:
    """Every watch of this replica (see the module docstring)."""

    def __init__(
        self,
        fetcher: PlayerFetcher,
        settings: WatchSettings,
        *,
        steam_budget_per_min: float,
        look_timeout_secs: float,
        leases: WatchLeases | None = None,
        clock: UtcClock = utc_now,
    ) -> None:
        self._fetcher = fetcher
        self._leases = leases
        self._stored = PlayerParts(fetcher)
        self._settings = settings
        self._look_timeout_secs = look_timeout_secs
        self._clock = clock
        self._pacer = LookPacer(settings.budget_share * steam_budget_per_min / CALLS_PER_LOOK)
        self._pollers: dict[str, _Poller] = {}
        self._per_caller: Counter[str] = Counter()
        self._closed = False

    def interval_for(self, asked_secs: float | None) -> float:
        """The interval a watch gets: the default when none is asked, raised to the minimum."""
        asked = self._settings.default_interval_secs if asked_secs is None else asked_secs
        return max(asked, self._settings.min_interval_secs)

    async def watch(
        self, player: str, asked_interval_secs: float | None, *, caller: str, deadline: Deadline
    ) -> AsyncIterator[WatchEvent]:
        """The events of one watch of `player` until the caller goes away or the server stops."""
        if self._closed:
            raise ShuttingDownError("the server is stopping; watch again in a moment (another replica)")
        limit = self._settings.max_per_caller
        if self._per_caller[caller] >= limit:
            raise WatchLimitExceededError(f"caller {caller} already holds {limit} open watches, the most it may")
        steam_id = await self._fetcher.resolve_id(player, deadline)
        watcher = _Watcher(self.interval_for(asked_interval_secs))
        self._per_caller[caller] += 1
        poller = self._poller(steam_id)
        poller.add(watcher)
        try:
            while True:
                event = await watcher.queue.get()
                if event is None:
                    raise ShuttingDownError(
                        "the server is stopping; watch again in a moment (another replica)", steam_id=steam_id
                    )
                yield event
        finally:
            self._per_caller[caller] -= 1
            if not self._per_caller[caller]:
                del self._per_caller[caller]
            poller.remove(watcher)

    async def close(self) -> None:
        """End every watch (SHUTTING_DOWN) and stop the pollers; new watches are refused."""
        self._closed = True
        pollers = list(self._pollers.values())
        for poller in pollers:
            poller.close()
        for poller in pollers:
            await poller.stopped()

    async def turn(self) -> None:
        """Wait for the watches' share of the Steam budget to allow one more look."""
        await self._pacer.turn()

    async def leads(self, steam_id: str, interval_secs: float) -> bool:
        """Whether this replica makes the next look at `steam_id` (always, without shared leases)."""
        if self._leases is None:
            return True
        return await self._leases.hold(steam_id, LEASE_INTERVALS * interval_secs)

    async def stored_look(self, steam_id: str) -> Look | None:
        """The look the leading replica made, as the shared store has it (None until there is one)."""
        parts = await self._stored.from_store(steam_id, Deadline.after(self._look_timeout_secs))
        if parts is None:
            return None
        stats, achievements = parts
        return Look(stats.provenance.fetched_at, stats, achievements)

    async def look(self, steam_id: str) -> Look | Problem:
        """One live look at both parts; a failure is a Problem."""
        deadline = Deadline.after(self._look_timeout_secs)
        stats = achievements = None
        try:
            async for part in self._fetcher.stream(steam_id, deadline, max_age=0, stand_in=False):
                if isinstance(part, StatsPart):
                    stats = part
                else:
                    achievements = part
        except (ServiceError, SteamError) as exc:
            return Problem(self._clock(), exc)
        assert stats is not None, "a stream yields both parts or raises"
        assert achievements is not None, "a stream yields both parts or raises"
        return Look(self._clock(), stats, achievements)

    def _poller(self, steam_id: str) -> _Poller:
        poller = self._pollers.get(steam_id)
        if poller is None:
            poller = self._pollers[steam_id] = _Poller(self, steam_id)
        return poller

    def forget(self, poller: _Poller) -> None:
        if self._pollers.get(poller.steam_id) is poller:
            del self._pollers[poller.steam_id]


class LookPacer:
    """The watches' share of the Steam budget, in looks: `looks_per_min` a minute, a minute's worth at once.

    Every look takes a token, waiting for it when none is left (the looks queue in order: intervals stretch)."""

    def __init__(self, looks_per_min: float, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        policy = RateLimitPolicy(per_min=looks_per_min, burst=max(1, int(looks_per_min)))
        self._bucket = InMemoryTokenBucket(policy, clock=clock)
        self._sleep = sleep

    async def turn(self) -> float:
        """Wait for this look's token; the seconds waited."""
        reservation = self._bucket.try_reserve(math.inf)
        if reservation.wait_secs > 0:
            await self._sleep(reservation.wait_secs)
        return max(0.0, reservation.wait_secs)


class _Poller:
    """The looks at one player and their fan-out to its watchers."""

    def __init__(self, watches: Watches, steam_id: str) -> None:
        self._watches = watches
        self.steam_id = steam_id
        self._watchers: set[_Watcher] = set()
        self._last: Look | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, watcher: _Watcher) -> None:
        self._watchers.add(watcher)
        if self._last is not None:
            watcher.send(Snapshot(self._last))
            watcher.has_snapshot = True
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), name=f"watch-{self.steam_id}", context=contextvars.Context())

    def remove(self, watcher: _Watcher) -> None:
        self._watchers.discard(watcher)
        if not self._watchers:
            # Forgotten at once: a watcher arriving while this task winds down gets a poller of its own.
            self._watches.forget(self)
            if self._task is not None:
                self._task.cancel()

    def close(self) -> None:
        for watcher in self._watchers:
            watcher.queue.put_nowait(None)
        if self._task is not None:
            self._task.cancel()

    async def stopped(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._watchers:
                interval = min((w.interval_secs for w in self._watchers), default=0.0)
                started = loop.time()
                if await self._watches.leads(self.steam_id, interval):
                    await self._watches.turn()
                    started = loop.time()
                    self._fan_out(await self._watches.look(self.steam_id))
                elif (stored := await self._watches.stored_look(self.steam_id)) is not None:
                    self._fan_out(stored)
                await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
        finally:
            self._watches.forget(self)

    def _fan_out(self, result: Look | Problem) -> None:
        if isinstance(result, Problem):
            for watcher in self._watchers:
                watcher.send(result)
            return
        events: list[WatchEvent] = []
        if result.achievements.unavailable is not None:
            events.append(Problem(result.at, result.achievements.unavailable))
        if result.achievements.achievements is None and self._last is not None:
            result = Look(result.at, result.stats, self._last.achievements)  # keep the last known unlocks
        if self._last is not None:
            if result.at <= self._last.at:
                return  # (a stored look) nothing newer than what the watchers have
            events.extend(changes(self._last, result))
        self._last = result
        for watcher in self._watchers:
            if not watcher.has_snapshot:
                watcher.send(Snapshot(result))
                watcher.has_snapshot = True
                continue
            for event in events:
                watcher.send(event)


__all__ = ["CALLS_PER_LOOK", "LEASE_INTERVALS", "LookPacer", "Watches"]
