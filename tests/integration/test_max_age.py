"""`max_age` through the real server and simulator: 0s fetches live (joined with a fetch in flight), a large
value answers from the cache or, past the cache TTLs, from the store without a Steam call, and a negative value
is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, RunningSimulator, synthetic_steam_id
from tests.conftest import ServeFn
from tests.support import error_details, roomy, until

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

TIMEOUT = 20.0
PLAYER_ENDPOINTS = ("profile", "stats", "achievements")
StartFn = Callable[..., Awaitable["AsyncStub"]]


@pytest.fixture
async def start(serve: ServeFn, settings: Settings) -> AsyncIterator[StartFn]:
    """Start the real server with a roomy budget and `cache` overrides; return a stub on it."""
    channels: list[grpc.aio.Channel] = []

    async def start(**cache: float) -> AsyncStub:
        running = await serve(roomy(settings, **cache))
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{running.port}"))
        return pb_grpc.PlayerStatsServiceStub(channels[-1])

    yield start
    for channel in channels:
        await channel.close()


def duration(seconds: float) -> Duration:
    out = Duration()
    out.FromTimedelta(timedelta(seconds=seconds))
    return out


async def stream(
    stub: AsyncStub, max_age: Duration | None = None, player: str = DEMO_STEAM_ID
) -> tuple[pb.StatsPart, pb.AchievementsPart]:
    """Both parts of one successful StreamPlayerStats."""
    request = pb.StreamPlayerStatsRequest(player=player, max_age=max_age)
    messages = [m async for m in stub.StreamPlayerStats(request, timeout=TIMEOUT)]
    assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
    return messages[0].stats, messages[1].achievements


def counts(sim: RunningSimulator) -> list[int]:
    """Steam's profile, stats and achievements requests so far."""
    return [sim.state.count(endpoint) for endpoint in PLAYER_ENDPOINTS]


def sources(*parts: pb.StatsPart | pb.AchievementsPart) -> list[int]:
    return [part.provenance.source for part in parts]


async def test_max_age_zero_after_a_cached_answer_fetches_live(start: StartFn, sim: RunningSimulator) -> None:
    """After a cached answer, `max_age: 0s` costs one more stats call (and profile and achievements) and both
    parts say LIVE with a newer fetch time; a request without max_age is still served from the cache."""
    stub = await start()
    first_stats, first_ach = await stream(stub)
    cached = await stream(stub)
    assert sources(*cached) == [pb.DATA_SOURCE_CACHE, pb.DATA_SOURCE_CACHE]
    assert counts(sim) == [1, 1, 1]

    live_stats, live_ach = await stream(stub, duration(0))
    assert counts(sim) == [2, 2, 2]
    assert sources(live_stats, live_ach) == [pb.DATA_SOURCE_LIVE, pb.DATA_SOURCE_LIVE]
    assert live_stats.provenance.fetched_at.ToNanoseconds() > first_stats.provenance.fetched_at.ToNanoseconds()
    assert live_ach.provenance.fetched_at.ToNanoseconds() > first_ach.provenance.fetched_at.ToNanoseconds()
    again = await stream(stub)
    assert sources(*again) == [pb.DATA_SOURCE_CACHE, pb.DATA_SOURCE_CACHE]
    assert again[0].provenance.fetched_at == live_stats.provenance.fetched_at, "the live answer replaced the kept one"
    assert counts(sim) == [2, 2, 2]


async def test_a_large_max_age_answers_from_the_cache_with_no_steam_call(start: StartFn, sim: RunningSimulator) -> None:
    """`max_age: 3600s` within the TTLs: both parts CACHE with the first answer's fetch times, no Steam call."""
    stub = await start()
    first_stats, first_ach = await stream(stub)
    before = sim.state.count()
    stats, ach = await stream(stub, duration(3600))
    assert sources(stats, ach) == [pb.DATA_SOURCE_CACHE, pb.DATA_SOURCE_CACHE]
    assert stats.provenance.fetched_at == first_stats.provenance.fetched_at
    assert ach.provenance.fetched_at == first_ach.provenance.fetched_at
    assert sim.state.count() == before


async def test_a_large_max_age_serves_the_store_past_the_cache_ttls(start: StartFn, sim: RunningSimulator) -> None:
    """With the player caches off (TTL 0), `max_age: 3600s` serves the stored copies: STORED, not stale, with
    the live answer's fetch times and content, and no Steam call at all (the catalog is kept)."""
    stub = await start(stats_ttl_secs=0, achievements_ttl_secs=0, profile_ttl_secs=0)
    live_stats, live_ach = await stream(stub)
    before = sim.state.count()
    stats, ach = await stream(stub, duration(3600))
    assert sim.state.count() == before
    assert sources(stats, ach) == [pb.DATA_SOURCE_STORED, pb.DATA_SOURCE_STORED]
    assert not stats.provenance.stale
    assert not ach.provenance.stale
    assert stats.provenance.fetched_at == live_stats.provenance.fetched_at
    assert ach.provenance.fetched_at == live_ach.provenance.fetched_at
    assert (stats.stats, stats.profile) == (live_stats.stats, live_stats.profile)
    assert ach.achievements == live_ach.achievements
    unary = await stub.GetPlayerStats(
        pb.GetPlayerStatsRequest(player=DEMO_STEAM_ID, max_age=duration(3600)), timeout=TIMEOUT
    )
    assert sources(unary.stats, unary.achievements) == [pb.DATA_SOURCE_STORED, pb.DATA_SOURCE_STORED]
    assert sim.state.count() == before


