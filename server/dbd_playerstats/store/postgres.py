"""The shared store: PostgreSQL through an asyncpg pool, for several replicas (DATABASE_URL=postgresql://...).

Concurrency: a merge runs in one READ COMMITTED transaction that first makes sure the player's `players` row
exists (`INSERT ... ON CONFLICT DO NOTHING`) and then locks it with `SELECT ... FOR UPDATE`. Every other merge
for that player, on any connection of any replica, waits at that point until the holder commits, and then reads
the committed state: no unlock is lost, and merges for different players do not wait for each other.
Migrations hold a transaction-level advisory lock so replicas starting together apply each migration once.
Reads run REPEATABLE READ, read only: the players row and the achievements come from one snapshot.

Start-up errors name DATABASE_URL and show the URL with its password replaced by `***`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from dbd_playerstats.store.base import StoreError
from dbd_playerstats.store.migrations import Dialect
from dbd_playerstats.store.sql import SqlStore, Tx, to_us

CONNECT_TIMEOUT_SECS: Final = 10.0
COMMAND_TIMEOUT_SECS: Final = 10.0
POOL_MAX_SIZE: Final = 10
# pg_advisory_xact_lock key for migrations: any constant unique to this service ("dbdstore" in ASCII).
MIGRATION_LOCK_KEY: Final = 0x6462_6473_746F_7265

_ENSURE_PLAYER: Final = """
INSERT INTO players (steam_id, last_snapshot_at_us, updated_at_us) VALUES ($1, NULL, $2)
ON CONFLICT (steam_id) DO NOTHING"""
_LOCK_PLAYER: Final = "SELECT steam_id FROM players WHERE steam_id = $1 FOR UPDATE"
_DRIVER_ERRORS: Final = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***` (what start-up errors and logs may show)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        return urlunsplit((parts.scheme, f"{user}:***@{host}{port}", parts.path, parts.query, parts.fragment))
    except ValueError:
        return "<unparseable DATABASE_URL>"


def _password_of(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except _DRIVER_ERRORS as exc:
        raise StoreError(f"PostgreSQL store: {what} failed: {type(exc).__name__}: {exc}") from exc


class _PgTx:
    """`Tx` over one pooled connection inside a transaction."""

    def __init__(self, conn: asyncpg.pool.PoolConnectionProxy[Any]) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: object) -> Sequence[Sequence[Any]]:
        with _translated("query"):
            return [tuple(record) for record in await self._conn.fetch(sql, *args)]

    async def execute(self, sql: str, *args: object) -> None:
        with _translated("statement"):
            await self._conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with _translated("statement"):
            await self._conn.executemany(sql, rows)


class PostgresStore(SqlStore):
    """`AchievementStore` in PostgreSQL; open with `await PostgresStore.open(url)`."""

    dialect = Dialect.POSTGRES

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool: asyncpg.Pool[Any] | None = pool

    @classmethod
    async def open(cls, url: str, *, min_size: int = 1, max_size: int = POOL_MAX_SIZE) -> PostgresStore:
        """Connect a pool to `url`; StoreError naming DATABASE_URL (password redacted) when that fails."""
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                timeout=CONNECT_TIMEOUT_SECS,
                command_timeout=COMMAND_TIMEOUT_SECS,
            )
        except (*_DRIVER_ERRORS, ValueError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
            password = _password_of(url)
            if password:
                detail = detail.replace(password, "***")
            raise StoreError(f"cannot connect to DATABASE_URL={redact_url(url)!r}: {detail}") from None
        return cls(pool)

    def _pool_or_raise(self) -> asyncpg.Pool[Any]:
        if self._pool is None:
            raise StoreError("PostgreSQL store is closed")
        return self._pool

    @contextlib.asynccontextmanager
    async def _transaction(self, *, lock_player: str | None = None, write: bool = True) -> AsyncIterator[Tx]:
        pool = self._pool_or_raise()
        with _translated("acquiring a connection"):
            conn = await pool.acquire(timeout=CONNECT_TIMEOUT_SECS)
        try:
            transaction = conn.transaction() if write else conn.transaction(isolation="repeatable_read", readonly=True)
            with _translated("BEGIN"):
                await transaction.start()
            try:
                tx = _PgTx(conn)
                if lock_player is not None:
                    await tx.execute(_ENSURE_PLAYER, lock_player, to_us(datetime.now(UTC)))
                    await tx.execute(_LOCK_PLAYER, lock_player)
                yield tx
                with _translated("COMMIT"):
                    await transaction.commit()
            except BaseException:
                with contextlib.suppress(*_DRIVER_ERRORS):
                    await transaction.rollback()
                raise
        finally:
            with contextlib.suppress(*_DRIVER_ERRORS):
                await pool.release(conn)

    @contextlib.asynccontextmanager
    async def _migration_transaction(self) -> AsyncIterator[Tx]:
        async with self._transaction() as tx:
            await tx.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
            yield tx

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with _translated("close"):
                await pool.close()


__all__ = ["PostgresStore", "redact_url"]
