"""`scripts/bench` / `python -m bench`: the six rows of issue 6, measured in one run, as one markdown table.

Processes (all on 127.0.0.1, ports picked by the kernel): the simulator (`playerstats-steam-sim`, stats 50 ms,
achievements 150 ms), server A (`playerstats-server`, rows 1-5), the bare servicer (`bench.bare_server`, row 3)
and a fresh server B for row 6 (so its peak RSS is that of the held streams, not of the earlier rows). This
process is the load generator. The server runs on its embedded defaults (SQLite in a temporary directory,
in-process breaker and budget, telemetry off) except for what the benchmark must change: the Steam budget
(`RATE_LIMIT_PER_MIN`, `BURST_LIMIT`) and the per-caller quota are lifted (this is not about Steam's budget) and
the breaker stays open long enough for row 5 (`CB_RESET_TIMEOUT_SECS`). `--env NAME=VALUE` changes more.

Row order: 1+2 (distinct players: cache misses; then one repeated player), 3 (h2load unary, then Python aio
streams, each against the real server and the bare one; then the bare one behind the server's interceptors),
4 (Zipf mix), the profiles of rows 1-3 when not met (py-spy; for 1-2 also a traced server's critical path),
5 (breaker opened with scripted 503s, then fail-fast calls; its profile while still open), 6 (server B).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import re
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from bench import h2load, load, profiling, traces
from bench.procs import BenchError, Proc, find_tool, start
from bench.report import Report, Row, machine, now_utc, table, write
from bench.stats import Summary, Zipf
from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.config.settings import DEFAULTS
from dbd_playerstats.sim import synthetic_steam_id
from dbd_playerstats_dev.otlp_receiver import running_receiver

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as Stub

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECS = 60.0
SERVICE_PATH = "/dbd.playerstats.v1.PlayerStatsService"
CIRCUIT_OPEN = "UNAVAILABLE UPSTREAM_CIRCUIT_OPEN"
TRIP_MAX_SECS = 30.0
# Synthetic players are handed out in disjoint ranges, so a "miss" is never a player seen before.
ZIPF_FIRST_INDEX = 500_000
HIT_PLAYER_INDEX = 0


@dataclass(frozen=True)
class Config:
    """How much load each row gets; `--smoke` shrinks everything to a few calls."""

    stats_latency: float = 0.05
    achievements_latency: float = 0.15
    miss_streams: int = 150
    hit_streams: int = 300
    latency_concurrency: int = 1
    sim_baseline_calls: int = 40
    duration: float = 5.0
    warmup: float = 1.0
    h2load_clients: int = 4
    h2load_streams: int = 16
    stream_concurrency: int = 32
    stream_channels: int = 4
    zipf_players: int = 10_000
    zipf_rpcs: int = 2_000
    zipf_s: float = 1.0
    zipf_concurrency: int = 32
    fail_fast_rpcs: int = 500
    fail_fast_concurrency: int = 1
    open_streams: int = 1_000
    streams_per_channel: int = 50
    hold_latency: float = 40.0
    hold_max_wait: float = 20.0
    profile: str = "unmet"
    profile_secs: int = 6
    traced_streams: int = 40
    seed: int = 6
    server_env: tuple[tuple[str, str], ...] = ()
    output: Path | None = REPO / "BENCHMARKS.md"

    @classmethod
    def smoke(cls, **changes: Any) -> Config:
        tiny = cls(
            miss_streams=6,
            hit_streams=4,
            latency_concurrency=1,
            sim_baseline_calls=3,
            duration=0.5,
            warmup=0.2,
            h2load_clients=1,
            h2load_streams=2,
            stream_concurrency=2,
            stream_channels=1,
            zipf_players=50,
            zipf_rpcs=12,
            zipf_concurrency=4,
            fail_fast_rpcs=5,
            open_streams=20,
            streams_per_channel=10,
            hold_latency=10.0,
            hold_max_wait=2.0,
            profile="never",
            output=None,
        )
        return replace(tiny, **changes)


class Ids:
    """Fresh synthetic players, never handed out twice in a run."""

    def __init__(self, first: int = 1_000) -> None:
        self._next = itertools.count(first)

    def fresh(self) -> str:
        index = next(self._next)
        if index >= ZIPF_FIRST_INDEX:
            raise BenchError("out of fresh synthetic players")
        return synthetic_steam_id(index)

    def many(self, count: int) -> list[str]:
        return [self.fresh() for _ in range(count)]


class Sim:
    """The simulator's admin API (`/_sim/...`)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def _call(self, method: str, path: str, body: object = None) -> Any:
        async with self.session.request(
            method, f"{self.base_url}{path}", json=body, timeout=aiohttp.ClientTimeout(total=10)
        ) as response:
            response.raise_for_status()
            return await response.json()

    async def counts(self) -> Counter[str]:
        return Counter(await self._call("GET", "/_sim/counts"))

    async def reset(self) -> None:
        await self._call("POST", "/_sim/reset")

    async def latency(self, **seconds: float) -> None:
        await self._call("POST", "/_sim/latency", seconds)

    async def script(self, endpoint: str, kind: str, count: int) -> None:
        await self._call("POST", "/_sim/faults", {"endpoint": endpoint, "faults": [{"kind": kind}] * count})

    async def _get(self, path: str, params: dict[str, str]) -> None:
        async with self.session.get(f"{self.base_url}{path}", params=params) as response:
            await response.read()

    async def upstream_floor_ms(self, players: Sequence[str], concurrency: int) -> tuple[Summary, Summary]:
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
                        self._get("/ISteamUser/GetPlayerSummaries/v2/", {"key": "sim-key", "steamids": steam_id}),
                    ),
                    timed(start_at, self._get("/ISteamUserStats/GetUserStatsForGame/v2/", player)),
                    timed(start_at, self._get("/ISteamUserStats/GetPlayerAchievements/v1/", player)),
                )
                first.append(max(profile, stats) * 1000)
                total.append(max(profile, stats, achievements) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return Summary.of(first), Summary.of(total)


def _bin(name: str) -> str:
    found = find_tool(name)
    if found is None:
        raise BenchError(f"{name} is not installed: run scripts/bench (it installs the project into .venv)")
    return found


def server_env(config: Config, sim_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The server's environment: embedded defaults, except what the benchmark must change."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in DEFAULTS
        and not key.startswith(("PLAYERSTATS_", "OTEL_", "CB_"))
        and key not in {"REDIS_URL", "DATABASE_URL"}
    }
    env = inherited | {
        "STEAM_API_BASE_URL": sim_url,
        "STEAM_API_KEY": "sim-key",
        "PLAYERSTATS_LISTEN": "127.0.0.1:0",
        "PLAYERSTATS_DATA_DIR": str(data_dir),
        "RATE_LIMIT_PER_MIN": "100000000",
        "BURST_LIMIT": "10000000",
        "PLAYERSTATS_CALLER_QUOTA_PER_MIN": "0",
        "CB_RESET_TIMEOUT_SECS": "900",
        "PLAYERSTATS_GRACE_SECS": "1",
    }
    return env | extra | dict(config.server_env)


def cache_settings() -> dict[str, str]:
    """The cache variables this build of the server knows (none before caching landed), with their defaults."""
    return {key: value for key, value in DEFAULTS.items() if "CACHE" in key}


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def _signed_ms(value: float) -> str:
    return f"{'+' if value >= 0 else '-'}{_ms(abs(value))}"


def _errors(counter: Counter[str]) -> str:
    return ", ".join(f"{n} x {kind}" for kind, n in counter.most_common()) or "none"


@dataclass
class Run:
    """State shared by the rows of one run."""

    config: Config
    workdir: Path
    sim: Sim
    ids: Ids = field(default_factory=Ids)
    procs: list[Proc] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    profiles: list[tuple[str, str]] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    bare_fail_fast: Summary | None = None

    def log(self, message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    async def start_server(self, name: str, **extra: str) -> tuple[Proc, str]:
        env = server_env(self.config, self.sim.base_url, self.workdir / f"data-{name}", **extra)
        proc, match = await start(
            name,
            [_bin("playerstats-server")],
            env=env,
            ready=re.compile(r"listening on port (\d+)"),
            workdir=self.workdir,
            timeout=START_TIMEOUT_SECS,
        )
        self.procs.append(proc)
        return proc, f"127.0.0.1:{match.group(1)}"

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def want_profile(self, met: bool | None) -> bool:
        return self.config.profile == "always" or (self.config.profile == "unmet" and met is False)

    async def profile(self, proc: Proc, heading: str, load_fn: Callable[[asyncio.Event], Awaitable[object]]) -> None:
        self.log(f"profiling: {heading}")
        result = await profiling.record(
            proc.pid,
            load_fn,
            title=heading,
            seconds=self.config.profile_secs,
            out=self.workdir / f"profile-{len(self.profiles)}.txt",
        )
        self.profiles.append((heading, result if isinstance(result, str) else result.render()))


# ------------------------------------------------------------------------------------------------------------
# Rows 1 and 2: time to first message and total stream time
# ------------------------------------------------------------------------------------------------------------


async def rows_latency(run: Run, stubs: list[Stub], hit_player: str) -> tuple[Row, Row]:
    """Rows 1 and 2, from the same streams: distinct players (misses), then one repeated player (hits)."""
    config = run.config
    conc = config.latency_concurrency
    floor1 = config.stats_latency * 1000
    floor2 = max(config.stats_latency, config.achievements_latency) * 1000
    sequential = (config.stats_latency + config.achievements_latency) * 1000
    # The harness's own share: the same Steam calls made by this process directly, no server in between.
    alone1, alone2 = await run.sim.upstream_floor_ms(run.ids.many(config.sim_baseline_calls), conc)
    harness1, harness2 = alone1.p50, alone2.p50
    run.log(f"rows 1-2: {config.miss_streams} streams of distinct players, {conc} at a time")
    miss = await load.timed_streams(stubs, run.ids.many(config.miss_streams), conc)
    run.log(f"rows 1-2: {config.hit_streams} streams of one repeated player, {conc} at a time")
    hit = await load.timed_streams(stubs, [hit_player] * config.hit_streams, conc)
    if not miss.first_ms or not hit.first_ms:
        raise BenchError(f"rows 1-2: no stream succeeded (misses: {_errors(miss.errors)}; hits: {_errors(hit.errors)})")
    m1, m2 = Summary.of(miss.first_ms), Summary.of(miss.total_ms)
    h1, h2 = Summary.of(hit.first_ms), Summary.of(hit.total_ms)
    hit_label = "repeat (cache hit)" if cache_settings() else "repeat (no cache in this build: a miss as well)"
    clean = not miss.errors
    at_a_time = "one at a time" if conc == 1 else f"{conc} at a time"
    harness = (
        f"practical floor: the server's Steam calls (profile + stats + achievements at once) made by this process "
        f"directly, no server ({alone1.n} distinct players, {at_a_time}): profile and stats in after p50 "
        f"{_ms(alone1.p50)} (p99 {_ms(alone1.p99)}), all three after p50 {_ms(alone2.p50)} (p99 {_ms(alone2.p99)})"
    )

    def verdict(over_floor: float, over_harness: float) -> tuple[bool, str]:
        met = over_floor <= 2.0 and clean
        if met or not clean:
            return met, "" if clean else "stream errors"
        share = "met" if over_harness <= 2.0 else "not met either"
        return met, f"server's own share {_signed_ms(over_harness)}: {share}"

    met1, note1 = verdict(m1.p50 - floor1, m1.p50 - harness1)
    row1 = Row(
        1,
        "time to first message - stats latency",
        f"miss p50 {_signed_ms(m1.p50 - floor1)} (server's own share {_signed_ms(m1.p50 - harness1)}), "
        f"p99 {_signed_ms(m1.p99 - floor1)}; repeat p50 {_ms(h1.p50)}, p99 {_ms(h1.p99)}",
        f"floor {floor1:.0f} ms (stats latency); practical floor p50 {_ms(harness1)} (same Steam calls, no server)",
        "miss p50 ≤ floor + 2 ms",
        met1,
        [
            f"miss: {m1.n} streams of distinct synthetic players, {at_a_time}: first message p50 {_ms(m1.p50)}, "
            f"p99 {_ms(m1.p99)}, max {_ms(m1.max)}; errors: {_errors(miss.errors)}; stats provenance "
            f"{dict(miss.sources)}",
            f"{hit_label}: {h1.n} streams of one player, {at_a_time}: first message p50 {_ms(h1.p50)}, p99 "
            f"{_ms(h1.p99)}, max {_ms(h1.max)}; errors: {_errors(hit.errors)}; stats provenance {dict(hit.sources)}",
            harness,
            "server's own share = measured p50 - practical floor p50 (the simulator's own work, loopback and "
            "wake-ups of this VM are in both)",
        ],
        note1,
    )
    met2, note2 = verdict(m2.p50 - floor2, m2.p50 - harness2)
    row2 = Row(
        2,
        "total stream time",
        f"miss p50 {_ms(m2.p50)} ({_signed_ms(m2.p50 - floor2)} vs floor, server's own share "
        f"{_signed_ms(m2.p50 - harness2)}; {_signed_ms(m2.p50 - sequential)} vs sequential), p99 {_ms(m2.p99)}; "
        f"repeat p50 {_ms(h2.p50)}, p99 {_ms(h2.p99)}",
        f"floor max(stats, achievements) = {floor2:.0f} ms (practical floor p50 {_ms(harness2)}); "
        f"sequential sum = {sequential:.0f} ms",
        "miss p50 ≤ floor + 2 ms",
        met2,
        [
            f"miss: p50 {_ms(m2.p50)}, p99 {_ms(m2.p99)}, max {_ms(m2.max)}",
            f"repeat: p50 {_ms(h2.p50)}, p99 {_ms(h2.p99)}, max {_ms(h2.max)}",
        ],
        note2,
    )
    return row1, row2


async def profile_latency(run: Run, server: Proc, stubs: list[Stub]) -> None:
    """py-spy while misses stream again, then the critical path from a traced server's own spans."""

    async def again(stop: asyncio.Event) -> object:
        return await load.streams_until(stubs, run.ids.fresh, stop, run.config.latency_concurrency)

    await run.profile(server, "rows 1-2: streams of distinct players (cache misses)", again)
    run.log("rows 1-2: tracing misses on a server with telemetry on")
    with running_receiver() as receiver:
        traced, target = await run.start_server(
            "server-traced", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="100"
        )
        try:
            async with load.stubs(target, 1) as traced_stubs:
                await load.timed_streams(traced_stubs, run.ids.many(3), 1)  # warm-up (catalog), not counted
                before = {span.trace_id for span in receiver.spans()}
                times = await load.timed_streams(traced_stubs, run.ids.many(run.config.traced_streams), 1)
            await asyncio.sleep(0.5)
        finally:
            run.stop(traced)  # its shutdown flushes the last spans
        spans = [span for span in receiver.spans() if span.trace_id not in before]
    text = traces.breakdown(spans).render(times.first_ms, times.total_ms)
    run.profiles.append(("rows 1-2: the critical path of a cache miss, from the server's traces", text))


# ------------------------------------------------------------------------------------------------------------
# Row 3: cache-hit throughput against the bare servicer
# ------------------------------------------------------------------------------------------------------------


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
    """The bare servicer; `intercepted`: behind the real server's interceptors, in the server's environment."""
    cmd = [sys.executable, "-m", "bench.bare_server", "--unary", str(canned.unary), "--stream"]
    cmd += [str(path) for path in canned.stream]
    env = server_env(run.config, run.sim.base_url, run.workdir / "data-bare") if intercepted else dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    if intercepted:
        cmd.append("--server-interceptors")
    name = "bare-intercepted" if intercepted else "bare"
    proc, match = await start(
        name, cmd, env=env, ready=re.compile(r"listening on port (\d+)"), workdir=run.workdir, timeout=60
    )
    run.procs.append(proc)
    return proc, f"127.0.0.1:{match.group(1)}"


@dataclass
class Measured:
    rps: float
    text: str
    ok: bool


async def _unary_h2load(run: Run, tool: str, proc: Proc, target: str, *, player: str, canned: Capture) -> Measured:
    config = run.config
    body = run.workdir / "h2load-body.bin"
    body.write_bytes(h2load.grpc_frame(pb.GetPlayerStatsRequest(player=player).SerializeToString()))
    url = f"http://{target}{SERVICE_PATH}/GetPlayerStats"
    async with load.stubs(target, 1) as check:
        before, _ = await load.unary_once(check[0], player)
        kwargs: dict[str, Any] = {"url": url, "body": body, "clients": config.h2load_clients}
        kwargs["streams"] = config.h2load_streams
        await h2load.run(tool, duration=config.warmup, warmup=0, **kwargs)
        cpu0 = proc.cpu_secs()
        result = await h2load.run(tool, duration=config.duration, warmup=0, **kwargs)
        cpu = proc.cpu_secs() - cpu0
        after, _ = await load.unary_once(check[0], player)
    expected = canned.unary_size + 5
    short = 1 - result.data_per_request() / expected if result.succeeded else 1.0
    ok = before == after == "OK" and result.failed == 0 and result.non_2xx == 0 and abs(short) < 0.01
    text = (
        f"{result.rps:,.0f} RPC/s ({result.succeeded:,} calls in {config.duration:g} s; server CPU "
        f"{cpu / config.duration:.0%} of a core; sample call before {before}, after {after}; "
        f"{result.data_per_request():,.0f} response bytes per call for {expected:,} expected)"
    )
    return Measured(result.rps, text, ok)


async def _unary_python(run: Run, proc: Proc, target: str, player: str) -> Measured:
    config = run.config
    async with load.stubs(target, config.stream_channels) as stubs:
        cpu0 = proc.cpu_secs()
        result = await load.unary_throughput(
            stubs, player, concurrency=config.stream_concurrency, duration=config.duration, warmup=config.warmup
        )
        cpu = proc.cpu_secs() - cpu0
    text = (
        f"{result.rps:,.0f} RPC/s ({result.completed:,} calls; errors {_errors(result.errors)}; server CPU "
        f"{cpu / (config.duration + config.warmup):.0%} of a core; driver CPU "
        f"{result.driver_cpu_secs / result.seconds:.0%})"
    )
    return Measured(result.rps, text, not result.errors)


async def _streams(run: Run, proc: Proc, target: str, player: str) -> Measured:
    config = run.config
    async with load.stubs(target, config.stream_channels) as stubs:
        cpu0 = proc.cpu_secs()
        result = await load.stream_throughput(
            stubs, player, concurrency=config.stream_concurrency, duration=config.duration, warmup=config.warmup
        )
        cpu = proc.cpu_secs() - cpu0
    text = (
        f"{result.rps:,.0f} streams/s ({result.completed:,} streams of 2 messages; errors "
        f"{_errors(result.errors)}; server CPU {cpu / (config.duration + config.warmup):.0%} of a core; "
        f"driver CPU {result.driver_cpu_secs / result.seconds:.0%})"
    )
    return Measured(result.rps, text, not result.errors)


async def _bare_fail_fast(run: Run, target: str) -> Summary | None:
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


async def row_throughput(run: Run, server: Proc, target: str, player: str, canned: Capture) -> Row:
    config = run.config
    tool = find_tool("h2load")
    bare, bare_target = await start_bare(run, canned)
    try:
        await asyncio.sleep(0)
        counts0 = await run.sim.counts()
        if tool is not None:
            run.log(f"row 3: h2load GetPlayerStats, {config.duration:g} s each against the server and the bare one")
            real_u = await _unary_h2load(run, tool, server, target, player=player, canned=canned)
            bare_u = await _unary_h2load(run, tool, bare, bare_target, player=player, canned=canned)
            unary_driver = "h2load"
        else:
            run.log("row 3: h2load is not installed: unary throughput with the Python aio client instead")
            real_u = await _unary_python(run, server, target, player)
            bare_u = await _unary_python(run, bare, bare_target, player)
            unary_driver = "Python aio (h2load not installed)"
        run.log(f"row 3: Python aio StreamPlayerStats, {config.duration:g} s each against the server and the bare one")
        counts1 = await run.sim.counts()
        real_s = await _streams(run, server, target, player)
        bare_s = await _streams(run, bare, bare_target, player)
        counts2 = await run.sim.counts()
        run.bare_fail_fast = await _bare_fail_fast(run, bare_target)
    finally:
        run.stop(bare)
    run.log("row 3: the same unary load on the bare servicer behind the server's interceptors")
    wrapped, wrapped_target = await start_bare(run, canned, intercepted=True)
    try:
        if tool is not None:
            wrapped_u = await _unary_h2load(run, tool, wrapped, wrapped_target, player=player, canned=canned)
        else:
            wrapped_u = await _unary_python(run, wrapped, wrapped_target, player)
    finally:
        run.stop(wrapped)
    unary_ratio = real_u.rps / bare_u.rps if bare_u.rps else 0.0
    stream_ratio = real_s.rps / bare_s.rps if bare_s.rps else 0.0
    checks = real_u.ok and bare_u.ok and real_s.ok and bare_s.ok and wrapped_u.ok
    upstream_u = counts1["total"] - counts0["total"]
    upstream_s = counts2["total"] - counts1["total"]
    return Row(
        3,
        "cache-hit throughput / bare grpc.aio servicer",
        f"unary {unary_ratio:.2f} ({real_u.rps:,.0f} vs {bare_u.rps:,.0f} RPC/s, {unary_driver}); "
        f"stream {stream_ratio:.2f} ({real_s.rps:,.0f} vs {bare_s.rps:,.0f} streams/s, Python aio)",
        "bare grpc.aio servicer returning the captured response, same machine, same driver; the same servicer "
        f"behind the server's interceptors alone reaches {wrapped_u.rps / bare_u.rps if bare_u.rps else 0:.2f} (unary)",
        "≥ 0.7",
        min(unary_ratio, stream_ratio) >= 0.7 and checks,
        [
            f"one player, warmed before the runs; {config.warmup:g} s warm-up then {config.duration:g} s measured "
            f"per run; h2load {config.h2load_clients} connections x {config.h2load_streams} streams; Python aio "
            f"{config.stream_concurrency} concurrent calls over {config.stream_channels} channels",
            f"unary, server: {real_u.text}",
            f"unary, bare: {bare_u.text}",
            f"unary, the bare servicer behind the server's own interceptors (telemetry as configured: off; the "
            f"JSON log line per RPC; the quota, off): {wrapped_u.text}; that is "
            f"{wrapped_u.rps / bare_u.rps if bare_u.rps else 0:.2f} of bare, the ceiling of the unary ratio while "
            f"the interceptors stay as they are",
            f"stream, server: {real_s.text}",
            f"stream, bare: {bare_s.text}",
            f"Steam calls made by the server during the runs: {upstream_u} (unary), {upstream_s} (stream)"
            + ("" if checks else "; **a check failed** (see the lines above)"),
        ],
    )


async def profile_throughput(run: Run, server: Proc, target: str, player: str) -> None:
    config = run.config
    tool = find_tool("h2load")
    if tool is None:
        async with load.stubs(target, config.stream_channels) as stubs:

            async def python_unary(stop: asyncio.Event) -> object:
                return await load.unary_throughput(
                    stubs, player, concurrency=config.stream_concurrency, duration=config.profile_secs + 1, warmup=0
                )

            await run.profile(server, "row 3: GetPlayerStats of one (cached) player, Python aio", python_unary)
        return
    body = run.workdir / "h2load-body.bin"
    url = f"http://{target}{SERVICE_PATH}/GetPlayerStats"

    async def unary(stop: asyncio.Event) -> object:
        return await h2load.run(
            tool,
            url=url,
            body=body,
            duration=config.profile_secs + 1,
            warmup=0,
            clients=config.h2load_clients,
            streams=config.h2load_streams,
        )

    await run.profile(server, "row 3: GetPlayerStats of one (cached) player under h2load", unary)


# ------------------------------------------------------------------------------------------------------------
# Row 4: upstream calls for a Zipf mix
# ------------------------------------------------------------------------------------------------------------


async def row_zipf(run: Run, stubs: list[Stub]) -> Row:
    config = run.config
    ranks = Zipf(config.zipf_players, config.zipf_s, config.seed).sample(config.zipf_rpcs)
    players = [synthetic_steam_id(ZIPF_FIRST_INDEX + rank) for rank in ranks]
    distinct = len(set(players))
    run.log(f"row 4: {len(players)} streams, Zipf s={config.zipf_s:g} over {config.zipf_players} players")
    before = await run.sim.counts()
    started = time.perf_counter()
    result = await load.mixed_streams(stubs, players, config.zipf_concurrency)
    seconds = time.perf_counter() - started
    after = await run.sim.counts()
    delta = {key: after[key] - before[key] for key in after}
    per_k = delta.get("total", 0) / len(players) * 1000
    perfect = distinct * 3 / len(players) * 1000
    by_endpoint = ", ".join(f"{key} {delta[key] / len(players) * 1000:,.0f}" for key in sorted(delta) if key != "total")
    top_share = Counter(ranks).most_common(1)[0][1] / len(ranks)
    return Row(
        4,
        f"Steam calls per 1,000 RPCs, Zipf mix of {config.zipf_players:,} players",
        f"{per_k:,.0f} ({by_endpoint})",
        f"no cache: 3,000; every distinct player once: {perfect:,.0f}",
        "— (reported)",
        None,
        [
            f"{len(players):,} StreamPlayerStats, {config.zipf_concurrency} concurrent, Zipf s={config.zipf_s:g} "
            f"(seed {config.seed}) over synthetic players: {distinct:,} distinct, the most popular "
            f"{top_share:.1%} of the calls; done in {seconds:.1f} s",
            f"errors: {_errors(result.errors)}; stats provenance {dict(result.sources)}",
            f"simulator counts (/_sim/counts) before/after: {delta.get('total', 0):,} Steam calls in all",
        ],
    )


# ------------------------------------------------------------------------------------------------------------
# Row 5: fail-fast while the breaker is open
# ------------------------------------------------------------------------------------------------------------


async def trip_breaker(run: Run, stub: Stub) -> int:
    """Open the stats breaker with scripted 503s; the number of RPCs it took (BenchError if it never opens)."""
    await run.sim.script("stats", "http_503", 200)
    deadline = time.monotonic() + TRIP_MAX_SECS
    calls = 0
    try:
        while time.monotonic() < deadline:
            outcomes = await asyncio.gather(*(load.unary_once(stub, run.ids.fresh()) for _ in range(4)))
            probe, _ = await load.unary_once(stub, run.ids.fresh())
            calls += len(outcomes) + 1
            if probe == CIRCUIT_OPEN:
                return calls
        raise BenchError(f"row 5: the stats breaker did not open within {TRIP_MAX_SECS:g}s")
    finally:
        await run.sim.reset()  # the leftover 503s go; the start-up latencies stay


async def row_fail_fast(run: Run, server: Proc, stubs: list[Stub]) -> Row:
    config = run.config
    run.log("row 5: opening the stats breaker with scripted 503s")
    trip_calls = await trip_breaker(run, stubs[0])
    probe, _ = await load.unary_once(stubs[0], run.ids.fresh())
    if probe != CIRCUIT_OPEN:
        raise BenchError(f"row 5: the breaker is not open after the 503s stopped (a call got {probe})")
    run.log(f"row 5: {config.fail_fast_rpcs} GetPlayerStats while the breaker is open")
    counts0 = await run.sim.counts()
    result = await load.fail_fast(
        stubs, run.ids.fresh, expect=CIRCUIT_OPEN, count=config.fail_fast_rpcs, concurrency=config.fail_fast_concurrency
    )
    counts1 = await run.sim.counts()
    if not result.latencies_ms:
        raise BenchError(f"row 5: no call failed fast: {_errors(result.outcomes)}")
    summary = Summary.of(result.latencies_ms)
    bare = run.bare_fail_fast
    all_expected = result.outcomes[CIRCUIT_OPEN] == sum(result.outcomes.values())
    row = Row(
        5,
        "fail-fast latency while the breaker is open",
        f"p99 {_ms(summary.p99)} (p50 {_ms(summary.p50)}; {summary.n} calls"
        + (", all UPSTREAM_CIRCUIT_OPEN)" if all_expected else f"; outcomes {_errors(result.outcomes)})"),
        (
            f"the bare servicer failing the same way (UNAVAILABLE + ErrorInfo + RetryInfo), same driver: p50 "
            f"{_ms(bare.p50)}, p99 {_ms(bare.p99)}"
            if bare is not None
            else "—"
        ),
        "p99 < 2 ms",
        summary.p99 < 2.0 and all_expected,
        [
            f"stats breaker opened by 503s scripted on GetUserStatsForGame ({trip_calls} RPCs), the leftover "
            f"503s then cleared: only the open breaker fails the calls",
            f"{config.fail_fast_rpcs} GetPlayerStats of players never seen (no stored stats to fall back on), "
            f"{config.fail_fast_concurrency} at a time; outcomes: {_errors(result.outcomes)}; max {_ms(summary.max)}",
            "Steam calls started meanwhile (profile and achievements are not behind the stats breaker): "
            + (
                ", ".join(f"{k} {counts1[k] - counts0[k]}" for k in sorted(counts1) if counts1[k] != counts0[k])
                or "none"
            ),
        ],
    )
    if run.want_profile(row.met):

        async def again(stop: asyncio.Event) -> object:
            return await load.fail_fast(
                stubs,
                run.ids.fresh,
                expect=CIRCUIT_OPEN,
                count=10**6,
                concurrency=config.fail_fast_concurrency,
                stop=stop,
            )

        await run.profile(server, "row 5: GetPlayerStats failing fast on the open stats breaker", again)
    return row


# ------------------------------------------------------------------------------------------------------------
# Row 6: peak RSS with many open streams
# ------------------------------------------------------------------------------------------------------------


async def row_rss(run: Run) -> Row:
    config = run.config
    n = config.open_streams
    server, target = await run.start_server(
        "server-b",
        PLAYERSTATS_MAX_CONCURRENT_RPCS=str(n + 100),
        API_TIMEOUT_SECS=f"{config.hold_latency * 2:g}",
        OVERALL_TIMEOUT_SECS=f"{config.hold_latency * 4:g}",
    )
    try:
        channels = math.ceil(n / config.streams_per_channel)
        async with load.stubs(target, channels) as stubs:
            for stub in stubs[:2]:
                await load.stream_once(stub, run.ids.fresh())  # catalog loaded, code paths warm
            idle = server.memory_kib()
            await run.sim.latency(achievements=config.hold_latency)
            counts0 = await run.sim.counts()
            history: list[tuple[float, int]] = []

            async def settled() -> bool:
                now = time.monotonic()
                history.append((now, server.memory_kib()["VmRSS"]))
                older = [rss for at, rss in history if now - at >= 1.0]
                return bool(older) and history[-1][1] - older[-1] <= max(256, older[-1] // 200)

            run.log(
                f"row 6: holding {n} streams open on a fresh server (achievements latency {config.hold_latency:g} s)"
            )
            held = await load.hold_streams(stubs, run.ids.many(n), settled=settled, max_wait=config.hold_max_wait)
            peak = server.memory_kib()
            counts1 = await run.sim.counts()
        await run.sim.reset()
    finally:
        run.stop(server)
    per_stream = (peak["VmHWM"] - idle["VmRSS"]) / n
    upstream = ", ".join(f"{k} {counts1[k] - counts0[k]}" for k in ("profile", "stats", "achievements"))
    return Row(
        6,
        f"peak RSS with {n:,} concurrent open streams",
        f"VmHWM {peak['VmHWM'] / 1024:.0f} MiB ({idle['VmRSS'] / 1024:.0f} MiB before; "
        f"+{per_stream:.0f} KiB per stream)",
        f"{held.still_open:,} of {held.opened:,} streams open when read; {held.first_messages:,} had their stats",
        "— (reported)",
        None,
        [
            f"a fresh server process (so VmHWM is that of this row), warmed with 2 streams; then one stream per "
            f"distinct player over {channels} connections of ≤{config.streams_per_channel} streams, the simulator's "
            f"achievements latency raised to {config.hold_latency:g} s; /proc/<pid>/status read once VmRSS stopped "
            f"growing ({held.waited_secs:.1f} s after the streams were opened)",
            f"VmRSS at the peak {peak['VmRSS'] / 1024:.0f} MiB; stream errors: {_errors(held.errors)}",
            f"Steam requests the server had started by then: {upstream}",
        ],
    )


# ------------------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------------------


async def run_all(config: Config, workdir: Path) -> tuple[list[Row], list[tuple[str, str]], list[str]]:
    sim_cmd = [_bin("playerstats-steam-sim"), "--port", "0"]
    sim_cmd += [
        "--latency",
        f"stats={config.stats_latency:g}",
        "--latency",
        f"achievements={config.achievements_latency:g}",
    ]
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
        caches = cache_settings()
        run.setup += [
            f"simulator: `{shlex.join(['playerstats-steam-sim', *sim_cmd[1:]])}` (other endpoints answer at once)",
            "server: `playerstats-server` with the embedded defaults (SQLite in a temporary directory, in-process "
            "breaker and budget, telemetry off, log level INFO) except: "
            + ", ".join(
                f"`{k}={v}`"
                for k, v in server_env(config, "", Path()).items()
                if k in DEFAULTS and k not in {"STEAM_API_BASE_URL", "PLAYERSTATS_DATA_DIR", "PLAYERSTATS_LISTEN"}
            ),
            "cache settings of this build: "
            + (", ".join(f"`{k}={v}`" for k, v in caches.items()) if caches else "none (no stats/achievements cache)"),
            "load: this process (Python grpc.aio client, h2load for unary throughput); one process each for the "
            "simulator, the server and the bare servicer; all on 127.0.0.1",
        ]
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
        row6 = await row_rss(run)
        return [row1, row2, row3, row4, row5, row6], run.profiles, run.setup
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
