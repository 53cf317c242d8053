"""The safe merge of a player's stored achievements with a new Steam snapshot: pure, over frozen values.

`merge(stored, snapshot, policy, now=...)` decides, in this order (the first rule that matches wins):

1. ``REJECTED_TOO_OLD``: ``now - snapshot.fetched_at > policy.max_snapshot_age_secs``.
2. ``REJECTED_OUT_OF_ORDER``: ``snapshot.fetched_at < stored.last_snapshot_at`` (an equal time is accepted, so
   merging the same snapshot twice is a no-op rather than a rejection).
3. ``REJECTED_TOO_SMALL``: for killers or survivors, the snapshot lists fewer adept achievements (locked or
   unlocked) than ``min(policy threshold for the role, adepts of the role in snapshot.adepts)``; a schema with
   fewer adepts than the threshold lowers it, and a role with no defined adepts needs none.
4. Otherwise the snapshot is joined into the stored state, per achievement:

   - ``unlocked = stored.unlocked or snapshot.unlocked`` (monotonic: nothing once unlocked is lost);
   - ``unlock_time`` = the earliest *known* time among the unlocked sides; None (unknown) never replaces a known
     time, and a locked achievement has no time;
   - achievements only one side lists are kept as that side has them.

   A stored unlock that the snapshot shows locked *or omits* is a rollback: it stays unlocked, is counted and
   named in the reason (the corruption record), the rest of the snapshot is still applied, and the decision is
   ``ACCEPTED_WITH_ROLLBACK`` instead of ``ACCEPTED``. ``last_snapshot_at`` becomes ``snapshot.fetched_at``.

A rejection changes nothing: `MergeResult.state` is the stored state as it was (None when nothing is stored).
The per-achievement join (`join_states`) is a semilattice join (commutative, associative, idempotent), which is
why the final unlocks do not depend on the order in which accepted snapshots arrive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from dbd_playerstats.config.settings import StoreSettings
from dbd_playerstats.domain.achievements import UnlockState
from dbd_playerstats.domain.adepts import AdeptDef, Role

_DEFAULTS = StoreSettings()  # the defaults live in settings.py, next to the variables that override them
_NAMES_IN_REASON = 10

LOCKED: UnlockState = (False, None)


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment!r}")


def normalise(state: UnlockState) -> UnlockState:
    """A locked achievement carries no unlock time (Steam sends one for locked entries now and then)."""
    unlocked, when = state
    return (True, when) if unlocked else LOCKED


@dataclass(frozen=True, slots=True)
class StoredAchievements:
    """What the store holds for one player.

    `states` maps api name -> (unlocked, unlock time or None when unknown); `last_snapshot_at` is the Steam
    fetch time (UTC) of the last accepted snapshot: a newer snapshot must not be older than it.
    """

    states: Mapping[str, UnlockState]
    last_snapshot_at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.last_snapshot_at, "last_snapshot_at")

    @property
    def unlocked(self) -> frozenset[str]:
        """Api names of the unlocked achievements."""
        return frozenset(name for name, (unlocked, _) in self.states.items() if unlocked)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One parsed GetPlayerAchievements answer, as the merge needs it.

    `states` maps api name -> (unlocked, unlock time); `fetched_at` is when Steam answered (UTC, aware);
    `adepts` are the adept definitions in force (from the schema, or the built-in fallback list): they give the
    size threshold.
    """

    states: Mapping[str, UnlockState]
    fetched_at: datetime
    adepts: tuple[AdeptDef, ...] = ()

    def __post_init__(self) -> None:
        _require_aware(self.fetched_at, "fetched_at")


