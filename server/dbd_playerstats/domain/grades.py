"""Grade decoding: pips earned this grade season -> tier and level (../shared/docs/dbd-data.md).

Ash to Gold span 4 levels each with 3-5 pips per level as tabled; Iridescent I is the cap: 85 pips and more stay
Iridescent I (some public code says "Unranked" from 90 on: that is a bug we do not copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Tier(IntEnum):
    """Grade colours, same numbers as the proto's GradeTier."""

    UNSPECIFIED = 0
    ASH = 1
    BRONZE = 2
    SILVER = 3
    GOLD = 4
    IRIDESCENT = 5


@dataclass(frozen=True, slots=True)
class Grade:
    """A decoded grade: `level` 4 (IV, lowest) to 1 (I, highest); `pips` as Steam sent them."""

    tier: Tier
    level: int
    pips: int

    @property
    def display_name(self) -> str:
        return f"{self.tier.name.capitalize()} {_ROMAN[self.level]}"


_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}

# (first pip of the grade, tier, level), ascending: a grade runs until the next row's first pip.
_THRESHOLDS: tuple[tuple[int, Tier, int], ...] = (
    (0, Tier.ASH, 4),
    (3, Tier.ASH, 3),
    (6, Tier.ASH, 2),
    (10, Tier.ASH, 1),
    (14, Tier.BRONZE, 4),
    (18, Tier.BRONZE, 3),
    (22, Tier.BRONZE, 2),
    (26, Tier.BRONZE, 1),
    (30, Tier.SILVER, 4),
    (35, Tier.SILVER, 3),
    (40, Tier.SILVER, 2),
    (45, Tier.SILVER, 1),
    (50, Tier.GOLD, 4),
    (55, Tier.GOLD, 3),
    (60, Tier.GOLD, 2),
    (65, Tier.GOLD, 1),
    (70, Tier.IRIDESCENT, 4),
    (75, Tier.IRIDESCENT, 3),
    (80, Tier.IRIDESCENT, 2),
    (85, Tier.IRIDESCENT, 1),
)


def grade_from_pips(pips: int) -> Grade:
    """Decode pips; negative counts (never sent by Steam) are treated as 0."""
    count = max(pips, 0)
    tier, level = Tier.ASH, 4
    for first, row_tier, row_level in _THRESHOLDS:
        if count < first:
            break
        tier, level = row_tier, row_level
    return Grade(tier=tier, level=level, pips=pips)


__all__ = ["Grade", "Tier", "grade_from_pips"]
