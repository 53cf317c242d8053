"""What the Steam Web API tells us, as frozen values; the parsers in `parse.py` build them from JSON.

Times are timezone-aware UTC datetimes; 64-bit ids are decimal strings (Steam sends them as JSON strings).

The two values an answer holds hundreds of, `StatValue` and `PlayerAchievement`, are msgspec Structs rather than
dataclasses: `steam.typed` decodes stats straight into them, they cost a fifth of a frozen dataclass to build,
and without a GC header (they hold only strings, numbers and datetimes) they are smaller to keep (issue 12).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Annotated

import msgspec

_INT64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class Visibility(IntEnum):
    """Steam's communityvisibilitystate (1 private, 3 public; 2 "friends only" is private to us)."""

    UNKNOWN = 0
    PRIVATE = 1
    FRIENDS_ONLY = 2
    PUBLIC = 3


@dataclass(frozen=True, slots=True)
class PlayerSummary:
    """One entry of GetPlayerSummaries."""

    steam_id: str
    persona_name: str
    profile_url: str
    avatar_url: str
    visibility: Visibility


class StatValue(msgspec.Struct, frozen=True, gc=False):
    """One stat of GetUserStatsForGame; `value` is int for integer stats, float for *_float stats.

    The annotations' bounds (a non-empty name, an int within int64) are checked when msgspec decodes an answer
    (`steam.typed`), not by the constructor."""

    name: Annotated[str, msgspec.Meta(min_length=1)]
    value: _INT64 | float


@dataclass(frozen=True, slots=True)
class UserStats:
    """GetUserStatsForGame: every stat Steam sent, in Steam's order."""

    steam_id: str
    stats: tuple[StatValue, ...]


class PlayerAchievement(msgspec.Struct, frozen=True, gc=False):
    """One entry of GetPlayerAchievements; `unlock_time` is None while locked or when Steam sent 0."""

    api_name: str
    achieved: bool
    unlock_time: datetime | None


@dataclass(frozen=True, slots=True)
class PlayerAchievements:
    """GetPlayerAchievements for one player."""

    steam_id: str
    achievements: tuple[PlayerAchievement, ...]


@dataclass(frozen=True, slots=True)
class SchemaAchievement:
    """One achievement of GetSchemaForGame; `description` is "" when the schema omits it (hidden ones)."""

    api_name: str
    display_name: str
    description: str
    hidden: bool


@dataclass(frozen=True, slots=True)
class GameSchema:
    """GetSchemaForGame: the achievements and stat names of the game (empty tuples when Steam sent none)."""

    game_name: str
    achievements: tuple[SchemaAchievement, ...]
    stat_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GlobalPercentages:
    """GetGlobalAchievementPercentagesForApp: api name -> percent of players (0-100)."""

    percents: dict[str, float]


__all__ = [
    "GameSchema",
    "GlobalPercentages",
    "PlayerAchievement",
    "PlayerAchievements",
    "PlayerSummary",
    "SchemaAchievement",
    "StatValue",
    "UserStats",
    "Visibility",
]
