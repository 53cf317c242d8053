"""The one interface every achievements store implements, and the values it takes and returns.

A store keeps, per player: each achievement's unlocked flag and earliest unlock time, the last accepted snapshot
time, the last good stats snapshot (with the profile it came with) and an audit trail of merge decisions.
Backends: `SqliteStore` (embedded, the default) and `PostgresStore` (shared by replicas); both pass one contract
test suite. Every driver failure leaves a store as a `StoreError`, so callers catch exactly one type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from dbd_playerstats.domain.merge import Decision, MergeCounts, MergePolicy, MergeResult, Snapshot, StoredAchievements
from dbd_playerstats.steam.models import PlayerSummary, StatValue


class StoreError(OSError):
    """The store could not be opened, read or written; the driver's exception is chained as `__cause__`.

    An OSError so that start-up failures (bad DATABASE_URL, unreachable database, unwritable
    PLAYERSTATS_DATA_DIR) end `playerstats-server` with its one-line error, like a port that cannot be bound.
    Messages never contain the database password.
    """


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """The last good stats of a player: the profile and stats exactly as parsed, and when Steam sent them (UTC)."""

    profile: PlayerSummary
    stats: tuple[StatValue, ...]
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One merge decision: `at` when the merge ran, `snapshot_at` the snapshot's Steam fetch time (both UTC)."""

    at: datetime
    snapshot_at: datetime
    decision: Decision
    counts: MergeCounts
    reason: str


if TYPE_CHECKING:
    from dbd_playerstats.store.history import History


class AchievementStore(Protocol):
    """Durable per-player truth. Every method raises `StoreError` when the backend fails."""

    async def migrate(self) -> int:
        """Apply pending schema migrations in order (idempotent; safe when replicas start together).

        Returns the schema version now in force.
        """
        ...

    async def merge_achievements(
        self, steam_id: str, snapshot: Snapshot, policy: MergePolicy, *, now: datetime | None = None
    ) -> MergeResult:
        """Merge `snapshot` into the stored state in ONE transaction that holds the player's lock, and audit it.

        Concurrent merges for one player (other tasks, other processes, other replicas) are serialised, so
        none loses an unlock. `now` (default: the current UTC time) is the merge time used for the age rule.
        The result's `state` is the truth after the commit.
        """
        ...

    async def load_achievements(self, steam_id: str) -> StoredAchievements | None:
        """The stored state, or None when no snapshot of the player was ever accepted."""
        ...

    async def save_stats(self, steam_id: str, snapshot: StatsSnapshot) -> bool:
        """Keep `snapshot` as the player's last good stats unless a newer one is stored; True when written."""
        ...

    async def load_stats(self, steam_id: str) -> StatsSnapshot | None:
        """The last good stats snapshot, or None."""
        ...

    async def audit(self, steam_id: str) -> list[AuditRow]:
        """The player's merge decisions, oldest first."""
        ...

    async def load_history(self, steam_id: str, *, since: datetime | None = None) -> History:
        """The player's stats snapshots that changed and unlock timeline, from `since` (None: all retained)."""
        ...

    async def prune_history(self, *, before: datetime) -> None:
        """Delete history older than `before`."""
        ...

    async def close(self) -> None:
        """Wait for the operation in progress, then release connections; later calls raise StoreError."""
        ...


__all__ = ["AchievementStore", "AuditRow", "StatsSnapshot", "StoreError"]
