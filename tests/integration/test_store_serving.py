"""The store through the real server and simulator: merged truth, rejections, stored copies when Steam fails."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import pytest

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.config.settings import Secret, Settings
from dbd_playerstats.domain.achievements import unlock_states
from dbd_playerstats.domain.adepts import Role, fallback_adepts
from dbd_playerstats.sim import (
    DEMO_STEAM_ID,
    FRESH_STEAM_ID,
    PRIVATE_STEAM_ID,
    ErrorRate,
    Fault,
    FaultKind,
    RunningSimulator,
)
from dbd_playerstats.sim.fixtures import ACHIEVEMENTS, FIXED_PLAYERS
from dbd_playerstats.steam.models import PlayerAchievement, PlayerSummary, StatValue, Visibility
from dbd_playerstats.store import Decision, MergePolicy, Snapshot, StatsSnapshot
from tests.support import postgres_schema

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

TIMEOUT = 20.0


async def stream(stub: AsyncStub, player: str = DEMO_STEAM_ID) -> tuple[pb.StatsPart, pb.AchievementsPart]:
    """Both parts of one successful stream."""
    messages = [m async for m in stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=TIMEOUT)]
    assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
    return messages[0].stats, messages[1].achievements


def unlocked(part: pb.AchievementsPart) -> dict[str, int]:
    """api name -> unlock time (epoch seconds) of every unlocked achievement in the part."""
    return {a.api_name: a.unlock_time.seconds for a in part.achievements.achievements if a.unlocked}


def demo_unlocked() -> dict[str, int]:
    """What the simulator's demo player has unlocked, api name -> epoch seconds."""
    player = FIXED_PLAYERS[DEMO_STEAM_ID]
    return {a.api_name: t for a, t in zip(ACHIEVEMENTS, player.unlock_times, strict=True) if t}


def fail_always(sim: RunningSimulator, endpoint: str) -> None:
    """Make every call to `endpoint` a 503, however often the service retries."""
    sim.state.set_error_rate(endpoint, ErrorRate(Fault(FaultKind.HTTP_503), 1.0))


