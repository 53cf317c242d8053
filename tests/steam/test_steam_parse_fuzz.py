"""The pure Steam parsers under fuzzing: whatever comes in, only a model value or a SteamError comes out."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbd_playerstats.steam.parse import ENDPOINTS, parse_retry_after, parse_user_stats
from tests.steam.parse_support import (
    JSON,
    NO_HEADERS,
    SID,
    assert_model_or_steam_error,
    content_types,
    encode,
    json_leaves,
    json_values,
)

finite_leaves = json_leaves.filter(lambda value: not (isinstance(value, float) and math.isinf(value)))
statuses = st.integers(min_value=-1, max_value=1000) | st.sampled_from([200, 400, 403, 404, 429, 500, 503])
header_maps = st.dictionaries(
    st.sampled_from(["Retry-After", "retry-after", "X-eresult", "x-eresult", "X-error_message", "Other"]),
    st.text(max_size=40) | st.sampled_from(["1", "42", "84", "2", "15", "120", "Sat, 01 Mar 2025 12:00:30 GMT"]),
    max_size=4,
)


def field_values(*names: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose keys come from ``names`` and whose values are anything JSON."""
    return st.dictionaries(st.sampled_from(names), json_values, max_size=len(names))


def lists_of(entries: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly well-typed lists of entries, sometimes any JSON value."""
    return st.lists(entries, max_size=6) | json_values


SHAPED: dict[str, st.SearchStrategy[Any]] = {
    "stats": st.fixed_dictionaries(
        {
            "playerstats": st.fixed_dictionaries({}, optional={"stats": lists_of(field_values("name", "value"))})
            | json_values
        }
    ),
    "achievements": st.fixed_dictionaries(
        {
            "playerstats": st.fixed_dictionaries(
                {},
                optional={
                    "achievements": lists_of(field_values("apiname", "achieved", "unlocktime")),
                    "success": json_values,
                    "error": json_values,
                },
            )
        }
    ),
    "schema": st.fixed_dictionaries(
        {
            "game": st.fixed_dictionaries(
                {},
                optional={
                    "gameName": json_values,
                    "availableGameStats": st.fixed_dictionaries(
                        {},
                        optional={
                            "stats": lists_of(field_values("name", "displayName")),
                            "achievements": lists_of(field_values("name", "displayName", "description", "hidden")),
                        },
                    )
                    | json_values,
                },
            )
        }
    ),
    "rarity": st.fixed_dictionaries(
        {
            "achievementpercentages": st.fixed_dictionaries(
                {}, optional={"achievements": lists_of(field_values("name", "percent"))}
            )
        }
    ),
    "profile": st.fixed_dictionaries(
        {
            "response": st.fixed_dictionaries(
                {},
                optional={
                    "players": lists_of(
                        field_values("steamid", "communityvisibilitystate", "personaname", "profileurl", "avatarfull")
                    )
                },
            )
        }
    ),
    "vanity": st.fixed_dictionaries(
        {"response": st.fixed_dictionaries({}, optional={"steamid": json_values, "success": json_values})}
    ),
}


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    status=statuses,
    content_type=content_types,
    body=st.binary(max_size=200),
    headers=header_maps,
)
def test_fuzz_arbitrary_bytes(
    endpoint: str, status: int, content_type: str, body: bytes, headers: dict[str, str]
) -> None:
    """Arbitrary bytes under any status, content type and headers give a model or a SteamError."""
    assert_model_or_steam_error(endpoint, status, content_type, body, headers)


@FUZZ
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    status=statuses,
    content_type=content_types,
    document=json_values,
    headers=header_maps,
)
def test_fuzz_arbitrary_json(
    endpoint: str, status: int, content_type: str, document: object, headers: dict[str, str]
) -> None:
    """Arbitrary JSON documents give a model or a SteamError."""
    assert_model_or_steam_error(endpoint, status, content_type, encode(document), headers)


@FUZZ
@given(data=st.data(), endpoint=st.sampled_from(ENDPOINTS), status=st.sampled_from([200, 200, 200, 400, 403]))
def test_fuzz_documented_shapes_with_hostile_leaves(endpoint: str, status: int, data: st.DataObject) -> None:
    """Documents of each endpoint's shape with arbitrary values anywhere give a model or a SteamError."""
    document = data.draw(SHAPED[endpoint])
    assert_model_or_steam_error(endpoint, status, JSON, encode(document), NO_HEADERS)


@FUZZ
@given(
    stats=st.lists(
        st.fixed_dictionaries({"name": st.text(min_size=1, max_size=10), "value": finite_leaves}), max_size=10
    )
)
def test_fuzz_stats_keep_exactly_the_numeric_values(stats: list[dict[str, Any]]) -> None:
    """Exactly the entries with a finite non-bool number (int within int64) survive, in order."""
    body = encode({"playerstats": {"stats": stats}})
    result = parse_user_stats(200, JSON, body, NO_HEADERS, steam_id=SID)

    def usable(value: object) -> bool:
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return -(2**63) <= value < 2**63
        return isinstance(value, float) and math.isfinite(value)

    assert [s.name for s in result.stats] == [entry["name"] for entry in stats if usable(entry["value"])]


@FUZZ
@given(value=st.none() | st.text(max_size=60), now=st.datetimes(timezones=st.just(UTC)))
def test_fuzz_retry_after(value: str | None, now: datetime) -> None:
    """parse_retry_after never raises and never returns a negative or non-finite number."""
    seconds = parse_retry_after(value, now=now)
    assert seconds is None or (seconds >= 0 and math.isfinite(seconds))
