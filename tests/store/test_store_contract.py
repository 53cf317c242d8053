"""One contract for every store backend: migrations, merge transactions, audit, stats snapshots, concurrency."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dbd_playerstats.config.settings import Secret, StoreSettings
from dbd_playerstats.domain.adepts import fallback_adepts
from dbd_playerstats.steam.models import PlayerSummary, StatValue, Visibility
from dbd_playerstats.store import (
    LATEST_VERSION,
    MIGRATIONS,
    SQLITE_FILENAME,
    Decision,
    MergeCounts,
    MergePolicy,
    Snapshot,
    SqliteStore,
    StatsSnapshot,
    StoreError,
    open_store,
)
from dbd_playerstats.store.postgres import PostgresStore
from dbd_playerstats.store.sql import SqlStore
from dbd_playerstats_dev.store_testing import StoreBackend

PLAYER = "76561198000000001"
OTHER = "76561198000000004"
NOW = datetime.now(UTC).replace(microsecond=123456)
POLICY = MergePolicy()
T1 = datetime(2019, 3, 4, 5, 6, 7, tzinfo=UTC)
T2 = datetime(2021, 8, 9, 10, 11, 12, tzinfo=UTC)
PROFILE = PlayerSummary(
    PLAYER, "Onryō fan", "https://steamcommunity.com/id/demo/", "https://a/x.jpg", Visibility.PUBLIC
)


def ago(seconds: float) -> datetime:
    """A fetch time `seconds` before NOW."""
    return NOW - timedelta(seconds=seconds)


async def test_migrations_apply_once_in_order_and_rerun_is_a_no_op(backend: StoreBackend) -> None:
    """A fresh database gets every migration once; migrating again (a restart) applies nothing."""
    store = await backend.open()
    try:
        assert await store.applied_migrations() == []
        assert await store.migrate() == LATEST_VERSION
        assert await store.applied_migrations() == [m.version for m in MIGRATIONS]
        assert await store.migrate() == LATEST_VERSION
        assert await store.applied_migrations() == list(range(1, LATEST_VERSION + 1))
    finally:
        await store.close()
    tables = {"players", "achievements", "stats_snapshots", "merge_audit", "schema_version"}
    if backend.name == "sqlite":
        rows = await backend.raw("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert await backend.raw("PRAGMA journal_mode") == [("wal",)]
    else:
        rows = await backend.raw(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    assert tables <= {row[0] for row in rows}
    assert await backend.raw("SELECT COUNT(*) FROM schema_version") == [(len(MIGRATIONS),)]


async def test_replicas_migrating_together_apply_each_migration_once(backend: StoreBackend) -> None:
    """Four store instances migrating at the same moment (replicas starting) leave one row per migration."""
    stores = [await backend.open() for _ in range(4)]
    try:
        assert await asyncio.gather(*(s.migrate() for s in stores)) == [LATEST_VERSION] * 4
    finally:
        for s in stores:
            await s.close()
    assert await backend.raw("SELECT COUNT(*) FROM schema_version") == [(len(MIGRATIONS),)]


async def test_a_schema_newer_than_this_release_is_refused(store: SqlStore, backend: StoreBackend) -> None:
    """A database migrated by a newer release is not touched: migrate() raises StoreError naming the versions."""
    await backend.raw(
        f"INSERT INTO schema_version (version, description, applied_at_us) VALUES ({LATEST_VERSION + 1}, 'x', 0)"
    )
    with pytest.raises(StoreError, match=f"version {LATEST_VERSION + 1}, newer than this release knows"):
        await store.migrate()


async def test_merge_then_load_round_trips_exactly(store: SqlStore, backend: StoreBackend) -> None:
    """An accepted snapshot is stored row by row and loads back equal, microseconds and unknown times included."""
    snapshot = Snapshot({"A": (True, T1), "B": (False, None), "C": (True, None)}, ago(5))
    result = await store.merge_achievements(PLAYER, snapshot, POLICY, now=NOW)
    assert result.decision is Decision.ACCEPTED
    loaded = await store.load_achievements(PLAYER)
    assert loaded == result.state
    assert loaded is not None
    assert loaded.last_snapshot_at == ago(5)
    assert loaded.states == {"A": (True, T1), "B": (False, None), "C": (True, None)}
    rows = await backend.raw("SELECT api_name, unlocked, unlock_time_us FROM achievements ORDER BY api_name")
    assert [(name, bool(unlocked), when) for name, unlocked, when in rows] == [
        ("A", True, int(T1.timestamp()) * 1_000_000),
        ("B", False, None),
        ("C", True, None),
    ]
    assert await store.load_achievements(OTHER) is None


async def test_rollback_is_kept_in_the_store_and_audited(store: SqlStore, backend: StoreBackend) -> None:
    """A later snapshot showing A locked keeps A's stored unlock; the audit records the corruption."""
    await store.merge_achievements(PLAYER, Snapshot({"A": (True, T1), "B": (False, None)}, ago(20)), POLICY, now=NOW)
    result = await store.merge_achievements(
        PLAYER, Snapshot({"A": (False, None), "B": (True, T2)}, ago(10)), POLICY, now=NOW
    )
    assert result.decision is Decision.ACCEPTED_WITH_ROLLBACK
    loaded = await store.load_achievements(PLAYER)
    assert loaded is not None
    assert loaded.states == {"A": (True, T1), "B": (True, T2)}
    assert loaded.last_snapshot_at == ago(10)
    audit = await store.audit(PLAYER)
    assert [row.decision for row in audit] == [Decision.ACCEPTED, Decision.ACCEPTED_WITH_ROLLBACK]
    assert audit[1].counts == MergeCounts(new_unlocks=1, rollbacks=1, earlier_times=0, snapshot_size=2)
    assert "corruption: A" in audit[1].reason
    assert await backend.raw("SELECT COUNT(*) FROM merge_audit WHERE decision = 'accepted_with_rollback'") == [(1,)]


