"""Stats first, with caches and with the stats verdict: the first message never waits for the achievements
unless only they can tell a private player from Steam failing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import build_server
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, HIDDEN_GAMES_STEAM_ID, FaultKind, RunningSimulator
from tests.support import stream_noting_answers

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

SLOW_ACHIEVEMENTS_SECS = 1.5
StartFn = Callable[..., Awaitable["AsyncStub"]]


@pytest.fixture
async def start(settings: Settings) -> AsyncIterator[StartFn]:
    """Start the real server (on the simulator) with a roomy Steam budget, no caller quota, and `resilience` and
    cache overrides; return a stub on it."""
    stops: list[Callable[[], Awaitable[None]]] = []

    async def start(*, resilience: Mapping[str, float] | None = None, **cache: float) -> AsyncStub:
        configured = replace(
            settings,
            resilience=replace(
                settings.resilience,
                **{"rate_limit_per_min": 100_000, "burst_limit": 1000, **(resilience or {})},  # type: ignore[arg-type]
            ),
            limits=replace(settings.limits, caller_quota_per_min=0),
            cache=replace(settings.cache, **cache),  # type: ignore[arg-type]
        )
        running = await build_server(configured, listen="127.0.0.1:0")
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        stops.extend([channel.close, lambda: running.stop(None)])
        return pb_grpc.PlayerStatsServiceStub(channel)

    yield start
    for stop in stops:
        await stop()


async def timed(stub: AsyncStub, player: str = DEMO_STEAM_ID) -> list[tuple[float, pb.StreamPlayerStatsResponse]]:
    """Every message of one stream with its arrival time (seconds since the call started)."""
    started = time.monotonic()
    call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=20)
    return [(time.monotonic() - started, message) async for message in call]


async def test_cached_stats_are_sent_before_slow_achievements(start: StartFn, sim: RunningSimulator) -> None:
    """Profile and stats kept, achievements not (TTL 0) and slow: the CACHE stats come at once, then the LIVE
    achievements after Steam's latency."""
    stub = await start(achievements_ttl_secs=0)
    await timed(stub)
    sim.state.set_latency("achievements", SLOW_ACHIEVEMENTS_SECS)
    (t_stats, answered, first), (t_ach, _, second) = await stream_noting_answers(stub, sim, DEMO_STEAM_ID)
    assert first.stats.provenance.source == pb.DATA_SOURCE_CACHE
    assert second.achievements.provenance.source == pb.DATA_SOURCE_LIVE
    assert answered["achievements"] == 1, f"only the first stream's achievements were answered ({t_stats:.2f} s)"
    assert t_ach >= SLOW_ACHIEVEMENTS_SECS
    assert [sim.state.count(e) for e in ("profile", "stats", "achievements")] == [1, 1, 2]


async def test_a_503_on_stats_is_retried_without_waiting_for_the_achievements(
    start: StartFn, sim: RunningSimulator
) -> None:
    """A 503 is never Steam's answer about a player: the stats retry goes out at once, not after the slow
    achievements call, and the stats message comes well before them."""
    stub = await start()
    sim.state.set_latency("achievements", SLOW_ACHIEVEMENTS_SECS)
    sim.state.script("stats", [FaultKind.HTTP_503])
    (t_stats, answered, first), (t_ach, _, second) = await stream_noting_answers(stub, sim, DEMO_STEAM_ID)
    assert first.stats.provenance.source == pb.DATA_SOURCE_LIVE
    assert second.WhichOneof("part") == "achievements"
    assert answered["achievements"] == 0, f"the stats retry waited for the achievements ({t_stats:.2f} s)"
    assert t_ach >= SLOW_ACHIEVEMENTS_SECS
    assert (sim.state.count("stats"), sim.state.count("achievements")) == (2, 1)


async def test_an_ambiguous_500_still_waits_to_tell_a_private_player(start: StartFn, sim: RunningSimulator) -> None:
    """Hidden game details (stats 500 HTML, achievements 403 after 1.5 s): PROFILE_PRIVATE after one stats call,
    no retry, and the breaker (one failure opens it) stays closed for the next player."""
    stub = await start(resilience={"max_retries": 3, "cb_max_fails": 1})
    sim.state.set_latency("achievements", SLOW_ACHIEVEMENTS_SECS)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await timed(stub, HIDDEN_GAMES_STEAM_ID)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    status = rpc_status.from_call(info.value)
    assert status is not None
    error_info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(error_info)
    assert error_info.reason == "PROFILE_PRIVATE"
    assert sim.state.count("stats", HIDDEN_GAMES_STEAM_ID) == 1
    sim.state.set_latency("achievements", 0)
    messages = [m for _, m in await timed(stub)]
    assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
    assert sim.state.count("stats", DEMO_STEAM_ID) == 1


async def test_a_public_players_500_is_retried_once_the_achievements_answer(
    start: StartFn, sim: RunningSimulator
) -> None:
    """An ambiguous 500 for a public player whose achievements answer: retried, and the stream succeeds."""
    stub = await start()
    sim.state.script("stats", [FaultKind.HTTP_500])
    messages = [m for _, m in await timed(stub)]
    assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
    assert sim.state.count("stats") == 2
