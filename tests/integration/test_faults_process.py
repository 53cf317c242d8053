"""The real `playerstats-server` process under load: SIGTERM with streams in flight drains cleanly, and SIGKILL in
the middle of merges leaves a SQLite store that is intact and holds every unlock a client was shown.

Run with `pytest -s` for the figures in docs/reliability.md. The SIGKILL moments are drawn from a seed printed
with the figures; set PLAYERSTATS_FAULTS_SEED to replay one.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.sim import SYNTHETIC_FIRST_ID, Fault, FaultKind, RunningSimulator
from dbd_playerstats.sim.fixtures import ACHIEVEMENTS
from dbd_playerstats.store import LATEST_VERSION, SQLITE_FILENAME
from tests import support
from tests.support import server_process, until

SERVICE = "dbd.playerstats.v1.PlayerStatsService"
TIMEOUT = 30.0
WAIT_SECS = 30.0
LOAD_TOTAL = 200
LOAD_CONCURRENCY = 20


def server_env(sim: RunningSimulator, data_dir: Path, **extra: str) -> dict[str, str]:
    """`tests.support.server_env` with a caller quota that never binds and no answer kept between requests
    (every stream asks Steam)."""
    return support.server_env(
        sim,
        data_dir,
        PLAYERSTATS_CALLER_QUOTA_PER_MIN="0",
        PLAYERSTATS_CALLER_RPC_PER_MIN="0",
        PLAYERSTATS_CACHE_STATS_TTL_SECS="0",
        PLAYERSTATS_CACHE_ACHIEVEMENTS_TTL_SECS="0",
        PLAYERSTATS_CACHE_PROFILE_TTL_SECS="0",
        **extra,
    )


def unlocked(part: pb.AchievementsPart) -> dict[str, int]:
    """api name -> unlock time (epoch seconds) of every unlocked achievement in the part."""
    return {a.api_name: a.unlock_time.seconds for a in part.achievements.achievements if a.unlocked}


def assert_whole(player: str, messages: Sequence[Any]) -> None:
    """The messages are a prefix of [stats, achievements], each complete: nothing half-written reached us."""
    parts = [m.WhichOneof("part") for m in messages]
    assert parts in (["stats"], ["stats", "achievements"]), parts
    stats = messages[0].stats
    assert stats.profile.steam_id == player
    assert len(stats.stats.raw_stats) > 0
    if len(messages) == 2:
        assert len(messages[1].achievements.achievements.adepts) == 84


@dataclass
class Load:
    """A load in progress: calls done, outcome counts, every unlock shown to a client per player, merges shown."""

    started: int = 0
    done: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    reported: defaultdict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    achievements_parts: int = 0
    details: Counter[tuple[str, str]] = field(default_factory=Counter)
    cancelled_with_messages: int = 0


async def hold_load(stub: pb_grpc.PlayerStatsServiceAsyncStub, players: Sequence[str], load: Load) -> None:
    """LOAD_TOTAL streams, LOAD_CONCURRENCY at a time, round-robin over `players`; whatever a call received is
    checked whole and its unlocks recorded, even when the call then failed."""
    pending = iter(range(LOAD_TOTAL))

    async def worker() -> None:
        for index in pending:
            player = players[index % len(players)]
            load.started += 1
            messages: list[Any] = []
            call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=TIMEOUT)
            try:
                async for message in call:
                    messages.append(message)
                    if message.WhichOneof("part") == "achievements":
                        load.reported[player].update(unlocked(message.achievements))
                        load.achievements_parts += 1
            except grpc.aio.AioRpcError as err:
                load.counts[err.code().name] += 1
                load.details[err.code().name, err.details() or ""] += 1
                if err.code() == grpc.StatusCode.CANCELLED and messages:
                    load.cancelled_with_messages += 1
            else:
                load.counts["OK"] += 1
                assert len(messages) == 2
            if messages:
                assert_whole(player, messages)
            load.done += 1

    await asyncio.gather(*(worker() for _ in range(LOAD_CONCURRENCY)))


# ----------------------------------------------------------------------------------------------------------------
# SIGTERM with streams in flight
# ----------------------------------------------------------------------------------------------------------------

GRACE_SECS = 3.5
FINISHING_STALL_SECS = 2.0  # achievements of these players come within the grace
CUT_STALL_SECS = 30.0  # ... and of these, long after it


async def watch_health(channel: grpc.aio.Channel, seen: list[tuple[float, str]]) -> None:
    """Record (monotonic time, status) of every health Watch message, then how the watch ended."""
    call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=TIMEOUT)
    try:
        async for response in call:
            seen.append((time.monotonic(), health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)))
    except grpc.aio.AioRpcError as err:
        seen.append((time.monotonic(), f"ended {err.code().name}"))


async def poll_health(port: int, until: asyncio.Event, seen: list[tuple[float, str]]) -> None:
    """Check health every 20 ms on a fresh channel each time, as a load balancer would, until `until` is set."""
    while not until.is_set():
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                response = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=SERVICE), timeout=1
                )
                seen.append((time.monotonic(), health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)))
            except grpc.aio.AioRpcError as err:
                seen.append((time.monotonic(), err.code().name))
        await asyncio.sleep(0.02)


@dataclass
class Drain:
    """What a SIGTERM under load produced, on the test's monotonic clock: the load, the health watch and polls,
    each held stream's (end time, messages, code), when the signal went and how the process exited."""

    load: Load
    watched: list[tuple[float, str]]
    polled: list[tuple[float, str]]
    ended: dict[str, tuple[float, list[Any], str]]
    signalled: float
    exit_code: int | None
    exited: float


