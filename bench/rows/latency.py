"""Rows 1 and 2: time to first message and total stream time, misses (distinct players) and hits (one player)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench import load, traces
from bench.config import Config
from bench.floors import upstream_floor_ms
from bench.procs import BenchError, Proc
from bench.report import Row, ms, outcomes, signed_ms
from bench.run import Run, cache_settings
from bench.stats import Summary
from dbd_playerstats_dev.otlp_receiver import running_receiver

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as Stub

GOAL_P50_OVER_FLOOR_MS = 2.0
GOAL_P99_OVER_FLOOR_MS = 10.0


@dataclass
class Latencies:
    """What rows 1-2 measured at one concurrency: the practical floor (no server) at that concurrency, the
    misses, and (at concurrency 1 only) the hits."""

    concurrency: int
    alone_first: Summary
    alone_total: Summary
    miss: load.StreamTimes
    hit: load.StreamTimes | None

    @property
    def clean(self) -> bool:
        return not self.miss.errors


async def measure(run: Run, stubs: list[Stub], hit_player: str) -> list[Latencies]:
    """Misses one at a time (and hits), then misses `busy_concurrency` at a time, each with its own floor."""
    config = run.config
    got: list[Latencies] = []
    plan = (
        (config.latency_concurrency, config.sim_baseline_calls, config.miss_streams),
        (config.busy_concurrency, config.busy_baseline_calls, config.busy_miss_streams),
    )
    for conc, baseline_calls, streams in plan:
        # The harness's own share: the same Steam calls made by this process directly, no server in between.
        alone1, alone2 = await upstream_floor_ms(run.sim, run.ids.many(baseline_calls), conc)
        run.log(f"rows 1-2: {streams} streams of distinct players, {conc} at a time")
        miss = await load.timed_streams(stubs, run.ids.many(streams), conc)
        hit = None
        if not got:
            run.log(f"rows 1-2: {config.hit_streams} streams of one repeated player, {conc} at a time")
            hit = await load.timed_streams(stubs, [hit_player] * config.hit_streams, conc)
        if not miss.first_ms or (hit is not None and not hit.first_ms):
            raise BenchError(f"rows 1-2: no stream succeeded at concurrency {conc} ({outcomes(miss.errors)})")
        got.append(Latencies(conc, alone1, alone2, miss, hit))
    return got


def _over(measured: Summary, floor: Summary) -> tuple[float, float]:
    """Server minus practical floor, at p50 and at p99."""
    return measured.p50 - floor.p50, measured.p99 - floor.p99


def _met(over: tuple[float, float]) -> bool:
    return over[0] <= GOAL_P50_OVER_FLOOR_MS and over[1] <= GOAL_P99_OVER_FLOOR_MS


def _share(label: str, over: tuple[float, float]) -> str:
    return f"{label}: p50 {signed_ms(over[0])}, p99 {signed_ms(over[1])}"


def _at(conc: int) -> str:
    return "one at a time" if conc == 1 else f"{conc} at a time"


def _row(number: int, title: str, got: list[Latencies], pick: str, floor_text: str) -> Row:
    """Row 1 (`pick` "first") or 2 ("total"): server minus floor at p50 and p99, at each concurrency."""
    overs, details = [], []
    for lat in got:
        measured = Summary.of(getattr(lat.miss, f"{pick}_ms"))
        floor = lat.alone_first if pick == "first" else lat.alone_total
        over = _over(measured, floor)
        overs.append((lat, over))
        details.append(
            f"misses {_at(lat.concurrency)} ({measured.n} streams of distinct synthetic players): p50 "
            f"{ms(measured.p50)}, p99 {ms(measured.p99)}, max {ms(measured.max)}; practical floor ({floor.n} "
            f"players, {_at(lat.concurrency)}) p50 {ms(floor.p50)}, p99 {ms(floor.p99)}; errors "
            f"{outcomes(lat.miss.errors)}; stats provenance {dict(lat.miss.sources)}"
        )
        if lat.hit is not None:
            hit = Summary.of(getattr(lat.hit, f"{pick}_ms"))
            hit_label = "repeat (cache hit)" if cache_settings() else "repeat (no cache in this build)"
            details.append(
                f"{hit_label}: {hit.n} streams of one player, {_at(lat.concurrency)}: p50 {ms(hit.p50)}, "
                f"p99 {ms(hit.p99)}, max {ms(hit.max)}"
            )
    details.append(
        "practical floor: the server's Steam calls (profile + stats + achievements at once) made by this process "
        "directly with aiohttp, no server, at the same concurrency; server minus floor compares p50 with p50 and "
        "p99 with p99 (the simulator's own work, loopback and wake-ups of this VM are in both)"
    )
    clean = all(lat.clean for lat, _ in overs)
    met = clean and all(_met(over) for _, over in overs)
    measured_text = "; ".join(_share(f"c={lat.concurrency}", over) for lat, over in overs)
    missed = [f"c={lat.concurrency}" for lat, over in overs if not _met(over)]
    note = "" if met else ("stream errors" if not clean else "over the goal at " + ", ".join(missed))
    return Row(
        number,
        title,
        f"server minus floor, {measured_text}",
        floor_text,
        f"p50 ≤ floor + {GOAL_P50_OVER_FLOOR_MS:g} ms, p99 ≤ floor + {GOAL_P99_OVER_FLOOR_MS:g} ms, at c=1 and c=32",
        met,
        details,
        note,
    )


def first_message_row(config: Config, got: list[Latencies]) -> Row:
    floors = ", ".join(f"c={lat.concurrency} p50 {ms(lat.alone_first.p50)}" for lat in got)
    text = f"stats latency {config.stats_latency * 1000:.0f} ms; practical floor (profile and stats in): {floors}"
    return _row(1, "time to first message (misses)", got, "first", text)


def total_time_row(config: Config, got: list[Latencies]) -> Row:
    floors = ", ".join(f"c={lat.concurrency} p50 {ms(lat.alone_total.p50)}" for lat in got)
    slowest = max(config.stats_latency, config.achievements_latency) * 1000
    text = f"max(stats, achievements) = {slowest:.0f} ms; practical floor (all three in): {floors}"
    return _row(2, "whole stream (misses)", got, "total", text)


async def rows_latency(run: Run, stubs: list[Stub], hit_player: str) -> tuple[Row, Row]:
    """Rows 1 and 2, from the same streams: distinct players (misses), then one repeated player (hits)."""
    got = await measure(run, stubs, hit_player)
    return first_message_row(run.config, got), total_time_row(run.config, got)


async def profile_latency(run: Run, server: Proc, stubs: list[Stub]) -> None:
    """py-spy while misses stream again, then the critical path from a traced server's own spans."""

    async def again(stop: asyncio.Event) -> object:
        return await load.streams_until(stubs, run.ids.fresh, stop, run.config.busy_concurrency)

    busy = run.config.busy_concurrency
    await run.profile(server, f"rows 1-2: streams of distinct players (cache misses), {busy} at a time", again)
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


__all__ = ["Latencies", "first_message_row", "measure", "profile_latency", "rows_latency", "total_time_row"]