@dataclass(frozen=True, slots=True)
class MergePolicy:
    """When a snapshot is plausible enough to merge. Thresholds are adepts listed per role; ages in seconds."""

    min_survivor_adepts: int = _DEFAULTS.min_survivor_adepts
    min_killer_adepts: int = _DEFAULTS.min_killer_adepts
    max_snapshot_age_secs: float = _DEFAULTS.max_snapshot_age_secs

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> MergePolicy:
        """The policy of MERGE_MIN_SURVIVOR_ADEPTS, MERGE_MIN_KILLER_ADEPTS and MERGE_MAX_SNAPSHOT_AGE_SECS."""
        return cls(
            min_survivor_adepts=settings.min_survivor_adepts,
            min_killer_adepts=settings.min_killer_adepts,
            max_snapshot_age_secs=settings.max_snapshot_age_secs,
        )

    def min_adepts(self, role: Role, defined: int) -> int:
        """Adepts of `role` a snapshot must list when `defined` adepts of that role exist (threshold lowered)."""
        threshold = self.min_killer_adepts if role is Role.KILLER else self.min_survivor_adepts
        return min(threshold, defined)


class Decision(StrEnum):
    """What became of a snapshot; the values are what the audit trail records."""

    ACCEPTED = "accepted"
    ACCEPTED_WITH_ROLLBACK = "accepted_with_rollback"
    REJECTED_TOO_SMALL = "rejected_too_small"
    REJECTED_OUT_OF_ORDER = "rejected_out_of_order"
    REJECTED_TOO_OLD = "rejected_too_old"

    @property
    def accepted(self) -> bool:
        """True when the snapshot was applied (possibly with rollbacks ignored)."""
        return self in {Decision.ACCEPTED, Decision.ACCEPTED_WITH_ROLLBACK}


@dataclass(frozen=True, slots=True)
class MergeCounts:
    """Counts of one merge (all zero but `snapshot_size` for a rejection).

    `new_unlocks`: achievements unlocked after the merge that were not before. `rollbacks`: stored unlocks the
    snapshot showed locked or omitted (kept unlocked). `earlier_times`: stored unlocks whose time the snapshot
    made earlier or made known. `snapshot_size`: achievements the snapshot listed.
    """

    new_unlocks: int = 0
    rollbacks: int = 0
    earlier_times: int = 0
    snapshot_size: int = 0


@dataclass(frozen=True, slots=True)
class MergeResult:
    """The decision, the truth after it, and what a store must write.

    `state` is the merged state when accepted, else the stored state unchanged (None when nothing is stored).
    `changed` holds the achievements whose stored row must be written (new or different); empty when rejected.
    `rolled_back` names the stored unlocks the snapshot contradicted. `reason` is one line for logs and audit.
    """

    decision: Decision
    state: StoredAchievements | None
    counts: MergeCounts
    reason: str
    changed: Mapping[str, UnlockState] = field(default_factory=dict)
    rolled_back: tuple[str, ...] = ()


def join(a: UnlockState, b: UnlockState) -> UnlockState:
    """The merged state of one achievement: unlocked if either is, at the earliest known time."""
    a_unlocked, a_time = normalise(a)
    b_unlocked, b_time = normalise(b)
    if not (a_unlocked or b_unlocked):
        return LOCKED
    times = [t for t in (a_time, b_time) if t is not None]
    return (True, min(times) if times else None)


def join_states(a: Mapping[str, UnlockState], b: Mapping[str, UnlockState]) -> dict[str, UnlockState]:
    """`join` per api name over the union of both maps (an absent entry counts as locked)."""
    return {name: join(a.get(name, LOCKED), b.get(name, LOCKED)) for name in a.keys() | b.keys()}


