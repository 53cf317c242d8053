"""Adept achievements, found in the game's achievement schema at run time.

New characters arrive every few months under opaque api names (NEW_ACHIEVEMENT_312_2), so the adept list is read
from GetSchemaForGame: an adept's display name is "Adept <Character>"; its role comes from the description (killer
adepts speak of a "merciless victory", survivor adepts of "escape"). `FALLBACK_ADEPTS` (August 2025, 84 adepts)
is used only to fill a role the description does not give, or as the whole list when the schema is unavailable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from dbd_playerstats.steam.models import SchemaAchievement


class Role(IntEnum):
    """Same numbers as the proto's Role."""

    UNSPECIFIED = 0
    KILLER = 1
    SURVIVOR = 2


@dataclass(frozen=True, slots=True)
class AdeptDef:
    """One adept achievement: which api name stands for which character and role."""

    api_name: str
    character: str
    role: Role
    display_name: str


_ADEPT_PREFIX = "adept "

FALLBACK_ADEPTS: dict[str, tuple[str, Role]] = {
    "ACH_CHAPTER10_KILLER_3": ("Legion", Role.KILLER),
    "ACH_CHAPTER11_KILLER_3": ("Plague", Role.KILLER),
    "ACH_CHAPTER12_KILLER_3": ("Ghost Face", Role.KILLER),
    "ACH_CHAPTER14_KILLER_3": ("Oni", Role.KILLER),
    "ACH_CHAPTER16_KILLER_3": ("Executioner", Role.KILLER),
    "ACH_CHAPTER17_KILLER_3": ("Blight", Role.KILLER),
    "ACH_CHAPTER18_KILLER_3": ("Twins", Role.KILLER),
    "ACH_CHAPTER19_KILLER_3": ("Trickster", Role.KILLER),
    "ACH_CHAPTER20_KILLER_3": ("Nemesis", Role.KILLER),
    "ACH_CHAPTER22_KILLER_3": ("Artist", Role.KILLER),
    "ACH_CHAPTER9_KILLER_3": ("Spirit", Role.KILLER),
    "ACH_DLC1_KILLER_3": ("Nurse", Role.KILLER),
    "ACH_DLC2_KILLER_1": ("Shape", Role.KILLER),
    "ACH_DLC3_KILLER_3": ("Hag", Role.KILLER),
    "ACH_DLC4_KILLER_3": ("Doctor", Role.KILLER),
    "ACH_DLC5_KILLER_3": ("Huntress", Role.KILLER),
    "ACH_DLC6_KILLER_3": ("Cannibal", Role.KILLER),
    "ACH_DLC7_KILLER_3": ("Nightmare", Role.KILLER),
    "ACH_DLC8_KILLER_3": ("Pig", Role.KILLER),
    "ACH_DLC9_KILLER_3": ("Clown", Role.KILLER),
    "ACH_UNLOCKBANSHEE_PERKS": ("Wraith", Role.KILLER),
    "ACH_UNLOCKHILLBILY_PERKS": ("Hillbilly", Role.KILLER),
    "ACH_UNLOCK_CHUCKLES_PERKS": ("Trapper", Role.KILLER),
    "NEW_ACHIEVEMENT_146_28": ("Deathslinger", Role.KILLER),
    "NEW_ACHIEVEMENT_211_12": ("Onryō", Role.KILLER),
    "NEW_ACHIEVEMENT_211_18": ("Dredge", Role.KILLER),
    "NEW_ACHIEVEMENT_211_24_NAME": ("Mastermind", Role.KILLER),
    "NEW_ACHIEVEMENT_211_30": ("Knight", Role.KILLER),
    "NEW_ACHIEVEMENT_245_10": ("Singularity", Role.KILLER),
    "NEW_ACHIEVEMENT_245_20": ("Xenomorph", Role.KILLER),
    "NEW_ACHIEVEMENT_245_26": ("Good Guy", Role.KILLER),
    "NEW_ACHIEVEMENT_245_4": ("Skull Merchant", Role.KILLER),
    "NEW_ACHIEVEMENT_280_0": ("Unknown", Role.KILLER),
    "NEW_ACHIEVEMENT_280_16": ("Dark Lord", Role.KILLER),
    "NEW_ACHIEVEMENT_280_22": ("Houndmaster", Role.KILLER),
    "NEW_ACHIEVEMENT_280_28": ("Ghoul", Role.KILLER),
    "NEW_ACHIEVEMENT_280_7": ("Lich", Role.KILLER),
    "NEW_ACHIEVEMENT_312_2": ("Animatronic", Role.KILLER),
    "ACH_CHAPTER10_SURVIVOR_3": ("Jeff", Role.SURVIVOR),
    "ACH_CHAPTER11_SURVIVOR_3": ("Jane", Role.SURVIVOR),
    "ACH_CHAPTER12_SURVIVOR_3": ("Ash", Role.SURVIVOR),
    "ACH_CHAPTER14_SURVIVOR_3": ("Yui", Role.SURVIVOR),
    "ACH_CHAPTER16_SURVIVOR_3": ("Cheryl", Role.SURVIVOR),
    "ACH_CHAPTER17_SURVIVOR_3": ("Felix", Role.SURVIVOR),
    "ACH_CHAPTER18_SURVIVOR_3": ("Élodie", Role.SURVIVOR),
    "ACH_CHAPTER19_SURVIVOR_3": ("Yun-Jin", Role.SURVIVOR),
    "ACH_CHAPTER20_SURVIVOR_2": ("Leon", Role.SURVIVOR),
    "ACH_CHAPTER20_SURVIVOR_3": ("Jill", Role.SURVIVOR),
    "ACH_CHAPTER22_SURVIVOR_3": ("Jonah", Role.SURVIVOR),
    "ACH_CHAPTER9_SURVIVOR_3": ("Adam", Role.SURVIVOR),
    "ACH_DLC2_SURVIVOR_1": ("Laurie", Role.SURVIVOR),
    "ACH_DLC3_SURVIVOR_3": ("Ace", Role.SURVIVOR),
    "ACH_DLC4_SURVIVOR_3": ("Min", Role.SURVIVOR),
    "ACH_DLC5_SURVIVOR_3": ("David", Role.SURVIVOR),
    "ACH_DLC7_SURVIVOR_3": ("Quentin", Role.SURVIVOR),
    "ACH_DLC8_SURVIVOR_3": ("Tapp", Role.SURVIVOR),
    "ACH_DLC9_SURVIVOR_3": ("Kate", Role.SURVIVOR),
    "ACH_UNLOCK_CLAUDETTE_PERKS": ("Claudette", Role.SURVIVOR),
    "ACH_UNLOCK_DWIGHT_PERKS": ("Dwight", Role.SURVIVOR),
    "ACH_UNLOCK_JACK_PERKS": ("Jake", Role.SURVIVOR),
    "ACH_UNLOCK_MEG_PERKS": ("Meg", Role.SURVIVOR),
    "ACH_USE_NEA_PERKS": ("Nea", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_146_31": ("Zarina", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_211_15": ("Yoichi", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_211_21": ("Haddie", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_211_26_NAME": ("Ada", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_211_27_NAME": ("Rebecca", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_211_3": ("Mikaela", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_245_1": ("Vittorio", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_245_13": ("Gabriel", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_245_17": ("Cage", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_245_23": ("Ripley", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_245_29": ("Alan", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_245_6": ("Thalita", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_245_7": ("Renato", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_280_10": ("Troupe", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_280_13": ("Lara", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_280_19": ("Trevor", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_280_25": ("Taurie", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_280_3": ("Sable", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_280_31": ("Orela", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_312_4": ("Rick", Role.SURVIVOR),
    "NEW_ACHIEVEMENT_312_5": ("Michonne", Role.SURVIVOR),
    "SURVIVOR7_ACHIEVEMENT_3": ("Bill", Role.SURVIVOR),
}


def role_from_description(description: str) -> Role:
    """Killer adepts ask for a merciless victory, survivor adepts for an escape."""
    text = description.lower()
    if "merciless victory" in text:
        return Role.KILLER
    if "escape" in text:
        return Role.SURVIVOR
    return Role.UNSPECIFIED


def adepts_from_schema(achievements: Iterable[SchemaAchievement]) -> tuple[AdeptDef, ...]:
    """Every schema achievement named "Adept ...", killers first, then by character name."""
    found: list[AdeptDef] = []
    for ach in achievements:
        name = ach.display_name.strip()
        if not name.lower().startswith(_ADEPT_PREFIX):
            continue
        character = name[len(_ADEPT_PREFIX) :].strip()
        role = role_from_description(ach.description)
        if role is Role.UNSPECIFIED and ach.api_name in FALLBACK_ADEPTS:
            role = FALLBACK_ADEPTS[ach.api_name][1]
        found.append(AdeptDef(ach.api_name, character or ach.api_name, role, name))
    return _ordered(found)


def fallback_adepts() -> tuple[AdeptDef, ...]:
    """The built-in list, for when the schema cannot be fetched."""
    return _ordered(
        AdeptDef(api, character, role, f"Adept {character}") for api, (character, role) in FALLBACK_ADEPTS.items()
    )


def _ordered(adepts: Iterable[AdeptDef]) -> tuple[AdeptDef, ...]:
    order = {Role.KILLER: 0, Role.SURVIVOR: 1, Role.UNSPECIFIED: 2}
    return tuple(sorted(adepts, key=lambda a: (order[a.role], a.character.casefold(), a.api_name)))


__all__ = [
    "FALLBACK_ADEPTS",
    "AdeptDef",
    "Role",
    "adepts_from_schema",
    "fallback_adepts",
    "role_from_description",
]
