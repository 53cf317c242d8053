"""The pure safe merge: properties over any snapshot sequence, and one example per rule."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbd_playerstats.config.settings import Settings
from dbd_playerstats.domain.achievements import UnlockState
from dbd_playerstats.domain.adepts import AdeptDef, Role, fallback_adepts
from dbd_playerstats.domain.merge import (
    Decision,
    MergePolicy,
    Snapshot,
    StoredAchievements,
    join,
    join_states,
    merge,
)

NOW = datetime(2025, 8, 1, 12, 0, tzinfo=UTC)
POLICY = MergePolicy()
NAMES = [f"ACH_{i}" for i in range(8)]

times = st.datetimes(min_value=datetime(2016, 6, 14), max_value=datetime(2025, 8, 1), timezones=st.just(UTC))
unlock_states = st.one_of(st.just((False, None)), st.tuples(st.just(True), st.none() | times))
state_maps = st.dictionaries(st.sampled_from(NAMES), unlock_states, max_size=len(NAMES))
fetch_times = st.datetimes(
    min_value=datetime(2025, 7, 31, 12), max_value=datetime(2025, 8, 1, 12), timezones=st.just(UTC)
)
snapshots = st.builds(Snapshot, states=state_maps, fetched_at=fetch_times)


def fold(snaps: list[Snapshot], policy: MergePolicy = POLICY) -> StoredAchievements | None:
    """Merge the snapshots in order, as a store would; return the final stored state."""
    stored: StoredAchievements | None = None
    for snap in snaps:
        stored = merge(stored, snap, policy, now=NOW).state
    return stored


def unlocked_times(states: Mapping[str, UnlockState]) -> dict[str, datetime | None]:
    """api name -> unlock time of the unlocked achievements."""
    return {name: when for name, (unlocked, when) in states.items() if unlocked}


@given(st.lists(snapshots, max_size=8))
def test_unlocked_set_never_shrinks_and_times_never_increase(snaps: list[Snapshot]) -> None:
    """Over any sequence (accepted or not), every unlock stays unlocked and its known time never grows."""
    stored: StoredAchievements | None = None
    for snap in snaps:
        before = unlocked_times(stored.states) if stored is not None else {}
        result = merge(stored, snap, POLICY, now=NOW)
        after = unlocked_times(result.state.states) if result.state is not None else {}
        assert before.keys() <= after.keys()
        for name, when in before.items():
            if when is not None:
                new_time = after[name]
                assert new_time is not None
                assert new_time <= when
        stored = result.state


@given(st.none() | st.builds(StoredAchievements, states=state_maps, last_snapshot_at=fetch_times), snapshots)
def test_merging_the_same_snapshot_twice_changes_nothing(stored: StoredAchievements | None, snap: Snapshot) -> None:
    """A second merge of the same snapshot leaves the state as the first left it and writes nothing."""
    first = merge(stored, snap, POLICY, now=NOW)
    second = merge(first.state, snap, POLICY, now=NOW)
    assert second.state == first.state
    assert second.changed == {}
    assert second.counts.new_unlocks == 0
    assert second.counts.earlier_times == 0


@given(st.lists(state_maps, min_size=1, max_size=6), fetch_times, st.data())
def test_accepted_snapshots_give_the_same_unlocks_in_any_order(
    maps: list[dict[str, UnlockState]], fetched_at: datetime, data: st.DataObject
) -> None:
    """Snapshots all accepted (same fetch time) end in the same unlocks and earliest times whatever their order."""
    shuffled = data.draw(st.permutations(maps))
    in_order = fold([Snapshot(m, fetched_at) for m in maps])
    reordered = fold([Snapshot(m, fetched_at) for m in shuffled])
    assert in_order is not None
    assert reordered is not None
    assert unlocked_times(in_order.states) == unlocked_times(reordered.states)
    assert in_order.states == reordered.states


@given(unlock_states, unlock_states, unlock_states)
def test_join_is_a_semilattice(a: UnlockState, b: UnlockState, c: UnlockState) -> None:
    """The per-achievement join is commutative, associative and idempotent."""
    assert join(a, b) == join(b, a)
    assert join(join(a, b), c) == join(a, join(b, c))
    assert join(join(a, b), b) == join(a, b)


@given(st.builds(StoredAchievements, states=state_maps, last_snapshot_at=fetch_times), snapshots)
def test_a_rejection_returns_the_stored_state_unchanged(stored: StoredAchievements, snap: Snapshot) -> None:
    """Whatever the reason, a rejected snapshot writes nothing and the stored truth stands."""
    strict = MergePolicy(max_snapshot_age_secs=1)
    result = merge(stored, snap, strict, now=NOW)
    if not result.decision.accepted:
        assert result.state is stored
        assert result.changed == {}


def at(hours: float) -> datetime:
    """A fetch time `hours` before NOW."""
    return NOW - timedelta(hours=hours)


T1 = datetime(2020, 1, 1, tzinfo=UTC)
T2 = datetime(2021, 1, 1, tzinfo=UTC)
T3 = datetime(2022, 1, 1, tzinfo=UTC)


def test_rollback_keeps_stored_unlocks_and_applies_the_rest() -> None:
    """A snapshot showing a stored unlock locked (or omitting one) is accepted with rollback: kept, counted, named."""
    stored = StoredAchievements(
        {"A": (True, T1), "B": (True, T2), "C": (False, None), "D": (True, None)}, last_snapshot_at=at(2)
    )
    snap = Snapshot({"A": (False, None), "B": (True, T2), "C": (True, T3)}, at(1))
    result = merge(stored, snap, POLICY, now=NOW)
    assert result.decision is Decision.ACCEPTED_WITH_ROLLBACK
    assert result.decision.accepted
    assert result.rolled_back == ("A", "D")
    assert result.state is not None
    assert result.state.states == {"A": (True, T1), "B": (True, T2), "C": (True, T3), "D": (True, None)}
    assert result.state.last_snapshot_at == at(1)
    assert (result.counts.new_unlocks, result.counts.rollbacks, result.counts.snapshot_size) == (1, 2, 3)
    assert result.changed == {"C": (True, T3)}
    assert "A, D" in result.reason
    assert result.reason.startswith("accepted_with_rollback")


def test_earliest_unlock_time_wins_and_unknown_never_replaces_known() -> None:
    """An earlier time replaces a later one, a known time fills an unknown one, None never erases a time."""
    stored = StoredAchievements({"A": (True, T2), "B": (True, None), "C": (True, T1)}, at(2))
    snap = Snapshot({"A": (True, T1), "B": (True, T3), "C": (True, None)}, at(1))
    result = merge(stored, snap, POLICY, now=NOW)
    assert result.decision is Decision.ACCEPTED
    assert result.state is not None
    assert result.state.states == {"A": (True, T1), "B": (True, T3), "C": (True, T1)}
    assert result.counts.earlier_times == 2
    assert result.counts.new_unlocks == 0


def test_locked_entries_carry_no_time() -> None:
    """A locked achievement that Steam sent with a time is stored locked without it."""
    result = merge(None, Snapshot({"A": (False, T1)}, at(1)), POLICY, now=NOW)
    assert result.state is not None
    assert result.state.states == {"A": (False, None)}
    assert join_states({"A": (False, T1)}, {}) == {"A": (False, None)}


def adept_snapshot(survivors: int, killers: int, adepts: tuple[AdeptDef, ...], fetched_at: datetime) -> Snapshot:
    """A snapshot listing the first `survivors` survivor and `killers` killer adepts of `adepts`, all locked."""
    listed = [d for d in adepts if d.role is Role.SURVIVOR][:survivors]
    listed += [d for d in adepts if d.role is Role.KILLER][:killers]
    return Snapshot({d.api_name: (False, None) for d in listed}, fetched_at, adepts)


def test_too_small_snapshot_is_rejected_and_recorded() -> None:
    """With the full adept list, 19 survivor adepts (threshold 20) is implausible: rejected, stored state kept."""
    stored = StoredAchievements({"A": (True, T1)}, at(3))
    adepts = fallback_adepts()
    result = merge(stored, adept_snapshot(19, 38, adepts, at(1)), POLICY, now=NOW)
    assert result.decision is Decision.REJECTED_TOO_SMALL
    assert result.state is stored
    assert "19 survivor adepts listed, at least 20 expected" in result.reason
    assert result.counts.snapshot_size == 19 + 38
    killers_short = merge(stored, adept_snapshot(46, 14, adepts, at(1)), POLICY, now=NOW)
    assert killers_short.decision is Decision.REJECTED_TOO_SMALL
    assert "14 killer adepts listed, at least 15 expected" in killers_short.reason
    enough = merge(None, adept_snapshot(20, 15, adepts, at(1)), POLICY, now=NOW)
    assert enough.decision is Decision.ACCEPTED


def test_a_small_schema_lowers_the_threshold() -> None:
    """With only 5 survivor and 3 killer adepts defined, listing all of them is enough; one fewer is not."""
    adepts = tuple(d for d in fallback_adepts() if d.role is Role.SURVIVOR)[:5]
    adepts += tuple(d for d in fallback_adepts() if d.role is Role.KILLER)[:3]
    assert merge(None, adept_snapshot(5, 3, adepts, at(1)), POLICY, now=NOW).decision is Decision.ACCEPTED
    short = merge(None, adept_snapshot(4, 3, adepts, at(1)), POLICY, now=NOW)
    assert short.decision is Decision.REJECTED_TOO_SMALL
    assert short.state is None
    assert "at least 5 expected" in short.reason
    assert POLICY.min_adepts(Role.SURVIVOR, 5) == 5
    assert POLICY.min_adepts(Role.KILLER, 38) == 15


def test_too_old_snapshot_is_rejected() -> None:
    """A snapshot older than the maximum age is rejected; one exactly at the limit is accepted."""
    limit = POLICY.max_snapshot_age_secs
    old = Snapshot({"A": (True, T1)}, NOW - timedelta(seconds=limit + 1))
    result = merge(None, old, POLICY, now=NOW)
    assert result.decision is Decision.REJECTED_TOO_OLD
    assert result.state is None
    assert "86401s old" in result.reason
    at_limit = Snapshot({"A": (True, T1)}, NOW - timedelta(seconds=limit))
    assert merge(None, at_limit, POLICY, now=NOW).decision is Decision.ACCEPTED


def test_out_of_order_snapshot_is_rejected_but_an_equal_time_is_not() -> None:
    """A snapshot fetched before the stored one is rejected; the same fetch time is accepted (idempotence)."""
    stored = StoredAchievements({"A": (True, T1)}, at(1))
    earlier = Snapshot({"A": (True, T1), "B": (True, T2)}, at(1) - timedelta(microseconds=1))
    result = merge(stored, earlier, POLICY, now=NOW)
    assert result.decision is Decision.REJECTED_OUT_OF_ORDER
    assert result.state is stored
    assert "older than the stored one" in result.reason
    same_time = merge(stored, Snapshot({"A": (True, T1), "B": (True, T2)}, at(1)), POLICY, now=NOW)
    assert same_time.decision is Decision.ACCEPTED
    assert same_time.counts.new_unlocks == 1


def test_too_old_is_checked_before_out_of_order_and_too_small() -> None:
    """The first matching rule decides: an old, out-of-order, tiny snapshot is reported too old."""
    stored = StoredAchievements({}, NOW)
    snap = Snapshot({}, NOW - timedelta(days=2), fallback_adepts())
    assert merge(stored, snap, POLICY, now=NOW).decision is Decision.REJECTED_TOO_OLD


def test_policy_comes_from_settings() -> None:
    """MERGE_* variables become the policy's thresholds and age."""
    store = Settings.from_env(
        {"MERGE_MIN_SURVIVOR_ADEPTS": "7", "MERGE_MIN_KILLER_ADEPTS": "3", "MERGE_MAX_SNAPSHOT_AGE_SECS": "60"}
    ).store
    assert MergePolicy.from_settings(store) == MergePolicy(7, 3, 60.0)
    assert MergePolicy() == MergePolicy.from_settings(Settings().store)


def test_naive_times_are_refused() -> None:
    """Times without a timezone cannot be compared safely, so values refuse them."""
    with pytest.raises(ValueError, match="timezone-aware"):
        Snapshot({}, datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        merge(None, Snapshot({}, NOW), POLICY, now=datetime(2025, 1, 1))


def test_fold_helper_is_order_sensitive_only_through_fetch_times() -> None:
    """Snapshots with increasing fetch times all apply; reversed, the older ones are rejected as out of order."""
    snaps = [Snapshot({"A": (True, T2)}, at(2)), Snapshot({"B": (True, T1)}, at(1))]
    forward = fold(snaps)
    backward = fold(list(reversed(snaps)))
    assert forward is not None
    assert backward is not None
    assert forward.unlocked == {"A", "B"}
    assert backward.unlocked == {"B"}
    initial: Mapping[str, UnlockState] = {}
    assert functools.reduce(join_states, [s.states for s in snaps], initial) == forward.states
