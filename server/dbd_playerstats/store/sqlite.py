"""The embedded store: one SQLite file, `<PLAYERSTATS_DATA_DIR>/playerstats.sqlite3`, through aiosqlite.

Durability and concurrency:

- WAL journal with `synchronous=FULL`: a transaction is on disk when COMMIT returns, so a SIGKILL (or a power
  cut) right after a response that reported a merge loses nothing.
- One connection per store, used by one transaction at a time (an asyncio lock orders this process's tasks).
- Every write transaction starts with BEGIN IMMEDIATE, which takes SQLite's database write lock *before* the
  stored state is read: two processes (or two store instances) merging the same player run one after the other,
  and the second one reads what the first committed. A busy database is waited for up to `busy_timeout_secs`.
- Reads run in a deferred transaction: a consistent snapshot that never blocks writers (WAL).
- Group commit: the writes (merges, stats saves) that are waiting when the connection comes free share one
  transaction, each inside its own savepoint, so one write failing rolls back only itself. Each writer is
  answered only after the shared COMMIT returned: as durable as a transaction of its own, for one fsync per
  group instead of one per write (issue 12: at 32 cold players at once, the merges' commits queued behind each
  other on the one connection, most of the whole stream's time over the floor).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

import aiosqlite

from dbd_playerstats.store.base import StoreError
from dbd_playerstats.store.migrations import Dialect
from dbd_playerstats.store.sql import SqlStore, Tx, sqlite_placeholders

T = TypeVar("T")

SQLITE_FILENAME: Final = "playerstats.sqlite3"
DEFAULT_BUSY_TIMEOUT_SECS: Final = 30.0
MAX_GROUP: Final = 64
"""Writes per shared transaction at most: bounds how long one group holds the database's write lock."""


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
        self._waiting: list[_Write[Any]] = []
        self._committer: asyncio.Task[None] | None = None
        self.groups_committed = 0
        """Shared write transactions committed so far (each holding one or more writes)."""

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

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[Tx]:
        """One statement on its own, no BEGIN/COMMIT around it (autocommit: the statement is its own snapshot);
        under the lock, so that it never runs inside another task's open transaction on the same connection."""
        async with self._lock:
            yield _SqliteTx(self._connection())

    def _migration_transaction(self) -> contextlib.AbstractAsyncContextManager[Tx]:
        return self._begin("BEGIN IMMEDIATE")

    async def _write(self, body: Callable[[Tx], Awaitable[T]], *, lock_player: str | None = None) -> T:
        """`body` in the next group commit (module docstring); its result once that group's COMMIT returned.

        A writer cancelled before its group starts is left out; once started, its body runs to the end."""
        del lock_player  # BEGIN IMMEDIATE: one writer at a time for the whole database
        write: _Write[T] = _Write(body, asyncio.get_running_loop().create_future())
        self._waiting.append(write)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.ensure_future(self._commit_waiting())
        return await write.done

    async def _commit_waiting(self) -> None:
        while self._waiting:
            group = [write for write in self._waiting[:MAX_GROUP] if not write.done.done()]
            del self._waiting[:MAX_GROUP]
            if group:
                await self._commit_group(group)

    async def _commit_group(self, group: list[_Write[Any]]) -> None:
        outcomes: list[tuple[_Write[Any], BaseException | None, object]] = []
        try:
            async with self._begin("BEGIN IMMEDIATE") as tx:
                if len(group) == 1:  # alone: its failure rolls the transaction back, no savepoint needed
                    outcomes.append((group[0], None, await group[0].body(tx)))
                else:
                    for write in group:
                        outcomes.append(await _in_savepoint(tx, write))
        except Exception as exc:  # BEGIN, a savepoint, COMMIT or a lone write failed: nothing of it was stored
            for write in group:
                if not write.done.done():
                    write.done.set_exception(exc)
            return
        self.groups_committed += 1
        for write, error, result in outcomes:
            if write.done.done():
                continue
            if error is not None:
                write.done.set_exception(error)
            else:
                write.done.set_result(result)

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
        if self._committer is not None:
            with contextlib.suppress(BaseException):
                await self._committer  # the writes already waiting are committed first
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with _translated("close"):
                    await conn.close()


async def _in_savepoint(tx: Tx, write: _Write[T]) -> tuple[_Write[T], BaseException | None, object]:
    """Run one write of a group inside its own savepoint: its failure rolls back only its statements."""
    await tx.execute("SAVEPOINT playerstats_write")
    try:
        result = await write.body(tx)
    except Exception as exc:  # this write only: the others go on
        await tx.execute("ROLLBACK TO playerstats_write")
        await tx.execute("RELEASE playerstats_write")
        return write, exc, None
    await tx.execute("RELEASE playerstats_write")
    return write, None, result


@dataclass(frozen=True, slots=True)
class _Write(Generic[T]):
    """A write waiting for its group: its statements and the future its writer awaits."""

    body: Callable[[Tx], Awaitable[T]]
    done: asyncio.Future[T]


__all__ = ["DEFAULT_BUSY_TIMEOUT_SECS", "SQLITE_FILENAME", "SqliteStore"]
