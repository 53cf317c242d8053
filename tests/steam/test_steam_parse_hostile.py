"""The pure Steam parsers against hostile upstream families (issue 7): real answers cut, retyped, blown up."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator, Sized
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbd_playerstats.sim import DEMO_STEAM_ID
from dbd_playerstats.sim.state import Variants
from dbd_playerstats.sim.steam_api import (
    answer_achievements,
    answer_profile,
    answer_rarity,
    answer_schema,
    answer_stats,
    answer_vanity,
)
from dbd_playerstats.steam.errors import (
    SteamBadResponseError,
    SteamClientError,
    SteamError,
    SteamKeyRejectedError,
    SteamRateLimitedError,
    SteamServerError,
)
from dbd_playerstats.steam.models import GameSchema, GlobalPercentages, PlayerAchievements, UserStats
from dbd_playerstats.steam.parse import ENDPOINTS
from tests.steam.parse_support import (
    HTML,
    JSON,
    NO_HEADERS,
    RESULT_TYPES,
    SID,
    assert_model_or_steam_error,
    content_types,
    encode,
    json_values,
    outcome,
    run,
)

# ----------------------------------------------------------------------------------------------------------------
# Hostile upstream families (issue 7): real documents cut short, retyped, blown up, or replaced by HTML
# ----------------------------------------------------------------------------------------------------------------
# The documents are the simulator's real answers for the demo player (the same bytes the integration tests see),
# so the fuzz starts from full-size Steam bodies rather than from small shaped ones. Each hostile test tallies its
# outcomes; `pytest -s` prints the tally (the "inputs tried" of docs/reliability.md).

REAL_ANSWERS = {
    "stats": answer_stats({"steamid": DEMO_STEAM_ID, "appid": "381210"}, Variants()),
    "achievements": answer_achievements({"steamid": DEMO_STEAM_ID, "appid": "381210", "l": "english"}),
    "schema": answer_schema({"appid": "381210"}),
    "rarity": answer_rarity({"gameid": "381210"}),
    "profile": answer_profile({"steamids": DEMO_STEAM_ID}),
    "vanity": answer_vanity({"vanityurl": "demo"}),
}
REAL_BODIES = {endpoint: answer.body for endpoint, answer in REAL_ANSWERS.items()}
HOSTILE = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TALLY: Counter[tuple[str, str]] = Counter()

NodePath = tuple[str | int, ...]

# Containers each parser reads, by path into the real document: a non-null value of another type there is a wrong
# shape (SteamBadResponseError). Index -1 is the last entry of a list.
READ_CONTAINERS: dict[str, tuple[NodePath, ...]] = {
    "stats": (
        (),
        ("playerstats",),
        ("playerstats", "stats"),
        ("playerstats", "stats", 0),
        ("playerstats", "stats", -1),
    ),
    "achievements": (
        (),
        ("playerstats",),
        ("playerstats", "achievements"),
        ("playerstats", "achievements", 0),
        ("playerstats", "achievements", -1),
    ),
    "schema": (
        (),
        ("game",),
        ("game", "availableGameStats"),
        ("game", "availableGameStats", "stats"),
        ("game", "availableGameStats", "stats", -1),
        ("game", "availableGameStats", "achievements"),
        ("game", "availableGameStats", "achievements", 0),
    ),
    "rarity": (
        (),
        ("achievementpercentages",),
        ("achievementpercentages", "achievements"),
        ("achievementpercentages", "achievements", 0),
    ),
    "profile": ((), ("response",), ("response", "players"), ("response", "players", 0)),
    "vanity": ((), ("response",)),
}
# Where each endpoint keeps its list of entries, and one valid entry to fill it with.
ENTRY_LISTS: dict[str, tuple[NodePath, dict[str, Any]]] = {
    "stats": (("playerstats", "stats"), {"name": "DBD_BloodwebPoints", "value": 7}),
    "achievements": (("playerstats", "achievements"), {"apiname": "ACH_X", "achieved": 1, "unlocktime": 1600000000}),
    "schema": (("game", "availableGameStats", "achievements"), {"name": "ACH_X", "displayName": "X", "hidden": 0}),
    "rarity": (("achievementpercentages", "achievements"), {"name": "ACH_X", "percent": 12.5}),
    "profile": (("response", "players"), {"steamid": SID, "communityvisibilitystate": 3}),
}


def record(family: str, result: object) -> None:
    """Count one hostile input of `family` by what it gave (the error class, or "model")."""
    TALLY[family, type(result).__name__ if isinstance(result, SteamError) else "model"] += 1


@pytest.fixture(scope="module", autouse=True)
def _print_tally() -> Iterator[None]:
    """After the module: print how many hostile inputs each family tried and what they gave."""
    yield
    if TALLY:
        families = sorted({family for family, _ in TALLY})
        for family in families:
            parts = {result: n for (f, result), n in sorted(TALLY.items()) if f == family}
            print(f"\nparser fuzz {family}: {sum(parts.values())} inputs -> {parts}")


def document(endpoint: str) -> Any:
    """A fresh copy of the real document of `endpoint`."""
    return json.loads(REAL_BODIES[endpoint])


def replace_at(root: Any, path: NodePath, value: object) -> Any:
    """`root` with the node at `path` replaced by `value` (the root itself when `path` is empty)."""
    if not path:
        return value
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return root


def all_paths(node: object, prefix: NodePath = ()) -> list[NodePath]:
    """The path of every node under `node` (itself included)."""
    paths = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            paths.extend(all_paths(child, (*prefix, key)))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            paths.extend(all_paths(child, (*prefix, index)))
    return paths


ALL_PATHS = {endpoint: all_paths(document(endpoint)) for endpoint in ENDPOINTS}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_simulators_real_answers_parse(endpoint: str) -> None:
    """The simulator's full-size answers (the seeds of the hostile families) are models, not errors."""
    answer = REAL_ANSWERS[endpoint]
    assert isinstance(run(endpoint, answer.status, JSON, answer.body), RESULT_TYPES[endpoint])