def when(provenance: pb.Provenance) -> datetime:
    """The provenance's fetched_at as an aware datetime."""
    return provenance.fetched_at.ToDatetime(tzinfo=UTC)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared test settings without retries and with a roomy Steam budget: failures here are meant to stick.
    No answer is kept in the caches: every stream here must reach Steam (and the store) again."""
    resilience = replace(settings.resilience, max_retries=0, rate_limit_per_min=6000, burst_limit=100)
    cache = replace(settings.cache, stats_ttl_secs=0, achievements_ttl_secs=0, profile_ttl_secs=0)
    return replace(settings, resilience=resilience, cache=cache)


@pytest.fixture(params=["sqlite", "postgres"])
async def any_backend(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Settings]:
    """The default test settings, once with the SQLite store and once with DATABASE_URL (a fresh schema)."""
    if request.param == "sqlite":
        yield settings
        return
    async with postgres_schema() as url:
        yield replace(settings, store=replace(settings.store, database_url=Secret(url)))


async def test_key_path_merge_rollback_and_stored_copies(any_backend: Settings, sim: RunningSimulator) -> None:
    """Merged, then a rollback ignored, then Steam down: the stored unlocks and stats are served, on both backends."""
    running = await build_server(any_backend, listen="127.0.0.1:0")
    store = running.store
    assert store is not None
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.PlayerStatsServiceStub(channel)
            stats1, ach1 = await stream(stub)
            assert ach1.provenance.source == pb.DATA_SOURCE_LIVE
            assert unlocked(ach1) == demo_unlocked()
            saved = await store.load_stats(DEMO_STEAM_ID)
            assert saved is not None
            assert saved.fetched_at == when(stats1.provenance)
            assert len(saved.stats) == len(stats1.stats.raw_stats) == 283

            victim, vanished = sorted(demo_unlocked())[:2]
            sim.state.override_achievements(DEMO_STEAM_ID, {victim: 0, vanished: None})
            stats2, ach2 = await stream(stub)
            assert ach2.provenance.source == pb.DATA_SOURCE_LIVE
            assert not ach2.HasField("unavailable")
            assert unlocked(ach2) == demo_unlocked()  # both stored unlocks kept, with their times

            fail_always(sim, "achievements")
            fail_always(sim, "stats")
            stats3, ach3 = await stream(stub)
            assert stats3.provenance.source == pb.DATA_SOURCE_STORED
            assert stats3.provenance.stale
            assert when(stats3.provenance) == when(stats2.provenance)
            assert stats3.stats == stats2.stats
            assert ach3.provenance.source == pb.DATA_SOURCE_STORED
            assert when(ach3.provenance) == when(ach2.provenance)
            assert not ach3.provenance.stale
            assert ach3.unavailable.code == grpc.StatusCode.UNAVAILABLE.value[0]
            assert ach3.unavailable.reason.startswith("UPSTREAM_")
            assert unlocked(ach3) == demo_unlocked()
        audit = await store.audit(DEMO_STEAM_ID)
        assert [row.decision for row in audit] == [Decision.ACCEPTED, Decision.ACCEPTED_WITH_ROLLBACK]
        assert audit[0].counts.new_unlocks == len(demo_unlocked())
        assert audit[1].counts.rollbacks == 2
        assert f"corruption: {victim}, {vanished}" in audit[1].reason
    finally:
        await running.stop(None)


async def test_too_small_snapshot_serves_the_stored_truth(
    stub: AsyncStub, server: RunningServer, sim: RunningSimulator
) -> None:
    """Steam listing too few survivor adepts is rejected: the stored copy is served, with why, and audited."""
    _, first = await stream(stub)
    survivors = [d.api_name for d in fallback_adepts() if d.role is Role.SURVIVOR]
    sim.state.override_achievements(DEMO_STEAM_ID, dict.fromkeys(survivors[:30]))  # 16 of 46 left
    _, second = await stream(stub)
    assert second.provenance.source == pb.DATA_SOURCE_STORED
    assert when(second.provenance) == when(first.provenance)
    assert second.unavailable.reason == "UPSTREAM_BAD_RESPONSE"
    assert "16 survivor adepts listed, at least 20 expected" in second.unavailable.message
    assert unlocked(second) == demo_unlocked()
    assert len(second.achievements.adepts) == 84
    assert server.store is not None
    audit = await server.store.audit(DEMO_STEAM_ID)
    assert [row.decision for row in audit] == [Decision.ACCEPTED, Decision.REJECTED_TOO_SMALL]


async def test_too_small_first_snapshot_leaves_nothing_to_serve(
    stub: AsyncStub, server: RunningServer, sim: RunningSimulator
) -> None:
    """With nothing stored, a rejected snapshot gives no achievements, only `unavailable`, and stores nothing."""
    killers = [d.api_name for d in fallback_adepts() if d.role is Role.KILLER]
    sim.state.override_achievements(FRESH_STEAM_ID, dict.fromkeys(killers))
    stats, part = await stream(stub, FRESH_STEAM_ID)
    assert stats.provenance.source == pb.DATA_SOURCE_LIVE
    assert not part.HasField("achievements")
    assert not part.HasField("provenance")
    assert part.unavailable.reason == "UPSTREAM_BAD_RESPONSE"
    assert "0 killer adepts listed" in part.unavailable.message
    assert server.store is not None
    assert await server.store.load_achievements(FRESH_STEAM_ID) is None
    assert [row.decision for row in await server.store.audit(FRESH_STEAM_ID)] == [Decision.REJECTED_TOO_SMALL]


async def test_out_of_order_snapshot_serves_the_newer_stored_copy(stub: AsyncStub, server: RunningServer) -> None:
    """A stored snapshot newer than Steam's answer (another replica, later) wins: served STORED, no `unavailable`."""
    assert server.store is not None
    newer_at = datetime.now(UTC) + timedelta(hours=1)
    player = FIXED_PLAYERS[DEMO_STEAM_ID]
    locked_name = next(a.api_name for a, t in zip(ACHIEVEMENTS, player.unlock_times, strict=True) if not t)
    extra_time = datetime(2025, 7, 1, tzinfo=UTC)
    states = unlock_states(
        tuple(
            PlayerAchievement(a.api_name, bool(t), datetime.fromtimestamp(t, UTC) if t else None)
            for a, t in zip(ACHIEVEMENTS, player.unlock_times, strict=True)
        )
    )
    states[locked_name] = (True, extra_time)
    seeded = await server.store.merge_achievements(
        DEMO_STEAM_ID, Snapshot(states, newer_at, fallback_adepts()), MergePolicy(), now=newer_at
    )
    assert seeded.decision is Decision.ACCEPTED
    _, part = await stream(stub)
    assert part.provenance.source == pb.DATA_SOURCE_STORED
    assert when(part.provenance) == newer_at
    assert not part.HasField("unavailable")
    assert unlocked(part) == demo_unlocked() | {locked_name: int(extra_time.timestamp())}
    audit = await server.store.audit(DEMO_STEAM_ID)
    assert [row.decision for row in audit] == [Decision.ACCEPTED, Decision.REJECTED_OUT_OF_ORDER]