async def test_rejections_keep_the_stored_truth_and_are_audited(store: SqlStore) -> None:
    """Too small, out of order and too old snapshots change nothing; each leaves an audit row with its reason."""
    adepts = fallback_adepts()
    full = {d.api_name: (False, None) for d in adepts} | {adepts[0].api_name: (True, T1)}
    accepted = await store.merge_achievements(PLAYER, Snapshot(full, ago(60), adepts), POLICY, now=NOW)
    assert accepted.decision is Decision.ACCEPTED
    before = await store.load_achievements(PLAYER)
    small = Snapshot({adepts[1].api_name: (True, T2)}, ago(30), adepts)
    older = Snapshot(full | {adepts[1].api_name: (True, T2)}, ago(90), adepts)
    stale = Snapshot(full, ago(POLICY.max_snapshot_age_secs + 1), adepts)
    decisions = [(await store.merge_achievements(PLAYER, s, POLICY, now=NOW)).decision for s in (small, older, stale)]
    assert decisions == [Decision.REJECTED_TOO_SMALL, Decision.REJECTED_OUT_OF_ORDER, Decision.REJECTED_TOO_OLD]
    assert await store.load_achievements(PLAYER) == before
    audit = await store.audit(PLAYER)
    assert [row.decision for row in audit] == [Decision.ACCEPTED, *decisions]
    assert [row.snapshot_at for row in audit] == [ago(60), ago(30), ago(90), stale.fetched_at]
    assert all(row.at == NOW for row in audit)
    assert "implausibly small" in audit[1].reason
    assert "older than the stored one" in audit[2].reason
    assert "s old; the limit is 86400s" in audit[3].reason
    assert audit[1].counts == MergeCounts(snapshot_size=1)
    assert await store.audit(OTHER) == []


async def test_only_rejections_leave_nothing_to_load(store: SqlStore) -> None:
    """A player whose every snapshot was rejected has no stored achievements, only audit rows."""
    tiny = Snapshot({"X": (True, T1)}, ago(1), fallback_adepts())
    result = await store.merge_achievements(OTHER, tiny, POLICY, now=NOW)
    assert result.decision is Decision.REJECTED_TOO_SMALL
    assert result.state is None
    assert await store.load_achievements(OTHER) is None
    assert len(await store.audit(OTHER)) == 1


async def test_stats_snapshot_round_trip_and_only_newer_replaces(store: SqlStore, backend: StoreBackend) -> None:
    """Stats load back with ints and floats intact; an older snapshot never replaces a newer one."""
    stats = (StatValue("DBD_BloodwebPoints", 48_213_775), StatValue("DBD_GeneratorPct_float", 2913.6875))
    newer = StatsSnapshot(PROFILE, stats, ago(10))
    assert await store.save_stats(PLAYER, newer) is True
    loaded = await store.load_stats(PLAYER)
    assert loaded == newer
    assert loaded is not None
    assert [type(s.value) for s in loaded.stats] == [int, float]
    older = StatsSnapshot(PROFILE, (StatValue("DBD_BloodwebPoints", 1),), ago(20))
    assert await store.save_stats(PLAYER, older) is False
    assert await store.load_stats(PLAYER) == newer
    newest = StatsSnapshot(PROFILE, (StatValue("DBD_BloodwebPoints", 48_300_000),), ago(1))
    assert await store.save_stats(PLAYER, newest) is True
    assert await store.load_stats(PLAYER) == newest
    assert await backend.raw("SELECT COUNT(*) FROM stats_snapshots") == [(1,)]
    assert await store.load_stats(OTHER) is None