async def finish(call: Any, first: Any) -> tuple[float, list[Any], str]:
    """Read the rest of a stream whose first message was `first`: (when it ended, its messages, its code)."""
    messages = [first]
    try:
        messages.extend([m async for m in _rest(call)])
        code = "OK"
    except grpc.aio.AioRpcError as err:
        code = err.code().name
    return time.monotonic(), messages, code


async def sigterm_under_load(sim: RunningSimulator, env: dict[str, str], log: Path, held: Sequence[str]) -> Drain:
    """Start the server, run the load and watch health; open one stream per `held` player and take its stats;
    then SIGTERM, and read everything to the end while health is polled as a load balancer would."""
    load = Load()
    watched: list[tuple[float, str]] = []
    polled: list[tuple[float, str]] = []
    async with (
        server_process(env, log) as (proc, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as health_channel,
    ):
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        watcher = asyncio.ensure_future(watch_health(health_channel, watched))
        load_task = asyncio.ensure_future(hold_load(stub, [str(SYNTHETIC_FIRST_ID + 620 + i) for i in range(20)], load))
        await until(lambda: load.done >= 50 and len(watched) == 1, "the load ran, health watched", timeout=WAIT_SECS)
        calls = {p: stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=p), timeout=TIMEOUT) for p in held}
        firsts = {p: await call.read() for p, call in calls.items()}  # every stream has its stats
        # The achievements stalls began when the streams opened: all of them must still be waiting (the simulator
        # logs an answer when it is decided, after the stall).
        answered = [r.steam_id for r in sim.state.requests() if r.endpoint == "achievements" and r.steam_id in calls]
        assert answered == [], "too slow to signal while streams wait"
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        polling_done = asyncio.Event()
        poller = asyncio.ensure_future(poll_health(port, polling_done, polled))
        ends, _ = await asyncio.gather(asyncio.gather(*(finish(calls[p], firsts[p]) for p in held)), load_task)
        exit_code = await asyncio.wait_for(proc.wait(), GRACE_SECS + WAIT_SECS)
        exited = time.monotonic()
        polling_done.set()
        await poller
        await watcher
    return Drain(load, watched, polled, dict(zip(held, ends, strict=True)), signalled, exit_code, exited)


