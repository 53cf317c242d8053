"""WatchPlayer over real sockets, the simulator changing a player between looks (PLAYERSTATS_WATCH_MIN_INTERVAL_SECS
is 1 here, as the issue's bars set it).

- Three watchers of one player share one poller: each gets the snapshot, then `stats_changed` with the right
  delta, then `unlocked` for the adept the simulator unlocked, with its character; Steam sees one stats call per
  interval, not three.
- A Steam outage is a `problem` event and the watch goes on; a stopping server ends watches UNAVAILABLE
  SHUTTING_DOWN; a caller may hold PLAYERSTATS_WATCH_MAX_PER_CALLER watches.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.domain.adepts import fallback_adepts
from dbd_playerstats.sim import DEMO_STEAM_ID, FaultKind, RunningSimulator
from dbd_playerstats.sim.fixtures import ACHIEVEMENTS, FIXED_PLAYERS
from dbd_playerstats_client import PlayerStatsClient
from tests.support import error_details

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub
    from tests.conftest import ServeFn

INTERVAL = duration_pb2.Duration(seconds=1)
EVENT_TIMEOUT_SECS = 20.0


def watch_settings(settings: Settings, **watch: float) -> Settings:
    fast = {"min_interval_secs": 1.0, "default_interval_secs": 1.0, **watch}
    return replace(
        settings,
        watch=replace(settings.watch, **fast),  # type: ignore[arg-type]
        resilience=replace(settings.resilience, max_retries=0, rate_limit_per_min=6000, burst_limit=100),
        limits=replace(settings.limits, caller_quota_per_min=0),
    )


@pytest.fixture
async def watching(serve: ServeFn, settings: Settings) -> AsyncIterator[tuple[RunningServer, AsyncStub]]:
    server = await serve(watch_settings(settings))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield server, pb_grpc.PlayerStatsServiceStub(channel)


class Watch:
    """One open WatchPlayer call, read event by event."""

    def __init__(self, stub: AsyncStub, player: str = "demo", caller: str = "watcher") -> None:
        request = pb.WatchPlayerRequest(player=player, interval=INTERVAL)
        self.call: Any = stub.WatchPlayer(request, metadata=(("x-caller-id", caller),))

    async def next(self) -> pb.WatchPlayerResponse:
        message: pb.WatchPlayerResponse = await asyncio.wait_for(self.call.read(), EVENT_TIMEOUT_SECS)
        return message

    async def next_of(self, kind: str) -> pb.WatchPlayerResponse:
        """The next event of `kind`, skipping others."""
        while True:
            message = await self.next()
            if message.WhichOneof("event") == kind:
                return message


def a_locked_adept() -> tuple[str, str]:
    unlocked = {a.api_name for a, t in zip(ACHIEVEMENTS, FIXED_PLAYERS[DEMO_STEAM_ID].unlock_times, strict=True) if t}
    adept = next(d for d in fallback_adepts() if d.api_name not in unlocked)
    return adept.api_name, adept.character


def escapes_of(stats: pb.StatsPart) -> int:
    return next(s.int_value for s in stats.stats.raw_stats if s.name == "DBD_Escape")


async def test_three_watchers_share_one_poller_and_see_the_change_and_the_unlock(
    watching: tuple[RunningServer, AsyncStub], sim: RunningSimulator
) -> None:
    _, stub = watching
    watches = [Watch(stub, caller=f"w{i}") for i in range(3)]
    snapshots = [await w.next() for w in watches]
    assert [s.WhichOneof("event") for s in snapshots] == ["snapshot"] * 3
    before = escapes_of(snapshots[0].snapshot.stats)
    adept, character = a_locked_adept()
    unlocked_at = int(time.time()) - 30
    sim.state.override_stats(DEMO_STEAM_ID, {"DBD_Escape": before + 1})
    sim.state.override_achievements(DEMO_STEAM_ID, {adept: unlocked_at})
    for watch in watches:
        changed = await watch.next_of("stats_changed")
        assert [(d.name, d.before, d.after) for d in changed.stats_changed.deltas] == [
            ("DBD_Escape", before, before + 1)
        ]
        assert escapes_of(changed.stats_changed.stats) == before + 1
        unlocked = await watch.next_of("unlocked")
        assert unlocked.unlocked.achievement.api_name == adept
        assert unlocked.unlocked.achievement.unlock_time.seconds == unlocked_at
        assert unlocked.unlocked.character == character
        assert unlocked.unlocked.role != pb.ROLE_UNSPECIFIED
    looks = [r.time for r in sim.state.requests() if r.endpoint == "stats" and r.steam_id == DEMO_STEAM_ID]
    assert len(looks) >= 2
    gaps = [b - a for a, b in itertools.pairwise(looks)]
    assert min(gaps) >= 0.9, f"one stats call per 1 s interval for three watchers, not three: {gaps}"
    for watch in watches:
        watch.call.cancel()


async def test_a_steam_outage_is_a_problem_and_the_watch_goes_on(
    watching: tuple[RunningServer, AsyncStub], sim: RunningSimulator
) -> None:
    _, stub = watching
    watch = Watch(stub)
    snapshot = await watch.next()
    assert snapshot.WhichOneof("event") == "snapshot"
    sim.state.script("stats", [FaultKind.HTTP_503] * 2, steam_id=DEMO_STEAM_ID)
    problem = (await watch.next_of("problem")).problem
    assert problem.code == grpc.StatusCode.UNAVAILABLE.value[0]
    info = error_details_pb2.ErrorInfo()
    assert problem.details[0].Unpack(info)
    assert info.reason == "UPSTREAM_UNAVAILABLE"
    before = escapes_of(snapshot.snapshot.stats)
    sim.state.override_stats(DEMO_STEAM_ID, {"DBD_Escape": before + 5})
    changed = await watch.next_of("stats_changed")
    assert [(d.before, d.after) for d in changed.stats_changed.deltas] == [(before, before + 5)]
    watch.call.cancel()


async def test_a_stopping_server_ends_every_watch_unavailable(
    watching: tuple[RunningServer, AsyncStub],
) -> None:
    server, stub = watching
    watches = [Watch(stub, caller=f"w{i}") for i in range(2)]
    for watch in watches:
        assert (await watch.next()).WhichOneof("event") == "snapshot"
    stopping = asyncio.ensure_future(server.stop(5))
    for watch in watches:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await watch.next()
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_details(info.value)[0] == "SHUTTING_DOWN"
    await stopping


async def test_a_caller_may_hold_a_limited_number_of_watches(serve: ServeFn, settings: Settings) -> None:
    server = await serve(watch_settings(settings, max_per_caller=2))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        held = [Watch(stub, caller="greedy") for _ in range(2)]
        for watch in held:
            assert (await watch.next()).WhichOneof("event") == "snapshot"
        third = Watch(stub, caller="greedy")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await third.next()
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_details(info.value)[0] == "WATCH_LIMIT_EXCEEDED"
        other = Watch(stub, caller="someone-else")
        assert (await other.next()).WhichOneof("event") == "snapshot"
        held[0].call.cancel()
        replacement = Watch(stub, caller="greedy")
        assert (await replacement.next()).WhichOneof("event") == "snapshot", "a cancelled watch frees its slot"
        for watch in (held[1], other, replacement):
            watch.call.cancel()


async def test_the_client_and_the_cli_watch(watching: tuple[RunningServer, AsyncStub], sim: RunningSimulator) -> None:
    """`PlayerStatsClient.watch_player` yields the snapshot then the change; `playerstats watch demo` prints the
    state, then a `changed  DBD_Escape a -> b` line as it happens, until it is stopped."""
    server, _ = watching
    target = f"127.0.0.1:{server.port}"
    async with PlayerStatsClient(target, caller_id="client") as client:
        events = aclosing(client.watch_player("demo", interval=1))
        async with events as stream:
            first = await anext(stream)
            assert first.WhichOneof("event") == "snapshot"
            before = escapes_of(first.snapshot.stats)
            sim.state.override_stats(DEMO_STEAM_ID, {"DBD_Escape": before + 1})
            changed = await anext(stream)
            assert [(d.before, d.after) for d in changed.stats_changed.deltas] == [(before, before + 1)]
    playerstats = str(Path(sys.executable).parent / "playerstats")
    cli = await asyncio.create_subprocess_exec(
        playerstats, "--target", target, "watch", "demo", "--interval", "1", stdout=asyncio.subprocess.PIPE
    )
    assert cli.stdout is not None
    try:
        lines = [await asyncio.wait_for(cli.stdout.readline(), EVENT_TIMEOUT_SECS)]
        assert b"stats  " in lines[0], lines
        sim.state.override_stats(DEMO_STEAM_ID, {"DBD_Escape": before + 2})
        wanted = f"changed  DBD_Escape {before + 1} -> {before + 2}".encode()
        while wanted not in lines[-1]:
            lines.append(await asyncio.wait_for(cli.stdout.readline(), EVENT_TIMEOUT_SECS))
    finally:
        cli.terminate()
        await cli.wait()