async def test_stats_that_json_cannot_hold_are_never_written(store: SqlStore, backend: StoreBackend) -> None:
    """A NaN stat is refused with StoreError and nothing reaches the table."""
    bad = StatsSnapshot(PROFILE, (StatValue("DBD_HealPct_float", math.nan),), ago(1))
    with pytest.raises(StoreError, match="not stored"):
        await store.save_stats(PLAYER, bad)
    assert await backend.raw("SELECT COUNT(*) FROM stats_snapshots") == [(0,)]


async def test_concurrent_merges_for_one_player_lose_no_unlock(backend: StoreBackend) -> None:
    """50 merges at once, each unlocking its own achievement on its own connection, all end up stored."""
    first = await backend.open()
    await first.migrate()
    # SQLite: one store (one connection) per task; PostgreSQL: five "replicas", each a pool of ten connections.
    stores = [first, *[await backend.open() for _ in range(49 if backend.name == "sqlite" else 4)]]
    names = [f"ACH_{i:02d}" for i in range(50)]
    fetched_at = ago(1)
    try:
        results = await asyncio.gather(
            *(
                stores[i % len(stores)].merge_achievements(
                    PLAYER, Snapshot({name: (True, T1)}, fetched_at), POLICY, now=NOW
                )
                for i, name in enumerate(names)
            )
        )
        loaded = await first.load_achievements(PLAYER)
        audit = await first.audit(PLAYER)
    finally:
        for s in stores:
            await s.close()
    assert all(r.decision.accepted for r in results)
    assert loaded is not None
    assert loaded.unlocked == set(names)
    assert len(audit) == 50
    assert sum(row.counts.new_unlocks for row in audit) == 50
    # Serialised merges: the k-th one saw exactly the k earlier unlocks (missing from its snapshot) as rollbacks.
    assert sorted(row.counts.rollbacks for row in audit) == list(range(50))
    assert await backend.raw("SELECT COUNT(*) FROM achievements WHERE unlocked") == [(50,)]


async def test_a_closed_store_raises_store_error(backend: StoreBackend) -> None:
    """After close() every call is a StoreError, which callers catch to keep serving."""
    store = await backend.open()
    await store.migrate()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.load_achievements(PLAYER)
    await store.close()  # closing twice is harmless


async def test_open_store_picks_sqlite_and_creates_the_data_dir(tmp_path: Path) -> None:
    """Without DATABASE_URL the store is the SQLite file under a (created) PLAYERSTATS_DATA_DIR."""
    data_dir = tmp_path / "nested" / "data"
    store = await open_store(StoreSettings(data_dir=data_dir))
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == data_dir / SQLITE_FILENAME
        assert await store.migrate() == LATEST_VERSION
    finally:
        await store.close()
    assert (data_dir / SQLITE_FILENAME).is_file()


async def test_open_store_picks_postgres_when_database_url_is_set(postgres_url: str) -> None:
    """DATABASE_URL selects the PostgreSQL store."""
    store = await open_store(StoreSettings(database_url=Secret(postgres_url)))
    try:
        assert isinstance(store, PostgresStore)
        assert await store.migrate() == LATEST_VERSION
    finally:
        await store.close()


async def test_unreachable_database_names_database_url_without_the_password() -> None:
    """An unreachable DATABASE_URL is one StoreError line naming the variable, the password replaced by ***."""
    url = "postgresql://root:s3cret-pw@127.0.0.1:1/test"
    with pytest.raises(StoreError) as info:
        await open_store(StoreSettings(database_url=Secret(url)))
    message = str(info.value)
    assert "DATABASE_URL='postgresql://root:***@127.0.0.1:1/test'" in message
    assert "s3cret-pw" not in message
    assert "\n" not in message
    assert isinstance(info.value, OSError)


async def test_unusable_data_dir_names_the_variable(tmp_path: Path) -> None:
    """A data directory that cannot be created is a StoreError naming PLAYERSTATS_DATA_DIR."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="PLAYERSTATS_DATA_DIR"):
        await open_store(StoreSettings(data_dir=blocker / "data"))
