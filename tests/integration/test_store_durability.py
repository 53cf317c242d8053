"""The real `playerstats-server` process: a reported merge survives SIGKILL; a bad DATABASE_URL is one line."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import grpc

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.sim import DEMO_STEAM_ID, ErrorRate, Fault, FaultKind, RunningSimulator
from dbd_playerstats_dev.store_testing import sqlite_backend
from tests.support import SERVER_EXE, server_env, server_process

TIMEOUT = 30.0


def unlocked(part: pb.AchievementsPart) -> dict[str, int]:
    """api name -> unlock time (epoch seconds) of every unlocked achievement in the part."""
    return {a.api_name: a.unlock_time.seconds for a in part.achievements.achievements if a.unlocked}


async def test_merge_reported_before_sigkill_is_served_after_restart(sim: RunningSimulator, tmp_path: Path) -> None:
    """SIGKILL right after the achievements message: on restart, with Steam down, the same unlocks are served."""
    data_dir = tmp_path / "data"
    log = tmp_path / "server.log"
    async with (
        server_process(server_env(sim, data_dir), log) as (proc, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        call = pb_grpc.PlayerStatsServiceStub(channel).StreamPlayerStats(
            pb.StreamPlayerStatsRequest(player=DEMO_STEAM_ID), timeout=TIMEOUT
        )
        first = await call.read()
        second = await call.read()
        proc.send_signal(signal.SIGKILL)  # the moment the merge was reported, before the stream even ends
        assert await proc.wait() == -signal.SIGKILL
    assert isinstance(first, pb.StreamPlayerStatsResponse)
    assert isinstance(second, pb.StreamPlayerStatsResponse)
    reported = second.achievements
    assert reported.provenance.source == pb.DATA_SOURCE_LIVE
    assert reported.achievements.unlocked > 0

    on_disk = sqlite_backend(data_dir)
    assert await on_disk.raw("SELECT COUNT(*) FROM achievements WHERE unlocked") == [(len(unlocked(reported)),)]
    assert await on_disk.raw("SELECT decision FROM merge_audit") == [("accepted",)]

    for endpoint in ("achievements", "stats"):
        sim.state.set_error_rate(endpoint, ErrorRate(Fault(FaultKind.HTTP_503), 1.0))
    async with server_process(server_env(sim, data_dir), log) as (proc, port):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.PlayerStatsServiceStub(channel)
            messages = [
                m async for m in stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player="demo"), timeout=TIMEOUT)
            ]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
    stats, achievements = messages[0].stats, messages[1].achievements
    assert stats.provenance.source == pb.DATA_SOURCE_STORED
    assert stats.provenance.stale
    assert stats.stats == first.stats.stats
    assert achievements.provenance.source == pb.DATA_SOURCE_STORED
    assert achievements.provenance.fetched_at == reported.provenance.fetched_at
    assert achievements.unavailable.reason == "UPSTREAM_UNAVAILABLE"
    assert unlocked(achievements) == unlocked(reported)


async def test_unreachable_database_url_is_one_line_without_the_password(sim: RunningSimulator, tmp_path: Path) -> None:
    """A DATABASE_URL nobody answers stops start-up with exit 1 and one line naming it, the password hidden."""
    assert SERVER_EXE is not None
    env = server_env(sim, tmp_path, DATABASE_URL="postgresql://root:s3cret-pw@127.0.0.1:1/test")
    proc = await asyncio.create_subprocess_exec(
        SERVER_EXE, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 1
    assert b"listening" not in out
    text = err.decode()
    assert "s3cret-pw" not in text
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert last.startswith(
        "playerstats-server: cannot connect to DATABASE_URL='postgresql://root:***@127.0.0.1:1/test'"
    )
