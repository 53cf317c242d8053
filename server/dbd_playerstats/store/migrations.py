"""Versioned schema migrations, shared by SQLite and PostgreSQL.

`schema_version` holds one row per applied migration. At start-up `apply_migrations` runs inside one
transaction that holds the backend's migration lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-level
advisory lock), reads the applied versions and applies the missing ones in order, so running it again, or from
two replicas at once, changes nothing. A database whose version is newer than this release knows is refused.

The SQL is written once: times are BIGINT microseconds since the Unix epoch (UTC) and flags BOOLEAN in both
backends; the only dialect difference is the audit table's generated key (`{autoid}`). Never edit a released
migration: append a new one.

Schema (version 1)::

    players          steam_id PK, last_snapshot_at_us (NULL until a snapshot is accepted), updated_at_us
    achievements     (steam_id, api_name) PK -> players, unlocked, unlock_time_us (NULL: locked or unknown)
    stats_snapshots  steam_id PK, fetched_at_us, profile_json, stats_json (the last good stats)
    merge_audit      id, steam_id, at_us, snapshot_at_us, decision, new_unlocks, rollbacks, earlier_times,
                     snapshot_size, reason

Version 2 (history, `store/history.py`)::

    stats_history    (steam_id, fetched_at_us) PK, stats_json: the stats sorted by name, a row only when some
                     value differs from the player's previous row
    unlock_history   (steam_id, api_name) PK, unlock_time_us (Steam's, NULL when unknown), first_seen_us
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from dbd_playerstats.store.sql import Tx


class Dialect(StrEnum):
    """The SQL dialects the store speaks."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"


_SUBSTITUTIONS: Final[dict[Dialect, dict[str, str]]] = {
    Dialect.SQLITE: {"autoid": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    Dialect.POSTGRES: {"autoid": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
}


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: applied once, in `version` order, in the migration transaction."""

    version: int
    description: str
    statements: tuple[str, ...]

    def render(self, dialect: Dialect) -> tuple[str, ...]:
        """The statements with the dialect's substitutions applied."""
        return tuple(statement.format_map(_SUBSTITUTIONS[dialect]) for statement in self.statements)


SCHEMA_VERSION_DDL: Final = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at_us BIGINT NOT NULL
)"""

MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "players, achievements, stats snapshots, merge audit",
        (
            """
            CREATE TABLE players (
                steam_id TEXT PRIMARY KEY,
                last_snapshot_at_us BIGINT,
                updated_at_us BIGINT NOT NULL
            )""",
            """
            CREATE TABLE achievements (
                steam_id TEXT NOT NULL REFERENCES players (steam_id) ON DELETE CASCADE,
                api_name TEXT NOT NULL,
                unlocked BOOLEAN NOT NULL,
                unlock_time_us BIGINT,
                PRIMARY KEY (steam_id, api_name),
                CHECK (unlocked OR unlock_time_us IS NULL)
            )""",
            """
            CREATE TABLE stats_snapshots (
                steam_id TEXT PRIMARY KEY,
                fetched_at_us BIGINT NOT NULL,
                profile_json TEXT NOT NULL,
                stats_json TEXT NOT NULL
            )""",
            """
            CREATE TABLE merge_audit (
                id {autoid},
                steam_id TEXT NOT NULL,
                at_us BIGINT NOT NULL,
                snapshot_at_us BIGINT NOT NULL,
                decision TEXT NOT NULL,
                new_unlocks INTEGER NOT NULL,
                rollbacks INTEGER NOT NULL,
                earlier_times INTEGER NOT NULL,
                snapshot_size INTEGER NOT NULL,
                reason TEXT NOT NULL
            )""",
            "CREATE INDEX merge_audit_by_player ON merge_audit (steam_id, id)",
        ),
    ),
    Migration(
        2,
        "history: stats snapshots that changed, and the unlock timeline",
        (
            """
            CREATE TABLE stats_history (
                steam_id TEXT NOT NULL,
                fetched_at_us BIGINT NOT NULL,
                stats_json TEXT NOT NULL,
                PRIMARY KEY (steam_id, fetched_at_us)
            )""",
            """
            CREATE TABLE unlock_history (
                steam_id TEXT NOT NULL,
                api_name TEXT NOT NULL,
                unlock_time_us BIGINT,
                first_seen_us BIGINT NOT NULL,
                PRIMARY KEY (steam_id, api_name)
            )""",
            "CREATE INDEX stats_history_by_time ON stats_history (fetched_at_us)",
            "CREATE INDEX unlock_history_by_first_seen ON unlock_history (first_seen_us)",
        ),
    ),
)
"""Every migration, oldest first; versions are 1, 2, 3, ... without gaps."""

LATEST_VERSION: Final = MIGRATIONS[-1].version


class SchemaTooNewError(Exception):
    """The database was migrated by a newer release than this one."""


async def apply_migrations(tx: Tx, dialect: Dialect, *, now_us: int) -> list[int]:
    """Apply the missing migrations inside `tx` (which must hold the migration lock); return their versions."""
    await tx.execute(SCHEMA_VERSION_DDL)
    applied = {int(row[0]) for row in await tx.fetch("SELECT version FROM schema_version")}
    newest = max(applied, default=0)
    if newest > LATEST_VERSION:
        raise SchemaTooNewError(
            f"the store's schema is at version {newest}, newer than this release knows ({LATEST_VERSION})"
        )
    done: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in applied:
            continue
        for statement in migration.render(dialect):
            await tx.execute(statement)
        await tx.execute(
            "INSERT INTO schema_version (version, description, applied_at_us) VALUES ($1, $2, $3)",
            migration.version,
            migration.description,
            now_us,
        )
        done.append(migration.version)
    return done


__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "SCHEMA_VERSION_DDL",
    "Dialect",
    "Migration",
    "SchemaTooNewError",
    "apply_migrations",
]