async def test_sigterm_with_streams_in_flight_drains_cleanly(sim: RunningSimulator, tmp_path: Path) -> None:
    """SIGTERM while 8 streams wait for their achievements and 200 streams (20 at a time) run: health turns
    NOT_SERVING first; the streams whose achievements come within PLAYERSTATS_GRACE_SECS finish OK with both
    messages by then, the others end UNAVAILABLE at the grace with only their whole first message; every load
    call is OK or UNAVAILABLE with whole messages, or CANCELLED before any (gRPC never handed it to the service);
    the process exits 0."""
    finishing = [str(SYNTHETIC_FIRST_ID + 600 + i) for i in range(4)]
    cut = [str(SYNTHETIC_FIRST_ID + 610 + i) for i in range(4)]
    for player in finishing:
        sim.state.script("achievements", [Fault(FaultKind.TIMEOUT, stall_seconds=FINISHING_STALL_SECS)], player)
    for player in cut:
        sim.state.script("achievements", [Fault(FaultKind.TIMEOUT, stall_seconds=CUT_STALL_SECS)], player)
    env = server_env(
        sim, tmp_path, PLAYERSTATS_GRACE_SECS=str(GRACE_SECS), API_TIMEOUT_SECS="60", OVERALL_TIMEOUT_SECS="60"
    )
    log = tmp_path / "server.log"
    drain = await sigterm_under_load(sim, env, log, finishing + cut)
    ended, signalled, load = drain.ended, drain.signalled, drain.load

    assert drain.exit_code == 0, f"exit {drain.exit_code}; see {log}"
    assert "Traceback" not in log.read_text()
    # Health: SERVING, then NOT_SERVING before any in-flight stream ended, then the watch was cut at the grace.
    statuses = [status for _, status in drain.watched]
    assert statuses[:2] == ["SERVING", "NOT_SERVING"], statuses
    not_serving_at = drain.watched[1][0]
    assert signalled <= not_serving_at < min(at for at, _, _ in ended.values())
    after_first_change = [s for at, s in drain.polled if at >= not_serving_at]
    assert "SERVING" not in after_first_change
    first_cut_at = min(ended[p][0] for p in cut)
    for player in finishing:
        at, messages, code = ended[player]
        assert code == "OK", (player, code)
        assert len(messages) == 2
        assert at <= first_cut_at, "finished within the grace: before it cut the others"
        assert_whole(player, messages)
    for player in cut:
        at, messages, code = ended[player]
        assert code == "UNAVAILABLE", (player, code)
        assert len(messages) == 1
        # Generous above on purpose: cut at the grace, long before the 30 s stall would have ended.
        assert GRACE_SECS * 0.9 <= at - signalled < CUT_STALL_SECS / 2
        assert_whole(player, messages)
    # A call that reaches the server as it starts to shut down, before any handler took it, is cancelled by gRPC
    # itself (CANCELLED, no message): it never ran, so nothing of it was served or stored.
    assert set(load.counts) <= {"OK", "UNAVAILABLE", "CANCELLED"}, load.details
    assert load.cancelled_with_messages == 0
    assert sum(load.counts.values()) == LOAD_TOTAL
    print(
        f"\nSIGTERM: health NOT_SERVING {not_serving_at - signalled:.3f}s after the signal; {len(finishing)}"
        f" streams finished OK within the {GRACE_SECS}s grace (last at"
        f" {max(ended[p][0] for p in finishing) - signalled:.2f}s), {len(cut)} ended UNAVAILABLE at"
        f" {first_cut_at - signalled:.2f}s; load {dict(load.counts)}; health polls after"
        f" NOT_SERVING {dict(Counter(after_first_change))}; exit {drain.exit_code} after"
        f" {drain.exited - signalled:.2f}s"
    )


async def _rest(call: Any) -> AsyncIterator[Any]:
    """The messages of a stream after the first one was taken with `read()`, read the same way."""
    while (message := await call.read()) is not grpc.aio.EOF:
        yield message


# ----------------------------------------------------------------------------------------------------------------
# SIGKILL during merges
# ----------------------------------------------------------------------------------------------------------------

ROUNDS = 3
KILL_PLAYERS = tuple(str(SYNTHETIC_FIRST_ID + 700 + i) for i in range(60))
SEED = int(os.environ.get("PLAYERSTATS_FAULTS_SEED") or random.SystemRandom().randrange(2**32))


def answered_achievements(sim: RunningSimulator) -> int:
    """GetPlayerAchievements answers the simulator has sent so far (each one is a merge for the server)."""
    return sum(1 for record in sim.state.requests() if record.endpoint == "achievements" and record.status == 200)


def sqlite_checks(data_dir: Path) -> tuple[str, list[Any], list[int], dict[str, dict[str, int]], int]:
    """(integrity_check, foreign_key_check rows, schema versions, stored unlocks per player, audit rows) of the
    store file, read by a fresh connection as a restarted server would."""
    with closing(sqlite3.connect(data_dir / SQLITE_FILENAME, isolation_level=None)) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        foreign = conn.execute("PRAGMA foreign_key_check").fetchall()
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        stored: dict[str, dict[str, int]] = defaultdict(dict)
        rows = conn.execute("SELECT steam_id, api_name, unlock_time_us FROM achievements WHERE unlocked")
        for steam_id, api_name, micros in rows:
            stored[steam_id][api_name] = 0 if micros is None else micros // 1_000_000
        audits = conn.execute("SELECT count(*) FROM merge_audit").fetchone()[0]
    return str(integrity), foreign, versions, stored, int(audits)


def give_new_unlocks(sim: RunningSimulator, round_number: int) -> None:
    """New unlocks this round for a third of the players: the merges have rows to write."""
    for player in KILL_PLAYERS[round_number % 3 :: 3]:
        newly = ACHIEVEMENTS[(int(player) + round_number * 7) % len(ACHIEVEMENTS)].api_name
        overrides = dict(sim.state.achievement_overrides(player))
        overrides[newly] = 1_700_000_000 + round_number
        sim.state.override_achievements(player, overrides)