async def test_a_lobby_with_a_large_max_age_is_served_from_the_store_without_a_profile_call(
    start: StartFn, sim: RunningSimulator
) -> None:
    """Past the cache TTLs, a lobby at `3600s` whose players are all stored costs Steam nothing: not even the
    lobby's profile call (the stored stats carry their profile)."""
    stub = await start(stats_ttl_secs=0, achievements_ttl_secs=0, profile_ttl_secs=0)
    players = [DEMO_STEAM_ID, synthetic_steam_id(4)]
    request = pb.StreamLobbyStatsRequest(players=players)
    live = [m async for m in stub.StreamLobbyStats(request, timeout=TIMEOUT)]
    before = sim.state.count()
    request.max_age.CopyFrom(duration(3600))
    stored = [m async for m in stub.StreamLobbyStats(request, timeout=TIMEOUT)]
    assert sim.state.count() == before
    assert len(stored) == len(live) == 4
    parts = [m.stats if m.HasField("stats") else m.achievements for m in stored]
    assert all(part.provenance.source == pb.DATA_SOURCE_STORED for part in parts)
    live_stats = {m.index: m.stats for m in live if m.HasField("stats")}
    assert all(
        m.stats.provenance.fetched_at == live_stats[m.index].provenance.fetched_at
        for m in stored
        if m.HasField("stats")
    )


async def test_a_max_age_shorter_than_the_kept_answers_age_fetches_again(start: StartFn, sim: RunningSimulator) -> None:
    """An answer kept longer ago than `max_age` is fetched again (LIVE); one within it is CACHE."""
    stub = await start()
    await stream(stub)
    await asyncio.sleep(0.3)  # the kept answers are now older than 0.2 s (a lower bound: no luck involved)
    stats, ach = await stream(stub, duration(0.2))
    assert sources(stats, ach) == [pb.DATA_SOURCE_LIVE, pb.DATA_SOURCE_LIVE]
    assert counts(sim) == [2, 2, 2]
    cached = await stream(stub, duration(60))
    assert sources(*cached) == [pb.DATA_SOURCE_CACHE, pb.DATA_SOURCE_CACHE]
    assert counts(sim) == [2, 2, 2]


async def test_max_age_zero_joins_a_fetch_in_flight(start: StartFn, sim: RunningSimulator) -> None:
    """`0s` while another request's stats fetch is in flight waits for that fetch: one stats call, both LIVE."""
    stub = await start()
    sim.state.set_latency("stats", 0.5)
    first = asyncio.ensure_future(stream(stub))
    await until(lambda: sim.state.count("stats") == 1)  # the first request's stats call has reached Steam
    stats, _ = await stream(stub, duration(0))
    first_stats, _ = await first
    assert stats.provenance.source == pb.DATA_SOURCE_LIVE
    assert stats.provenance.fetched_at == first_stats.provenance.fetched_at
    assert sim.state.count("stats") == 1


async def test_a_lobby_with_max_age_zero_fetches_every_player_live_with_one_profile_call(
    start: StartFn, sim: RunningSimulator
) -> None:
    """After the players' answers are kept, a lobby at `0s` asks Steam again: one profile call for all of them
    (kept profiles included), one stats call each, every part LIVE."""
    stub = await start()
    players = [DEMO_STEAM_ID, synthetic_steam_id(3)]
    for player in players:
        await stream(stub, player=player)
    assert counts(sim) == [2, 2, 2]
    call = stub.StreamLobbyStats(pb.StreamLobbyStatsRequest(players=players, max_age=duration(0)), timeout=TIMEOUT)
    messages = [m async for m in call]
    assert len(messages) == 4
    parts = [m.stats if m.HasField("stats") else m.achievements for m in messages]
    assert all(part.provenance.source == pb.DATA_SOURCE_LIVE for part in parts)
    assert counts(sim) == [3, 4, 4]


NEGATIVE = [Duration(seconds=-1), Duration(nanos=-1)]


@pytest.mark.parametrize("max_age", NEGATIVE, ids=["-1s", "-1ns"])
async def test_a_negative_max_age_is_invalid_argument(start: StartFn, sim: RunningSimulator, max_age: Duration) -> None:
    """StreamPlayerStats, GetPlayerStats and StreamLobbyStats refuse it INVALID_ARGUMENT / INVALID_REQUEST before
    any Steam call."""
    stub = await start()

    async def drain_stream() -> None:
        request = pb.StreamPlayerStatsRequest(player=DEMO_STEAM_ID, max_age=max_age)
        _ = [m async for m in stub.StreamPlayerStats(request, timeout=TIMEOUT)]

    async def drain_lobby() -> None:
        request = pb.StreamLobbyStatsRequest(players=[DEMO_STEAM_ID], max_age=max_age)
        _ = [m async for m in stub.StreamLobbyStats(request, timeout=TIMEOUT)]

    async def get() -> None:
        await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=DEMO_STEAM_ID, max_age=max_age), timeout=TIMEOUT)

    for call in (drain_stream, get, drain_lobby):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_details(info.value)[0] == "INVALID_REQUEST"
        assert "max_age" in (info.value.details() or "")
    assert sim.state.count() == 0
