"""SQLite's group commit: concurrent writes share one transaction, each isolated by its own savepoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dbd_playerstats.steam.models import PlayerSummary, StatValue, Visibility
from dbd_playerstats.store import MergePolicy, Snapshot, SqliteStore, StatsSnapshot, StoreError
from dbd_playerstats.store.sql import Tx

NOW = datetime.now(UTC).replace(microsecond=0)
T1 = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
PLAYERS = [f"7656119800000{i:04d}" for i in range(1, 41)]


def profile(steam_id: str) -> PlayerSummary:
    return PlayerSummary(steam_id, "p", "https://steamcommunity.com/id/p/", "https://a/x.jpg", Visibility.PUBLIC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "group.sqlite3")
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()


async def test_concurrent_writes_share_few_commits_and_all_are_stored(store: SqliteStore, tmp_path: Path) -> None:
    """40 merges and 40 stats saves at once: every one stored (seen by a new connection), in a few commits."""
    before = store.groups_committed
    fetched_at = NOW - timedelta(seconds=1)
    merges = [
        store.merge_achievements(p, Snapshot({"ACH_A": (True, T1)}, fetched_at), MergePolicy(), now=NOW)
        for p in PLAYERS
    ]
    saves = [store.save_stats(p, StatsSnapshot(profile(p), (StatValue("DBD_Escape", 3),), fetched_at)) for p in PLAYERS]
    merged, saved = await asyncio.gather(asyncio.gather(*merges), asyncio.gather(*saves))
    assert all(result.decision.accepted for result in merged)
    assert saved == [True] * len(PLAYERS)
    assert store.groups_committed - before <= 2, "80 writes waiting together share their transactions"
    other = await SqliteStore.open(tmp_path / "group.sqlite3")
    try:
        for player in PLAYERS:
            loaded = await other.load_achievements(player)
            assert loaded is not None
            assert loaded.unlocked == {"ACH_A"}
            stats = await other.load_stats(player)
            assert stats is not None
            assert stats.stats == (StatValue("DBD_Escape", 3),)
    finally:
        await other.close()


async def test_a_failing_write_rolls_back_only_itself(store: SqliteStore) -> None:
    """A write whose statement fails in the middle leaves nothing behind; the writes sharing its group land."""
    fetched_at = NOW - timedelta(seconds=1)

    async def half_then_fail(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO stats_snapshots (steam_id, fetched_at_us, profile_json, stats_json) "
            "VALUES ($1, 1, '{}', '[]')",
            "76561198000009999",
        )
        await tx.execute("INSERT INTO no_such_table VALUES (1)")

    good = [
        store.merge_achievements(p, Snapshot({"ACH_B": (True, T1)}, fetched_at), MergePolicy(), now=NOW)
        for p in PLAYERS[:5]
    ]
    outcomes = await asyncio.gather(good[0], good[1], store._write(half_then_fail), *good[2:], return_exceptions=True)
    assert isinstance(outcomes[2], StoreError)
    assert [type(o).__name__ for i, o in enumerate(outcomes) if i != 2] == ["MergeResult"] * 5
    assert await store.load_stats("76561198000009999") is None, "the failed write's first statement was undone"
    for player in PLAYERS[:5]:
        loaded = await store.load_achievements(player)
        assert loaded is not None
        assert loaded.unlocked == {"ACH_B"}


async def test_a_merge_is_one_hand_over_to_the_store_thread(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BEGIN to COMMIT of a group on the store's thread at once: one round trip from the loop per group, not one
    per statement (the nine of a merge)."""
    thread = store._thread
    assert thread is not None
    calls: list[str] = []
    run = thread.run

    async def counted(fn: Any, *args: object) -> Any:
        calls.append(getattr(fn, "__name__", "?"))
        return await run(fn, *args)

    monkeypatch.setattr(thread, "run", counted)
    snapshot = Snapshot({"ACH_A": (True, T1), "ACH_B": (False, None)}, NOW - timedelta(seconds=1))
    result = await store.merge_achievements(PLAYERS[0], snapshot, MergePolicy(), now=NOW)
    assert result.decision.accepted
    assert calls == ["_run_group"]
    loaded = await store.load_achievements(PLAYERS[0])
    assert loaded is not None
    assert loaded.unlocked == {"ACH_A"}


async def test_a_write_body_that_suspends_is_refused_and_stores_nothing(store: SqliteStore) -> None:
    """A body may await only its Tx's statements (it runs to its end on the store's thread)."""

    async def suspends(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO stats_snapshots (steam_id, fetched_at_us, profile_json, stats_json) "
            "VALUES ($1, 1, '{}', '[]')",
            "76561198000009998",
        )
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="suspended"):
        await store._write(suspends)
    assert await store.load_stats("76561198000009998") is None
