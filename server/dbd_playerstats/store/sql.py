"""The store logic both SQL backends share: one set of statements, one merge transaction, one row mapping.

Statements use PostgreSQL's numbered placeholders (`$1`); the SQLite backend rewrites them to SQLite's `?1`.
A backend supplies only connections and transactions (`SqlStore._transaction`), and translates its driver's
exceptions into `StoreError` inside its `Tx`.

The merge transaction (`merge_achievements`)::

    BEGIN + the player's lock        SQLite: BEGIN IMMEDIATE (the database write lock, taken before reading)
                                     PostgreSQL: ensure the players row, then SELECT ... FOR UPDATE on it
    read players + achievements      the stored state, seen only after the lock is held
    merge(stored, snapshot, policy)  pure (store.merge)
    write players + changed rows     only when accepted
    insert merge_audit               always
    COMMIT
"""

from __future__ import annotations

import functools
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol, TypeVar

from dbd_playerstats.domain.achievements import UnlockState
from dbd_playerstats.domain.merge import (
    Decision,
    MergeCounts,
    MergePolicy,
    MergeResult,
    Snapshot,
    StoredAchievements,
    merge,
)
from dbd_playerstats.steam.models import PlayerSummary, StatValue, Visibility
from dbd_playerstats.store import history, jsontext
from dbd_playerstats.store.base import AuditRow, StatsSnapshot, StoreError
from dbd_playerstats.store.migrations import LATEST_VERSION, Dialect, SchemaTooNewError, apply_migrations

T = TypeVar("T")

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_PLACEHOLDER: Final = re.compile(r"\$(\d+)")


class Tx(Protocol):
    """Statements inside one transaction; every method raises StoreError when the driver fails."""

    async def fetch(self, sql: str, *args: object) -> Sequence[Sequence[Any]]:
        """Rows of a query (or of a statement with RETURNING)."""
        ...

    async def execute(self, sql: str, *args: object) -> None:
        """Run one statement."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement once per row of arguments."""
        ...


@functools.lru_cache(maxsize=256)
def sqlite_placeholders(sql: str) -> str:
    """`$1` -> `?1`: SQLite's numbered parameters bind by position just as PostgreSQL's do. Memoized: the
    statements are the module's constants, rewritten once each instead of once per execution."""
    return _PLACEHOLDER.sub(r"?\1", sql)


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch (exact integer arithmetic; `moment` must be aware)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(micros: int) -> datetime:
    """The aware UTC datetime of `to_us`."""
    return _EPOCH + timedelta(microseconds=micros)


SELECT_STATE: Final = """
SELECT p.last_snapshot_at_us, a.api_name, a.unlocked, a.unlock_time_us
FROM players p LEFT JOIN achievements a ON a.steam_id = p.steam_id
WHERE p.steam_id = $1"""
UPSERT_PLAYER: Final = """
INSERT INTO players (steam_id, last_snapshot_at_us, updated_at_us) VALUES ($1, $2, $3)
ON CONFLICT (steam_id) DO UPDATE
SET last_snapshot_at_us = excluded.last_snapshot_at_us, updated_at_us = excluded.updated_at_us"""
UPSERT_ACHIEVEMENT: Final = """
INSERT INTO achievements (steam_id, api_name, unlocked, unlock_time_us) VALUES ($1, $2, $3, $4)
ON CONFLICT (steam_id, api_name) DO UPDATE
SET unlocked = excluded.unlocked, unlock_time_us = excluded.unlock_time_us"""
INSERT_AUDIT: Final = """
INSERT INTO merge_audit
    (steam_id, at_us, snapshot_at_us, decision, new_unlocks, rollbacks, earlier_times, snapshot_size, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"""
SELECT_AUDIT: Final = """
SELECT at_us, snapshot_at_us, decision, new_unlocks, rollbacks, earlier_times, snapshot_size, reason
FROM merge_audit WHERE steam_id = $1 ORDER BY id"""
UPSERT_STATS: Final = """
INSERT INTO stats_snapshots (steam_id, fetched_at_us, profile_json, stats_json) VALUES ($1, $2, $3, $4)
ON CONFLICT (steam_id) DO UPDATE
SET fetched_at_us = excluded.fetched_at_us, profile_json = excluded.profile_json, stats_json = excluded.stats_json
WHERE excluded.fetched_at_us >= stats_snapshots.fetched_at_us
RETURNING steam_id"""
SELECT_STATS: Final = "SELECT fetched_at_us, profile_json, stats_json FROM stats_snapshots WHERE steam_id = $1"
SELECT_VERSIONS: Final = "SELECT version FROM schema_version ORDER BY version"


