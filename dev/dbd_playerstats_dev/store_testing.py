"""Helpers for store tests: a throw-away PostgreSQL schema per test, and backends to open stores on.

The test database is `PLAYERSTATS_TEST_DATABASE_URL` (default `postgresql://postgres@127.0.0.1:5432/test`, trust
authentication as on the development machines and in CI). A server that is down is a `StoreError` with a clear
message, never a skip: the PostgreSQL backend is part of the contract.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from dbd_playerstats.store.base import StoreError
from dbd_playerstats.store.postgres import PostgresStore, redact_url
from dbd_playerstats.store.sql import SqlStore
from dbd_playerstats.store.sqlite import SQLITE_FILENAME, SqliteStore

TEST_DATABASE_URL_ENV: Final = "PLAYERSTATS_TEST_DATABASE_URL"
DEFAULT_TEST_DATABASE_URL: Final = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_test_url(environ: Mapping[str, str] = os.environ) -> str:
    """The PostgreSQL the tests use."""
    return environ.get(TEST_DATABASE_URL_ENV) or DEFAULT_TEST_DATABASE_URL


def with_search_path(url: str, schema: str) -> str:
    """`url` whose connections resolve unqualified table names in `schema` (libpq `options=-csearch_path=`)."""
    parts = urlsplit(url)
    option = f"options={quote(f'-csearch_path={schema}', safe='')}"
    query = f"{parts.query}&{option}" if parts.query else option
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


@asynccontextmanager
async def temporary_schema(url: str | None = None) -> AsyncIterator[str]:
    """Create an empty schema, yield a URL that uses it, then drop the schema with everything in it."""
    base = url or postgres_test_url()
    schema = f"playerstats_test_{uuid.uuid4().hex[:16]}"
    try:
        admin = await asyncpg.connect(base, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreError(
            f"the test PostgreSQL at {redact_url(base)} ({TEST_DATABASE_URL_ENV}) is not reachable: "
            f"{type(exc).__name__}: {exc}; start it (as .ci/run does) and run the tests again"
        ) from exc
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield with_search_path(base, schema)
        finally:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.close()


@dataclass(frozen=True, slots=True)
class StoreBackend:
    """One database under test.

    `open()` returns a new, unmigrated store instance with connections of its own (another process or replica,
    as far as the database can tell); `raw(sql)` runs one statement on a separate plain connection and returns its
    rows, to check what is really stored.
    """

    name: str
    open: Callable[[], Awaitable[SqlStore]]
    raw: Callable[[str], Awaitable[list[tuple[Any, ...]]]]


def sqlite_backend(data_dir: Path) -> StoreBackend:
    """The SQLite store file of `data_dir` (as PLAYERSTATS_DATA_DIR would name it)."""
    path = data_dir / SQLITE_FILENAME

    async def open_store() -> SqlStore:
        return await SqliteStore.open(path)

    async def raw(sql: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]

    return StoreBackend("sqlite", open_store, raw)


def postgres_backend(url: str) -> StoreBackend:
    """The PostgreSQL database (and schema) `url` names."""

    async def open_store() -> SqlStore:
        return await PostgresStore.open(url)

    async def raw(sql: str) -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return [tuple(record) for record in await conn.fetch(sql)]
        finally:
            await conn.close()

    return StoreBackend("postgres", open_store, raw)


__all__ = [
    "DEFAULT_TEST_DATABASE_URL",
    "TEST_DATABASE_URL_ENV",
    "StoreBackend",
    "postgres_backend",
    "postgres_test_url",
    "sqlite_backend",
    "temporary_schema",
    "with_search_path",
]
