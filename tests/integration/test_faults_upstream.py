"""Upstream faults through the real server and simulator: hostile Steam bodies never reach the store, and stalled
or reset Steam connections end each RPC within its deadline bound while a concurrent load is served.

Run with `pytest -s` to see the figures docs/reliability.md quotes (inputs tried per family, load counts, times).
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, SYNTHETIC_FIRST_ID, ErrorRate, Fault, FaultKind, RunningSimulator
from dbd_playerstats.sim.answers import HTML_TYPE, JSON_TYPE, Answer
from dbd_playerstats.sim.state import Variants
from dbd_playerstats.sim.steam_api import answer_achievements, answer_stats
from dbd_playerstats.steam.client import DEFAULT_MAX_BODY_BYTES
from dbd_playerstats.steam.errors import SteamBadResponseError, SteamError, SteamServerError
from dbd_playerstats.steam.parse import parse_player_achievements, parse_user_stats
from dbd_playerstats.store import SQLITE_FILENAME

TIMEOUT = 20.0
LOAD_PLAYERS = tuple(str(SYNTHETIC_FIRST_ID + i) for i in range(20))
LOAD_TOTAL = 200
LOAD_CONCURRENCY = 20
TALLY: Counter[tuple[str, str]] = Counter()


def roomy(settings: Settings, **resilience: float) -> Settings:
    """`settings` with a Steam budget and a caller quota that never bind, a breaker that never opens (the faults
    here are meant to reach the parser and the deadline every time) and no per-player answer kept between
    requests."""
    base = {"rate_limit_per_min": 600_000, "burst_limit": 1000, "cb_max_fails": 1_000_000}
    return replace(
        settings,
        resilience=replace(settings.resilience, **(base | resilience)),  # type: ignore[arg-type]
        cache=replace(settings.cache, stats_ttl_secs=0, achievements_ttl_secs=0, profile_ttl_secs=0),
        limits=replace(settings.limits, caller_quota_per_min=0),
    )


def reason_of(err: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of a failed call (every failure of the service carries one)."""
    status = rpc_status.from_call(err)
    assert status is not None, f"{err.code()} without a google.rpc.Status: {err.details()}"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return str(info.reason)


async def stream(stub: pb_grpc.PlayerStatsServiceAsyncStub, player: str, timeout: float = TIMEOUT) -> list[Any]:
    """Every message of one StreamPlayerStats call (raises the call's error)."""
    return [m async for m in stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=timeout)]


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
                messages = await stream(stub, players[index % len(players)])
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


# ----------------------------------------------------------------------------------------------------------------
# Hostile achievements / stats bodies: a classified failure, the stored copy served, and no store write
# ----------------------------------------------------------------------------------------------------------------

REAL = {
    "stats": answer_stats({"steamid": DEMO_STEAM_ID, "appid": "381210"}, Variants()).body,
    "achievements": answer_achievements({"steamid": DEMO_STEAM_ID, "appid": "381210"}).body,
}
PARSE: dict[str, Callable[[bytes], object]] = {
    "stats": lambda body: parse_user_stats(200, JSON_TYPE, body, {}, steam_id=DEMO_STEAM_ID),
    "achievements": lambda body: parse_player_achievements(200, JSON_TYPE, body, {}, steam_id=DEMO_STEAM_ID),
}
# Containers the parsers read, and what the test replaces them with when a family retypes one.
CONTAINERS: dict[str, tuple[tuple[str | int, ...], ...]] = {
    "stats": ((), ("playerstats",), ("playerstats", "stats"), ("playerstats", "stats", 0)),
    "achievements": ((), ("playerstats",), ("playerstats", "achievements"), ("playerstats", "achievements", -1)),
}
# The tables each endpoint's answer feeds: a hostile answer on it must leave exactly these unchanged.
FEEDS = {"stats": ("stats_snapshots",), "achievements": ("players", "achievements", "merge_audit")}
TABLES = ("players", "achievements", "stats_snapshots", "merge_audit", "schema_version")


@dataclass(frozen=True)
class Hostile:
    """One hostile answer recipe, applied to each targeted endpoint: a simulator fault, or a body of ours."""

    family: str
    fault: FaultKind | None = None
    make: Callable[[str], bytes] | None = None
    content_type: str = JSON_TYPE

    def __repr__(self) -> str:
        return f"Hostile({self.family!r}, fault={self.fault})"


