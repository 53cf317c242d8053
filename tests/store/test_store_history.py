"""History in every store backend: a stats row only when some value changed, each unlock once with Steam's time
and when it was first seen, `since`, and pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dbd_playerstats.steam.models import PlayerSummary, StatValue, Visibility
from dbd_playerstats.store import MergePolicy, Snapshot, StatsSnapshot
from dbd_playerstats.store.sql import SqlStore, to_us

PLAYER = "76561198000000001"
OTHER = "76561198000000004"
NOW = datetime.now(UTC).replace(microsecond=0)
T1 = datetime(2019, 3, 4, 5, 6, 7, tzinfo=UTC)
T2 = datetime(2021, 8, 9, 10, 11, 12, tzinfo=UTC)
PROFILE = PlayerSummary(PLAYER, "demo", "https://steamcommunity.com/id/demo/", "https://a/x.jpg", Visibility.PUBLIC)


def at(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def snapshot(when: datetime, **stats: int | float) -> StatsSnapshot:
    return StatsSnapshot(PROFILE, tuple(StatValue(name, value) for name, value in stats.items()), when)


async def test_a_stats_row_only_when_some_value_changed(store: SqlStore) -> None:
    """Four saves, two changes: three rows (the first, then each change), oldest first, values by raw name; the
    order Steam lists the stats in does not count as a change."""
    await store.save_stats(PLAYER, snapshot(at(40), DBD_Escape=3, DBD_BloodwebPoints=100))
    await store.save_stats(PLAYER, snapshot(at(30), DBD_BloodwebPoints=100, DBD_Escape=3))  # same values
    await store.save_stats(PLAYER, snapshot(at(20), DBD_Escape=4, DBD_BloodwebPoints=100))
    await store.save_stats(PLAYER, snapshot(at(10), DBD_Escape=4, DBD_BloodwebPoints=250.5))
    history = await store.load_history(PLAYER)
    assert [point.fetched_at_us for point in history.stats] == [to_us(at(40)), to_us(at(20)), to_us(at(10))]
    assert [dict(point.stats) for point in history.stats] == [
        {"DBD_Escape": 3, "DBD_BloodwebPoints": 100},
        {"DBD_Escape": 4, "DBD_BloodwebPoints": 100},
        {"DBD_Escape": 4, "DBD_BloodwebPoints": 250.5},
    ]
    assert (await store.load_history(OTHER)).stats == ()
    since = await store.load_history(PLAYER, since=at(25))
    assert [point.fetched_at_us for point in since.stats] == [to_us(at(20)), to_us(at(10))]


async def test_an_older_snapshot_adds_no_history(store: SqlStore) -> None:
    """A snapshot older than the stored one is not saved, so it is not history either."""
    await store.save_stats(PLAYER, snapshot(at(10), DBD_Escape=4))
    assert await store.save_stats(PLAYER, snapshot(at(20), DBD_Escape=3)) is False
    assert [dict(p.stats) for p in (await store.load_history(PLAYER)).stats] == [{"DBD_Escape": 4}]


async def test_each_unlock_is_recorded_once_with_steams_time_and_first_sight(store: SqlStore) -> None:
    """The first merge records what is unlocked then; a later one only what it newly unlocks; a locked
    achievement and a merge repeating an unlock add nothing. The timeline is ordered by Steam's unlock time."""
    policy = MergePolicy(min_survivor_adepts=0, min_killer_adepts=0)
    await store.merge_achievements(PLAYER, Snapshot({"A": (True, T2), "B": (False, None)}, at(30)), policy, now=at(29))
    await store.merge_achievements(
        PLAYER, Snapshot({"A": (True, T2), "B": (True, T1), "C": (True, None)}, at(20)), policy, now=at(19)
    )
    await store.merge_achievements(
        PLAYER, Snapshot({"A": (True, T2), "B": (True, T1), "C": (True, None)}, at(10)), policy, now=at(9)
    )
    unlocks = (await store.load_history(PLAYER)).unlocks
    assert [(u.api_name, u.unlock_time_us, u.first_seen_us) for u in unlocks] == [
        ("B", to_us(T1), to_us(at(19))),
        ("A", to_us(T2), to_us(at(29))),
        ("C", None, to_us(at(19))),
    ]


async def test_pruning_deletes_history_older_than_the_cutoff(store: SqlStore) -> None:
    """Stats rows fetched and unlocks first seen before the cutoff go; the rest, and the snapshots, stay."""
    policy = MergePolicy(min_survivor_adepts=0, min_killer_adepts=0)
    await store.save_stats(PLAYER, snapshot(at(40), DBD_Escape=1))
    await store.save_stats(PLAYER, snapshot(at(10), DBD_Escape=2))
    await store.merge_achievements(PLAYER, Snapshot({"A": (True, T1)}, at(40)), policy, now=at(39))
    await store.merge_achievements(PLAYER, Snapshot({"A": (True, T1), "B": (True, T2)}, at(10)), policy, now=at(9))
    await store.prune_history(before=at(20))
    history = await store.load_history(PLAYER)
    assert [dict(p.stats) for p in history.stats] == [{"DBD_Escape": 2}]
    assert [u.api_name for u in history.unlocks] == ["B"]
    assert (await store.load_stats(PLAYER)) is not None
    assert (await store.load_achievements(PLAYER)) is not None
