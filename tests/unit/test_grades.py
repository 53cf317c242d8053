"""Grade decoding from pips, against the table in dbd-data.md."""

import pytest

from dbd_playerstats.domain.grades import Tier, grade_from_pips


@pytest.mark.parametrize(
    ("pips", "name"),
    [
        (0, "Ash IV"),
        (2, "Ash IV"),
        (3, "Ash III"),
        (6, "Ash II"),
        (9, "Ash II"),
        (10, "Ash I"),
        (13, "Ash I"),
        (14, "Bronze IV"),
        (18, "Bronze III"),
        (22, "Bronze II"),
        (26, "Bronze I"),
        (29, "Bronze I"),
        (30, "Silver IV"),
        (35, "Silver III"),
        (40, "Silver II"),
        (45, "Silver I"),
        (49, "Silver I"),
        (50, "Gold IV"),
        (55, "Gold III"),
        (60, "Gold II"),
        (65, "Gold I"),
        (70, "Iridescent IV"),
        (75, "Iridescent III"),
        (80, "Iridescent II"),
        (85, "Iridescent I"),
        (90, "Iridescent I"),
        (10_000, "Iridescent I"),
    ],
)
def test_every_boundary_decodes_to_the_documented_grade(pips: int, name: str) -> None:
    """Each table boundary maps to its grade; 90+ stays Iridescent I (no "Unranked" bug)."""
    assert grade_from_pips(pips).display_name == name


def test_negative_pips_are_treated_as_the_lowest_grade() -> None:
    """A negative count, which Steam never sends, decodes as Ash IV but keeps the raw pips."""
    grade = grade_from_pips(-3)
    assert (grade.tier, grade.level, grade.pips) == (Tier.ASH, 4, -3)


def test_grades_never_decrease_as_pips_grow() -> None:
    """More pips never yield a lower grade."""
    ranks = [(grade_from_pips(p).tier, -grade_from_pips(p).level) for p in range(120)]
    assert ranks == sorted(ranks)
