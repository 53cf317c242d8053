"""The store package's public surface stays honest."""

from __future__ import annotations

import inspect

from dbd_playerstats import store
from dbd_playerstats.domain import merge as merge_module
from dbd_playerstats.store import base, migrations, postgres, sqlite


def test_package_exports_every_public_name_of_its_modules() -> None:
    """The interface, the merge values and the SQLite backend are importable from `dbd_playerstats.store`; the
    PostgreSQL backend from its module (imported only when used)."""
    merge_values = {name for name in merge_module.__all__ if inspect.isclass(getattr(merge_module, name))}
    expected = set(base.__all__) | merge_values | {"SqliteStore", "open_store"}
    assert expected <= set(store.__all__)
    assert "PostgresStore" in postgres.__all__
    assert all(hasattr(store, name) for name in store.__all__)
    assert all(hasattr(module, name) for module in (migrations, postgres, sqlite) for name in module.__all__)


def test_migration_versions_are_consecutive_from_one() -> None:
    """Versions 1, 2, 3, ... without gaps or repeats, so `schema_version` orders them unambiguously."""
    assert [m.version for m in store.MIGRATIONS] == list(range(1, len(store.MIGRATIONS) + 1))
    assert store.MIGRATIONS[-1].version == store.LATEST_VERSION


def test_redacted_urls_never_show_the_password() -> None:
    """Only the password is replaced; URLs without one are shown as they are."""
    assert (
        postgres.redact_url("postgresql://u:pw@db:5432/x?sslmode=require")
        == "postgresql://u:***@db:5432/x?sslmode=require"
    )
    assert postgres.redact_url("postgresql://u@db/x") == "postgresql://u@db/x"
    assert "pw" not in postgres.redact_url("postgresql://u:pw@[::1]:5432/x")
