"""What the Steam Web API tells us, as frozen values; the parsers in `parse.py` build them from JSON.

Times are timezone-aware UTC datetimes; 64-bit ids are decimal strings (Steam sends them as JSON strings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum


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


@dataclass(frozen=True, slots=True)
class StatValue:
    """One stat of GetUserStatsForGame; `value` is int for integer stats, float for *_float stats."""

    name: str
    value: int | float


@dataclass(frozen=True, slots=True)
class UserStats:
    """GetUserStatsForGame: every stat Steam sent, in Steam's order."""

    steam_id: str
    stats: tuple[StatValue, ...]


@dataclass(frozen=True, slots=True)
class PlayerAchievement:
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