class SqlStore(ABC):
    """`AchievementStore` over any backend that provides `_transaction`."""

    dialect: Dialect

    @abstractmethod
    def _transaction(self, *, lock_player: str | None = None, write: bool = True) -> AbstractAsyncContextManager[Tx]:
        """A transaction, committed when the block ends normally and rolled back otherwise.

        `lock_player` holds that player's merge lock for the whole transaction; `write=False` is a read-only,
        consistent snapshot. The migration transaction (`_migration_transaction`) holds the migration lock.
        """

    @abstractmethod
    def _migration_transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A write transaction holding the lock that serialises migrations across processes."""

    @abstractmethod
    async def close(self) -> None:
        """Release the backend's connections."""

    async def migrate(self) -> int:
        async with self._migration_transaction() as tx:
            try:
                await apply_migrations(tx, self.dialect, now_us=to_us(datetime.now(UTC)))
            except SchemaTooNewError as exc:
                raise StoreError(str(exc)) from exc
        return LATEST_VERSION

    async def applied_migrations(self) -> list[int]:
        """Versions recorded in schema_version, in order (empty before the first `migrate`)."""
        async with self._transaction(write=False) as tx:
            if not await tx.fetch(_TABLE_EXISTS[self.dialect], "schema_version"):
                return []
            rows = await tx.fetch(SELECT_VERSIONS)
        return [int(row[0]) for row in rows]

    async def _write(self, body: Callable[[Tx], Awaitable[T]], *, lock_player: str | None = None) -> T:
        """`body` in a write transaction, committed before this returns (rolled back if it raises).

        Its own transaction here; a backend may run concurrent writes in one shared transaction instead, each
        isolated by a savepoint (SQLite's group commit, `SqliteStore._write`)."""
        async with self._transaction(lock_player=lock_player) as tx:
            return await body(tx)

    async def merge_achievements(
        self, steam_id: str, snapshot: Snapshot, policy: MergePolicy, *, now: datetime | None = None
    ) -> MergeResult:
        at = now if now is not None else datetime.now(UTC)

        async def body(tx: Tx) -> MergeResult:
            return await _merge_in(tx, steam_id, snapshot, policy, now=at)

        return await self._write(body, lock_player=steam_id)

    def _reading(self) -> AbstractAsyncContextManager[Tx]:
        """For a read of one statement, which is its own consistent snapshot: a backend may skip the transaction
        around it (SQLite: one round trip to its thread instead of three)."""
        return self._transaction(write=False)

    async def load_achievements(self, steam_id: str) -> StoredAchievements | None:
        async with self._reading() as tx:
            return await _load_achievements(tx, steam_id)

    async def save_stats(self, steam_id: str, snapshot: StatsSnapshot) -> bool:
        profile_json, stats_json = encode_stats(snapshot)

        async def body(tx: Tx) -> bool:
            written = await tx.fetch(UPSERT_STATS, steam_id, to_us(snapshot.fetched_at), profile_json, stats_json)
            if written:
                await history.record_stats(tx, steam_id, to_us(snapshot.fetched_at), snapshot.stats)
            return bool(written)

        return await self._write(body)

    async def load_history(self, steam_id: str, *, since: datetime | None = None) -> history.History:
        async with self._transaction(write=False) as tx:
            return await history.load_history(tx, steam_id, since_us=0 if since is None else to_us(since))

    async def prune_history(self, *, before: datetime) -> None:
        async with self._transaction() as tx:
            await history.prune(tx, before_us=to_us(before))

    async def load_stats(self, steam_id: str) -> StatsSnapshot | None:
        async with self._reading() as tx:
            rows = await tx.fetch(SELECT_STATS, steam_id)
        if not rows:
            return None
        fetched_at_us, profile_json, stats_json = rows[0]
        return decode_stats(int(fetched_at_us), str(profile_json), str(stats_json))

    async def audit(self, steam_id: str) -> list[AuditRow]:
        async with self._reading() as tx:
            rows = await tx.fetch(SELECT_AUDIT, steam_id)
        return [
            AuditRow(
                at=from_us(int(at_us)),
                snapshot_at=from_us(int(snapshot_at_us)),
                decision=Decision(str(decision)),
                counts=MergeCounts(int(new_unlocks), int(rollbacks), int(earlier), int(size)),
                reason=str(reason),
            )
            for at_us, snapshot_at_us, decision, new_unlocks, rollbacks, earlier, size, reason in rows
        ]


