"""What the parser tests share: the parsers by endpoint, the model type each returns, and the JSON strategies."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import strategies as st

from dbd_playerstats.steam.errors import SteamError
from dbd_playerstats.steam.models import GameSchema, GlobalPercentages, PlayerAchievements, UserStats
from dbd_playerstats.steam.parse import (
    parse_global_percentages,
    parse_player_achievements,
    parse_player_summaries,
    parse_schema,
    parse_user_stats,
    parse_vanity,
)

SID = "76561197960265729"
JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=UTF-8"
NO_HEADERS: Mapping[str, str] = {}

Parser = Callable[[int, str, bytes, Mapping[str, str]], object]


def _stats(status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> object:
    return parse_user_stats(status, content_type, body, headers, steam_id=SID)


def _achievements(status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> object:
    return parse_player_achievements(status, content_type, body, headers, steam_id=SID)


def _profile(status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> object:
    return parse_player_summaries(status, content_type, body, headers)


PARSERS: dict[str, Parser] = {
    "stats": _stats,
    "achievements": _achievements,
    "schema": parse_schema,
    "rarity": parse_global_percentages,
    "profile": _profile,
    "vanity": parse_vanity,
}
RESULT_TYPES: dict[str, type | tuple[type, ...]] = {
    "stats": UserStats,
    "achievements": PlayerAchievements,
    "schema": GameSchema,
    "rarity": GlobalPercentages,
    "profile": dict,
    "vanity": str,
}
PLAYER_ENDPOINTS = ("stats", "achievements")


def encode(document: object) -> bytes:
    """JSON as Steam sends it."""
    return json.dumps(document).encode()


def run(endpoint: str, status: int, content_type: str, body: bytes, headers: Mapping[str, str] = NO_HEADERS) -> Any:
    """Run the parser of ``endpoint``."""
    return PARSERS[endpoint](status, content_type, body, headers)


def assert_model_or_steam_error(
    endpoint: str, status: int, content_type: str, body: bytes, headers: Mapping[str, str]
) -> None:
    """The parser returns its model type or raises a SteamError labelled with this call; nothing else."""
    result = outcome(endpoint, status, content_type, body, headers)
    if isinstance(result, SteamError):
        assert result.endpoint == endpoint
        assert result.status == status
    else:
        assert 200 <= status <= 299
        assert isinstance(result, RESULT_TYPES[endpoint])


def outcome(endpoint: str, status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> object:
    """The parser's value, or the SteamError it raised (any other exception fails the test)."""
    try:
        return run(endpoint, status, content_type, body, headers)
    except SteamError as error:
        return error


# Strategies for JSON of any shape, shared by the shaped and the hostile fuzz tests.
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "0", "1", "42", "12.5", "nan", "1e999", SID, "Profile is not public", "no stats"])
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
content_types = st.sampled_from(["", JSON, HTML, "text/plain", "application/octet-stream"]) | st.text(max_size=30)
