"""JSON values -> model entries, lenient inside a well-formed shape: pure readers that never raise.

Inside an object, a field of the wrong type drops that one entry (a stat whose value is a bool, string or null; an
entry without a usable name or id) or falls back to a default (display strings -> "", hidden -> False,
visibility -> UNKNOWN, unlock time -> None): a reader returns None for what it cannot use. Whether the shape
around the entries is well formed (objects where objects belong, lists where lists belong) is `steam.classify`'s
judgement, not theirs.
"""

from __future__ import annotations

import math
import re
import sys
from datetime import UTC, datetime
from typing import Final

from dbd_playerstats.steam.models import (
    PlayerAchievement,
    PlayerSummary,
    SchemaAchievement,
    StatValue,
    Visibility,
)

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_MAX_NUMERIC_TEXT: Final = 64
"""Longest numeric-string percent we try to read; longer ones are not numbers Steam sends."""

_DECIMAL: Final = re.compile(r"\s*[+-]?[0-9]{1,19}\s*")
_STEAM_ID: Final = re.compile(r"[0-9]{1,20}")


def read_stat(entry: dict[str, object]) -> StatValue | None:
    """One stat, or None when its name or value is unusable."""
    name = read_name(entry.get("name"))
    value = entry.get("value")
    if name is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            return None
        return StatValue(name, float(value) if name.endswith("_float") else value)
    if isinstance(value, float) and math.isfinite(value):
        return StatValue(name, value)
    return None


def read_player_achievement(entry: dict[str, object]) -> PlayerAchievement | None:
    """One GetPlayerAchievements entry, or None without a usable apiname or achieved flag."""
    api_name = read_name(entry.get("apiname"))
    achieved = read_int(entry.get("achieved"), allow_bool=True)
    if api_name is None or achieved is None:
        return None
    unlock_time = unix_time(entry.get("unlocktime")) if achieved else None
    return PlayerAchievement(api_name=api_name, achieved=bool(achieved), unlock_time=unlock_time)


def read_schema_achievement(entry: dict[str, object]) -> SchemaAchievement | None:
    """One schema achievement, or None without a usable name."""
    api_name = read_name(entry.get("name"))
    if api_name is None:
        return None
    hidden = read_int(entry.get("hidden"), allow_bool=True)
    return SchemaAchievement(
        api_name=api_name,
        display_name=read_text(entry.get("displayName")),
        description=read_text(entry.get("description")),
        hidden=bool(hidden),
    )


def read_player_summary(entry: dict[str, object]) -> PlayerSummary | None:
    """One GetPlayerSummaries entry, or None without a usable steamid."""
    steam_id = read_steam_id(entry.get("steamid"))
    if steam_id is None:
        return None
    state = read_int(entry.get("communityvisibilitystate"))
    try:
        visibility = Visibility(state) if state is not None else Visibility.UNKNOWN
    except ValueError:
        visibility = Visibility.UNKNOWN
    return PlayerSummary(
        steam_id=steam_id,
        persona_name=read_text(entry.get("personaname")),
        profile_url=read_text(entry.get("profileurl")),
        avatar_url=read_text(entry.get("avatarfull")),
        visibility=visibility,
    )


def read_name(value: object) -> str | None:
    """A non-empty string identifier, or None.

    Interned: every answer names the same few hundred stats and achievements, and a kept answer would otherwise
    hold its own copy of each name (a tenth of a held stream's memory, issue 12). Interned strings are freed
    once nothing refers to them, so names a hostile body makes up do not accumulate."""
    if not isinstance(value, str) or not value:
        return None
    return sys.intern(value) if type(value) is str else value  # a str subclass cannot be interned


def read_text(value: object) -> str:
    """A display string; anything that is not a string becomes ""."""
    return value if isinstance(value, str) else ""


def read_steam_id(value: object) -> str | None:
    """A 64-bit id sent as a string of digits (or, from a sloppy producer, as a JSON integer)."""
    if isinstance(value, str) and _STEAM_ID.fullmatch(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**64:
        return str(value)
    return None


def read_int(value: object, *, allow_bool: bool = False) -> int | None:
    """An integer from a JSON int, an integral finite float or a short decimal string; else None."""
    if isinstance(value, bool):
        return int(value) if allow_bool else None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    return None


def read_percent(value: object) -> float | None:
    """A percent within 0..100 from a JSON number or numeric string; else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str) and len(value) > _MAX_NUMERIC_TEXT:
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and 0.0 <= number <= 100.0 else None


def unix_time(value: object) -> datetime | None:
    """A UTC datetime from Unix seconds; 0, negative, absent, unreadable or out of range is None."""
    seconds = read_int(value)
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


__all__ = [
    "read_int",
    "read_name",
    "read_percent",
    "read_player_achievement",
    "read_player_summary",
    "read_schema_achievement",
    "read_stat",
    "read_steam_id",
    "read_text",
    "unix_time",
]