_TABLE_EXISTS: Final[dict[Dialect, str]] = {
    Dialect.SQLITE: "SELECT name FROM sqlite_master WHERE type = 'table' AND name = $1",
    Dialect.POSTGRES: "SELECT to_regclass($1)::text WHERE to_regclass($1) IS NOT NULL",
}


async def _merge_in(tx: Tx, steam_id: str, snapshot: Snapshot, policy: MergePolicy, *, now: datetime) -> MergeResult:
    """The merge transaction's statements (module docstring), inside `tx`, which holds the player's lock."""
    stored = await _load_achievements(tx, steam_id)
    result = merge(stored, snapshot, policy, now=now)
    if result.decision.accepted and result.state is not None:
        await tx.execute(UPSERT_PLAYER, steam_id, to_us(result.state.last_snapshot_at), to_us(now))
        if result.changed:
            await tx.executemany(
                UPSERT_ACHIEVEMENT,
                [_achievement_row(steam_id, name, state) for name, state in sorted(result.changed.items())],
            )
            before = stored.states if stored is not None else {}
            await history.record_unlocks(tx, steam_id, before, result.changed, seen_at_us=to_us(now), to_us=to_us)
    counts = result.counts
    await tx.execute(
        INSERT_AUDIT,
        steam_id,
        to_us(now),
        to_us(snapshot.fetched_at),
        result.decision.value,
        counts.new_unlocks,
        counts.rollbacks,
        counts.earlier_times,
        counts.snapshot_size,
        result.reason,
    )
    return result


async def _load_achievements(tx: Tx, steam_id: str) -> StoredAchievements | None:
    """The player's stored state, read in one statement (so one snapshot, also outside a transaction)."""
    rows = await tx.fetch(SELECT_STATE, steam_id)
    if not rows or rows[0][0] is None:
        return None
    states: dict[str, UnlockState] = {}
    for _, api_name, unlocked, unlock_time_us in rows:
        if api_name is not None:  # a player without achievement rows yet: the LEFT JOIN's one row of NULLs
            states[str(api_name)] = (bool(unlocked), None if unlock_time_us is None else from_us(int(unlock_time_us)))
    return StoredAchievements(states, from_us(int(rows[0][0])))


def _achievement_row(steam_id: str, api_name: str, state: UnlockState) -> tuple[object, ...]:
    unlocked, when = state
    return (steam_id, api_name, unlocked, None if when is None or not unlocked else to_us(when))


def encode_stats(snapshot: StatsSnapshot) -> tuple[str, str]:
    """(profile JSON, stats JSON) of a snapshot; StoreError for values JSON cannot hold (NaN, infinity)."""
    profile = snapshot.profile
    try:
        profile_json = jsontext.dumps(
            {
                "steam_id": profile.steam_id,
                "persona_name": profile.persona_name,
                "profile_url": profile.profile_url,
                "avatar_url": profile.avatar_url,
                "visibility": int(profile.visibility),
            }
        )
        stats_json = jsontext.dumps([[s.name, s.value] for s in snapshot.stats])
    except ValueError as exc:
        raise StoreError(f"stats snapshot not stored: {exc}") from exc
    return profile_json, stats_json


def decode_stats(fetched_at_us: int, profile_json: str, stats_json: str) -> StatsSnapshot:
    """The snapshot `encode_stats` wrote (ints stay ints and floats floats, as JSON keeps them apart)."""
    raw_profile = json.loads(profile_json)
    visibility = int(raw_profile["visibility"])
    profile = PlayerSummary(
        steam_id=str(raw_profile["steam_id"]),
        persona_name=str(raw_profile["persona_name"]),
        profile_url=str(raw_profile["profile_url"]),
        avatar_url=str(raw_profile["avatar_url"]),
        visibility=Visibility(visibility) if visibility in set(Visibility) else Visibility.UNKNOWN,
    )
    stats = tuple(StatValue(str(name), value) for name, value in json.loads(stats_json))
    return StatsSnapshot(profile=profile, stats=stats, fetched_at=from_us(fetched_at_us))


__all__ = [
    "SqlStore",
    "Tx",
    "decode_stats",
    "encode_stats",
    "from_us",
    "sqlite_placeholders",
    "to_us",
]
