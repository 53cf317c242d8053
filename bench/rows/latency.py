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

GOAL_OVER_FLOOR_MS = 2.0


@dataclass
class Latencies:
    """What rows 1-2 measured: the practical floor (no server), then the misses and the hits."""

    alone_first: Summary
    alone_total: Summary
    miss: load.StreamTimes
    hit: load.StreamTimes

    @property
    def clean(self) -> bool:
        return not self.miss.errors


async def measure(run: Run, stubs: list[Stub], hit_player: str) -> Latencies:
    config = run.config
    conc = config.latency_concurrency
    # The harness's own share: the same Steam calls made by this process directly, no server in between.
    alone1, alone2 = await upstream_floor_ms(run.sim, run.ids.many(config.sim_baseline_calls), conc)
    run.log(f"rows 1-2: {config.miss_streams} streams of distinct players, {conc} at a time")
    miss = await load.timed_streams(stubs, run.ids.many(config.miss_streams), conc)
    run.log(f"rows 1-2: {config.hit_streams} streams of one repeated player, {conc} at a time")
    hit = await load.timed_streams(stubs, [hit_player] * config.hit_streams, conc)
    if not miss.first_ms or not hit.first_ms:
        raise BenchError(
            f"rows 1-2: no stream succeeded (misses: {outcomes(miss.errors)}; hits: {outcomes(hit.errors)})"
        )
    return Latencies(alone1, alone2, miss, hit)


def _verdict(clean: bool, over_floor: float, over_harness: float) -> tuple[bool, str]:
    met = over_floor <= GOAL_OVER_FLOOR_MS and clean
    if met or not clean:
        return met, "" if clean else "stream errors"
    share = "met" if over_harness <= GOAL_OVER_FLOOR_MS else "not met either"
    return met, f"server's own share {signed_ms(over_harness)}: {share}"


def _at_a_time(config: Config) -> str:
    conc = config.latency_concurrency
    return "one at a time" if conc == 1 else f"{conc} at a time"


def first_message_row(config: Config, got: Latencies) -> Row:
    floor1 = config.stats_latency * 1000
    alone1, alone2, harness1 = got.alone_first, got.alone_total, got.alone_first.p50
    m1, h1 = Summary.of(got.miss.first_ms), Summary.of(got.hit.first_ms)
    hit_label = "repeat (cache hit)" if cache_settings() else "repeat (no cache in this build: a miss as well)"
    at_a_time = _at_a_time(config)
    harness = (
        f"practical floor: the server's Steam calls (profile + stats + achievements at once) made by this process "
        f"directly, no server ({alone1.n} distinct players, {at_a_time}): profile and stats in after p50 "
        f"{ms(alone1.p50)} (p99 {ms(alone1.p99)}), all three after p50 {ms(alone2.p50)} (p99 {ms(alone2.p99)})"
    )
    met, note = _verdict(got.clean, m1.p50 - floor1, m1.p50 - harness1)
    return Row(
        1,
        "time to first message - stats latency",
        f"miss p50 {signed_ms(m1.p50 - floor1)} (server's own share {signed_ms(m1.p50 - harness1)}), "
        f"p99 {signed_ms(m1.p99 - floor1)}; repeat p50 {ms(h1.p50)}, p99 {ms(h1.p99)}",
        f"floor {floor1:.0f} ms (stats latency); practical floor p50 {ms(harness1)} (same Steam calls, no server)",
        "miss p50 ≤ floor + 2 ms",
        met,
        [
            f"miss: {m1.n} streams of distinct synthetic players, {at_a_time}: first message p50 {ms(m1.p50)}, "
            f"p99 {ms(m1.p99)}, max {ms(m1.max)}; errors: {outcomes(got.miss.errors)}; stats provenance "
            f"{dict(got.miss.sources)}",
            f"{hit_label}: {h1.n} streams of one player, {at_a_time}: first message p50 {ms(h1.p50)}, p99 "
            f"{ms(h1.p99)}, max {ms(h1.max)}; errors: {outcomes(got.hit.errors)}; stats provenance "
            f"{dict(got.hit.sources)}",
            harness,
            "server's own share = measured p50 - practical floor p50 (the simulator's own work, loopback and "
            "wake-ups of this VM are in both)",
        ],
        note,
    )


def total_time_row(config: Config, got: Latencies) -> Row:
    floor2 = max(config.stats_latency, config.achievements_latency) * 1000
    sequential = (config.stats_latency + config.achievements_latency) * 1000
    harness2 = got.alone_total.p50
    m2, h2 = Summary.of(got.miss.total_ms), Summary.of(got.hit.total_ms)
    met, note = _verdict(got.clean, m2.p50 - floor2, m2.p50 - harness2)
    return Row(
        2,
        "total stream time",
        f"miss p50 {ms(m2.p50)} ({signed_ms(m2.p50 - floor2)} vs floor, server's own share "
        f"{signed_ms(m2.p50 - harness2)}; {signed_ms(m2.p50 - sequential)} vs sequential), p99 {ms(m2.p99)}; "
        f"repeat p50 {ms(h2.p50)}, p99 {ms(h2.p99)}",
        f"floor max(stats, achievements) = {floor2:.0f} ms (practical floor p50 {ms(harness2)}); "
        f"sequential sum = {sequential:.0f} ms",
        "miss p50 ≤ floor + 2 ms",
        met,
        [
            f"miss: p50 {ms(m2.p50)}, p99 {ms(m2.p99)}, max {ms(m2.max)}",
            f"repeat: p50 {ms(h2.p50)}, p99 {ms(h2.p99)}, max {ms(h2.max)}",
        ],
        note,
    )


async def rows_latency(run: Run, stubs: list[Stub], hit_player: str) -> tuple[Row, Row]:
    """Rows 1 and 2, from the same streams: distinct players (misses), then one repeated player (hits)."""
    got = await measure(run, stubs, hit_player)
    return first_message_row(run.config, got), total_time_row(run.config, got)


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


__all__ = ["Latencies", "first_message_row", "measure", "profile_latency", "rows_latency", "total_time_row"]