def merge(stored: StoredAchievements | None, snapshot: Snapshot, policy: MergePolicy, *, now: datetime) -> MergeResult:
    """Apply the rules of the module docstring; `now` (aware) is the time the merge happens."""
    _require_aware(now, "now")
    size = len(snapshot.states)
    age_secs = (now - snapshot.fetched_at).total_seconds()
    if age_secs > policy.max_snapshot_age_secs:
        return _rejected(
            Decision.REJECTED_TOO_OLD,
            stored,
            size,
            f"snapshot fetched at {snapshot.fetched_at.isoformat()} is {age_secs:.0f}s old; "
            f"the limit is {policy.max_snapshot_age_secs:g}s",
        )
    if stored is not None and snapshot.fetched_at < stored.last_snapshot_at:
        return _rejected(
            Decision.REJECTED_OUT_OF_ORDER,
            stored,
            size,
            f"snapshot fetched at {snapshot.fetched_at.isoformat()} is older than the stored one "
            f"({stored.last_snapshot_at.isoformat()})",
        )
    too_small = _too_small(snapshot, policy)
    if too_small:
        return _rejected(Decision.REJECTED_TOO_SMALL, stored, size, too_small)
    return _accepted(stored, snapshot)


def _too_small(snapshot: Snapshot, policy: MergePolicy) -> str:
    """Why the snapshot lists too few adepts ("" when it lists enough)."""
    defined: Counter[Role] = Counter(d.role for d in snapshot.adepts)
    listed: Counter[Role] = Counter(d.role for d in snapshot.adepts if d.api_name in snapshot.states)
    problems = []
    for role, label in ((Role.SURVIVOR, "survivor"), (Role.KILLER, "killer")):
        need = policy.min_adepts(role, defined[role])
        if listed[role] < need:
            problems.append(f"{listed[role]} {label} adepts listed, at least {need} expected")
    if not problems:
        return ""
    return f"snapshot of {len(snapshot.states)} achievements is implausibly small: " + "; ".join(problems)


def _rejected(decision: Decision, stored: StoredAchievements | None, size: int, reason: str) -> MergeResult:
    return MergeResult(decision, stored, MergeCounts(snapshot_size=size), f"{decision.value}: {reason}")


def _accepted(stored: StoredAchievements | None, snapshot: Snapshot) -> MergeResult:
    before: Mapping[str, UnlockState] = stored.states if stored is not None else {}
    after = join_states(before, snapshot.states)
    changed = {name: state for name, state in after.items() if before.get(name) != state}
    rolled_back = tuple(
        sorted(name for name, (unlocked, _) in before.items() if unlocked and not snapshot.states.get(name, LOCKED)[0])
    )
    new_unlocks = sum(1 for name, (unlocked, _) in after.items() if unlocked and not before.get(name, LOCKED)[0])
    earlier_times = sum(
        1
        for name, (unlocked, when) in after.items()
        if unlocked and when is not None and _earlier(when, before.get(name, LOCKED))
    )
    counts = MergeCounts(new_unlocks, len(rolled_back), earlier_times, len(snapshot.states))
    state = StoredAchievements(after, snapshot.fetched_at)
    summary = (
        f"{counts.new_unlocks} new unlocks, {counts.earlier_times} earlier unlock times, "
        f"{counts.snapshot_size} achievements listed"
    )
    if rolled_back:
        shown = ", ".join(rolled_back[:_NAMES_IN_REASON])
        more = f" and {len(rolled_back) - _NAMES_IN_REASON} more" if len(rolled_back) > _NAMES_IN_REASON else ""
        reason = (
            f"{Decision.ACCEPTED_WITH_ROLLBACK.value}: {len(rolled_back)} stored unlocks shown locked or missing "
            f"were kept (corruption: {shown}{more}); {summary}"
        )
        return MergeResult(Decision.ACCEPTED_WITH_ROLLBACK, state, counts, reason, changed, rolled_back)
    return MergeResult(Decision.ACCEPTED, state, counts, f"{Decision.ACCEPTED.value}: {summary}", changed)


def _earlier(when: datetime, before: UnlockState) -> bool:
    """Whether `when` improves on a stored unlock: earlier than its time, or its time was unknown."""
    was_unlocked, was_time = before
    return was_unlocked and (was_time is None or when < was_time)


__all__ = [
    "LOCKED",
    "Decision",
    "MergeCounts",
    "MergePolicy",
    "MergeResult",
    "Snapshot",
    "StoredAchievements",
    "join",
    "join_states",
    "merge",
    "normalise",
]