@dataclass
class Killed:
    """One round: the load, the calls in flight at the SIGKILL, and the achievements answers Steam sent."""

    load: Load
    in_flight: int
    sent: int


async def kill_during_merges(sim: RunningSimulator, data_dir: Path, log: Path, kill_after: int) -> Killed:
    """Start the server on `data_dir` under the load, SIGKILL it once Steam sent `kill_after` achievements
    answers (the server is merging what Steam just sent), and let the load see the calls fail."""
    load = Load()
    answered = sim.state.count("achievements")
    async with (
        server_process(server_env(sim, data_dir), log) as (proc, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        load_task = asyncio.ensure_future(hold_load(pb_grpc.PlayerStatsServiceStub(channel), KILL_PLAYERS, load))
        await until(
            lambda: answered_achievements(sim) - answered >= kill_after,
            f"Steam sent {kill_after} achievements answers",
            timeout=WAIT_SECS,
            interval=0.001,
        )
        proc.send_signal(signal.SIGKILL)
        in_flight = load.started - load.done
        assert await asyncio.wait_for(proc.wait(), WAIT_SECS) == -signal.SIGKILL
        await load_task
    return Killed(load, in_flight, answered_achievements(sim) - answered)


def lost_unlocks(reported: dict[str, dict[str, int]], stored: dict[str, dict[str, int]]) -> set[tuple[str, str]]:
    """(player, achievement) of every unlock shown to a client that the store does not hold as shown."""
    return {
        (player, name)
        for player, shown in reported.items()
        for name, when in shown.items()
        if stored.get(player, {}).get(name) != when
    }


async def serve_from_the_store(
    sim: RunningSimulator, data_dir: Path, log: Path, reported: dict[str, dict[str, int]]
) -> int:
    """A last restart on `data_dir`, Steam forgetting this run's unlocks: ten players are served every unlock
    they were shown; the number served."""
    async with server_process(server_env(sim, data_dir), log) as (proc, port):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.PlayerStatsServiceStub(channel)
            sim.state.reset()  # Steam forgets this run's unlocks: the store must not
            served = 0
            for player in list(reported)[:10]:
                messages = [
                    m async for m in stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=TIMEOUT)
                ]
                assert set(reported[player]) <= set(unlocked(messages[1].achievements))
                served += 1
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), WAIT_SECS) == 0
    return served


async def test_sigkill_during_merges_leaves_an_intact_store_with_every_shown_unlock(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """Three rounds on one data directory: 200 streams (20 at a time) over 60 players whose Steam answers gain
    unlocks each round, SIGKILL after a random number of them; each time the file passes integrity_check and
    foreign_key_check, schema_version is intact, and every unlock any client was shown is stored as shown; a last
    restart serves the players from the store."""
    data_dir = tmp_path / "data"
    log = tmp_path / "server.log"
    rng = random.Random(SEED)
    reported: defaultdict[str, dict[str, int]] = defaultdict(dict)
    figures: list[str] = []
    lost_total = 0
    audits_before = 0
    for round_number in range(1, ROUNDS + 1):
        give_new_unlocks(sim, round_number)
        kill_after = rng.randint(20, 120)
        killed = await kill_during_merges(sim, data_dir, log, kill_after)
        load = killed.load
        for player, shown in load.reported.items():
            reported[player].update(shown)
        integrity, foreign, versions, stored, audits = sqlite_checks(data_dir)
        merged = audits - audits_before
        audits_before = audits
        assert integrity == "ok"
        assert foreign == []
        assert versions == list(range(1, LATEST_VERSION + 1))
        lost = lost_unlocks(reported, stored)
        assert lost == set(), f"seed {SEED}, round {round_number}"
        lost_total += len(lost)
        assert set(load.counts) <= {"OK", "UNAVAILABLE"}, load.details
        assert load.achievements_parts <= merged <= killed.sent
        figures.append(
            f"round {round_number}: killed at achievements answer #{kill_after} with {killed.in_flight} calls in"
            f" flight, load {dict(load.counts)}; {killed.sent} answers sent, {merged} merges committed,"
            f" {load.achievements_parts} shown to clients"
        )
    served = await serve_from_the_store(sim, data_dir, log, reported)
    shown_unlocks = sum(len(v) for v in reported.values())
    print(
        f"\nSIGKILL during merges (seed {SEED}): "
        + "; ".join(figures)
        + f"; integrity ok and schema version {LATEST_VERSION} after each; {shown_unlocks} unlocks shown across"
        f" {len(reported)} players, {lost_total} lost; after a last restart {served} players served"
    )
