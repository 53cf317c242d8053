"""The two big Steam answers decoded straight into model values by msgspec: the fast path of `steam.parse`.

A cache miss reads ~280 stats and ~280 achievements. Read entry by entry in Python (orjson's dicts, then
`steam.fields`) that was the largest single share of a miss's CPU (issue 12's profile: `parse_user_stats` 14 %
of the event loop at 32 cold players). msgspec checks the documented shape in C and builds the frozen values
itself (`StatValue` is a msgspec Struct for that reason), a quarter of the time.

It takes only answers whose every entry is well formed. Whatever the lenient reader would have to judge (an entry
it would drop or default, an ``error`` or ``success: false`` member, a wrong shape, an integer beyond int64, a
body that is not JSON, a byte-order mark) makes these functions return None, and the parser reads the body the
lenient way, whose answer it always was: the result of both paths is the same, which a property test checks over
random bodies. msgspec reads integers of any size exactly and floats correctly rounded, as the standard library
does, so orjson's handling of long digit runs (see `steam.classify`) does not arise here.
"""

from __future__ import annotations

import sys
from typing import Annotated, Final

import msgspec
from msgspec.structs import force_setattr

from dbd_playerstats.steam.fields import unix_time
from dbd_playerstats.steam.models import PlayerAchievement, StatValue

_NAME = Annotated[str, msgspec.Meta(min_length=1)]


class _PlayerAnswer(msgspec.Struct, gc=False):
    """The members of ``playerstats`` by which Steam reports a refusal (`classify.raise_playerstats_error`)."""

    error: object = None
    success: object = None

    def refused(self) -> bool:
        return self.error is not None or self.success is False


class _Playerstats(_PlayerAnswer, gc=False):
    stats: list[StatValue] | None = None


class _StatsDocument(msgspec.Struct, gc=False):
    playerstats: _Playerstats


class _Achievement(msgspec.Struct, gc=False):
    apiname: _NAME
    achieved: int
    unlocktime: int | None = None


class _AchievementsPlayerstats(_PlayerAnswer, gc=False):
    achievements: list[_Achievement] | None = None


class _AchievementsDocument(msgspec.Struct, gc=False):
    playerstats: _AchievementsPlayerstats


_STATS: Final = msgspec.json.Decoder(_StatsDocument)
_ACHIEVEMENTS: Final = msgspec.json.Decoder(_AchievementsDocument)
_FLOAT_SUFFIX: Final = "_float"


def user_stats(body: bytes) -> tuple[StatValue, ...] | None:
    """The stats of a successful GetUserStatsForGame body, or None for the lenient reader to judge."""
    try:
        playerstats = _STATS.decode(body).playerstats
    except msgspec.MsgspecError:
        return None
    stats = playerstats.stats
    if stats is None or playerstats.refused():
        return None
    intern = sys.intern
    for stat in stats:  # the decoded values are ours alone until returned: finished in place
        name = intern(stat.name)  # as steam.fields.read_name: one copy of each name across kept answers
        force_setattr(stat, "name", name)
        if type(stat.value) is int and name.endswith(_FLOAT_SUFFIX):
            force_setattr(stat, "value", float(stat.value))
    return tuple(stats)


def player_achievements(body: bytes) -> tuple[PlayerAchievement, ...] | None:
    """The achievements of a successful GetPlayerAchievements body, or None for the lenient reader to judge."""
    try:
        playerstats = _ACHIEVEMENTS.decode(body).playerstats
    except msgspec.MsgspecError:
        return None
    if playerstats.refused():
        return None
    entries = playerstats.achievements
    if entries is None:
        return ()
    intern = sys.intern
    return tuple(
        [
            PlayerAchievement(intern(entry.apiname), True, unix_time(entry.unlocktime))
            if entry.achieved
            else PlayerAchievement(intern(entry.apiname), False, None)
            for entry in entries
        ]
    )


__all__ = ["player_achievements", "user_stats"]
