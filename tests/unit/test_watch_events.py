"""The pure parts of watching: what changed between two looks, and how looks are paced to the budget share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dbd_playerstats.domain.adepts import Role
from dbd_playerstats.domain.model import (
    AchievementsPart,
    AchievementsView,
    AchievementView,
    AdeptView,
    Provenance,
    Source,
    StatsPart,
)
from dbd_playerstats.service.watch import LookPacer
from dbd_playerstats.service.watch_events import Look, StatsChanged, Unlocked, changes
from dbd_playerstats.steam.models import PlayerSummary, StatValue, Visibility

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PROFILE = PlayerSummary("76561198000000001", "demo", "https://p", "https://a", Visibility.PUBLIC)


def look(at: datetime, stats: dict[str, int | float], unlocked: set[str]) -> Look:
    names = ("ACH_A", "ACH_ADEPT_NURSE")
    views = tuple(AchievementView(n, n.title(), n in unlocked, T0 if n in unlocked else None, None) for n in names)
    adepts = (AdeptView("Nurse", Role.KILLER, views[1]),)
    part = StatsPart(PROFILE, tuple(StatValue(k, v) for k, v in stats.items()), Provenance(Source.LIVE, at))
    return Look(at, part, AchievementsPart(AchievementsView(adepts, views), Provenance(Source.LIVE, at)))


def test_changes_list_each_changed_stat_and_each_new_unlock() -> None:
    """One StatsChanged with every changed raw stat (a new one from 0), then one Unlocked per new unlock."""
    before = look(T0, {"DBD_Escape": 3, "DBD_BloodwebPoints": 100}, {"ACH_A"})
    after = look(
        T0 + timedelta(seconds=30),
        {"DBD_Escape": 4, "DBD_BloodwebPoints": 100, "DBD_New": 2.5},
        {"ACH_A", "ACH_ADEPT_NURSE"},
    )
    events = changes(before, after)
    assert isinstance(events[0], StatsChanged)
    assert events[0].deltas == (("DBD_Escape", 3.0, 4.0), ("DBD_New", 0.0, 2.5))
    assert [(e.achievement.api_name, e.character, e.role) for e in events[1:] if isinstance(e, Unlocked)] == [
        ("ACH_ADEPT_NURSE", "Nurse", Role.KILLER)
    ]
    assert changes(after, after) == []


async def test_the_pacer_stretches_looks_beyond_the_budget_share() -> None:
    """6 looks a minute: the first 6 go at once, the 7th waits 10 s (one look's share), the 8th 10 s more."""
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    pacer = LookPacer(6, clock=lambda: now[0], sleep=sleep)
    assert [await pacer.turn() for _ in range(6)] == [0.0] * 6
    assert await pacer.turn() == 10.0
    assert await pacer.turn() == 10.0
    assert waits == [10.0, 10.0]
