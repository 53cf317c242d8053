"""The references the rows are measured against, each without the server in the path.

- The practical floor of rows 1-2: the server's three Steam calls made by this process straight to the
  simulator with a plain aiohttp client, so the simulator's own work, loopback and this VM's wake-ups are known.
- The bare grpc.aio servicer of rows 3 and 5 (`bench.bare_server`, its own process): it replays the real
  server's captured answers, or fails like an open breaker, with none of the service behind it.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench import load
from bench.config import REPO
from bench.procs import BenchError, Proc, start
from bench.run import CIRCUIT_OPEN, Run, Sim, server_env
from bench.stats import Summary

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as Stub

BARE_START_TIMEOUT_SECS = 60.0


async def _get(sim: Sim, path: str, params: dict[str, str]) -> None:
    async with sim.session.get(f"{sim.base_url}{path}", params=params) as response:
        await response.read()


async def upstream_floor_ms(sim: Sim, players: Sequence[str], concurrency: int) -> tuple[Summary, Summary]:
    """The server's upstream pattern without the server: per player, profile + stats + achievements at once
    from this process. Returns (profile and stats both in, everything in), in ms: the practical floors of the
    first message and of the whole stream on this machine (simulator work, loopback, wake-ups included)."""
    first: list[float] = []
    total: list[float] = []
    queue = list(players)

    async def timed(start_at: float, call: Awaitable[None]) -> float:
        await call
        return time.perf_counter() - start_at

    async def worker() -> None:
        while queue:
            steam_id = queue.pop()
            player = {"key": "sim-key", "steamid": steam_id, "appid": "381210"}
            start_at = time.perf_counter()
            profile, stats, achievements = await asyncio.gather(
                timed(
                    start_at,
                    _get(sim, "/ISteamUser/GetPlayerSummaries/v2/", {"key": "sim-key", "steamids": steam_id}),
                ),
                timed(start_at, _get(sim, "/ISteamUserStats/GetUserStatsForGame/v2/", player)),
                timed(start_at, _get(sim, "/ISteamUserStats/GetPlayerAchievements/v1/", player)),
            )
            first.append(max(profile, stats) * 1000)
            total.append(max(profile, stats, achievements) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Summary.of(first), Summary.of(total)


@dataclass
class Capture:
    """The answers of the real server for the hit player, replayed by the bare servicer."""

    unary: Path
    stream: list[Path]
    unary_size: int


async def capture(run: Run, stubs: list[Stub], player: str) -> Capture:
    outcome, response = await load.unary_once(stubs[0], player)
    messages = await load.stream_once(stubs[0], player)
    if response is None or [m.WhichOneof("part") for m in messages] != ["stats", "achievements"]:
        raise BenchError(f"cannot capture the hit player's answers: {outcome}")
    unary = run.workdir / "canned-unary.bin"
    unary.write_bytes(response.SerializeToString())
    paths = []
    for index, message in enumerate(messages):
        path = run.workdir / f"canned-stream-{index}.bin"
        path.write_bytes(message.SerializeToString())
        paths.append(path)
    return Capture(unary, paths, len(response.SerializeToString()))


async def start_bare(run: Run, canned: Capture, *, intercepted: bool = False) -> tuple[Proc, str]:
    """The bare servicer; `intercepted`: behind the real server's method wrappers, in the server's environment."""
    cmd = [sys.executable, "-m", "bench.bare_server", "--unary", str(canned.unary), "--stream"]
    cmd += [str(path) for path in canned.stream]
    env = server_env(run.config, run.sim.base_url, run.workdir / "data-bare") if intercepted else dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    if intercepted:
        cmd.append("--server-wrappers")
    name = "bare-intercepted" if intercepted else "bare"
    proc, match = await start(
        name,
        cmd,
        env=env,
        ready=re.compile(r"listening on port (\d+)"),
        workdir=run.workdir,
        timeout=BARE_START_TIMEOUT_SECS,
    )
    run.procs.append(proc)
    return proc, f"127.0.0.1:{match.group(1)}"


async def bare_fail_fast(run: Run, target: str) -> Summary | None:
    """The reference of row 5: the bare servicer failing like an open breaker, measured the same way."""
    config = run.config
    async with load.stubs(target, 1) as stubs:
        result = await load.fail_fast(
            stubs,
            run.ids.fresh,
            expect=CIRCUIT_OPEN,
            count=config.fail_fast_rpcs,
            concurrency=config.fail_fast_concurrency,
            method="ResolvePlayer",
        )
    return Summary.of(result.latencies_ms) if result.latencies_ms else None


__all__ = ["Capture", "bare_fail_fast", "capture", "start_bare", "upstream_floor_ms"]