@HOSTILE
@given(data=st.data(), endpoint=st.sampled_from(ENDPOINTS), content_type=st.sampled_from([JSON, "", "text/plain"]))
def test_fuzz_truncated_real_json_is_a_bad_response(endpoint: str, content_type: str, data: st.DataObject) -> None:
    """Any strict prefix of a real answer (empty, mid-token, mid-UTF-8 character) is SteamBadResponseError."""
    body = REAL_BODIES[endpoint]
    cut = data.draw(st.integers(min_value=0, max_value=len(body) - 1), label="cut")
    result = outcome(endpoint, 200, content_type, body[:cut], NO_HEADERS)
    record("truncated JSON", result)
    assert type(result) is SteamBadResponseError


def test_truncation_inside_a_multibyte_character_is_a_bad_response() -> None:
    """The schema cut after the first byte of each non-ASCII character (Onryō, Élodie, ...) never decodes."""
    body = REAL_BODIES["schema"]
    cuts = [index + 1 for index, byte in enumerate(body) if byte >= 0xC0]
    assert cuts, "the schema has non-ASCII names"
    for cut in cuts:
        result = outcome("schema", 200, JSON, body[:cut], NO_HEADERS)
        record("truncated JSON", result)
        assert type(result) is SteamBadResponseError


non_null_json = json_values.filter(lambda value: value is not None)


@HOSTILE
@given(data=st.data(), endpoint=st.sampled_from(ENDPOINTS))
def test_fuzz_wrong_type_in_a_read_container_is_a_bad_response(endpoint: str, data: st.DataObject) -> None:
    """A container the parser reads holding any non-null value of another JSON type is SteamBadResponseError."""
    path = data.draw(st.sampled_from(READ_CONTAINERS[endpoint]), label="path")
    current: Any = document(endpoint)
    for key in path:
        current = current[key]
    wrong = data.draw(non_null_json.filter(lambda value: type(value) is not type(current)), label="value")
    result = outcome(endpoint, 200, JSON, encode(replace_at(document(endpoint), path, wrong)), NO_HEADERS)
    record("wrong type (read container)", result)
    assert type(result) is SteamBadResponseError, (path, wrong)


