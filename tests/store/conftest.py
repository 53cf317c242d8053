"""Store backends for the contract suite: a SQLite file per test, a fresh PostgreSQL schema per test.

PostgreSQL is never skipped: when it is down, the test fails with the reason and how to fix it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dbd_playerstats.store.sql import SqlStore
from dbd_playerstats_dev.store_testing import StoreBackend, postgres_backend, sqlite_backend
from tests.support import postgres_schema


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
