"""Caching through the real server and simulator: hits are CACHE with the original fetch time, TTL 0 disables,
failures are never kept, and the store sees one write per upstream answer (a hit serves the merged truth)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import duration_pb2

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.domain.achievements import unlock_states
from dbd_playerstats.domain.adepts import fallback_adepts
from dbd_playerstats.sim import DEMO_STEAM_ID, PRIVATE_STEAM_ID, FaultKind, RunningSimulator
from dbd_playerstats.sim.fixtures import ACHIEVEMENTS, FIXED_PLAYERS
from dbd_playerstats.steam.models import PlayerAchievement
from dbd_playerstats.store import Decision, MergePolicy, Snapshot
from tests.support import error_details

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

PLAYER_ENDPOINTS = ("profile", "stats", "achievements")
StartFn = Callable[..., Awaitable[tuple[RunningServer, "AsyncStub"]]]


@pytest.fixture
async def start(settings: Settings) -> AsyncIterator[StartFn]:
    """Start the real server (on the simulator) with a roomy Steam budget, no caller quota, and `resilience` and
    cache overrides."""
    running: list[RunningServer] = []
    channels: list[grpc.aio.Channel] = []

    async def start(
        *, resilience: Mapping[str, float] | None = None, **cache: float
    ) -> tuple[RunningServer, AsyncStub]:
        configured = replace(
            settings,
            resilience=replace(
                settings.resilience,
                **{"rate_limit_per_min": 100_000, "burst_limit": 1000, **(resilience or {})},  # type: ignore[arg-type]
            ),
            limits=replace(settings.limits, caller_quota_per_min=0),
            cache=replace(settings.cache, **cache),  # type: ignore[arg-type]
        )
        running.append(await build_server(configured, listen="127.0.0.1:0"))
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{running[-1].port}"))
        return running[-1], pb_grpc.PlayerStatsServiceStub(channels[-1])

    yield start
    for channel in channels:
        await channel.close()
    for server in running:
        await server.stop(None)


async def stream(stub: AsyncStub, player: str = DEMO_STEAM_ID) -> tuple[pb.StatsPart, pb.AchievementsPart]:
    """Both parts of one successful stream."""
    call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=20)
    messages = [message async for message in call]
    assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
    return messages[0].stats, messages[1].achievements


def counts(sim: RunningSimulator) -> list[int]:
    """Steam's profile, stats and achievements requests so far."""
    return [sim.state.count(endpoint) for endpoint in PLAYER_ENDPOINTS]


def unlocked(part: pb.AchievementsPart) -> dict[str, int]:
    """api name -> unlock time (epoch seconds) of every unlocked achievement in the part."""
    return {a.api_name: a.unlock_time.seconds for a in part.achievements.achievements if a.unlocked}


async def test_a_cache_hit_is_cache_with_the_original_fetched_at(start: StartFn, sim: RunningSimulator) -> None:
    """A second stream within the TTLs costs Steam nothing; both parts are CACHE with the first stream's times."""
    _, stub = await start()
    stats1, ach1 = await stream(stub)
    stats2, ach2 = await stream(stub)
    assert (stats1.provenance.source, ach1.provenance.source) == (pb.DATA_SOURCE_LIVE, pb.DATA_SOURCE_LIVE)
    assert (stats2.provenance.source, ach2.provenance.source) == (pb.DATA_SOURCE_CACHE, pb.DATA_SOURCE_CACHE)
    assert stats2.provenance.fetched_at == stats1.provenance.fetched_at
    assert ach2.provenance.fetched_at == ach1.provenance.fetched_at
    assert not stats2.provenance.stale
    assert stats2.stats == stats1.stats
    assert stats2.profile == stats1.profile
    assert ach2.achievements == ach1.achievements
    assert counts(sim) == [1, 1, 1]


async def test_ttl_zero_disables_the_caches(start: StartFn, sim: RunningSimulator) -> None:
    """With the player TTLs at 0, every stream reaches Steam and is LIVE with a newer fetch time."""
    _, stub = await start(stats_ttl_secs=0, achievements_ttl_secs=0, profile_ttl_secs=0)
    stats1, ach1 = await stream(stub)
    stats2, ach2 = await stream(stub)
    assert (stats2.provenance.source, ach2.provenance.source) == (pb.DATA_SOURCE_LIVE, pb.DATA_SOURCE_LIVE)
    assert stats2.provenance.fetched_at.ToNanoseconds() > stats1.provenance.fetched_at.ToNanoseconds()
    assert ach2.provenance.fetched_at.ToNanoseconds() > ach1.provenance.fetched_at.ToNanoseconds()
    assert counts(sim) == [2, 2, 2]
    assert (sim.state.count("schema"), sim.state.count("rarity")) == (1, 1)


