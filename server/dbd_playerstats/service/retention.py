"""History retention: every hour (and once at start-up), history older than the retention is deleted.

One loop per process; with a shared PostgreSQL every replica prunes, which is harmless (the same DELETE). A
failed prune is logged by the store guard and tried again at the next round; stopping cancels the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Final

from dbd_playerstats.domain.clock import UtcClock, utc_now
from dbd_playerstats.service.store_guard import StoreGuard

log = logging.getLogger(__name__)

PRUNE_INTERVAL_SECS: Final = 3600.0


class HistoryPruner:
    """Prunes `guard`'s history older than `retention_days` every `interval_secs` (0 days: never)."""

    def __init__(
        self,
        guard: StoreGuard,
        retention_days: float,
        *,
        interval_secs: float = PRUNE_INTERVAL_SECS,
        clock: UtcClock = utc_now,
    ) -> None:
        self._guard = guard
        self._retention = timedelta(days=retention_days)
        self._interval_secs = interval_secs
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (a no-op when retention is 0: everything is kept)."""
        if self._retention > timedelta(0) and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="history-pruner")

    async def prune_once(self) -> None:
        await self._guard.prune_history(self._clock() - self._retention)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.prune_once()
            log.debug("history older than %s pruned", self._retention)
            await asyncio.sleep(self._interval_secs)


__all__ = ["PRUNE_INTERVAL_SECS", "HistoryPruner"]