def _retyped(endpoint: str, which: int, value: object) -> bytes:
    """The real document with one container it reads replaced by `value`, made a string when `value` happens to
    be of the container's own type (an object in place of an object could be a documented answer)."""
    document = json.loads(REAL[endpoint])
    path = CONTAINERS[endpoint][which % len(CONTAINERS[endpoint])]
    parent: Any = None
    original: Any = document
    for key in path:
        parent, original = original, original[key]
    if isinstance(value, type(original)):
        value = json.dumps(value)
    if parent is None:
        return json.dumps(value).encode()
    parent[path[-1]] = value
    return json.dumps(document).encode()


def _huge(endpoint: str, size: int, poison_at: float) -> bytes:
    """The real document whose list holds `size` copies of its first entry and one string among them."""
    document = json.loads(REAL[endpoint])
    key = "stats" if endpoint == "stats" else "achievements"
    entries: list[object] = [document["playerstats"][key][0]] * size
    entries[int(poison_at * (size - 1))] = "not an object"
    document["playerstats"][key] = entries
    return json.dumps(document).encode()


wrong_values = st.recursive(
    st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
hostile_answers = st.one_of(
    st.sampled_from(
        [FaultKind.MALFORMED_JSON, FaultKind.TRUNCATED_JSON, FaultKind.WRONG_SHAPE, FaultKind.HTML_200]
    ).map(lambda kind: Hostile(f"simulator {kind.value}", fault=kind)),
    st.floats(min_value=0, max_value=0.999).map(
        lambda at: Hostile("truncated JSON", make=lambda e: REAL[e][: int(at * len(REAL[e]))])
    ),
    st.tuples(st.integers(0, 3), wrong_values).map(
        lambda t: Hostile("wrong type", make=lambda e: _retyped(e, t[0], t[1]))
    ),
    st.tuples(st.sampled_from([5_000, 50_000]), st.floats(0, 1)).map(
        lambda t: Hostile("huge array", make=lambda e: _huge(e, t[0], t[1]))
    ),
    st.text(max_size=200).map(
        lambda text: Hostile(
            "HTML page", make=lambda _e: f"<!DOCTYPE html><html>{text}</html>".encode(), content_type=HTML_TYPE
        )
    ),
    st.tuples(st.integers(0, 2**32), st.sampled_from([16, 4096, 262_144])).map(
        lambda t: Hostile("random bytes", make=lambda _e: random.Random(t[0]).randbytes(t[1]))
    ),
)
# A real answer padded past the client's body cap: the parser alone would accept it, the size limit must not.
OVERSIZED = Hostile("over the body cap", make=lambda e: REAL[e] + b" " * DEFAULT_MAX_BODY_BYTES)


def expected_reason(recipe: Hostile, endpoint: str) -> str:
    """The ErrorInfo reason Steam's failure must be classified as; `assume`s away bodies that would be data."""
    if recipe.fault is not None:
        return "UPSTREAM_UNAVAILABLE" if recipe.fault is FaultKind.HTML_200 else "UPSTREAM_BAD_RESPONSE"
    assert recipe.make is not None
    if recipe is OVERSIZED:
        return "UPSTREAM_BAD_RESPONSE"
    try:
        PARSE[endpoint](recipe.make(endpoint))
    except SteamServerError:
        return "UPSTREAM_UNAVAILABLE"
    except SteamBadResponseError:
        return "UPSTREAM_BAD_RESPONSE"
    except SteamError as other:
        raise AssertionError(f"a hostile recipe made a documented answer: {other!r}") from None
    raise AssertionError(f"{recipe} made a body the parser accepts")


class Rows:
    """The store file read from outside the server: table contents and SQLite's data version."""

    def __init__(self, data_dir: Path) -> None:
        self._conn = sqlite3.connect(data_dir / SQLITE_FILENAME, isolation_level=None)

    def tables(self, names: Sequence[str] = TABLES) -> dict[str, list[tuple[Any, ...]]]:
        return {name: self._conn.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall() for name in names}

    def data_version(self) -> int:
        """Changes whenever another connection commits to the file (PRAGMA data_version)."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


@dataclass
class Seeded:
    running: RunningServer
    sim: RunningSimulator
    stub: pb_grpc.PlayerStatsServiceAsyncStub
    rows: Rows
    unlocked: dict[str, int]


@pytest.fixture
async def seeded(settings: Settings, sim: RunningSimulator) -> AsyncIterator[Seeded]:
    """A server with a SQLite store holding the demo player's stats and achievements (one accepted merge)."""
    running = await build_server(roomy(settings, max_retries=1), listen="127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    rows = Rows(settings.store.data_dir)
    try:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        _, achievements = await stream(stub, DEMO_STEAM_ID)
        part = achievements.achievements
        assert part.provenance.source == pb.DATA_SOURCE_LIVE
        unlocked = {a.api_name: a.unlock_time.seconds for a in part.achievements.achievements if a.unlocked}
        assert unlocked
        yield Seeded(running, sim, stub, rows, unlocked)
    finally:
        rows.close()
        await channel.close()
        await running.stop(None)
        _print_tally()


def _print_tally() -> None:
    """Print what the hostile-body examples tried (`pytest -s`), then forget it."""
    if TALLY:
        for (family, outcome), n in sorted(TALLY.items()):
            if family != "streams":
                print(f"\nhostile upstream bodies through the server: {family}: {outcome}: {n}")
        answers = sum(n for (family, _), n in TALLY.items() if family != "streams")
        print(
            f"\nhostile upstream bodies through the server: {TALLY['streams', 'OK']} streams, {answers} hostile"
            " answers, 0 store writes"
        )
        TALLY.clear()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(target=st.sampled_from([("achievements",), ("stats",), ("stats", "achievements")]), recipe=hostile_answers)
@example(target=("stats", "achievements"), recipe=Hostile("simulator malformed_json", fault=FaultKind.MALFORMED_JSON))
@example(target=("stats", "achievements"), recipe=Hostile("simulator truncated_json", fault=FaultKind.TRUNCATED_JSON))
@example(target=("stats", "achievements"), recipe=Hostile("simulator wrong_shape", fault=FaultKind.WRONG_SHAPE))
@example(target=("stats", "achievements"), recipe=Hostile("simulator html_200", fault=FaultKind.HTML_200))
@example(target=("stats", "achievements"), recipe=OVERSIZED)
async def test_hostile_bodies_are_classified_and_never_written(
    seeded: Seeded, target: tuple[str, ...], recipe: Hostile
) -> None:
    """A hostile stats and/or achievements body ends as UNAVAILABLE (bad response or maintenance) in the part it
    feeds, served from the store instead, and the tables it feeds are unchanged (no commit at all when both are)."""
    sim = seeded.sim
    sim.state.reset()
    reasons = {endpoint: expected_reason(recipe, endpoint) for endpoint in target}
    for endpoint in target:
        if recipe.fault is not None:
            sim.state.set_error_rate(endpoint, ErrorRate(Fault(recipe.fault), 1.0))
        else:
            assert recipe.make is not None
            sim.state.override_answer(endpoint, Answer(200, recipe.content_type, recipe.make(endpoint)))
    fed = tuple(table for endpoint in target for table in FEEDS[endpoint])
    before, version = seeded.rows.tables(fed), seeded.rows.data_version()

    stats, achievements = (m for m in await stream(seeded.stub, DEMO_STEAM_ID))

    assert seeded.rows.tables(fed) == before
    if len(target) == 2:
        assert seeded.rows.data_version() == version, "the server committed something"
    assert sim.state.count("stats" if "stats" in target else "achievements", DEMO_STEAM_ID) >= 2  # retried once
    if "stats" in target:
        assert stats.stats.provenance.source == pb.DATA_SOURCE_STORED
        assert stats.stats.provenance.stale
    part = achievements.achievements
    if "achievements" in target:
        assert part.provenance.source == pb.DATA_SOURCE_STORED
        assert part.unavailable.code == grpc.StatusCode.UNAVAILABLE.value[0]
        assert part.unavailable.reason == reasons["achievements"]
    unlocked = {a.api_name: a.unlock_time.seconds for a in part.achievements.achievements if a.unlocked}
    assert unlocked == seeded.unlocked
    for endpoint in target:
        event(f"{recipe.family} -> {reasons[endpoint]}")
        TALLY[f"{recipe.family} on {endpoint}", reasons[endpoint]] += 1
    TALLY["streams", "OK"] += 1


# ----------------------------------------------------------------------------------------------------------------
# Stalled and reset Steam connections, under load
# ----------------------------------------------------------------------------------------------------------------

RETRIES = 2
# Scheduling time on top of a bound: the simulator, the server and 200 concurrent streams share one event loop.
SLACK_SECS = 3.0
CALLER_DEADLINE_SECS = 0.5
CALLER_SLACK_SECS = 1.0  # the client enforces its own deadline


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
        roomy(settings, api_timeout_secs=breakage.attempt_secs, max_retries=RETRIES), listen="127.0.0.1:0"
    )
    broken = [str(SYNTHETIC_FIRST_ID + 100 + i) for i in range(8)]
    once = [str(SYNTHETIC_FIRST_ID + 200 + i) for i in range(8)]
    deadline = [str(SYNTHETIC_FIRST_ID + 300 + i) for i in range(breakage.deadline_players)]
    per_failure = breakage.requests_per_attempt
    for player in broken:
        sim.state.script("stats", [breakage.fault] * (per_failure * breakage.attempts), steam_id=player)
    for player in once:
        sim.state.script("stats", [breakage.fault] * per_failure, steam_id=player)
    for player in deadline:
        sim.state.script("stats", [breakage.fault] * 100, steam_id=player)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.PlayerStatsServiceStub(channel)
            load_task = asyncio.ensure_future(hold_load(stub))
            broken_calls = [timed(stream(stub, p)) for p in broken]
            once_calls = [timed(stream(stub, p)) for p in once]
            deadline_calls = [timed(stream(stub, p, timeout=CALLER_DEADLINE_SECS)) for p in deadline]
            results = await asyncio.gather(*broken_calls, *once_calls, *deadline_calls)
            load = await load_task
    finally:
        await running.stop(None)

    broken_results = results[: len(broken)]
    once_results = results[len(broken) : len(broken) + len(once)]
    deadline_results = results[len(broken) + len(once) :]
    bound = breakage.bound_secs + SLACK_SECS
    for player, (secs, err) in zip(broken, broken_results, strict=True):
        assert isinstance(err, grpc.aio.AioRpcError), f"{player} was served through a permanent {kind}"
        assert (err.code(), reason_of(err)) == (grpc.StatusCode.UNAVAILABLE, breakage.reason)
        assert secs <= bound, f"{player}: {secs:.2f}s > {bound:.2f}s"
        assert sim.state.count("stats", player) == per_failure * breakage.attempts
    for player, (_, messages) in zip(once, once_results, strict=True):
        assert not isinstance(messages, grpc.aio.AioRpcError), f"{player}: {messages}"
        assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
        assert sim.state.count("stats", player) == per_failure + 1
    for player, (secs, err) in zip(deadline, deadline_results, strict=True):
        assert isinstance(err, grpc.aio.AioRpcError)
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED, (player, err.code(), err.details())
        assert secs <= CALLER_DEADLINE_SECS + CALLER_SLACK_SECS
    assert load.counts == {"OK": LOAD_TOTAL}
    slowest_failure = max(secs for secs, _ in broken_results)
    deadlines = (
        f"{len(deadline)} ended DEADLINE_EXCEEDED at <= {max(s for s, _ in deadline_results):.2f}s, "
        if deadline
        else ""
    )
    print(
        f"\nfault {kind}: {len(broken)} calls failed {breakage.reason} (slowest {slowest_failure:.2f}s, bound"
        f" {bound:.2f}s), {len(once)} recovered after one retry, {deadlines}load {dict(load.counts)}, slowest"
        f" healthy call {load.slowest:.2f}s"
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
        roomy(settings, api_timeout_secs=LATE_ATTEMPT_SECS, max_retries=RETRIES), listen="127.0.0.1:0"
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
                asyncio.gather(*(timed(stream(stub, p)) for p in slow)),
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
