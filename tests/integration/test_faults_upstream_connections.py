"""Stalled, reset and slow Steam connections through the real server and simulator: each RPC ends within its
deadline bound, with the reason of its class, while a concurrent load is served.

Run with `pytest -s` to see the figures docs/reliability.md quotes (load counts, times).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import build_server
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import SYNTHETIC_FIRST_ID, Fault, FaultKind, RunningSimulator
from tests.support import roomy_settings, stream_messages

TIMEOUT = 20.0
LOAD_PLAYERS = tuple(str(SYNTHETIC_FIRST_ID + i) for i in range(20))
LOAD_TOTAL = 200
LOAD_CONCURRENCY = 20


def reason_of(err: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of a failed call (every failure of the service carries one)."""
    status = rpc_status.from_call(err)
    assert status is not None, f"{err.code()} without a google.rpc.Status: {err.details()}"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return str(info.reason)


@dataclass
class Load:
    """Outcomes of a concurrent load: `counts` by status name, `slowest` successful call in seconds."""

    counts: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0


async def hold_load(
    stub: pb_grpc.PlayerStatsServiceAsyncStub,
    players: Sequence[str] = LOAD_PLAYERS,
    *,
    total: int = LOAD_TOTAL,
    concurrency: int = LOAD_CONCURRENCY,
) -> Load:
    """`total` StreamPlayerStats calls, `concurrency` at a time, round-robin over `players`; every OK call must
    carry both parts, LIVE."""
    load = Load()
    pending = iter(range(total))

    async def worker() -> None:
        for index in pending:
            started = time.monotonic()
            try:
                messages = await stream_messages(stub, players[index % len(players)])
            except grpc.aio.AioRpcError as err:
                load.counts[err.code().name] += 1
                continue
            assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
            assert messages[0].stats.provenance.source == pb.DATA_SOURCE_LIVE
            assert messages[1].achievements.provenance.source == pb.DATA_SOURCE_LIVE
            load.counts["OK"] += 1
            load.slowest = max(load.slowest, time.monotonic() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return load


RETRIES = 2
# Scheduling time on top of a bound: the simulator, the server and 200 concurrent streams share one event loop.
SLACK_SECS = 3.0
CALLER_DEADLINE_SECS = 0.5
# The client enforces its own deadline; the slack is the same scheduling time, and still far below the 30 s stall
# the deadline cuts short (the DEADLINE_EXCEEDED code is the proof; the bound only says "by then").
CALLER_SLACK_SECS = SLACK_SECS


@dataclass(frozen=True)
class Breakage:
    """How a fault breaks one stats attempt, under which API_TIMEOUT_SECS, and what a caller is told when the
    fault never stops."""

    fault: Fault
    attempt_secs: float  # API_TIMEOUT_SECS: the time budget of one attempt
    requests_per_attempt: int  # aiohttp resends a GET once after a reset: two requests per failed attempt
    attempts: int  # 1 + the retries of the error's class
    reason: str
    bound_secs: float  # the longest a failing call may take, before scheduling slack
    deadline_players: int  # players called with a caller deadline shorter than the fault


BREAKAGES = {
    # A stall ends only when the attempt's own timeout fires: 3 attempts of 1 s (the 30 s answer never comes).
    # The attempt budget leaves healthy answers room on a loaded machine; a 0.5 s caller deadline is shorter.
    "stall": Breakage(
        Fault(FaultKind.TIMEOUT, stall_seconds=30), 1.0, 1, 1 + RETRIES, "UPSTREAM_TIMEOUT", (1 + RETRIES) * 1.0, 4
    ),
    # A reset fails at once: the bound is backoff and scheduling only, and no attempt budget may fire first (it
    # would count the attempt as a timeout, another class). Resets end long before any caller deadline.
    "reset": Breakage(Fault(FaultKind.RESET), 10.0, 2, 1 + 4, "UPSTREAM_UNREACHABLE", 0.0, 0),
}


async def timed(coro: Any) -> tuple[float, Any]:
    """(seconds taken, result or the AioRpcError raised)."""
    started = time.monotonic()
    try:
        result = await coro
    except grpc.aio.AioRpcError as err:
        result = err
    return time.monotonic() - started, result


@dataclass
class Players:
    """The players of one breakage run: the fault for good, once, or for good under a short caller deadline."""

    broken: list[str]
    once: list[str]
    deadline: list[str]


def script_breakage(sim: RunningSimulator, breakage: Breakage) -> Players:
    """Script `breakage` on the stats calls of each group of players, as many times as the group needs."""
    players = Players(
        broken=[str(SYNTHETIC_FIRST_ID + 100 + i) for i in range(8)],
        once=[str(SYNTHETIC_FIRST_ID + 200 + i) for i in range(8)],
        deadline=[str(SYNTHETIC_FIRST_ID + 300 + i) for i in range(breakage.deadline_players)],
    )
    per_failure = breakage.requests_per_attempt
    for player in players.broken:
        sim.state.script("stats", [breakage.fault] * (per_failure * breakage.attempts), steam_id=player)
    for player in players.once:
        sim.state.script("stats", [breakage.fault] * per_failure, steam_id=player)
    for player in players.deadline:
        sim.state.script("stats", [breakage.fault] * 100, steam_id=player)
    return players


async def call_through_breakage(
    stub: pb_grpc.PlayerStatsServiceAsyncStub, players: Players
) -> tuple[list[tuple[float, Any]], list[tuple[float, Any]], list[tuple[float, Any]], Load]:
    """Every scripted player's stream, timed, while the healthy load runs: (broken, once, deadline, load)."""
    load_task = asyncio.ensure_future(hold_load(stub))
    results = await asyncio.gather(
        *(timed(stream_messages(stub, p)) for p in players.broken),
        *(timed(stream_messages(stub, p)) for p in players.once),
        *(timed(stream_messages(stub, p, timeout=CALLER_DEADLINE_SECS)) for p in players.deadline),
    )
    first, second = len(players.broken), len(players.broken) + len(players.once)
    return results[:first], results[first:second], results[second:], await load_task


@pytest.mark.parametrize("kind", sorted(BREAKAGES))
async def test_stalled_or_reset_steam_ends_calls_within_bounds_while_others_are_served(
    settings: Settings, sim: RunningSimulator, kind: str
) -> None:
    """Players whose stats calls stall for 30 s (API_TIMEOUT_SECS 1) or are reset: with the fault for good,
    UNAVAILABLE with the class's reason after exactly its attempts and within their time bound; once, OK after a
    retry; stalled under a 0.5 s caller deadline, DEADLINE_EXCEEDED by then; meanwhile 200 healthy streams (20 at
    a time) are all OK."""
    breakage = BREAKAGES[kind]
    running = await build_server(
        roomy_settings(settings, api_timeout_secs=breakage.attempt_secs, max_retries=RETRIES), listen="127.0.0.1:0"
    )
    players = script_breakage(sim, breakage)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.PlayerStatsServiceStub(channel)
            broken_results, once_results, deadline_results, load = await call_through_breakage(stub, players)
    finally:
        await running.stop(None)

    per_failure = breakage.requests_per_attempt
    bound = breakage.bound_secs + SLACK_SECS
    for player, (secs, err) in zip(players.broken, broken_results, strict=True):
        assert isinstance(err, grpc.aio.AioRpcError), f"{player} was served through a permanent {kind}"
        assert (err.code(), reason_of(err)) == (grpc.StatusCode.UNAVAILABLE, breakage.reason)
        assert secs <= bound, f"{player}: {secs:.2f}s > {bound:.2f}s"
        assert sim.state.count("stats", player) == per_failure * breakage.attempts
    for player, (_, messages) in zip(players.once, once_results, strict=True):
        assert not isinstance(messages, grpc.aio.AioRpcError), f"{player}: {messages}"
        assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
        assert sim.state.count("stats", player) == per_failure + 1
    for player, (secs, err) in zip(players.deadline, deadline_results, strict=True):
        assert isinstance(err, grpc.aio.AioRpcError)
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED, (player, err.code(), err.details())
        assert secs <= CALLER_DEADLINE_SECS + CALLER_SLACK_SECS
    assert load.counts == {"OK": LOAD_TOTAL}
    deadlines = (
        f"{len(deadline_results)} ended DEADLINE_EXCEEDED at <= {max(s for s, _ in deadline_results):.2f}s, "
        if deadline_results
        else ""
    )
    print(
        f"\nfault {kind}: {len(broken_results)} calls failed {breakage.reason} (slowest"
        f" {max(secs for secs, _ in broken_results):.2f}s, bound {bound:.2f}s), {len(once_results)} recovered after"
        f" one retry, {deadlines}load {dict(load.counts)}, slowest healthy call {load.slowest:.2f}s"
    )


LATE_SECS = 5.0
LATE_ATTEMPT_SECS = 1.0


async def test_latency_above_the_attempt_timeout_fails_fast_while_other_endpoints_serve(
    settings: Settings, sim: RunningSimulator
) -> None:
    """Every stats answer 5 s late (API_TIMEOUT_SECS 1): 20 concurrent streams all end UPSTREAM_TIMEOUT within
    their attempts' bound, while 200 ResolvePlayer calls (profile only, 20 at a time) are all served."""
    sim.state.set_latency("stats", LATE_SECS)
    running = await build_server(
        roomy_settings(settings, api_timeout_secs=LATE_ATTEMPT_SECS, max_retries=RETRIES), listen="127.0.0.1:0"
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.PlayerStatsServiceStub(channel)
            resolved: Counter[str] = Counter()
            pending = iter(range(LOAD_TOTAL))

            async def resolver() -> None:
                for index in pending:
                    player = LOAD_PLAYERS[index % len(LOAD_PLAYERS)]
                    try:
                        response = await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=player), timeout=TIMEOUT)
                    except grpc.aio.AioRpcError as err:
                        resolved[err.code().name] += 1
                        continue
                    assert response.profile.steam_id == player
                    resolved["OK"] += 1

            slow = [str(SYNTHETIC_FIRST_ID + 400 + i) for i in range(20)]
            results, _ = await asyncio.gather(
                asyncio.gather(*(timed(stream_messages(stub, p)) for p in slow)),
                asyncio.gather(*(resolver() for _ in range(LOAD_CONCURRENCY))),
            )
    finally:
        await running.stop(None)
    bound = (1 + RETRIES) * LATE_ATTEMPT_SECS + SLACK_SECS
    for secs, err in results:
        assert isinstance(err, grpc.aio.AioRpcError)
        assert (err.code(), reason_of(err)) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_TIMEOUT")
        assert secs <= bound
    assert resolved == {"OK": LOAD_TOTAL}
    print(
        f"\nfault latency {LATE_SECS:g}s > API_TIMEOUT_SECS {LATE_ATTEMPT_SECS:g}: {len(results)} streams"
        f" UPSTREAM_TIMEOUT, slowest {max(s for s, _ in results):.2f}s (bound {bound:.2f}s); ResolvePlayer load"
        f" {dict(resolved)}"
    )
