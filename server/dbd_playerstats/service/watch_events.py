"""What a watch tells its callers: one look at a player, and the events between two looks (pure).

A look (`Look`) is one fetch of both parts, live. The first successful look is a watcher's snapshot; after it,
`changes(before, after)` lists what differs: one `StatsChanged` with every raw stat whose value changed (a stat
that appears counts from 0), and one `Unlocked` per achievement unlocked now and not before (adepts with their
character and role). A failed look is a `Problem` (the error, or the achievements part's `Unavailable`); the
watch goes on and the next successful look is compared with the last successful one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dbd_playerstats.domain.adepts import Role
from dbd_playerstats.domain.model import AchievementsPart, AchievementView, StatsPart, Unavailable


@dataclass(frozen=True, slots=True)
class Look:
    """Both parts of one successful look, and when it was made."""

    at: datetime
    stats: StatsPart
    achievements: AchievementsPart


@dataclass(frozen=True, slots=True)
class Snapshot:
    look: Look


@dataclass(frozen=True, slots=True)
class StatsChanged:
    at: datetime
    deltas: tuple[tuple[str, float, float], ...]  # (raw stat name, before, after)
    stats: StatsPart


@dataclass(frozen=True, slots=True)
class Unlocked:
    at: datetime
    achievement: AchievementView
    character: str
    role: Role


@dataclass(frozen=True, slots=True)
class Problem:
    at: datetime
    error: BaseException | Unavailable


WatchEvent = Snapshot | StatsChanged | Unlocked | Problem


def changes(before: Look, after: Look) -> list[WatchEvent]:
    """The events from `before` to `after` (empty when nothing changed)."""
    events: list[WatchEvent] = []
    old = {s.name: float(s.value) for s in before.stats.stats}
    deltas = tuple(
        (s.name, old.get(s.name, 0.0), float(s.value))
        for s in sorted(after.stats.stats, key=lambda stat: stat.name)
        if old.get(s.name) != float(s.value)
    )
    if deltas:
        events.append(StatsChanged(after.at, deltas, after.stats))
    was, now = before.achievements.achievements, after.achievements.achievements
    if was is None or now is None:
        return events
    unlocked_before = {a.api_name for a in was.achievements if a.unlocked}
    adepts = {a.achievement.api_name: a for a in now.adepts}
    for achievement in now.achievements:
        if achievement.unlocked and achievement.api_name not in unlocked_before:
            adept = adepts.get(achievement.api_name)
            character, role = (adept.character, adept.role) if adept is not None else ("", Role.UNSPECIFIED)
            events.append(Unlocked(after.at, achievement, character, role))
    return events


__all__ = ["Look", "Problem", "Snapshot", "StatsChanged", "Unlocked", "WatchEvent", "changes"]
