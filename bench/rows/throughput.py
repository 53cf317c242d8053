"""Row 3: cache-hit throughput of the real server over that of the bare grpc.aio servicer, unary and stream.

Unary load is h2load when installed (the Python client would be the bottleneck), else the Python aio client;
streams are always the Python aio client. Every run checks what it got (status, bytes per call), and the
simulator's counts show the server answered from its cache.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bench import h2load, load
from bench.config import Config
from bench.floors import Capture, bare_fail_fast, start_bare
from bench.procs import Proc, find_tool
from bench.report import Row, outcomes
from bench.run import Run
from dbd.playerstats.v1 import playerstats_pb2 as pb

SERVICE_PATH = "/dbd.playerstats.v1.PlayerStatsService"
GOAL_UNARY_RATIO = 0.85
GOAL_STREAM_RATIO = 0.7


@dataclass
class Measured:
    rps: float
    text: str
    ok: bool


@dataclass
class Versus:
    """The runs against the real server and the bare one, and the Steam calls the server made meanwhile."""

    real_u: Measured
    bare_u: Measured
    real_s: Measured
    bare_s: Measured
    unary_driver: str
    upstream_u: int
    upstream_s: int


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
        f"{result.rps:,.0f} RPC/s ({result.completed:,} calls; errors {outcomes(result.errors)}; server CPU "
        f"{cpu / (config.duration + config.warmup):.0%} of a core; driver CPU "
        f"{result.driver_cpu_secs / result.seconds:.0%})"
    )
    return Measured(result.rps, text, not result.errors)


async def _unary(run: Run, tool: str | None, proc: Proc, target: str, *, player: str, canned: Capture) -> Measured:
    if tool is not None:
        return await _unary_h2load(run, tool, proc, target, player=player, canned=canned)
    return await _unary_python(run, proc, target, player)


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
        f"{outcomes(result.errors)}; server CPU {cpu / (config.duration + config.warmup):.0%} of a core; "
        f"driver CPU {result.driver_cpu_secs / result.seconds:.0%})"
    )
    return Measured(result.rps, text, not result.errors)


async def _versus_bare(run: Run, server: Proc, target: str, player: str, canned: Capture) -> Versus:
    """Unary then stream, each against the server and the bare servicer; row 5's reference while it is up."""
    config = run.config
    tool = find_tool("h2load")
    bare, bare_target = await start_bare(run, canned)
    try:
        await asyncio.sleep(0)
        counts0 = await run.sim.counts()
        if tool is not None:
            run.log(f"row 3: h2load GetPlayerStats, {config.duration:g} s each against the server and the bare one")
        else:
            run.log("row 3: h2load is not installed: unary throughput with the Python aio client instead")
        real_u = await _unary(run, tool, server, target, player=player, canned=canned)
        bare_u = await _unary(run, tool, bare, bare_target, player=player, canned=canned)
        run.log(f"row 3: Python aio StreamPlayerStats, {config.duration:g} s each against the server and the bare one")
        counts1 = await run.sim.counts()
        real_s = await _streams(run, server, target, player)
        bare_s = await _streams(run, bare, bare_target, player)
        counts2 = await run.sim.counts()
        run.bare_fail_fast = await bare_fail_fast(run, bare_target)
    finally:
        run.stop(bare)
    unary_driver = "h2load" if tool is not None else "Python aio (h2load not installed)"
    upstream_u = counts1["total"] - counts0["total"]
    upstream_s = counts2["total"] - counts1["total"]
    return Versus(real_u, bare_u, real_s, bare_s, unary_driver, upstream_u, upstream_s)


def _ratio(real: Measured, bare: Measured) -> float:
    return real.rps / bare.rps if bare.rps else 0.0


def throughput_row(config: Config, got: Versus, wrapped_u: Measured) -> Row:
    unary_ratio, stream_ratio = _ratio(got.real_u, got.bare_u), _ratio(got.real_s, got.bare_s)
    wrapped_ratio = _ratio(wrapped_u, got.bare_u)
    checks = got.real_u.ok and got.bare_u.ok and got.real_s.ok and got.bare_s.ok and wrapped_u.ok
    return Row(
        3,
        "cache-hit throughput / bare grpc.aio servicer",
        f"unary {unary_ratio:.2f} ({got.real_u.rps:,.0f} vs {got.bare_u.rps:,.0f} RPC/s, {got.unary_driver}); "
        f"stream {stream_ratio:.2f} ({got.real_s.rps:,.0f} vs {got.bare_s.rps:,.0f} streams/s, Python aio)",
        "bare grpc.aio servicer returning the captured response, same machine, same driver; the same servicer "
        f"behind the server's method wrappers alone reaches {wrapped_ratio:.2f} (unary)",
        f"unary ≥ {GOAL_UNARY_RATIO:g}, stream ≥ {GOAL_STREAM_RATIO:g}",
        unary_ratio >= GOAL_UNARY_RATIO and stream_ratio >= GOAL_STREAM_RATIO and checks,
        [
            f"one player, warmed before the runs; {config.warmup:g} s warm-up then {config.duration:g} s measured "
            f"per run; h2load {config.h2load_clients} connections x {config.h2load_streams} streams; Python aio "
            f"{config.stream_concurrency} concurrent calls over {config.stream_channels} channels",
            f"unary, server: {got.real_u.text}",
            f"unary, bare: {got.bare_u.text}",
            f"unary, the bare servicer behind the server's own method wrappers (telemetry as configured: off; the "
            f"JSON log line per RPC; the quota, off): {wrapped_u.text}; that is "
            f"{wrapped_ratio:.2f} of bare, the ceiling of the unary ratio while the wrappers stay as they are",
            f"stream, server: {got.real_s.text}",
            f"stream, bare: {got.bare_s.text}",
            f"Steam calls made by the server during the runs: {got.upstream_u} (unary), {got.upstream_s} (stream)"
            + ("" if checks else "; **a check failed** (see the lines above)"),
        ],
    )


async def row_throughput(run: Run, server: Proc, target: str, player: str, canned: Capture) -> Row:
    got = await _versus_bare(run, server, target, player, canned)
    run.log("row 3: the same unary load on the bare servicer behind the server's method wrappers")
    tool = find_tool("h2load")
    wrapped, wrapped_target = await start_bare(run, canned, intercepted=True)
    try:
        wrapped_u = await _unary(run, tool, wrapped, wrapped_target, player=player, canned=canned)
    finally:
        run.stop(wrapped)
    return throughput_row(run.config, got, wrapped_u)


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


__all__ = ["Measured", "Versus", "profile_throughput", "row_throughput", "throughput_row"]
