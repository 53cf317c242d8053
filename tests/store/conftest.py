"""Store backends for the contract suite: a SQLite file per test, a fresh PostgreSQL schema per test.

PostgreSQL is never skipped: when it is down, the test fails with the reason and how to fix it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dbd_playerstats.store import StoreError
from dbd_playerstats.store.sql import SqlStore
from dbd_playerstats_dev.store_testing import StoreBackend, postgres_backend, sqlite_backend, temporary_schema


@contextlib.asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A URL whose connections use a fresh schema of the test PostgreSQL; fails (never skips) when it is down."""
    schema = temporary_schema()
    try:
        url = await schema.__aenter__()
    except StoreError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield url
    finally:
        await schema.__aexit__(None, None, None)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh schema of the test PostgreSQL, dropped afterwards."""
    async with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreBackend]:
    """Each contract test runs once per backend, on a database of its own."""
    if request.param == "sqlite":
        yield sqlite_backend(tmp_path)
        return
    async with postgres_schema() as url:
        yield postgres_backend(url)


@pytest.fixture
async def store(backend: StoreBackend) -> AsyncIterator[SqlStore]:
    """A migrated store on the test's database, closed afterwards."""
    opened = await backend.open()
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()
