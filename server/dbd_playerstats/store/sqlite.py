"""The embedded store: one SQLite file, `<PLAYERSTATS_DATA_DIR>/playerstats.sqlite3`, on a thread of its own.

Durability and concurrency:

- WAL journal with `synchronous=FULL`: a transaction is on disk when COMMIT returns, so a SIGKILL (or a power
  cut) right after a response that reported a merge loses nothing.
- One sqlite3 connection per store, opened and used by one thread only (`_Thread`): the event loop hands it work
  and is answered when it is done. An asyncio lock orders this process's transactions on the connection.
- Every write transaction starts with BEGIN IMMEDIATE, which takes SQLite's database write lock *before* the
  stored state is read: two processes (or two store instances) merging the same player run one after the other,
  and the second one reads what the first committed. A busy database is waited for up to `busy_timeout_secs`.
- Reads of one statement run on their own (autocommit: the statement is its snapshot); longer reads in a
  deferred transaction, a consistent snapshot that never blocks writers (WAL).
- Group commit: the writes (merges, stats saves) that are waiting when the connection comes free share one
  transaction, each inside its own savepoint, so one write failing rolls back only itself. Each writer is
  answered only after the shared COMMIT returned: as durable as a transaction of its own, for one fsync per
  group instead of one per write (issue 12: at 32 cold players at once, the merges' commits queued behind each
  other on the one connection, most of the whole stream's time over the floor).
- A group runs on the store's thread in one hand-over, BEGIN to COMMIT: the write bodies are the coroutines the
  PostgreSQL backend awaits, but over `_DirectTx`, whose statements complete without suspending, so the thread
  drives each body to its end (`_complete`). A merge used to hand nine statements over one by one, each a round
  trip between the loop and the thread (issue 12; aiosqlite, used before, has no way to run more than one
  statement per hand-over).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

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
    """sqlite3 errors -> StoreError, chained."""
    try:
        yield
    except StoreError:  # already says what failed (a write body's own statement, a closed store)
        raise
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"SQLite store: {what} failed: {exc}") from exc


class _Thread:
    """The one thread that opens and uses the store's sqlite3 connection; `run` hands it a function."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playerstats-sqlite")
        self.conn: sqlite3.Connection | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` on the thread; its result or its exception."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args))

    def connection(self) -> sqlite3.Connection:
        """The connection, on the thread only (sqlite3 refuses use from another thread)."""
        if self.conn is None:
            raise StoreError("SQLite store is closed")
        return self.conn

    def open(self, path: Path, busy_timeout_secs: float) -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_secs)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_secs * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        self.conn = conn

    def close_connection(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


class _DirectTx:
    """`Tx` used on the store's thread: each statement runs at once, so a body awaiting only these completes
    without ever suspending (`_complete`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: object) -> Sequence[Sequence[Any]]:
        with _translated("query"):
            return self._conn.execute(sqlite_placeholders(sql), args).fetchall()

    async def execute(self, sql: str, *args: object) -> None:
        with _translated("statement"):
            self._conn.execute(sqlite_placeholders(sql), args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with _translated("statement"):
            self._conn.executemany(sqlite_placeholders(sql), rows)


class _HandedTx:
    """`Tx` used on the event loop: each statement is handed to the store's thread (migrations, history, reads)."""

    def __init__(self, thread: _Thread) -> None:
        self._thread = thread

    async def fetch(self, sql: str, *args: object) -> Sequence[Sequence[Any]]:
        with _translated("query"):
            return await self._thread.run(_fetchall, self._thread, sqlite_placeholders(sql), args)

    async def execute(self, sql: str, *args: object) -> None:
        with _translated("statement"):
            await self._thread.run(_execute, self._thread, sqlite_placeholders(sql), args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with _translated("statement"):
            await self._thread.run(_executemany, self._thread, sqlite_placeholders(sql), rows)


def _fetchall(thread: _Thread, sql: str, args: Sequence[object]) -> list[Any]:
    return thread.connection().execute(sql, args).fetchall()


def _execute(thread: _Thread, sql: str, args: Sequence[object]) -> None:
    thread.connection().execute(sql, args)


def _executemany(thread: _Thread, sql: str, rows: Sequence[Sequence[object]]) -> None:
    thread.connection().executemany(sql, rows)


def _rollback(thread: _Thread) -> None:
    conn = thread.connection()
    if conn.in_transaction:
        conn.execute("ROLLBACK")


class SqliteStore(SqlStore):
    """`AchievementStore` in one SQLite file; open with `await SqliteStore.open(path)`."""

    dialect = Dialect.SQLITE

    def __init__(self, thread: _Thread, path: Path) -> None:
        self._thread: _Thread | None = thread
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
        thread = _Thread()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            await thread.run(thread.open, path, busy_timeout_secs)
        except (OSError, sqlite3.Error) as exc:
            await asyncio.to_thread(thread.shutdown)
            raise StoreError(f"cannot open the SQLite store {str(path)!r} (PLAYERSTATS_DATA_DIR): {exc}") from exc
        return cls(thread, path)

    def _running(self) -> _Thread:
        if self._thread is None:
            raise StoreError("SQLite store is closed")
        return self._thread

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
            yield _HandedTx(self._running())

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
        try:
            async with self._lock:
                thread = self._running()
                with _translated("a group commit"):
                    outcomes = await thread.run(_run_group, thread, [write.body for write in group])
        except Exception as exc:  # BEGIN, a savepoint, COMMIT or a lone write failed: nothing of it was stored
            for write in group:
                if not write.done.done():
                    write.done.set_exception(exc)
            return
        self.groups_committed += 1
        for write, (error, result) in zip(group, outcomes, strict=True):
            if write.done.done():
                continue
            if error is not None:
                write.done.set_exception(error)
            else:
                write.done.set_result(result)

    @contextlib.asynccontextmanager
    async def _begin(self, begin: str) -> AsyncIterator[Tx]:
        async with self._lock:
            thread = self._running()
            tx = _HandedTx(thread)
            await tx.execute(begin)
            try:
                yield tx
                await tx.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error, StoreError, RuntimeError):
                    await thread.run(_rollback, thread)
                raise

    async def close(self) -> None:
        if self._committer is not None:
            with contextlib.suppress(BaseException):
                await self._committer  # the writes already waiting are committed first
        async with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                try:
                    with _translated("close"):
                        await thread.run(thread.close_connection)
                finally:
                    await asyncio.to_thread(thread.shutdown)


_Outcome = tuple[BaseException | None, object]


def _run_group(thread: _Thread, bodies: list[Callable[[Tx], Awaitable[Any]]]) -> list[_Outcome]:
    """On the store's thread: one transaction holding every body of the group, a savepoint each unless alone (its
    failure then rolls the transaction back: raised). A body's own failure is its outcome."""
    conn = thread.connection()
    tx = _DirectTx(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if len(bodies) == 1:
            outcomes: list[_Outcome] = [(None, _complete(bodies[0](tx)))]
        else:
            outcomes = [_in_savepoint(conn, tx, body) for body in bodies]
        conn.execute("COMMIT")
    except BaseException:
        _rollback(thread)
        raise
    return outcomes


def _in_savepoint(conn: sqlite3.Connection, tx: Tx, body: Callable[[Tx], Awaitable[Any]]) -> _Outcome:
    """Run one write of a group inside its own savepoint: its failure rolls back only its statements."""
    conn.execute("SAVEPOINT playerstats_write")
    try:
        result = _complete(body(tx))
    except Exception as exc:  # this write only: the others go on
        conn.execute("ROLLBACK TO playerstats_write")
        conn.execute("RELEASE playerstats_write")
        return exc, None
    conn.execute("RELEASE playerstats_write")
    return None, result


def _complete(awaitable: Awaitable[T]) -> T:
    """Drive a write body to its end on the store's thread. It awaits only `_DirectTx` statements, which never
    suspend; a body that does (it awaited something else) is closed and refused."""
    if not isinstance(awaitable, Coroutine):
        raise TypeError(f"a store write body must be a coroutine, not {type(awaitable).__name__}")
    try:
        awaitable.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    awaitable.close()
    raise RuntimeError("a store write body suspended: it may await only its Tx's statements")


@dataclass(frozen=True, slots=True)
class _Write(Generic[T]):
    """A write waiting for its group: its statements and the future its writer awaits."""

    body: Callable[[Tx], Awaitable[T]]
    done: asyncio.Future[T]


__all__ = ["DEFAULT_BUSY_TIMEOUT_SECS", "SQLITE_FILENAME", "SqliteStore"]
