"""The achievements store: nothing once unlocked is ever lost, and the last good data outlives Steam outages.

`open_store(settings.store)` picks the backend: PostgreSQL when DATABASE_URL is set (shared by replicas), else
the embedded SQLite file under PLAYERSTATS_DATA_DIR. Call `await store.migrate()` before use and
`await store.close()` at shutdown. The merge rules are in `dbd_playerstats.domain.merge`; the schema in
`dbd_playerstats.store.migrations`.

The package exports the interface, the values it takes and returns (the merge values among them), the SQLite
backend and what opens them; the PostgreSQL backend is imported from `dbd_playerstats.store.postgres` (only when
used: asyncpg is memory a server on SQLite does without), the merge functions from `dbd_playerstats.domain.merge`,
the rest of a backend from its module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbd_playerstats.domain.merge import (
    Decision,
    MergeCounts,
    MergePolicy,
    MergeResult,
    Snapshot,
    StoredAchievements,
)
from dbd_playerstats.store.base import AchievementStore, AuditRow, StatsSnapshot, StoreError
from dbd_playerstats.store.history import History, StatsPoint, UnlockPoint
from dbd_playerstats.store.migrations import LATEST_VERSION, MIGRATIONS
from dbd_playerstats.store.sqlite import SQLITE_FILENAME, SqliteStore

if TYPE_CHECKING:
    from dbd_playerstats.config.settings import StoreSettings


async def open_store(settings: StoreSettings) -> AchievementStore:
    """PostgresStore when `settings.database_url` is set, else SqliteStore at `data_dir/playerstats.sqlite3`.

    The directory is created if needed; StoreError (an OSError) names the variable at fault.
    """
    url = settings.database_url.get()
    if url:
        # Imported only when used: asyncpg is ~3.5 MiB of a server's idle memory (issue 12).
        from dbd_playerstats.store.postgres import PostgresStore  # noqa: PLC0415

        return await PostgresStore.open(url)
    return await SqliteStore.open(settings.data_dir / SQLITE_FILENAME)


__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "SQLITE_FILENAME",
    "AchievementStore",
    "AuditRow",
    "Decision",
    "History",
    "MergeCounts",
    "MergePolicy",
    "MergeResult",
    "Snapshot",
    "SqliteStore",
    "StatsPoint",
    "StatsSnapshot",
    "StoreError",
    "StoredAchievements",
    "UnlockPoint",
    "open_store",
]
