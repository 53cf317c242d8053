"""The store beside a request: what Steam said is written once per upstream answer, and a store failure never
fails a request.

The first request serving an answer writes it (achievements through the safe merge, one transaction per
snapshot; stats, with their profile, as the player's last good stats snapshot); every later one, cache hits
included, serves the result of that write. Only parsed Steam values ever reach the store, and store writes run
in the background, shielded from the caller's cancellation: a cancelled request still stores what Steam said,
and `wait_for_writes` lets a stopping server commit them. A store failure is logged at ERROR and the request is
served as without a store (a merge answers None, a save False, a read None).

Every wait of a request for the store is bounded by `timeout_secs` (PLAYERSTATS_STORE_TIMEOUT_SECS; the caller's
deadline bounds it too, by cancelling the request): a store that hangs is, for the request, a store that failed
(record_store_error "timeout"). A read is abandoned; a write goes on in the background and is durable once the
store answers (`settled` only stops waiting for it), so nothing Steam said is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from dbd_playerstats.cache.shared_fetch import Answer
from dbd_playerstats.domain.clock import UtcClock
from dbd_playerstats.store import (
    AchievementStore,
    Decision,
    History,
    MergePolicy,
    MergeResult,
    Snapshot,
    StatsSnapshot,
    StoredAchievements,
    StoreError,
)
from dbd_playerstats.telemetry.recording import record_merge_decision, record_store_error

log = logging.getLogger(__name__)

T = TypeVar("T")
V = TypeVar("V")
W = TypeVar("W")


class StoreGuard:
    """Merges, saves and reads through `store` for the requests; `policy` decides which snapshots are merged and
    `clock` (wall-clock UTC) is the time a merge happens."""

    def __init__(
        self, store: AchievementStore, policy: MergePolicy, clock: UtcClock, *, timeout_secs: float = 2.0
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._timeout_secs = timeout_secs
        self._background: set[asyncio.Future[Any]] = set()

    def write_once(self, answer: Answer[V, W], write: Callable[[], Coroutine[Any, Any, W]]) -> asyncio.Task[W]:
        """The store write of `answer`: `write()` started in the background by the first request serving the
        answer, the same task for every later one."""
        if answer.write is None:
            answer.write = self._in_background(write())
        return answer.write

    async def settled(self, write: asyncio.Future[T], what: str) -> T | None:
        """The result of a background `write`, waited for at most the store timeout; None when it is not done by
        then (it goes on: durable once the store answers)."""
        if write.done():  # a cache hit's: settled long ago, nothing to wait for (the same result or exception)
            return write.result()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout_secs):
                return await asyncio.shield(write)
        record_store_error("timeout")
        log.error("%s: the store did not answer within %.3gs; serving without it", what, self._timeout_secs)
        return None

    async def wait_for_writes(self) -> None:
        """Wait until every store write started so far has finished (they outlive cancelled requests)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def merge(self, steam_id: str, snapshot: Snapshot) -> MergeResult | None:
        """Merge `snapshot` into what is stored, recording the decision (metric and span event); None when the
        store failed (logged)."""
        try:
            result = await self._store.merge_achievements(steam_id, snapshot, self._policy, now=self._clock())
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
        decision, reason = _labels(result.decision)
        record_merge_decision(
            decision,
            reason=reason,
            new_unlocks=result.counts.new_unlocks,
            rollbacks=result.counts.rollbacks,
            snapshot_size=result.counts.snapshot_size,
        )
        if result.decision is Decision.ACCEPTED:
            log.debug("achievements of %s merged: %s", steam_id, result.reason)
        else:
            log.warning("achievements of %s: %s", steam_id, result.reason)
        return result

    async def save_stats(self, steam_id: str, snapshot: StatsSnapshot) -> bool:
        """Save `snapshot` as the player's last good stats; False when the store failed (logged)."""
        try:
            return await self._store.save_stats(steam_id, snapshot)
        except StoreError:
            record_store_error("save_stats")
            log.error(
                "stats snapshot of %s (fetched %s) NOT stored: the store failed",
                steam_id,
                snapshot.fetched_at.isoformat(),
                exc_info=True,
            )
            return False

    async def load_stats(self, steam_id: str) -> StatsSnapshot | None:
        """The player's last good stats snapshot; None when there is none or the store failed (logged)."""
        return await self._read(self._store.load_stats, steam_id)

    async def load_achievements(self, steam_id: str) -> StoredAchievements | None:
        """The player's stored achievements; None when there are none or the store failed (logged)."""
        return await self._read(self._store.load_achievements, steam_id)

    async def load_history(self, steam_id: str, since: datetime | None) -> History:
        """The player's history (issue 15's GetPlayerHistory); StoreError when the store fails or does not
        answer within the store timeout: history has no other source, so the caller is told."""
        try:
            async with asyncio.timeout(self._timeout_secs):
                return await self._store.load_history(steam_id, since=since)
        except TimeoutError:
            record_store_error("timeout")
            raise StoreError(f"the store did not answer within {self._timeout_secs:.3g}s") from None
        except StoreError:
            record_store_error("read")
            raise

    async def prune_history(self, before: datetime) -> None:
        """Delete history older than `before`; a store failure is logged (the next prune tries again)."""
        try:
            await self._store.prune_history(before=before)
        except StoreError:
            record_store_error("prune")
            log.error("pruning history older than %s failed", before.isoformat(), exc_info=True)

    async def _read(self, load: Callable[[str], Awaitable[T]], steam_id: str) -> T | None:
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._timeout_secs):
                    return await load(steam_id)
        except StoreError:
            record_store_error("read")
            log.error("reading the stored copy of %s failed", steam_id, exc_info=True)
            return None
        record_store_error("timeout")
        log.error("reading the stored copy of %s: no answer within %.3gs", steam_id, self._timeout_secs)
        return None

    def _in_background(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `coro` to completion even if the request awaiting it is cancelled (strong reference kept)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


def _labels(decision: Decision) -> tuple[str, str]:
    """The merge metric's labels, few in number: ``accepted`` or ``rejected``, and the rest of the decision's
    name as the reason ("" for a plain acceptance, ``with_rollback``, ``too_small``, ``out_of_order``, ...)."""
    verdict = "accepted" if decision.accepted else "rejected"
    return verdict, decision.value.removeprefix(verdict).lstrip("_")


__all__ = ["StoreGuard"]
