"""Row 5: fail-fast latency while the stats breaker is open, against the bare servicer failing the same way."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING

from bench import load
from bench.config import Config
from bench.procs import BenchError, Proc
from bench.report import Row, ms, outcomes
from bench.run import CIRCUIT_OPEN, Run
from bench.stats import Summary

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as Stub

TRIP_MAX_SECS = 30.0
GOAL_P99_OVER_BARE_MS = 0.5


async def trip_breaker(run: Run, stub: Stub) -> int:
    """Open the stats breaker with scripted 503s; the number of RPCs it took (BenchError if it never opens)."""
    await run.sim.script("stats", "http_503", 200)
    deadline = time.monotonic() + TRIP_MAX_SECS
    calls = 0
    try:
        while time.monotonic() < deadline:
            batch = await asyncio.gather(*(load.unary_once(stub, run.ids.fresh()) for _ in range(4)))
            probe, _ = await load.unary_once(stub, run.ids.fresh())
            calls += len(batch) + 1
            if probe == CIRCUIT_OPEN:
                return calls
        raise BenchError(f"row 5: the stats breaker did not open within {TRIP_MAX_SECS:g}s")
    finally:
        await run.sim.reset()  # the leftover 503s go; the start-up latencies stay


def fail_fast_row(
    config: Config, result: load.FailFast, bare: Summary | None, trip_calls: int, started: Counter[str]
) -> Row:
    summary = Summary.of(result.latencies_ms)
    all_expected = result.outcomes[CIRCUIT_OPEN] == sum(result.outcomes.values())
    return Row(
        5,
        "fail-fast latency while the breaker is open",
        f"p99 {ms(summary.p99)} (p50 {ms(summary.p50)}; {summary.n} calls"
        + (", all UPSTREAM_CIRCUIT_OPEN)" if all_expected else f"; outcomes {outcomes(result.outcomes)})"),
        (
            f"the bare servicer failing the same way (UNAVAILABLE + ErrorInfo + RetryInfo), same driver: p50 "
            f"{ms(bare.p50)}, p99 {ms(bare.p99)}"
            if bare is not None
            else "—"
        ),
        f"p99 within {GOAL_P99_OVER_BARE_MS:g} ms of the bare servicer's",
        bare is not None and summary.p99 <= bare.p99 + GOAL_P99_OVER_BARE_MS and all_expected,
        [
            f"stats breaker opened by 503s scripted on GetUserStatsForGame ({trip_calls} RPCs), the leftover "
            f"503s then cleared: only the open breaker fails the calls",
            f"{config.fail_fast_rpcs} GetPlayerStats of players never seen (no stored stats to fall back on), "
            f"{config.fail_fast_concurrency} at a time; outcomes: {outcomes(result.outcomes)}; max {ms(summary.max)}",
            "Steam calls started meanwhile (profile and achievements are not behind the stats breaker): "
            + (", ".join(f"{k} {n}" for k, n in sorted(started.items()) if n) or "none"),
        ],
    )


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
        raise BenchError(f"row 5: no call failed fast: {outcomes(result.outcomes)}")
    started = Counter({key: counts1[key] - counts0[key] for key in counts1})
    row = fail_fast_row(config, result, run.bare_fail_fast, trip_calls, started)
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


__all__ = ["fail_fast_row", "row_fail_fast", "trip_breaker"]
