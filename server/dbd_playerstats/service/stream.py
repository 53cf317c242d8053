"""One request, top to bottom: which Steam calls it makes, in what order, and the parts it yields.

For a stream, after the player is resolved, five logical calls start at once: stats first (the first part waits
for it), then profile, achievements, schema and global percentages (the last two served by the catalog,
refreshed in the background). The first part is sent as soon as profile and stats are in (cached or live); the
second when achievements (plus schema and percentages, best effort) are. While the stats breaker is open (and
the stats are not kept), the others start only once stored stats are found to stand in: without them the
request fails at once, costing Steam nothing. A caller's `max_age` (seconds; None: the cache TTLs decide)
refuses kept profile, stats and achievements answers not younger than that (0: each is fetched live, or joined
with a fetch in flight). `stand_in` False (a watch) never serves stored stats for failed ones: it raises.

What each call does is in `steam_calls` (and `verdict` for a failed stats call); how the parts are built, with
the store, in `parts` and `store_guard`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from dbd_playerstats.cache.catalog import Catalog
from dbd_playerstats.domain.model import AchievementsPart, StatsPart
from dbd_playerstats.service.parts import PartBuilder
from dbd_playerstats.service.steam_calls import SteamCalls
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.protocol import Upstream, rejects_now

T = TypeVar("T")
Part = StatsPart | AchievementsPart


async def stream_parts(
    player: str,
    deadline: Deadline,
    *,
    calls: SteamCalls,
    catalog: Catalog,
    upstream: Upstream,
    parts: PartBuilder,
    max_age: float | None = None,
    stand_in: bool = True,
) -> AsyncIterator[Part]:
    """Yield the StatsPart, then the AchievementsPart of `player`; raise when the stats cannot be served."""
    steam_id = await calls.resolve_id(player, deadline)
    if _all_kept(steam_id, calls, catalog, max_age):
        async for part in _kept_parts(steam_id, deadline, calls=calls, catalog=catalog, parts=parts, max_age=max_age):
            yield part
        return
    tasks = _Tasks()
    try:
        fail_fast = (
            not calls.stats.kept(steam_id, max_age)
            and not calls.stats.in_flight(steam_id)
            and rejects_now(upstream, "stats", steam_id=steam_id) is not None
        )
        stats = tasks.start(calls.stats.get(steam_id, deadline, max_age=max_age))
        profile = tasks.lazily(lambda: calls.profiles.get(steam_id, deadline, max_age=max_age))
        achievements = tasks.lazily(lambda: calls.achievements.get(steam_id, deadline, max_age=max_age))
        schema = tasks.lazily(lambda: catalog.schema.get(deadline))
        percents = tasks.lazily(lambda: catalog.percentages.get(deadline))
        if not fail_fast:
            for begin in (profile, achievements, schema, percents):
                begin()
        stats_part, saving = await parts.stats_part(steam_id, stats, profile, stand_in=stand_in)
        yield stats_part
        if saving is not None:
            # Saved while the caller reads the first part; stored before the stream can end (or, if the store
            # hangs, given up waiting for after the store timeout: the save goes on in the background).
            await parts.saved(steam_id, saving)
        yield await parts.achievements_part(steam_id, achievements(), schema(), percents())
    finally:
        await tasks.close()


async def _kept_parts(
    steam_id: str, deadline: Deadline, *, calls: SteamCalls, catalog: Catalog, parts: PartBuilder, max_age: float | None
) -> AsyncIterator[Part]:
    """Both parts of a cache hit of every call: each `get` returns without suspending, so no task is started
    (five tasks per hit were most of its cost after the mapping: issue 12's profile of row 3)."""
    stats = _done(await calls.stats.get(steam_id, deadline, max_age=max_age))
    profile = _done(await calls.profiles.get(steam_id, deadline, max_age=max_age))
    stats_part, saving = await parts.stats_part(steam_id, stats, lambda: profile)
    yield stats_part
    if saving is not None:
        await parts.saved(steam_id, saving)
    achievements = _done(await calls.achievements.get(steam_id, deadline, max_age=max_age))
    schema, percents = _done(await catalog.schema.get(deadline)), _done(await catalog.percentages.get(deadline))
    yield await parts.achievements_part(steam_id, achievements, schema, percents)


def _all_kept(steam_id: str, calls: SteamCalls, catalog: Catalog, max_age: float | None) -> bool:
    """Whether every call of the stream would be answered from what is kept, without Steam or a wait."""
    return (
        calls.stats.kept(steam_id, max_age)
        and calls.profiles.kept(steam_id, max_age)
        and calls.achievements.kept(steam_id, max_age)
        and catalog.schema.peek() is not None
        and catalog.percentages.peek() is not None
    )


def _done(value: T) -> asyncio.Future[T]:
    """A future already holding `value` (what the parts builder awaits)."""
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


class _Tasks:
    """The tasks one request started: cancelled, and their outcomes retrieved, when it ends."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Future[object]] = []

    def start(self, coro: Awaitable[T]) -> asyncio.Future[T]:
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)  # type: ignore[arg-type]
        return task

    def lazily(self, make: Callable[[], Awaitable[T]]) -> Callable[[], asyncio.Future[T]]:
        """A function starting `make()` as a task on its first call and returning that task on each."""
        started: list[asyncio.Future[T]] = []

        def task() -> asyncio.Future[T]:
            if not started:
                started.append(self.start(make()))
            return started[0]

        return task

    async def close(self) -> None:
        for task in self._tasks:
            if not task.done():
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                # Retrieve every outcome so none is logged as "exception was never retrieved".
                await task


__all__ = ["Part", "stream_parts"]
