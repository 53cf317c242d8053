"""`steam.typed` (msgspec) against the lenient reader: wherever the fast path answers, its answer is the lenient one.

The bodies are mostly well formed (so the fast path does answer) with every kind of flaw the lenient reader has a
rule for mixed in: a name that is empty or not a string, a value that is a bool, a string, null, a float or an
integer beyond int64, an ``error`` or ``success`` member, a non-object entry, duplicate keys.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbd_playerstats.sim import APP_ID, synthetic_steam_id
from dbd_playerstats.sim.state import Variants
from dbd_playerstats.sim.steam_api import answer_achievements, answer_stats
from dbd_playerstats.steam import typed
from dbd_playerstats.steam.classify import ACHIEVEMENTS, STATS, Call
from dbd_playerstats.steam.errors import SteamError
from dbd_playerstats.steam.models import StatValue
from dbd_playerstats.steam.parse import lenient_player_achievements, lenient_user_stats
from tests.steam.parse_support import JSON, SID

names = st.sampled_from(["DBD_Escape", "DBD_Chapter9_Camper_Stat1", "DBD_Bloodpoints_float", "x", ""]) | st.text(
    max_size=8
)
numbers = (
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 0.0, -0.0, 1e308, 5e-324])
)
odd_values = st.booleans() | st.none() | st.text(max_size=4) | st.lists(st.integers(), max_size=2)


def entry(key_name: str, key_value: str, value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    usual = st.fixed_dictionaries({key_name: names, key_value: value})
    flawed = st.dictionaries(st.sampled_from([key_name, key_value, "other"]), names | numbers | odd_values)
    return st.one_of(usual, usual, usual, flawed, odd_values)


def playerstats(list_name: str, entries: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    members = st.fixed_dictionaries(
        {list_name: st.lists(entries, max_size=8)},
        optional={
            "steamID": st.just(SID),
            "error": st.none() | st.sampled_from(["Profile is not public", "Requested app has no stats", "odd"]),
            "success": st.booleans() | st.none() | st.integers(0, 1),
        },
    )
    return st.fixed_dictionaries({"playerstats": members | st.fixed_dictionaries({}) | st.none() | st.lists(names)})


stats_documents = playerstats("stats", entry("name", "value", numbers))
achievement_documents = playerstats(
    "achievements",
    st.one_of(
        st.fixed_dictionaries(
            {"apiname": names, "achieved": st.integers(0, 1)},
            optional={"unlocktime": st.integers(-10, 2**40) | st.sampled_from([0, 1_600_000_000, 10**20])},
        ),
        entry("apiname", "achieved", st.integers(-2, 3) | odd_values),
        entry("apiname", "unlocktime", numbers),
    ),
)


def lenient(reader: Any, endpoint: str, body: bytes) -> object:
    try:
        return reader(Call(endpoint, 200, SID), JSON, body)
    except SteamError as error:
        return type(error)


def exact(stats: Iterable[StatValue]) -> list[tuple[str, type, float, object]]:
    """What equality hides: 1 == 1.0 and 0.0 == -0.0, but the two paths must agree on the type and the sign."""
    return [(s.name, type(s.value), math.copysign(1.0, s.value), s.value) for s in stats]


def with_duplicate_key(text: str) -> str:
    """The first entry's value given twice: JSON readers keep the last, the fast path must too."""
    return text.replace('"value": ', '"value": "dup", "value": ', 1)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(document=stats_documents, duplicate=st.booleans())
def test_typed_stats_are_the_lenient_stats(document: Any, duplicate: bool) -> None:
    text = json.dumps(document)
    body = (with_duplicate_key(text) if duplicate else text).encode()
    fast = typed.user_stats(body)
    if fast is not None:
        expected = lenient_user_stats(Call(STATS, 200, SID), JSON, body)  # a SteamError here fails the test
        assert exact(fast) == exact(expected)
        assert all(s.name is sys.intern(s.name) for s in fast)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(document=achievement_documents)
def test_typed_achievements_are_the_lenient_achievements(document: Any) -> None:
    body = json.dumps(document).encode()
    fast = typed.player_achievements(body)
    if fast is not None:
        assert fast == lenient(lenient_player_achievements, ACHIEVEMENTS, body)


@given(values=st.lists(st.tuples(names.filter(bool), numbers), min_size=1, max_size=20))
def test_well_formed_stats_take_the_fast_path(values: list[tuple[str, Any]]) -> None:
    in_range = [(n, v) for n, v in values if isinstance(v, float) or -(2**63) <= v < 2**63]
    body = json.dumps({"playerstats": {"steamID": SID, "stats": [{"name": n, "value": v} for n, v in in_range]}})
    fast = typed.user_stats(body.encode())
    assert fast is not None
    assert exact(fast) == exact(lenient_user_stats(Call(STATS, 200, SID), JSON, body.encode()))


def stats_body(steam_id: str) -> bytes:
    return answer_stats({"steamid": steam_id, "appid": str(APP_ID)}, Variants()).body


def achievements_body(steam_id: str) -> bytes:
    return answer_achievements({"steamid": steam_id, "appid": str(APP_ID), "l": "english"}).body


def test_the_simulators_answers_take_the_fast_path() -> None:
    steam_id = synthetic_steam_id(7)
    stats = typed.user_stats(stats_body(steam_id))
    achievements = typed.player_achievements(achievements_body(steam_id))
    assert stats is not None
    assert len(stats) > 200
    assert achievements is not None
    assert len(achievements) > 50
    assert stats == lenient_user_stats(Call(STATS, 200, steam_id), JSON, stats_body(steam_id))
    assert achievements == lenient_player_achievements(
        Call(ACHIEVEMENTS, 200, steam_id), JSON, achievements_body(steam_id)
    )


def test_what_the_lenient_reader_must_judge_is_left_to_it() -> None:
    refused = [
        b'{"playerstats": {"stats": [{"name": "a", "value": true}]}}',  # dropped by the lenient reader
        b'{"playerstats": {"stats": [{"name": "", "value": 1}]}}',
        b'{"playerstats": {"stats": [{"name": "a", "value": 9223372036854775808}]}}',
        b'{"playerstats": {"stats": [{"name": "a", "value": 1e400}]}}',
        b'{"playerstats": {"stats": null}}',  # no stats
        b'{"playerstats": {"error": "Profile is not public", "stats": []}}',
        b'{"playerstats": {"success": false, "stats": []}}',
        b'{"playerstats": {"stats": [1]}}',  # a wrong shape
        b'\xef\xbb\xbf{"playerstats": {"stats": []}}',  # a byte-order mark: the standard library's call
        b"<html>maintenance</html>",
    ]
    assert [typed.user_stats(body) for body in refused] == [None] * len(refused)
    assert typed.player_achievements(b'{"playerstats": {"achievements": [{"apiname": "a", "achieved": true}]}}') is None
    assert typed.player_achievements(b'{"playerstats": {"error": "Requested app has no stats"}}') is None
    assert typed.player_achievements(b'{"playerstats": {}}') == ()
