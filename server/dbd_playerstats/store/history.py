"""Change over time: the stats snapshots that differ from the one before, and when each unlock was first seen.

Written inside the transactions that store what Steam said (`SqlStore.save_stats`, `merge_achievements`), so
history is recorded from every observation, a request's or a watch's, and never disagrees with the latest
snapshot. Pure SQL over the store's `Tx`, the same for SQLite and PostgreSQL; rows older than the retention are
deleted by `prune` (the service runs it in the background).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from dbd_playerstats.domain.achievements import UnlockState
from dbd_playerstats.steam.models import StatValue
from dbd_playerstats.store import jsontext

if TYPE_CHECKING:
    from dbd_playerstats.store.sql import Tx

LATEST_STATS: Final = """
SELECT stats_json FROM stats_history WHERE steam_id = $1 ORDER BY fetched_at_us DESC LIMIT 1"""
INSERT_STATS: Final = """
INSERT INTO stats_history (steam_id, fetched_at_us, stats_json) VALUES ($1, $2, $3)
ON CONFLICT (steam_id, fetched_at_us) DO NOTHING"""
INSERT_UNLOCK: Final = """
INSERT INTO unlock_history (steam_id, api_name, unlock_time_us, first_seen_us) VALUES ($1, $2, $3, $4)
ON CONFLICT (steam_id, api_name) DO NOTHING"""
SELECT_STATS: Final = """
SELECT fetched_at_us, stats_json FROM stats_history WHERE steam_id = $1 AND fetched_at_us >= $2
ORDER BY fetched_at_us"""
SELECT_UNLOCKS: Final = """
SELECT api_name, unlock_time_us, first_seen_us FROM unlock_history WHERE steam_id = $1 AND first_seen_us >= $2
ORDER BY COALESCE(unlock_time_us, first_seen_us), first_seen_us, api_name"""
PRUNE_STATS: Final = "DELETE FROM stats_history WHERE fetched_at_us < $1"
PRUNE_UNLOCKS: Final = "DELETE FROM unlock_history WHERE first_seen_us < $1"


@dataclass(frozen=True, slots=True)
class StatsPoint:
    """One stored stats snapshot: when Steam produced it, and every stat by raw name."""

    fetched_at_us: int
    stats: Mapping[str, int | float]


@dataclass(frozen=True, slots=True)
class UnlockPoint:
    """One achievement's unlock: Steam's unlock time (None when unknown) and when the service first saw it."""

    api_name: str
    unlock_time_us: int | None
    first_seen_us: int


@dataclass(frozen=True, slots=True)
class History:
    """A player's stats snapshots (oldest first) and unlocks (by unlock time, oldest first)."""

    stats: tuple[StatsPoint, ...]
    unlocks: tuple[UnlockPoint, ...]


async def record_stats(tx: Tx, steam_id: str, fetched_at_us: int, stats: Iterable[StatValue]) -> bool:
    """Add a snapshot row when some value differs from the player's latest one; True when a row was added.

    Compared as values, not as text: rows written by an earlier release spell the same JSON differently."""
    values = sorted([s.name, s.value] for s in stats)
    encoded = jsontext.dumps(values)
    latest = await tx.fetch(LATEST_STATS, steam_id)
    if latest and json.loads(str(latest[0][0])) == values:
        return False
    await tx.execute(INSERT_STATS, steam_id, fetched_at_us, encoded)
    return True


async def record_unlocks(
    tx: Tx,
    steam_id: str,
    before: Mapping[str, UnlockState],
    changed: Mapping[str, UnlockState],
    *,
    seen_at_us: int,
    to_us: Callable[[datetime], int],
) -> int:
    """Add the achievements `changed` unlocks that `before` had locked (or did not have); their count."""
    rows = [
        (steam_id, name, None if when is None else to_us(when), seen_at_us)
        for name, (unlocked, when) in sorted(changed.items())
        if unlocked and not before.get(name, (False, None))[0]
    ]
    if rows:
        await tx.executemany(INSERT_UNLOCK, rows)
    return len(rows)


async def load_history(tx: Tx, steam_id: str, *, since_us: int) -> History:
    """The player's history from `since_us` on (0: all retained)."""
    stats = tuple(
        StatsPoint(int(at_us), {str(name): value for name, value in json.loads(str(encoded))})
        for at_us, encoded in await tx.fetch(SELECT_STATS, steam_id, since_us)
    )
    unlocks = tuple(
        UnlockPoint(str(name), None if when_us is None else int(when_us), int(seen_us))
        for name, when_us, seen_us in await tx.fetch(SELECT_UNLOCKS, steam_id, since_us)
    )
    return History(stats, unlocks)


async def prune(tx: Tx, *, before_us: int) -> None:
    """Delete history rows older than `before_us` (stats by fetch time, unlocks by first sight)."""
    await tx.execute(PRUNE_STATS, before_us)
    await tx.execute(PRUNE_UNLOCKS, before_us)


__all__ = ["History", "StatsPoint", "UnlockPoint", "load_history", "prune", "record_stats", "record_unlocks"]
