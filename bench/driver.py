"""`scripts/bench` / `python -m bench`: the six rows of issue 6, measured in one run, as one markdown table.

Processes (all on 127.0.0.1, ports picked by the kernel): the simulator (`playerstats-steam-sim`, stats 50 ms,
achievements 150 ms), server A (`playerstats-server`, rows 1-5), the bare servicer (`bench.bare_server`, row 3)
and a fresh server B for row 6 (so its peak RSS is that of the held streams, not of the earlier rows). This
process is the load generator. The server runs on its embedded defaults (SQLite in a temporary directory,
in-process breaker and budget, telemetry off) except for what the benchmark must change: the Steam budget
(`RATE_LIMIT_PER_MIN`, `BURST_LIMIT`) and the per-caller quota are lifted (this is not about Steam's budget) and
the breaker stays open long enough for row 5 (`CB_RESET_TIMEOUT_SECS`). `--env NAME=VALUE` changes more.

Row order: 1+2 (distinct players: cache misses; then one repeated player), 3 (h2load unary, then Python aio
streams, each against the real server and the bare one; then the bare one behind the server's method wrappers),
4 (Zipf mix), the profiles of rows 1-3 when not met (py-spy; for 1-2 also a traced server's critical path),
5 (breaker opened with scripted 503s, then fail-fast calls; its profile while still open), 6 (server B).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from bench import load
from bench.config import Config
from bench.floors import capture
from bench.procs import BenchError, start
from bench.report import Report, Row, machine, now_utc, table, write
from bench.rows.fail_fast import row_fail_fast
from bench.rows.latency import profile_latency, rows_latency
from bench.rows.rss import row_rss
from bench.rows.throughput import profile_throughput, row_throughput
from bench.rows.zipf import row_zipf
from bench.run import HIT_PLAYER_INDEX, START_TIMEOUT_SECS, Run, Sim, cache_settings, changed_settings, find_bin
from dbd_playerstats.sim import synthetic_steam_id


def _sim_command(config: Config) -> list[str]:
    return [
        find_bin("playerstats-steam-sim"),
        "--port",
        "0",
        "--latency",
        f"stats={config.stats_latency:g}",
        "--latency",
        f"achievements={config.achievements_latency:g}",
    ]


def setup_lines(config: Config, sim_cmd: Sequence[str]) -> list[str]:
    """The "Set-up" section of the report: the exact commands and every setting the benchmark changed."""
    caches = cache_settings()
    return [
        f"simulator: `{shlex.join(['playerstats-steam-sim', *sim_cmd[1:]])}` (other endpoints answer at once)",
        "server: `playerstats-server` with the embedded defaults (SQLite in a temporary directory, in-process "
        "breaker and budget, telemetry off, log level INFO) except: "
        + ", ".join(f"`{k}={v}`" for k, v in changed_settings(config).items()),
        "cache settings of this build: "
        + (", ".join(f"`{k}={v}`" for k, v in caches.items()) if caches else "none (no stats/achievements cache)"),
        "load: this process (Python grpc.aio client, h2load for unary throughput); one process each for the "
        "simulator, the server and the bare servicer; all on 127.0.0.1",
    ]


async def rows_on_server_a(run: Run) -> list[Row]:
    """Rows 1-5 against one server process (and their profiles, while its state is what the row left)."""
    config = run.config
    server, target = await run.start_server("server-a")
    hit_player = synthetic_steam_id(HIT_PLAYER_INDEX)
    async with load.stubs(target, max(config.stream_channels, 1)) as stubs:
        run.log("warming up (catalog, the repeated player)")
        for _ in range(3):
            await load.stream_once(stubs[0], hit_player)
        await load.timed_streams(stubs, run.ids.many(config.latency_concurrency * 2), config.latency_concurrency)
        row1, row2 = await rows_latency(run, stubs, hit_player)
        canned = await capture(run, stubs, hit_player)
        row3 = await row_throughput(run, server, target, hit_player, canned)
        row4 = await row_zipf(run, stubs)
        if run.want_profile(row1.met) or run.want_profile(row2.met):
            await profile_latency(run, server, stubs)
        if run.want_profile(row3.met):
            await load.unary_once(stubs[0], hit_player)  # the player is fresh in any cache
            await profile_throughput(run, server, target, hit_player)
        row5 = await row_fail_fast(run, server, stubs)
    run.stop(server)
    return [row1, row2, row3, row4, row5]


async def run_all(config: Config, workdir: Path) -> tuple[list[Row], list[tuple[str, str]], list[str]]:
    sim_cmd = _sim_command(config)
    async with AsyncExitStack() as stack:
        sim_proc, match = await start(
            "sim",
            sim_cmd,
            env=dict(os.environ),
            ready=re.compile(r"listening on (http://\S+)"),
            workdir=workdir,
            timeout=START_TIMEOUT_SECS,
        )
        stack.callback(sim_proc.stop)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        run = Run(config, workdir, Sim(session, match.group(1)))
        stack.callback(lambda: [proc.stop() for proc in list(run.procs)])
        run.setup += setup_lines(config, sim_cmd)
        rows = await rows_on_server_a(run)
        rows.append(await row_rss(run))
        return rows, run.profiles, run.setup
    raise AssertionError("unreachable")  # pragma: no cover - the async with either returns or raises


def _command(argv: Sequence[str]) -> str:
    entry = os.environ.get("PLAYERSTATS_BENCH_ENTRY", "python -m bench")
    return " ".join([entry, *(shlex.quote(arg) for arg in argv)])


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parse_args(argv: Sequence[str]) -> Config:
    defaults = Config()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few calls per row (the smoke test); no file written")
    parser.add_argument("--output", type=Path, help=f"markdown file to update (default {defaults.output})")
    parser.add_argument("--no-output", action="store_true", help="print the table only")
    parser.add_argument(
        "--profile",
        choices=["unmet", "always", "never"],
        help="py-spy the server for rows not met (default), all, none",
    )
    parser.add_argument("--duration", type=float, help=f"seconds per throughput run (default {defaults.duration:g})")
    parser.add_argument("--miss-streams", type=int, help=f"rows 1-2 (default {defaults.miss_streams})")
    parser.add_argument("--zipf-rpcs", type=int, help=f"row 4 (default {defaults.zipf_rpcs})")
    parser.add_argument("--fail-fast-rpcs", type=int, help=f"row 5 (default {defaults.fail_fast_rpcs})")
    parser.add_argument("--open-streams", type=int, help=f"row 6 (default {defaults.open_streams})")
    parser.add_argument(
        "--env", type=_env_pair, action="append", default=[], metavar="NAME=VALUE", help="extra server setting"
    )
    args = parser.parse_args(argv)
    changes: dict[str, Any] = {
        name: value
        for name, value in {
            "duration": args.duration,
            "miss_streams": args.miss_streams,
            "zipf_rpcs": args.zipf_rpcs,
            "fail_fast_rpcs": args.fail_fast_rpcs,
            "open_streams": args.open_streams,
            "profile": args.profile,
            "output": args.output,
        }.items()
        if value is not None
    }
    if args.env:
        changes["server_env"] = tuple(args.env)
    if args.no_output:
        changes["output"] = None
    for name in ("duration", "miss_streams", "zipf_rpcs", "fail_fast_rpcs", "open_streams"):
        if name in changes and changes[name] <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return Config.smoke(**changes) if args.smoke else replace(defaults, **changes)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    config = parse_args(args)
    started = time.monotonic()
    date = now_utc()
    try:
        with tempfile.TemporaryDirectory(prefix="playerstats-bench-") as tmp:
            rows, profiles, setup = asyncio.run(run_all(config, Path(tmp)))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    report = Report(_command(args), date, rows, setup, machine(), profiles, time.monotonic() - started)
    print(table(rows), flush=True)
    if config.output is not None:
        write(config.output, report)
        print(f"bench: wrote {config.output}", file=sys.stderr)
    else:
        print(json.dumps({"seconds": round(report.seconds, 1)}), file=sys.stderr)
    return 0


__all__ = ["Config", "main", "parse_args"]