async def test_a_failed_stats_call_is_not_cached(start: StartFn, sim: RunningSimulator) -> None:
    """Stats 503 (no retries): the stream fails UNAVAILABLE; the next one goes to Steam again and is LIVE."""
    _, stub = await start(resilience={"max_retries": 0})
    sim.state.script("stats", [FaultKind.HTTP_503])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stream(stub)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    stats, _ = await stream(stub)
    assert stats.provenance.source == pb.DATA_SOURCE_LIVE
    assert counts(sim) == [1, 2, 1], "profile and achievements kept, stats asked again"


async def test_failed_achievements_are_not_cached(start: StartFn, sim: RunningSimulator) -> None:
    """Achievements 503 (no retries): the part says unavailable; the next stream asks Steam again and gets them."""
    _, stub = await start(resilience={"max_retries": 0})
    sim.state.script("achievements", [FaultKind.HTTP_503])
    _, failed = await stream(stub)
    assert failed.unavailable.reason == "UPSTREAM_UNAVAILABLE"
    stats, achievements = await stream(stub)
    assert stats.provenance.source == pb.DATA_SOURCE_CACHE
    assert achievements.provenance.source == pb.DATA_SOURCE_LIVE
    assert not achievements.HasField("unavailable")
    assert counts(sim) == [1, 1, 2]


@pytest.mark.parametrize(("error_ttl", "stats_calls"), [(60, 1), (0, 5)])
async def test_answers_about_the_player_are_kept_for_the_player_error_ttl(
    start: StartFn, sim: RunningSimulator, error_ttl: float, stats_calls: int
) -> None:
    """Five lookups of a private player within PLAYERSTATS_CACHE_PLAYER_ERROR_TTL_SECS cost one stats call, each
    PROFILE_PRIVATE; with the TTL 0 each asks Steam again. A caller's `max_age` 0 asks Steam whatever is kept."""
    _, stub = await start(player_error_ttl_secs=error_ttl)
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stream(stub, PRIVATE_STEAM_ID)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_details(info.value)[0] == "PROFILE_PRIVATE"
    assert sim.state.count("stats", PRIVATE_STEAM_ID) == stats_calls
    live = pb.GetPlayerStatsRequest(player=PRIVATE_STEAM_ID, max_age=duration_pb2.Duration(seconds=0))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetPlayerStats(live, timeout=20)
    assert error_details(info.value)[0] == "PROFILE_PRIVATE"
    assert sim.state.count("stats", PRIVATE_STEAM_ID) == stats_calls + 1


async def test_vanity_names_are_resolved_case_insensitively(start: StartFn, sim: RunningSimulator) -> None:
    """ "Demo", "demo" and "DEMO" name one player: one vanity call, kept under the lower-cased name."""
    _, stub = await start()
    for name in ("Demo", "demo", "DEMO"):
        answer = await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=name), timeout=20)
        assert answer.profile.steam_id == DEMO_STEAM_ID
    assert sim.state.count("vanity") == 1


async def test_one_store_write_per_answer_and_a_hit_serves_the_merged_truth(
    start: StartFn, sim: RunningSimulator
) -> None:
    """An unlock Steam now hides is kept by the merge; a cache hit serves that merged truth without merging (or
    saving the stats) again."""
    running, stub = await start()
    store = running.store
    assert store is not None
    player = FIXED_PLAYERS[DEMO_STEAM_ID]
    hidden = next(a.api_name for a, t in zip(ACHIEVEMENTS, player.unlock_times, strict=True) if not t)
    hidden_at = datetime(2025, 7, 1, tzinfo=UTC)
    states = unlock_states(
        tuple(
            PlayerAchievement(a.api_name, bool(t), datetime.fromtimestamp(t, UTC) if t else None)
            for a, t in zip(ACHIEVEMENTS, player.unlock_times, strict=True)
        )
    )
    states[hidden] = (True, hidden_at)
    earlier = datetime.now(UTC) - timedelta(hours=1)
    seeded = await store.merge_achievements(
        DEMO_STEAM_ID, Snapshot(states, earlier, fallback_adepts()), MergePolicy(), now=earlier
    )
    assert seeded.decision is Decision.ACCEPTED

    stats1, ach1 = await stream(stub)
    stats2, ach2 = await stream(stub)
    assert ach1.provenance.source == pb.DATA_SOURCE_LIVE
    assert ach2.provenance.source == pb.DATA_SOURCE_CACHE
    assert unlocked(ach1)[hidden] == int(hidden_at.timestamp())
    assert unlocked(ach2) == unlocked(ach1)
    audit = await store.audit(DEMO_STEAM_ID)
    assert [row.decision for row in audit] == [Decision.ACCEPTED, Decision.ACCEPTED_WITH_ROLLBACK]
    saved = await store.load_stats(DEMO_STEAM_ID)
    assert saved is not None
    assert saved.fetched_at == stats1.provenance.fetched_at.ToDatetime(tzinfo=UTC)
    assert stats2.provenance.fetched_at == stats1.provenance.fetched_at
    assert counts(sim) == [1, 1, 1]