async def test_stored_profile_stands_in_when_profile_and_stats_fail(
    stub: AsyncStub, server: RunningServer, sim: RunningSimulator
) -> None:
    """With profile and stats both down, the stored stats come with the profile stored beside them."""
    stats1, _ = await stream(stub)
    fail_always(sim, "stats")
    fail_always(sim, "profile")
    stats2, _ = await stream(stub)
    assert stats2.provenance.source == pb.DATA_SOURCE_STORED
    assert stats2.provenance.stale
    assert stats2.profile == stats1.profile
    assert stats2.stats == stats1.stats


async def test_private_player_never_gets_stored_stats(stub: AsyncStub, server: RunningServer) -> None:
    """Stored stats of a player who is private now are not served: the error is PROFILE_PRIVATE as before."""
    assert server.store is not None
    profile = PlayerSummary(PRIVATE_STEAM_ID, "Once public", "https://x/", "https://y.jpg", Visibility.PUBLIC)
    await server.store.save_stats(
        PRIVATE_STEAM_ID, StatsSnapshot(profile, (StatValue("DBD_Escape", 3),), datetime.now(UTC))
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stream(stub, PRIVATE_STEAM_ID)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_stats_older_than_the_limit_are_not_served(
    stub: AsyncStub, server: RunningServer, sim: RunningSimulator
) -> None:
    """A stored stats snapshot older than STALE_STATS_MAX_AGE_SECS does not hide Steam's failure."""
    assert server.store is not None
    profile = PlayerSummary(DEMO_STEAM_ID, "Demo Survivor", "https://x/", "https://y.jpg", Visibility.PUBLIC)
    old = datetime.now(UTC) - timedelta(seconds=86400 + 60)
    await server.store.save_stats(DEMO_STEAM_ID, StatsSnapshot(profile, (StatValue("DBD_Escape", 3),), old))
    fail_always(sim, "stats")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stream(stub)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_store_failure_never_breaks_live_serving(
    stub: AsyncStub, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """With the store gone, both parts are still served live, and the lost write is logged at ERROR."""
    assert server.store is not None
    await server.store.close()
    with caplog.at_level(logging.ERROR, logger="dbd_playerstats.service.store_guard"):
        stats, part = await stream(stub)
    assert stats.provenance.source == pb.DATA_SOURCE_LIVE
    assert part.provenance.source == pb.DATA_SOURCE_LIVE
    assert unlocked(part) == demo_unlocked()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("achievements snapshot of 76561198000000001" in m and "NOT stored" in m for m in errors)
    assert any("stats snapshot of 76561198000000001" in m and "NOT stored" in m for m in errors)
