"""Adepts are read from the schema at run time; the built-in table is only a fallback."""

from dbd_playerstats.domain.adepts import FALLBACK_ADEPTS, Role, adepts_from_schema, fallback_adepts
from dbd_playerstats.steam.models import SchemaAchievement


def ach(api: str, name: str, description: str = "") -> SchemaAchievement:
    return SchemaAchievement(api_name=api, display_name=name, description=description, hidden=False)


def test_roles_come_from_the_description_and_new_characters_are_found() -> None:
    """An adept unknown to the fallback table is still found, with its role read from the description."""
    schema = [
        ach("NEW_ACHIEVEMENT_999_1", "Adept Newkiller", "Achieve a merciless victory using only their perks"),
        ach("NEW_ACHIEVEMENT_999_2", "Adept Newbie", "Escape the trial using only their perks"),
        ach("ACH_SOMETHING", "Not an adept", "Escape 10 times"),
    ]
    adepts = adepts_from_schema(schema)
    assert [(a.api_name, a.character, a.role) for a in adepts] == [
        ("NEW_ACHIEVEMENT_999_1", "Newkiller", Role.KILLER),
        ("NEW_ACHIEVEMENT_999_2", "Newbie", Role.SURVIVOR),
    ]


def test_missing_description_falls_back_to_the_table_role() -> None:
    """A hidden adept without description keeps the role the fallback table gives it."""
    adepts = adepts_from_schema([ach("ACH_DLC2_KILLER_1", "Adept Shape")])
    assert adepts[0].role is Role.KILLER


def test_fallback_has_the_84_documented_adepts() -> None:
    """The fallback lists 38 killers then 46 survivors, killers first."""
    adepts = fallback_adepts()
    roles = [a.role for a in adepts]
    assert len(FALLBACK_ADEPTS) == 84
    assert roles.count(Role.KILLER) == 38
    assert roles.count(Role.SURVIVOR) == 46
    assert roles == sorted(roles)
