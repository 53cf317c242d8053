"""The embedded store: one SQLite file, `<PLAYERSTATS_DATA_DIR>/playerstats.sqlite3`, through aiosqlite.

Durability and concurrency:

- WAL journal with `synchronous=FULL`: a transaction is on disk when COMMIT returns, so a SIGKILL (or a power
  cut) right after a response that reported a merge loses nothing.
- One connection per store, used by one transaction at a time (an asyncio lock orders this process's tasks).
- Every write transaction starts with BEGIN IMMEDIATE, which takes SQLite's database write lock *before* the
  stored state is read: two processes (or two store instances) merging the same player run one after the other,
  and the second one reads what the first committed. A busy database is waited for up to `busy_timeout_secs`.
- Reads run in a deferred transaction: a consistent snapshot that never blocks writers (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import aiosqlite

from dbd_playerstats.store.base import StoreError
from dbd_playerstats.store.migrations import Dialect
from dbd_playerstats.store.sql import SqlStore, Tx, sqlite_placeholders

SQLITE_FILENAME: Final = "playerstats.sqlite3"
DEFAULT_BUSY_TIMEOUT_SECS: Final = 30.0


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """sqlite3 errors (and aiosqlite's ValueError for a closed connection) -> StoreError, chained."""
    try:
        yield
    except (sqlite3.Error, ValueError, OSError) as exc:
        raise StoreError(f"SQLite store: {what} failed: {exc}") from exc


class _SqliteTx:
    """`Tx` over one aiosqlite connection inside a transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: object) -> Sequence[Sequence[Any]]:
        with _translated("query"):
            return list(await self._conn.execute_fetchall(sqlite_placeholders(sql), args))

    async def execute(self, sql: str, *args: object) -> None:
        with _translated("statement"):
            await self._conn.execute(sqlite_placeholders(sql), args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with _translated("statement"):
            await self._conn.executemany(sqlite_placeholders(sql), rows)


class SqliteStore(SqlStore):
    """`AchievementStore` in one SQLite file; open with `await SqliteStore.open(path)`."""

    dialect = Dialect.SQLITE

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn: aiosqlite.Connection | None = conn
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: Path, *, busy_timeout_secs: float = DEFAULT_BUSY_TIMEOUT_SECS) -> SqliteStore:
        """Create the directory if needed, open (or create) the file, switch it to WAL.

        StoreError names PLAYERSTATS_DATA_DIR when the directory or file cannot be created or opened.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout_secs)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the SQLite store {str(path)!r} (PLAYERSTATS_DATA_DIR): {exc}") from exc
        try:
            with _translated(f"opening {path}"):
                await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_secs * 1000)}")
                await conn.execute("PRAGMA journal_mode = WAL")
                await conn.execute("PRAGMA synchronous = FULL")
                await conn.execute("PRAGMA foreign_keys = ON")
        except StoreError as exc:
            await conn.close()
            raise StoreError(f"cannot open the SQLite store {str(path)!r} (PLAYERSTATS_DATA_DIR): {exc}") from exc
        return cls(conn, path)

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreError("SQLite store is closed")
        return self._conn

    @contextlib.asynccontextmanager
    async def _transaction(self, *, lock_player: str | None = None, write: bool = True) -> AsyncIterator[Tx]:
        # BEGIN IMMEDIATE is the player's lock too: SQLite has one writer at a time, per database.
        del lock_player
        async with self._begin("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED") as tx:
            yield tx

    def _migration_transaction(self) -> contextlib.AbstractAsyncContextManager[Tx]:
        return self._begin("BEGIN IMMEDIATE")

    @contextlib.asynccontextmanager
    async def _begin(self, begin: str) -> AsyncIterator[Tx]:
        async with self._lock:
            conn = self._connection()
            with _translated(begin):
                await conn.execute(begin)
            try:
                yield _SqliteTx(conn)
                with _translated("COMMIT"):
                    await conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error, ValueError):
                    if conn.in_transaction:
                        await conn.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with _translated("close"):
                    await conn.close()


__all__ = ["DEFAULT_BUSY_TIMEOUT_SECS", "SQLITE_FILENAME", "SqliteStore"]
