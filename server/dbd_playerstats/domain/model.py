"""What the service answers, as frozen values between fetch orchestration and the proto mapping.

The values a view holds one of per achievement, `AchievementView` and `AdeptView`, are msgspec Structs rather
than dataclasses: a view of every achievement is built per answer, and a Struct costs a fraction of a frozen
dataclass to build (`build_view` 150 -> 60 µs for the simulator's schema, issue 12) and carries no GC header."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

import msgspec

from dbd_playerstats.domain.adepts import Role
from dbd_playerstats.domain.memo import Memo
from dbd_playerstats.steam.models import PlayerSummary, StatValue


class Source(IntEnum):
    """Where a part came from; same numbers as the proto's DataSource."""

    UNSPECIFIED = 0
    LIVE = 1
    CACHE = 2
    STORED = 3


@dataclass(frozen=True, slots=True)
class Provenance:
    """`fetched_at` is when Steam produced the data (UTC); `stale` is set when it is older than we promise."""

    source: Source
    fetched_at: datetime
    stale: bool = False


@dataclass(frozen=True, slots=True)
class StatsPart:
    """The first message: who the player is and their stats."""

    profile: PlayerSummary
    stats: tuple[StatValue, ...]
    provenance: Provenance
    memo: Memo | None = field(default=None, compare=False, repr=False)
    """The memo of the answer `stats` came from (None: not from a kept answer): the mapping keeps its protobuf
    stats there, so the hits of that answer reuse them."""


class AchievementView(msgspec.Struct, frozen=True, gc=False):
    """One achievement as served: schema name, merged unlock state, global rarity (None when unknown)."""

    api_name: str
    display_name: str
    unlocked: bool
    unlock_time: datetime | None
    global_percent: float | None


class AdeptView(msgspec.Struct, frozen=True, gc=False):
    """An adept achievement with the character it belongs to."""

    character: str
    role: Role
    achievement: AchievementView


@dataclass(frozen=True, slots=True)
class AchievementsView:
    """All achievements plus the adepts singled out, with totals."""

    adepts: tuple[AdeptView, ...]
    achievements: tuple[AchievementView, ...]

    def adept_totals(self, role: Role) -> tuple[int, int]:
        """(unlocked, total) adepts of `role`."""
        of_role = [a for a in self.adepts if a.role is role]
        return sum(a.achievement.unlocked for a in of_role), len(of_role)

    @property
    def unlocked(self) -> int:
        return sum(a.unlocked for a in self.achievements)


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why fresh data could not be had: the status the part would have failed with.

    `code` and `reason` are an error kind's (`dbd_playerstats.errors.ErrorKind`): `code` is the google.rpc.Code
    value, which numbers codes as grpc does, so this layer needs no grpc.
    """

    code: int
    reason: str
    message: str
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class AchievementsPart:
    """The second message: achievements (live, cached or stored) and/or why fresh ones are unavailable."""

    achievements: AchievementsView | None
    provenance: Provenance | None
    unavailable: Unavailable | None = None
    memo: Memo | None = field(default=None, compare=False, repr=False)
    """The memo of the answer `achievements` was viewed from (None: none): the mapping keeps its protobuf there."""


__all__ = [
    "AchievementView",
    "AchievementsPart",
    "AchievementsView",
    "AdeptView",
    "Provenance",
    "Source",
    "StatsPart",
    "Unavailable",
]
