"""PlayerFetcher with and without a store, against the simulator, with a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

import dbd_playerstats.store as store_api
from dbd_playerstats.cache.catalog import Catalog
from dbd_playerstats.domain.adepts import Role, fallback_adepts
from dbd_playerstats.domain.clock import UtcClock
from dbd_playerstats.domain.model import AchievementsPart, Source, StatsPart
from dbd_playerstats.service.fetcher import Part, PlayerFetcher
from dbd_playerstats.sim import DEMO_STEAM_ID, RunningSimulator, running_simulator
from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.store import AchievementStore, Decision, SqliteStore
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.protocol import DirectUpstream


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """A fresh Steam simulator."""
    async with running_simulator() as running:
        yield running


@pytest.fixture
async def steam(sim: RunningSimulator) -> AsyncIterator[SteamClient]:
    """A Steam client pointed at the simulator."""
    async with aiohttp.ClientSession() as session:
        yield SteamClient(session, base_url=sim.base_url, api_key="sim-key")


async def parts(fetcher: PlayerFetcher) -> tuple[StatsPart, AchievementsPart]:
    """The two parts of one stream for the demo player."""
    got: list[Part] = [p async for p in fetcher.stream(DEMO_STEAM_ID, Deadline.after(10))]
    stats, achievements = got
    assert isinstance(stats, StatsPart)
    assert isinstance(achievements, AchievementsPart)
    return stats, achievements


def fetcher_for(
    steam: SteamClient, store: AchievementStore | None = None, clock: UtcClock | None = None
) -> PlayerFetcher:
    """A fetcher making one attempt per call (with the real clock unless `clock` is given)."""
    upstream = DirectUpstream(5.0)
    if clock is None:
        return PlayerFetcher(steam, upstream, Catalog(steam, upstream), store=store)
    return PlayerFetcher(steam, upstream, Catalog(steam, upstream), store=store, clock=clock)


async def test_without_a_store_achievements_are_served_as_steam_sent_them(
    sim: RunningSimulator, steam: SteamClient
) -> None:
    """store=None keeps the plain behaviour: even an implausibly small answer is served live, unchecked."""
    survivors = [d.api_name for d in fallback_adepts() if d.role is Role.SURVIVOR]
    sim.state.override_achievements(DEMO_STEAM_ID, dict.fromkeys(survivors))
    stats, achievements = await parts(fetcher_for(steam))
    assert stats.provenance.source is Source.LIVE
    assert achievements.provenance is not None
    assert achievements.provenance.source is Source.LIVE
    assert achievements.unavailable is None
    assert achievements.achievements is not None
    # The survivor adepts Steam left out are shown locked: exactly what the store exists to prevent.
    assert achievements.achievements.adept_totals(Role.SURVIVOR) == (0, 46)


async def test_a_snapshot_too_old_by_merge_time_is_rejected(steam: SteamClient, tmp_path: Path) -> None:
    """With a clock two days further on each reading, Steam's answer is too old when merged: rejected, audited."""
    store = await SqliteStore.open(tmp_path / store_api.SQLITE_FILENAME)
    await store.migrate()
    ticks = iter(range(1000))
    start = datetime(2025, 8, 1, tzinfo=UTC)
    fetcher = fetcher_for(steam, store, clock=lambda: start + timedelta(days=2 * next(ticks)))
    try:
        _, achievements = await parts(fetcher)
        audit = await store.audit(DEMO_STEAM_ID)
        assert await store.load_achievements(DEMO_STEAM_ID) is None
    finally:
        await store.close()
    assert achievements.achievements is None
    assert achievements.unavailable is not None
    assert achievements.unavailable.reason == "UPSTREAM_BAD_RESPONSE"
    assert "old; the limit is 86400s" in achievements.unavailable.message
    assert [row.decision for row in audit] == [Decision.REJECTED_TOO_OLD]