@HOSTILE
@given(data=st.data(), endpoint=st.sampled_from(ENDPOINTS))
def test_fuzz_wrong_types_anywhere_in_a_real_document(endpoint: str, data: st.DataObject) -> None:
    """Up to three nodes anywhere in a real document replaced by arbitrary JSON give a model or a SteamError."""
    hostile = document(endpoint)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="replacements")):
        paths = all_paths(hostile)
        path = data.draw(st.sampled_from(paths), label="path")
        hostile = replace_at(hostile, path, data.draw(json_values, label="value"))
    body = encode(hostile)
    record("wrong types anywhere", outcome(endpoint, 200, JSON, body, NO_HEADERS))
    assert_model_or_steam_error(endpoint, 200, JSON, body, NO_HEADERS)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    endpoint=st.sampled_from(sorted(ENTRY_LISTS)),
    size=st.sampled_from([10_000, 60_000]),
    poison=st.none() | st.sampled_from([1, "x", [], True]),
    where=st.floats(min_value=0, max_value=1),
)
def test_fuzz_huge_arrays(endpoint: str, size: int, poison: object, where: float) -> None:
    """Tens of thousands of entries parse to a model (every entry kept in a list, one per name in a map); one
    non-object anywhere among them makes the whole list a wrong shape."""
    path, entry = ENTRY_LISTS[endpoint]
    entries: list[object] = [entry] * size
    if poison is not None:
        entries[min(size - 1, int(where * size))] = poison
    result = outcome(endpoint, 200, JSON, encode(replace_at(document(endpoint), path, entries)), NO_HEADERS)
    record("huge arrays", result)
    if poison is not None:
        assert type(result) is SteamBadResponseError
        return
    # Lists keep every entry, in order (the service decides later what repeated names mean); maps keep one.
    kept: Sized
    if isinstance(result, UserStats):
        kept = result.stats
    elif isinstance(result, PlayerAchievements | GameSchema):
        kept = result.achievements
    elif isinstance(result, GlobalPercentages):
        kept = result.percents
    else:
        assert isinstance(result, dict)
        kept = result
    assert len(kept) == (1 if isinstance(result, GlobalPercentages | dict) else size)


html_pages = st.builds(
    lambda lead, title, text, doctype: (
        f"{lead}{doctype}<html><head><title>{title}</title></head><body><h1>{title}</h1>{text}</body></html>".encode()
    ),
    st.sampled_from(["", " ", "\n", "\r\n\t "]),
    st.text(max_size=30),
    st.text(max_size=300),
    st.sampled_from(["", "<!DOCTYPE html>", "<!doctype html>\n"]),
) | st.builds(lambda text: ("<" + text).encode(errors="surrogatepass"), st.text(max_size=200))


@HOSTILE
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    status=st.sampled_from([200, 200, 200, 203, 400, 401, 403, 404, 429, 500, 502, 503]),
    content_type=st.sampled_from([HTML, JSON, "", "text/plain"]),
    body=html_pages,
)
def test_fuzz_html_bodies(endpoint: str, status: int, content_type: str, body: bytes) -> None:
    """An HTML page is never parsed as data: under 2xx it is SteamServerError (maintenance), under an error
    status it is classified by the status (429 rate limited, 5xx server, 403 key, other 4xx client or key)."""
    result = outcome(endpoint, status, content_type, body, NO_HEADERS)
    record("HTML bodies", result)
    expected: tuple[type[SteamError], ...]
    if 200 <= status <= 299 or 500 <= status <= 599:
        expected = (SteamServerError,)
    elif status == 429:
        expected = (SteamRateLimitedError,)
    elif status == 403:
        expected = (SteamKeyRejectedError,)
    else:
        expected = (SteamClientError, SteamKeyRejectedError)
    assert type(result) in expected, (status, body[:80])


@HOSTILE
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    status=st.sampled_from([200, 200, 204, 400, 403, 500]),
    seed=st.integers(min_value=0, max_value=2**32),
    size=st.sampled_from([1024, 65_536, 1_048_576]),
    content_type=content_types,
)
def test_fuzz_large_random_bodies(endpoint: str, status: int, seed: int, size: int, content_type: str) -> None:
    """Up to 1 MiB of random bytes gives a SteamError under every status, never a model or another exception."""
    body = random.Random(seed).randbytes(size)
    result = outcome(endpoint, status, content_type, body, NO_HEADERS)
    record("large random bytes", result)
    assert isinstance(result, SteamError)
    assert (result.endpoint, result.status) == (endpoint, status)
