"""GetPlayerHistory over real sockets, from SQLite and from PostgreSQL: the simulator changes a player's stats and
unlocks an adept between two requests; the history shows each changed value in order and the unlock timeline."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer
from dbd_playerstats.config.settings import Secret, Settings
from dbd_playerstats.domain.adepts import fallback_adepts
from dbd_playerstats.sim import DEMO_STEAM_ID, RunningSimulator
from dbd_playerstats.sim.fixtures import ACHIEVEMENTS, FIXED_PLAYERS
from dbd_playerstats.steam.models import PlayerSummary, StatValue, Visibility
from dbd_playerstats.store import StatsSnapshot, open_store
from dbd_playerstats_client import PlayerStatsClient, cli
from tests.support import error_details, until_async

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub
    from tests.conftest import ServeFn

LIVE = duration_pb2.Duration(seconds=0)
PROFILE = PlayerSummary(DEMO_STEAM_ID, "demo", "https://steamcommunity.com/id/demo/", "", Visibility.PUBLIC)


def a_locked_adept() -> tuple[str, str]:
    """An adept DEMO has not unlocked in the simulator: (api name, character)."""
    unlocked = {a.api_name for a, t in zip(ACHIEVEMENTS, FIXED_PLAYERS[DEMO_STEAM_ID].unlock_times, strict=True) if t}
    adept = next(d for d in fallback_adepts() if d.api_name not in unlocked)
    return adept.api_name, adept.character


def escapes(response: pb.GetPlayerStatsResponse) -> int:
    return next(s.int_value for s in response.stats.stats.raw_stats if s.name == "DBD_Escape")


async def test_history_from_sqlite(serve: ServeFn, settings: Settings, sim: RunningSimulator) -> None:
    """The embedded store: the history shows the changed values in order and the unlock timeline."""
    await history_shows_changes_and_unlocks(serve, settings, sim)


@pytest.mark.postgres
async def test_history_from_postgres(
    serve: ServeFn, settings: Settings, sim: RunningSimulator, schema_url: str
) -> None:
    """The same with PostgreSQL."""
    postgres = replace(settings, store=replace(settings.store, database_url=Secret(schema_url)))
    await history_shows_changes_and_unlocks(serve, postgres, sim)


async def history_shows_changes_and_unlocks(serve: ServeFn, settings: Settings, sim: RunningSimulator) -> None:
    server = await serve(settings)
    adept, character = a_locked_adept()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        first = await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player="demo"), timeout=20)
        again = await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player="demo", max_age=LIVE), timeout=20)
        assert escapes(again) == escapes(first), "no change: no new history row"
        unlocked_at = int(time.time()) - 60
        sim.state.override_stats(DEMO_STEAM_ID, {"DBD_Escape": escapes(first) + 1})
        sim.state.override_achievements(DEMO_STEAM_ID, {adept: unlocked_at})
        changed = await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player="demo", max_age=LIVE), timeout=20)
        assert escapes(changed) == escapes(first) + 1
        request = pb.GetPlayerHistoryRequest(player="demo", stats=["DBD_Escape", "DBD_NoSuchStat"])
        history = await stub.GetPlayerHistory(request, timeout=20)
        default = await stub.GetPlayerHistory(pb.GetPlayerHistoryRequest(player=DEMO_STEAM_ID), timeout=20)
        since = timestamp_pb2.Timestamp()
        since.FromDatetime(datetime.now(UTC))
        later = await stub.GetPlayerHistory(pb.GetPlayerHistoryRequest(player="demo", since=since), timeout=20)
    assert [s.name for s in history.series] == ["DBD_Escape", "DBD_NoSuchStat"]
    points = history.series[0].points
    assert [p.value for p in points] == [escapes(first), escapes(first) + 1]
    assert [p.at.ToDatetime(tzinfo=UTC) for p in points] == [
        first.stats.provenance.fetched_at.ToDatetime(tzinfo=UTC),
        changed.stats.provenance.fetched_at.ToDatetime(tzinfo=UTC),
    ]
    assert list(history.series[1].points) == []
    timeline = [u.achievement.unlock_time.seconds for u in history.unlocks]
    assert timeline == sorted(timeline), "oldest first"
    new = [u for u in history.unlocks if u.achievement.api_name == adept]
    assert len(new) == 1
    assert (new[0].character, new[0].role != pb.ROLE_UNSPECIFIED) == (character, True)
    assert new[0].achievement.unlock_time.seconds == unlocked_at
    assert new[0].achievement.unlocked
    assert "DBD_Escape" in [s.name for s in default.series], "no stats asked: the typed headline stats"
    assert list(later.unlocks) == []
    assert all(not s.points for s in later.series)


async def test_history_of_an_invalid_player_is_invalid_player(stub: AsyncStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetPlayerHistory(pb.GetPlayerHistoryRequest(player="not a player!"), timeout=20)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(info.value)[0] == "INVALID_PLAYER"


async def test_history_older_than_the_retention_is_pruned_in_the_background(serve: ServeFn, settings: Settings) -> None:
    """History written 200 days ago (by an earlier run, on the same SQLite file) is gone soon after a server
    with the default retention (180 days) starts; this week's history stays."""
    store = await open_store(settings.store)
    await store.migrate()
    old, recent = datetime.now(UTC) - timedelta(days=200), datetime.now(UTC) - timedelta(days=3)
    for when, value in ((old, 1), (recent, 2)):
        await store.save_stats(DEMO_STEAM_ID, StatsSnapshot(PROFILE, (StatValue("DBD_Escape", value),), when))
    await store.close()
    server = await serve(settings)
    assert server.store is not None

    async def pruned() -> bool:
        assert server.store is not None
        history = await server.store.load_history(DEMO_STEAM_ID)
        return [dict(p.stats) for p in history.stats] == [{"DBD_Escape": 2}]

    await until_async(pruned, "the start-up prune deleted the 200-day-old row")


async def test_the_client_and_the_cli_show_the_history(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`PlayerStatsClient.get_player_history` and `playerstats history ID --stat DBD_Escape` against the server."""
    target = f"127.0.0.1:{server.port}"
    async with PlayerStatsClient(target, timeout=20) as client:
        await client.get_player_stats("demo")
        history = await client.get_player_history("demo", stats=["DBD_Escape"], since=datetime(2000, 1, 1, tzinfo=UTC))
    assert [s.name for s in history.series] == ["DBD_Escape"]
    assert len(history.series[0].points) == 1
    argv = ["--target", target, "history", "demo", "--stat", "DBD_Escape"]
    assert await asyncio.to_thread(cli.main, argv) == 0
    out = capsys.readouterr().out
    escapes = int(history.series[0].points[0].value)
    assert f"DBD_Escape  {escapes}@" in out
    assert "unlocked  " in out
    assert await asyncio.to_thread(cli.main, [*argv, "--since", "2999-01-01"]) == 0
    assert "DBD_Escape  (no change recorded)" in capsys.readouterr().out, "--since cuts the history"
    assert await asyncio.to_thread(cli.main, [*argv, "--since", "yesterday"]) == 2
