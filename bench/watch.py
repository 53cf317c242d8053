"""`python -m bench.watch`: watching at scale on one replica (issue 15), apart from the six rows of `bench`.

Starts the simulator and a fresh server as processes, opens `--watches` WatchPlayer calls spread over `--players`
distinct synthetic players (several watchers per player, over many connections), waits for every snapshot, then
changes the stats of `--changed` players through the simulator's admin API and measures, per watcher of a changed
player, the delay from the change to its `stats_changed` event. Reports the server's peak RSS (VmHWM), the Steam
calls per minute over a window of whole intervals (goal: one look, three calls, per watched player per interval)
and the event delays (goal: under one interval + 50 ms). The Steam budget is lifted (this measures the watches,
not the budget), as in `bench`. Prints one JSON object; BENCHMARKS.md quotes a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from google.protobuf import duration_pb2

from bench.load import CHANNEL_OPTIONS
from bench.procs import Proc, start
from bench.run import find_bin
from bench.stats import Summary
from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.sim import synthetic_steam_id

START_TIMEOUT_SECS = 60.0
STREAMS_PER_CHANNEL = 100


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watches", type=int, default=10_000)
    parser.add_argument("--players", type=int, default=1_000)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between looks (the server minimum too)")
    parser.add_argument("--changed", type=int, default=20, help="players whose stats change during the run")
    parser.add_argument("--window", type=int, default=2, help="whole intervals over which Steam calls are counted")
    return parser.parse_args(argv)


async def _sim_json(session: aiohttp.ClientSession, url: str, body: Any = None) -> Any:
    async with session.request("GET" if body is None else "POST", url, json=body) as response:
        return await response.json()


async def _processes(workdir: Path, interval: float) -> tuple[Proc, str, Proc, str]:
    env = dict(os.environ)
    sim, match = await start(
        "sim",
        [find_bin("playerstats-steam-sim"), "--port", "0"],
        env=env,
        ready=re.compile(r"listening on (http://\S+)"),
        workdir=workdir,
        timeout=START_TIMEOUT_SECS,
    )
    sim_url = match.group(1)
    server_env = env | {
        "STEAM_API_BASE_URL": sim_url,
        "STEAM_API_KEY": "sim-key",
        "PLAYERSTATS_LISTEN": "127.0.0.1:0",
        "PLAYERSTATS_DATA_DIR": str(workdir / "data"),
        "PLAYERSTATS_LOG_LEVEL": "WARNING",
        "RATE_LIMIT_PER_MIN": "100000000",
        "BURST_LIMIT": "10000000",
        "PLAYERSTATS_CALLER_QUOTA_PER_MIN": "0",
        "PLAYERSTATS_CALLER_RPC_PER_MIN": "0",
        "PLAYERSTATS_WATCH_MIN_INTERVAL_SECS": f"{interval:g}",
        "PLAYERSTATS_WATCH_DEFAULT_INTERVAL_SECS": f"{interval:g}",
        "PLAYERSTATS_WATCH_MAX_PER_CALLER": "1000000",
        "PLAYERSTATS_MAX_CONCURRENT_RPCS": "0",
        "OTEL_SDK_DISABLED": "true",
    }
    server, match = await start(
        "server",
        [find_bin("playerstats-server")],
        env=server_env,
        ready=re.compile(r"listening on port (\d+)"),
        workdir=workdir,
        timeout=START_TIMEOUT_SECS,
    )
    return sim, sim_url, server, f"127.0.0.1:{match.group(1)}"


async def _watch(stub: Any, player: str, interval: float, changes: dict[str, float], delays: list[float]) -> None:
    """One watch: its snapshot, then the delay of every stats_changed event after `changes[player]` was set."""
    call = stub.WatchPlayer(pb.WatchPlayerRequest(player=player, interval=duration_pb2.Duration(seconds=int(interval))))
    async for message in call:
        if message.WhichOneof("event") == "stats_changed" and player in changes:
            delays.append(time.monotonic() - changes[player])
            return


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        workdir = Path(tmp)
        sim, sim_url, server, target = await _processes(workdir, args.interval)
        try:
            return await _measure(args, sim_url, server, target)
        finally:
            server.stop()
            sim.stop()


async def _measure(args: argparse.Namespace, sim_url: str, server: Proc, target: str) -> dict[str, Any]:
    players = [synthetic_steam_id(i) for i in range(args.players)]
    count = -(-args.watches // STREAMS_PER_CHANNEL)
    channels = [grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) for _ in range(count)]
    stubs = [pb_grpc.PlayerStatsServiceStub(channel) for channel in channels]
    changes: dict[str, float] = {}
    delays: list[float] = []
    async with aiohttp.ClientSession() as session:
        idle = server.memory_kib()
        opened = time.monotonic()
        tasks = [
            asyncio.ensure_future(
                _watch(stubs[i // STREAMS_PER_CHANNEL], players[i % len(players)], args.interval, changes, delays)
            )
            for i in range(args.watches)
        ]
        await asyncio.sleep(args.interval + 5)  # every poller made its first look: every watcher has its snapshot
        before = (await _sim_json(session, f"{sim_url}/_sim/counts"))["stats"]
        counted_from = time.monotonic()
        for player in players[: args.changed]:
            changes[player] = time.monotonic()
            await _sim_json(session, f"{sim_url}/_sim/stats", {"steam_id": player, "overrides": {"DBD_Escape": 10**6}})
        await asyncio.sleep(args.interval * args.window - (time.monotonic() - counted_from))
        after = (await _sim_json(session, f"{sim_url}/_sim/counts"))["stats"]
        minutes = (time.monotonic() - counted_from) / 60
        peak = server.memory_kib()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    expected_delays = args.changed * (args.watches // args.players)
    delay = Summary.of([d * 1000 for d in delays]) if delays else None
    return {
        "watches": args.watches,
        "players": args.players,
        "interval_secs": args.interval,
        "rss_idle_mib": round(idle["VmRSS"] / 1024),
        "rss_peak_mib": round(peak["VmHWM"] / 1024),
        "stats_calls_per_min": round((after - before) / minutes, 1),
        "looks_per_min_goal": round(args.players * 60 / args.interval, 1),
        "event_delays": len(delays),
        "event_delays_expected": expected_delays,
        "event_delay_ms": None
        if delay is None
        else {"p50": round(delay.p50), "p99": round(delay.p99), "max": round(delay.max)},
        "event_delay_goal_ms": round(args.interval * 1000 + 50),
        "seconds_to_open": round(counted_from - opened, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    print(json.dumps(asyncio.run(run(_parse(argv))), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
