"""Hostile Steam bodies through the real server and simulator: each is classified, the stored copy is served
instead, and nothing of it reaches the store.

Run with `pytest -s` to see the figures docs/reliability.md quotes (inputs tried per family and what they gave).
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, ErrorRate, Fault, FaultKind, RunningSimulator
from dbd_playerstats.sim.answers import HTML_TYPE, JSON_TYPE, Answer
from dbd_playerstats.sim.state import Variants
from dbd_playerstats.sim.steam_api import answer_achievements, answer_stats
from dbd_playerstats.steam.client import DEFAULT_MAX_BODY_BYTES
from dbd_playerstats.steam.errors import SteamBadResponseError, SteamError, SteamServerError
from dbd_playerstats.steam.parse import parse_player_achievements, parse_user_stats
from dbd_playerstats.store import SQLITE_FILENAME
from tests.support import roomy_settings, stream_messages

TALLY: Counter[tuple[str, str]] = Counter()


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
    running = await build_server(roomy_settings(settings, max_retries=1), listen="127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    rows = Rows(settings.store.data_dir)
    try:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        _, achievements = await stream_messages(stub, DEMO_STEAM_ID)
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

    stats, achievements = (m for m in await stream_messages(seeded.stub, DEMO_STEAM_ID))

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
