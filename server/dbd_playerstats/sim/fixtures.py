"""Deterministic Dead by Daylight data for the simulator: schema, global percentages and players.

Everything here is a pure function of constants and of the player's id, so two simulator processes (or two
runs of a benchmark) serve identical bytes for the same request. The data follows `docs/dbd-data.md`: the 283
stat ids of a real August 2025 response and the 84 adept achievements with their characters and roles, plus
32 ordinary achievements (some hidden, some without a description, one non-adept that speaks of "escape" and
one of a "merciless victory") so that a client identifying adepts by loose text matching gets caught.

Players (`find_player`):

- `DEMO_STEAM_ID` (vanity `demo`): public, all 283 stats, 30 of 84 adepts and half the others unlocked.
- `PRIVATE_STEAM_ID` (vanity `private_player`): private profile (visibility 1).
- `NEVER_PLAYED_STEAM_ID` (vanity `never_played`): public profile that never played DBD.
- `FRESH_STEAM_ID` (vanity `fresh_player`): public, a handful of stats, every achievement locked.
- `HIDDEN_GAMES_STEAM_ID` (vanity `hidden_games`): public profile whose game details are private.
- every id in `SYNTHETIC_FIRST_ID` .. `SYNTHETIC_LAST_ID`: a public player generated from the id (benchmarks).

Any other id is unknown to Steam.
"""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

APP_ID: Final = 381210
# Steam names the game differently per interface; `gameName` is not an identifier (steam-web-api.md).
STATS_GAME_NAME: Final = "DeadByDaylight"
ACHIEVEMENTS_GAME_NAME: Final = "Dead by Daylight"
SCHEMA_GAME_NAME: Final = "DeadByDaylight"
SCHEMA_GAME_VERSION: Final = "187"

DEMO_STEAM_ID: Final = "76561198000000001"
PRIVATE_STEAM_ID: Final = "76561198000000002"
NEVER_PLAYED_STEAM_ID: Final = "76561198000000003"
FRESH_STEAM_ID: Final = "76561198000000004"
HIDDEN_GAMES_STEAM_ID: Final = "76561198000000005"
DEMO_VANITY: Final = "demo"
PRIVATE_VANITY: Final = "private_player"
NEVER_PLAYED_VANITY: Final = "never_played"
FRESH_VANITY: Final = "fresh_player"
HIDDEN_GAMES_VANITY: Final = "hidden_games"
SYNTHETIC_FIRST_ID: Final = 76561198100000000
SYNTHETIC_LAST_ID: Final = 76561198100999999
SYNTHETIC_COUNT: Final = SYNTHETIC_LAST_ID - SYNTHETIC_FIRST_ID + 1

# Unlock times fall between DBD's release (2016-06-14) and the date of the reference data (2025-08-01).
_FIRST_UNLOCK: Final = 1465862400
_LAST_UNLOCK: Final = 1754006400

_STAT_IDS_TEXT: Final = """
DBD_AllEscapeThroughHatch DBD_BloodwebMaxLevel DBD_BloodwebMaxPrestigeLevel DBD_BloodwebPerkMaxLevel
DBD_BloodwebPoints DBD_BloodwebPrestige3MaxLevel DBD_BurnOffering_UltraRare DBD_Camper38_Stat1
DBD_Camper38_Stat2 DBD_Camper40_Stat1 DBD_Camper40_Stat2 DBD_Camper43_Stat1 DBD_Camper43_Stat2
DBD_Camper8_Stat1 DBD_Camper8_Stat2 DBD_Camper9_Stat2 DBD_CamperEscapeWithItemFrom DBD_CamperFullLoadout
DBD_CamperKeepUltraRare DBD_CamperMaxScoreByCategory DBD_CamperNewItem DBD_CamperSkulls DBD_ChainsawHit
DBD_Chapter10_Camper_Stat1 DBD_Chapter10_Slasher_Stat1 DBD_Chapter10_Slasher_Stat2
DBD_Chapter11_Camper_Stat1_float DBD_Chapter11_Slasher_Stat1 DBD_Chapter11_Slasher_Stat2
DBD_Chapter12_Camper_Stat1 DBD_Chapter12_Camper_Stat2 DBD_Chapter12_Slasher_Stat1 DBD_Chapter12_Slasher_Stat2
DBD_Chapter13_Slasher_Stat1 DBD_Chapter13_Slasher_Stat2 DBD_Chapter14_Camper_Stat1
DBD_Chapter14_Slasher_Stat1 DBD_Chapter14_Slasher_Stat2 DBD_Chapter15_Camper_Stat1
DBD_Chapter15_Slasher_Stat1 DBD_Chapter15_Slasher_Stat2 DBD_Chapter16_Camper_Stat1_float
DBD_Chapter16_Slasher_Stat1 DBD_Chapter16_Slasher_Stat2 DBD_Chapter17_Camper_Stat1
DBD_Chapter17_Camper_Stat2_float DBD_Chapter17_Slasher_Stat1 DBD_Chapter17_Slasher_Stat2
DBD_Chapter18_Camper_Stat1 DBD_Chapter18_Camper_Stat2_float DBD_Chapter18_Slasher_Stat1
DBD_Chapter18_Slasher_Stat2 DBD_Chapter19_Camper_Stat1 DBD_Chapter19_Camper_Stat2 DBD_Chapter19_Slasher_Stat1
DBD_Chapter19_Slasher_Stat2 DBD_Chapter20_Slasher_Stat1 DBD_Chapter20_Slasher_Stat2
DBD_Chapter21_Camper_Stat1 DBD_Chapter21_Camper_Stat2 DBD_Chapter21_Slasher_Stat1 DBD_Chapter21_Slasher_Stat2
DBD_Chapter22_Camper_Stat1 DBD_Chapter22_Slasher_Stat1 DBD_Chapter22_Slasher_Stat2 DBD_Chapter23_Camper_Stat1
DBD_Chapter23_Camper_Stat2 DBD_Chapter23_Slasher_Stat1 DBD_Chapter23_Slasher_Stat2 DBD_Chapter24_Camper_Stat1
DBD_Chapter24_Slasher_Stat1 DBD_Chapter24_Slasher_Stat2 DBD_Chapter25_Camper_Stat1
DBD_Chapter25_Slasher_Stat1 DBD_Chapter25_Slasher_Stat2 DBD_Chapter26_Camper_Stat1
DBD_Chapter26_Slasher_Stat1 DBD_Chapter26_Slasher_Stat2 DBD_Chapter27_Slasher_Stat1
DBD_Chapter27_Slasher_Stat2 DBD_Chapter28_Slasher_Stat1 DBD_Chapter28_Slasher_Stat2
DBD_Chapter28_Slasher_Stat3 DBD_Chapter29_Slasher_Stat1 DBD_Chapter29_Slasher_Stat2
DBD_Chapter29_Slasher_Stat3 DBD_Chapter30_Slasher_Stat1 DBD_Chapter30_Slasher_Stat2
DBD_Chapter30_Slasher_Stat3 DBD_Chapter31_Camper_Stat1 DBD_Chapter31_Slasher_Stat1
DBD_Chapter31_Slasher_Stat2 DBD_Chapter32_Camper_Stat1 DBD_Chapter32_Slasher_Stat1
DBD_Chapter32_Slasher_Stat2 DBD_Chapter33_Camper_Stat1 DBD_Chapter33_Camper_Stat2 DBD_Chapter33_Slasher_Stat1
DBD_Chapter33_Slasher_Stat2 DBD_Chapter34_Camper_Stat1 DBD_Chapter34_Camper_Stat2 DBD_Chapter34_Slasher_Stat1
DBD_Chapter34_Slasher_Stat2 DBD_Chapter35_Slasher_Stat1 DBD_Chapter35_Slasher_Stat2
DBD_Chapter35_Survivor_Stat1 DBD_Chapter35_Survivor_Stat2 DBD_Chapter36_Slasher_Stat1
DBD_Chapter36_Slasher_Stat2 DBD_Chapter9_Camper_Stat1 DBD_Chapter9_Slasher_Stat1 DBD_Chapter9_Slasher_Stat2
DBD_DLC3_Camper_Stat1 DBD_DLC3_Slasher_Stat1 DBD_DLC3_Slasher_Stat2 DBD_DLC4_Slasher_Stat1
DBD_DLC4_Slasher_Stat2 DBD_DLC5_Slasher_Stat1 DBD_DLC5_Slasher_Stat2 DBD_DLC6_Slasher_Stat1
DBD_DLC6_Slasher_Stat2 DBD_DLC7_Camper_Stat1 DBD_DLC7_Camper_Stat2 DBD_DLC7_Slasher_Stat1
DBD_DLC7_Slasher_Stat2 DBD_DLC8_Camper_Stat1 DBD_DLC8_Slasher_Stat1 DBD_DLC8_Slasher_Stat2
DBD_DLC9_Camper_Stat1 DBD_DLC9_Slasher_Stat1 DBD_DLC9_Slasher_Stat2 DBD_Escape DBD_EscapeKO
DBD_EscapeNoBlood_MapAsy_Asylum DBD_EscapeNoBlood_Obsession DBD_EscapeThroughHatch DBD_Event1_Stat1
DBD_Event1_Stat2 DBD_Event1_Stat3 DBD_FinishWithPerks_Idx0 DBD_FinishWithPerks_Idx1 DBD_FinishWithPerks_Idx10
DBD_FinishWithPerks_Idx11 DBD_FinishWithPerks_Idx12 DBD_FinishWithPerks_Idx13 DBD_FinishWithPerks_Idx14
DBD_FinishWithPerks_Idx15 DBD_FinishWithPerks_Idx16 DBD_FinishWithPerks_Idx17 DBD_FinishWithPerks_Idx18
DBD_FinishWithPerks_Idx19 DBD_FinishWithPerks_Idx2 DBD_FinishWithPerks_Idx20 DBD_FinishWithPerks_Idx21
DBD_FinishWithPerks_Idx22 DBD_FinishWithPerks_Idx23 DBD_FinishWithPerks_Idx24 DBD_FinishWithPerks_Idx25
DBD_FinishWithPerks_Idx26 DBD_FinishWithPerks_Idx268435456 DBD_FinishWithPerks_Idx268435457
DBD_FinishWithPerks_Idx268435458 DBD_FinishWithPerks_Idx268435459 DBD_FinishWithPerks_Idx268435460
DBD_FinishWithPerks_Idx268435461 DBD_FinishWithPerks_Idx268435462 DBD_FinishWithPerks_Idx268435463
DBD_FinishWithPerks_Idx268435464 DBD_FinishWithPerks_Idx268435465 DBD_FinishWithPerks_Idx268435466
DBD_FinishWithPerks_Idx268435467 DBD_FinishWithPerks_Idx268435468 DBD_FinishWithPerks_Idx268435469
DBD_FinishWithPerks_Idx268435470 DBD_FinishWithPerks_Idx268435471 DBD_FinishWithPerks_Idx268435472
DBD_FinishWithPerks_Idx268435473 DBD_FinishWithPerks_Idx268435474 DBD_FinishWithPerks_Idx268435475
DBD_FinishWithPerks_Idx268435476 DBD_FinishWithPerks_Idx268435477 DBD_FinishWithPerks_Idx268435478
DBD_FinishWithPerks_Idx268435479 DBD_FinishWithPerks_Idx268435480 DBD_FinishWithPerks_Idx268435481
DBD_FinishWithPerks_Idx268435482 DBD_FinishWithPerks_Idx268435483 DBD_FinishWithPerks_Idx268435484
DBD_FinishWithPerks_Idx268435485 DBD_FinishWithPerks_Idx268435486 DBD_FinishWithPerks_Idx268435487
DBD_FinishWithPerks_Idx268435488 DBD_FinishWithPerks_Idx268435489 DBD_FinishWithPerks_Idx268435490
DBD_FinishWithPerks_Idx268435491 DBD_FinishWithPerks_Idx268435492 DBD_FinishWithPerks_Idx268435493
DBD_FinishWithPerks_Idx268435494 DBD_FinishWithPerks_Idx268435495 DBD_FinishWithPerks_Idx27
DBD_FinishWithPerks_Idx28 DBD_FinishWithPerks_Idx29 DBD_FinishWithPerks_Idx3 DBD_FinishWithPerks_Idx30
DBD_FinishWithPerks_Idx31 DBD_FinishWithPerks_Idx32 DBD_FinishWithPerks_Idx33 DBD_FinishWithPerks_Idx34
DBD_FinishWithPerks_Idx35 DBD_FinishWithPerks_Idx36 DBD_FinishWithPerks_Idx37 DBD_FinishWithPerks_Idx38
DBD_FinishWithPerks_Idx39 DBD_FinishWithPerks_Idx4 DBD_FinishWithPerks_Idx40 DBD_FinishWithPerks_Idx41
DBD_FinishWithPerks_Idx42 DBD_FinishWithPerks_Idx43 DBD_FinishWithPerks_Idx44 DBD_FinishWithPerks_Idx45
DBD_FinishWithPerks_Idx46 DBD_FinishWithPerks_Idx47 DBD_FinishWithPerks_Idx5 DBD_FinishWithPerks_Idx6
DBD_FinishWithPerks_Idx7 DBD_FinishWithPerks_Idx8 DBD_FinishWithPerks_Idx9
DBD_FixSecondFloorGeneratorMapApl_Level_01 DBD_FixSecondFloorGenerator_MapApl_Shack
DBD_FixSecondFloorGenerator_MapAsy_Asylum DBD_FixSecondFloorGenerator_MapAsy_Chapel
DBD_FixSecondFloorGenerator_MapBrl_MaHouse DBD_FixSecondFloorGenerator_MapBrl_Temple
DBD_FixSecondFloorGenerator_MapEcl_Level_01 DBD_FixSecondFloorGenerator_MapFin_Hideout
DBD_FixSecondFloorGenerator_MapHti_Manor DBD_FixSecondFloorGenerator_MapHti_Shrine
DBD_FixSecondFloorGenerator_MapInd_Forest DBD_FixSecondFloorGenerator_MapIon_Level_01
DBD_FixSecondFloorGenerator_MapKny_Cottage DBD_FixSecondFloorGenerator_MapMtr_Level_1
DBD_FixSecondFloorGenerator_MapQat_Lab DBD_FixSecondFloorGenerator_MapQtm_Level_01
DBD_FixSecondFloorGenerator_MapQtm_Level_02 DBD_FixSecondFloorGenerator_MapSub_Street
DBD_FixSecondFloorGenerator_MapSwp_PaleRose DBD_FixSecondFloorGenerator_MapUba_Level_01
DBD_FixSecondFloorGenerator_MapUkr_Saloon DBD_FixSecondFloorGenerator_MapWal_Level_01
DBD_FixSecondFloorGenerator_MapWrm_Level_01 DBD_GeneratorPct_float DBD_HealPct_float DBD_HitNearHook
DBD_HookedAndEscape DBD_KilledCampers DBD_KilledCampers_iam DBD_KillerSkulls DBD_LastSurvivorGeneratorEscape
DBD_MaxBloodwebPointsOneCategory DBD_PerksCount_Idx0 DBD_PerksCount_Idx1 DBD_PerksCount_Idx2
DBD_PerksCount_Idx268435456 DBD_PerksCount_Idx268435457 DBD_PerksCount_Idx268435458 DBD_PerksCount_Idx3
DBD_ProfileStatsVersion DBD_Racoon_Dog_Triggered DBD_SacrificedCampers DBD_SacrificedCampers_iam
DBD_SaveCounter DBD_SkillCheckSuccess DBD_SlasherChainAttack DBD_SlasherChainInterruptAfter3
DBD_SlasherFullLoadout DBD_SlasherMaxScoreByCategory DBD_SlasherPowerKillAllCampers DBD_SlasherTierIncrement
DBD_TrapPickup DBD_UncloakAttack DBD_UnhookOrHeal DBD_UnhookOrHeal_PostExit DBD_UnlockRanking
"""

STAT_IDS: Final[tuple[str, ...]] = tuple(_STAT_IDS_TEXT.split())
"""The 283 stat ids of a real response, in Steam's (alphabetical-ish) order."""

# The real schema leaves most stat display names empty; a few carry one.
_STAT_DISPLAY_NAMES: Final[dict[str, str]] = {
    "DBD_BloodwebPoints": "Bloodpoints",
    "DBD_KillerSkulls": "Killer rank pips",
    "DBD_CamperSkulls": "Survivor rank pips",
    "DBD_Escape": "Escapes",
    "DBD_SacrificedCampers": "Sacrificed survivors",
}


class Role(StrEnum):
    """Which side an adept achievement belongs to."""

    KILLER = "killer"
    SURVIVOR = "survivor"


@dataclass(frozen=True, slots=True)
class AchievementDef:
    """One schema achievement; `description` None means the schema entry has no `description` key."""

    api_name: str
    display_name: str
    description: str | None
    hidden: bool
    adept_role: Role | None = None


def _adept(api_name: str, character: str, role: Role) -> AchievementDef:
    """Adept entry worded like the real schema: the role shows only through "merciless victory" / "escape"."""
    if role is Role.KILLER:
        description = f"Achieve a merciless victory with {character} using only their 3 unique perks"
    else:
        description = f"Escape with {character} using only their 3 unique perks"
    return AchievementDef(api_name, f"Adept {character}", description, hidden=False, adept_role=role)


_K, _S = Role.KILLER, Role.SURVIVOR
ADEPT_ACHIEVEMENTS: Final[tuple[AchievementDef, ...]] = tuple(
    _adept(api_name, character, role)
    for api_name, character, role in (
        ("ACH_CHAPTER10_KILLER_3", "Legion", _K),
        ("ACH_CHAPTER11_KILLER_3", "Plague", _K),
        ("ACH_CHAPTER12_KILLER_3", "Ghost Face", _K),
        ("ACH_CHAPTER14_KILLER_3", "Oni", _K),
        ("ACH_CHAPTER16_KILLER_3", "Executioner", _K),
        ("ACH_CHAPTER17_KILLER_3", "Blight", _K),
        ("ACH_CHAPTER18_KILLER_3", "Twins", _K),
        ("ACH_CHAPTER19_KILLER_3", "Trickster", _K),
        ("ACH_CHAPTER20_KILLER_3", "Nemesis", _K),
        ("ACH_CHAPTER22_KILLER_3", "Artist", _K),
        ("ACH_CHAPTER9_KILLER_3", "Spirit", _K),
        ("ACH_DLC1_KILLER_3", "Nurse", _K),
        ("ACH_DLC2_KILLER_1", "Shape", _K),
        ("ACH_DLC3_KILLER_3", "Hag", _K),
        ("ACH_DLC4_KILLER_3", "Doctor", _K),
        ("ACH_DLC5_KILLER_3", "Huntress", _K),
        ("ACH_DLC6_KILLER_3", "Cannibal", _K),
        ("ACH_DLC7_KILLER_3", "Nightmare", _K),
        ("ACH_DLC8_KILLER_3", "Pig", _K),
        ("ACH_DLC9_KILLER_3", "Clown", _K),
        ("ACH_UNLOCKBANSHEE_PERKS", "Wraith", _K),
        ("ACH_UNLOCKHILLBILY_PERKS", "Hillbilly", _K),
        ("ACH_UNLOCK_CHUCKLES_PERKS", "Trapper", _K),
        ("NEW_ACHIEVEMENT_146_28", "Deathslinger", _K),
        ("NEW_ACHIEVEMENT_211_12", "Onryō", _K),
        ("NEW_ACHIEVEMENT_211_18", "Dredge", _K),
        ("NEW_ACHIEVEMENT_211_24_NAME", "Mastermind", _K),
        ("NEW_ACHIEVEMENT_211_30", "Knight", _K),
        ("NEW_ACHIEVEMENT_245_10", "Singularity", _K),
        ("NEW_ACHIEVEMENT_245_20", "Xenomorph", _K),
        ("NEW_ACHIEVEMENT_245_26", "Good Guy", _K),
        ("NEW_ACHIEVEMENT_245_4", "Skull Merchant", _K),
        ("NEW_ACHIEVEMENT_280_0", "Unknown", _K),
        ("NEW_ACHIEVEMENT_280_16", "Dark Lord", _K),
        ("NEW_ACHIEVEMENT_280_22", "Houndmaster", _K),
        ("NEW_ACHIEVEMENT_280_28", "Ghoul", _K),
        ("NEW_ACHIEVEMENT_280_7", "Lich", _K),
        ("NEW_ACHIEVEMENT_312_2", "Animatronic", _K),
        ("ACH_CHAPTER10_SURVIVOR_3", "Jeff", _S),
        ("ACH_CHAPTER11_SURVIVOR_3", "Jane", _S),
        ("ACH_CHAPTER12_SURVIVOR_3", "Ash", _S),
        ("ACH_CHAPTER14_SURVIVOR_3", "Yui", _S),
        ("ACH_CHAPTER16_SURVIVOR_3", "Cheryl", _S),
        ("ACH_CHAPTER17_SURVIVOR_3", "Felix", _S),
        ("ACH_CHAPTER18_SURVIVOR_3", "Élodie", _S),
        ("ACH_CHAPTER19_SURVIVOR_3", "Yun-Jin", _S),
        ("ACH_CHAPTER20_SURVIVOR_2", "Leon", _S),
        ("ACH_CHAPTER20_SURVIVOR_3", "Jill", _S),
        ("ACH_CHAPTER22_SURVIVOR_3", "Jonah", _S),
        ("ACH_CHAPTER9_SURVIVOR_3", "Adam", _S),
        ("ACH_DLC2_SURVIVOR_1", "Laurie", _S),
        ("ACH_DLC3_SURVIVOR_3", "Ace", _S),
        ("ACH_DLC4_SURVIVOR_3", "Min", _S),
        ("ACH_DLC5_SURVIVOR_3", "David", _S),
        ("ACH_DLC7_SURVIVOR_3", "Quentin", _S),
        ("ACH_DLC8_SURVIVOR_3", "Tapp", _S),
        ("ACH_DLC9_SURVIVOR_3", "Kate", _S),
        ("ACH_UNLOCK_CLAUDETTE_PERKS", "Claudette", _S),
        ("ACH_UNLOCK_DWIGHT_PERKS", "Dwight", _S),
        ("ACH_UNLOCK_JACK_PERKS", "Jake", _S),
        ("ACH_UNLOCK_MEG_PERKS", "Meg", _S),
        ("ACH_USE_NEA_PERKS", "Nea", _S),
        ("NEW_ACHIEVEMENT_146_31", "Zarina", _S),
        ("NEW_ACHIEVEMENT_211_15", "Yoichi", _S),
        ("NEW_ACHIEVEMENT_211_21", "Haddie", _S),
        ("NEW_ACHIEVEMENT_211_26_NAME", "Ada", _S),
        ("NEW_ACHIEVEMENT_211_27_NAME", "Rebecca", _S),
        ("NEW_ACHIEVEMENT_211_3", "Mikaela", _S),
        ("NEW_ACHIEVEMENT_245_1", "Vittorio", _S),
        ("NEW_ACHIEVEMENT_245_13", "Gabriel", _S),
        ("NEW_ACHIEVEMENT_245_17", "Cage", _S),
        ("NEW_ACHIEVEMENT_245_23", "Ripley", _S),
        ("NEW_ACHIEVEMENT_245_29", "Alan", _S),
        ("NEW_ACHIEVEMENT_245_6", "Thalita", _S),
        ("NEW_ACHIEVEMENT_245_7", "Renato", _S),
        ("NEW_ACHIEVEMENT_280_10", "Troupe", _S),
        ("NEW_ACHIEVEMENT_280_13", "Lara", _S),
        ("NEW_ACHIEVEMENT_280_19", "Trevor", _S),
        ("NEW_ACHIEVEMENT_280_25", "Taurie", _S),
        ("NEW_ACHIEVEMENT_280_3", "Sable", _S),
        ("NEW_ACHIEVEMENT_280_31", "Orela", _S),
        ("NEW_ACHIEVEMENT_312_4", "Rick", _S),
        ("NEW_ACHIEVEMENT_312_5", "Michonne", _S),
        ("SURVIVOR7_ACHIEVEMENT_3", "Bill", _S),
    )
)

OTHER_ACHIEVEMENTS: Final[tuple[AchievementDef, ...]] = tuple(
    AchievementDef(api_name, display_name, description, hidden)
    for api_name, display_name, description, hidden in (
        ("ACH_FIRST_SACRIFICE", "Sacrificial Lamb", "Sacrifice your first survivor to the Entity", False),
        ("ACH_SACRIFICE_100", "Servant of the Entity", "Sacrifice 100 survivors to the Entity", False),
        ("ACH_SACRIFICE_500", "Evil Incarnate", "Sacrifice 500 survivors to the Entity", False),
        ("ACH_FIRST_ESCAPE", "Out of the Fog", "Escape a trial for the first time", False),
        ("ACH_ESCAPE_HATCH_25", "Lucky Break", "Escape through the hatch 25 times", False),
        ("ACH_ESCAPE_WITH_ITEM", "Souvenir", "Escape with an item you did not bring into the trial", False),
        ("ACH_MERCILESS_10", "Merciless Hunter", "Achieve a merciless victory 10 times", False),
        ("ACH_REPAIR_100_GENERATORS", "Mechanic", "Repair the equivalent of 100 generators", False),
        ("ACH_HEAL_100_SURVIVORS", "Field Medic", "Heal the equivalent of 100 survivors", False),
        ("ACH_SKILLCHECK_1000", "Nerves of Steel", "Succeed 1,000 skill checks", False),
        ("ACH_BLOODWEB_LEVEL_50", "Bloodweb Master", "Reach level 50 with any character", False),
        ("ACH_PRESTIGE_1", "Prestigious", "Prestige any character", False),
        ("ACH_PRESTIGE_3", "Devoted", "Reach prestige 3 with any character", False),
        ("ACH_KILLER_IRIDESCENT", "Iridescent Hunter", "Reach grade Iridescent I as a killer", False),
        ("ACH_SURVIVOR_IRIDESCENT", "Iridescent Survivor", "Reach grade Iridescent I as a survivor", False),
        ("ACH_CHAINSAW_100", "Revving Up", "Hit 100 survivors with the Hillbilly's chainsaw", False),
        ("ACH_UNCLOAK_50", "Out of Nowhere", "Hit 50 survivors right after uncloaking as the Wraith", False),
        ("ACH_TRAP_100", "Trap Master", "Catch 100 survivors in the Trapper's bear traps", False),
        ("ACH_UNHOOK_100", "Rescuer", "Unhook 100 survivors", False),
        ("ACH_FULL_LOADOUT_SURVIVOR", "Prepared", "Play 50 trials as a survivor with a full loadout", False),
        ("ACH_FULL_LOADOUT_KILLER", "Armed to the Teeth", "Play 50 trials as a killer with a full loadout", False),
        ("ACH_BURN_ULTRA_RARE", "Offering to the Fog", "Burn an ultra rare offering", False),
        ("NEW_ACHIEVEMENT_211_1", "Tome Reader", "Complete a challenge of the Archives", False),
        ("NEW_ACHIEVEMENT_245_2", "Collector", "Unlock 10 cosmetic items", False),
        ("NEW_ACHIEVEMENT_280_1", "Dedicated", "Play 1,000 trials", False),
        ("NEW_ACHIEVEMENT_312_1", "Fog Walker", "Play a trial on every realm", False),
        ("ACH_SECRET_ASYLUM", "Lost in the Asylum", None, True),
        ("ACH_SECRET_RACOON_DOG", "Good Boy", None, True),
        ("NEW_ACHIEVEMENT_211_9", "Whispers", None, True),
        ("NEW_ACHIEVEMENT_312_7", "The Last One", None, True),
        ("ACH_SECRET_OBSESSION", "Unbroken Bond", "Escape as the obsession without losing health", True),
        ("ACH_SECRET_LAST_GENERATOR", "Against All Odds", "Repair the last generator alone and escape", True),
    )
)

ACHIEVEMENTS: Final[tuple[AchievementDef, ...]] = ADEPT_ACHIEVEMENTS + OTHER_ACHIEVEMENTS
"""Every schema achievement, in the order the schema and GetPlayerAchievements list them."""


def _icon(api_name: str, gray: bool) -> str:
    digest = hashlib.sha1(f"{api_name}:{gray}".encode(), usedforsecurity=False).hexdigest()
    return f"https://steamcdn-a.akamaihd.net/steamcommunity/public/images/apps/{APP_ID}/{digest}.jpg"


def _schema_achievement(achievement: AchievementDef) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": achievement.api_name,
        "defaultvalue": 0,
        "displayName": achievement.display_name,
        "hidden": int(achievement.hidden),
    }
    if achievement.description is not None:
        entry["description"] = achievement.description
    entry["icon"] = _icon(achievement.api_name, gray=False)
    entry["icongray"] = _icon(achievement.api_name, gray=True)
    return entry


SCHEMA: Final[dict[str, Any]] = {
    "game": {
        "gameName": SCHEMA_GAME_NAME,
        "gameVersion": SCHEMA_GAME_VERSION,
        "availableGameStats": {
            "stats": [
                {"name": name, "defaultvalue": 0, "displayName": _STAT_DISPLAY_NAMES.get(name, "")} for name in STAT_IDS
            ],
            "achievements": [_schema_achievement(achievement) for achievement in ACHIEVEMENTS],
        },
    }
}
"""GetSchemaForGame's body for app 381210 (treat as read-only: it is shared by every request)."""


def _global_percentages() -> dict[str, Any]:
    """Adepts are rare (0.5-15 %), the rest common; every third percent is a numeric string, as Steam sends."""
    rng = random.Random(APP_ID)
    rows: list[tuple[float, str]] = []
    for achievement in ACHIEVEMENTS:
        low, high = (0.5, 15.0) if achievement.adept_role else (2.0, 85.0)
        rows.append((round(rng.uniform(low, high), 1), achievement.api_name))
    rows.sort(key=lambda row: (-row[0], row[1]))
    entries: list[dict[str, Any]] = [
        {"name": name, "percent": f"{percent:.1f}" if index % 3 == 2 else percent}
        for index, (percent, name) in enumerate(rows)
    ]
    return {"achievementpercentages": {"achievements": entries}}


GLOBAL_PERCENTAGES: Final[dict[str, Any]] = _global_percentages()
"""GetGlobalAchievementPercentagesForApp's body, most common first (treat as read-only)."""


class PlayerKind(StrEnum):
    """How Steam treats a player's DBD data."""

    PUBLIC = "public"
    PRIVATE = "private"
    """Private profile: visibility 1, stats and achievements refused."""
    HIDDEN_GAMES = "hidden_games"
    """Public profile (visibility 3) whose game details are private: stats and achievements refused."""
    NEVER_PLAYED = "never_played"
    """Public profile without DBD: Steam has no stats for it."""


StatRow = tuple[str, int | float]


@dataclass(frozen=True, slots=True)
class Player:
    """One player Steam knows.

    `stats` holds (stat id, value) in `STAT_IDS` order (only the stats the player has); `unlock_times` holds one
    epoch-seconds time per entry of `ACHIEVEMENTS`, 0 while locked (empty when Steam refuses achievements).
    """

    steam_id: str
    persona_name: str
    vanity: str | None
    kind: PlayerKind
    stats: tuple[StatRow, ...] = ()
    unlock_times: tuple[int, ...] = ()

    @property
    def visibility(self) -> int:
        """communityvisibilitystate: 1 private, 3 public."""
        return 1 if self.kind is PlayerKind.PRIVATE else 3

    @property
    def profile_url(self) -> str:
        """The vanity URL when the player has one, else the numeric one (both end with "/")."""
        if self.vanity:
            return f"https://steamcommunity.com/id/{self.vanity}/"
        return f"https://steamcommunity.com/profiles/{self.steam_id}/"


def _stat_value(name: str, rng: random.Random, experience: float) -> int | float:
    """A plausible value for one stat; `experience` (0-1) scales lifetime counters."""
    if name.endswith("_float"):
        return round(rng.uniform(0.0, 3000.0) * experience, 4)
    if name in {"DBD_KillerSkulls", "DBD_CamperSkulls"}:
        return rng.randint(0, 90)
    if name == "DBD_BloodwebPoints":
        return int(rng.randint(1_000_000, 120_000_000) * experience)
    if name == "DBD_BloodwebMaxPrestigeLevel":
        return int(rng.randint(0, 100) * experience)
    if name in {"DBD_BloodwebMaxLevel", "DBD_BloodwebPerkMaxLevel", "DBD_BloodwebPrestige3MaxLevel"}:
        return rng.randint(1, 50)
    if name == "DBD_ProfileStatsVersion":
        return 7
    if name.startswith(("DBD_FinishWithPerks_Idx", "DBD_PerksCount_Idx", "DBD_FixSecondFloor")):
        return int(rng.randint(0, 60) * experience)
    return int(rng.randint(0, 6000) * experience)


def _unlock_times(rng: random.Random, adepts_unlocked: int, others_unlocked: int) -> tuple[int, ...]:
    """Unlock `adepts_unlocked` adepts and `others_unlocked` other achievements, picked at random."""
    adept_indexes = set(rng.sample(range(len(ADEPT_ACHIEVEMENTS)), adepts_unlocked))
    other_indexes = set(rng.sample(range(len(OTHER_ACHIEVEMENTS)), others_unlocked))
    times: list[int] = []
    for index, _achievement in enumerate(ADEPT_ACHIEVEMENTS):
        times.append(rng.randint(_FIRST_UNLOCK, _LAST_UNLOCK) if index in adept_indexes else 0)
    for index, _achievement in enumerate(OTHER_ACHIEVEMENTS):
        times.append(rng.randint(_FIRST_UNLOCK, _LAST_UNLOCK) if index in other_indexes else 0)
    return tuple(times)


def _demo_player() -> Player:
    """The demo account: every stat, 30 adepts and half the other achievements unlocked."""
    rng = random.Random(1)
    fixed: dict[str, int | float] = {
        "DBD_KillerSkulls": 62,
        "DBD_CamperSkulls": 87,
        "DBD_BloodwebPoints": 48_213_775,
        "DBD_BloodwebMaxPrestigeLevel": 36,
        "DBD_BloodwebMaxLevel": 50,
        "DBD_KilledCampers": 214,
        "DBD_SacrificedCampers": 3_117,
        "DBD_Escape": 1_342,
        "DBD_EscapeThroughHatch": 187,
        "DBD_GeneratorPct_float": 2_913.6875,
        "DBD_HealPct_float": 1_204.25,
    }
    stats = tuple((name, fixed.get(name, _stat_value(name, rng, 0.8))) for name in STAT_IDS)
    unlock_times = _unlock_times(rng, adepts_unlocked=30, others_unlocked=len(OTHER_ACHIEVEMENTS) // 2)
    return Player(DEMO_STEAM_ID, "Demo Survivor", DEMO_VANITY, PlayerKind.PUBLIC, stats, unlock_times)


def _fresh_player() -> Player:
    """A brand-new account: a few stats, nothing unlocked."""
    stats: tuple[StatRow, ...] = (
        ("DBD_BloodwebPoints", 12_500),
        ("DBD_BloodwebMaxLevel", 3),
        ("DBD_CamperSkulls", 4),
        ("DBD_Escape", 1),
        ("DBD_GeneratorPct_float", 1.5),
        ("DBD_KillerSkulls", 0),
        ("DBD_SkillCheckSuccess", 9),
    )
    return Player(
        FRESH_STEAM_ID,
        "Fresh Meat",
        FRESH_VANITY,
        PlayerKind.PUBLIC,
        stats,
        (0,) * len(ACHIEVEMENTS),
    )


FIXED_PLAYERS: Final[dict[str, Player]] = {
    player.steam_id: player
    for player in (
        _demo_player(),
        Player(PRIVATE_STEAM_ID, "Private Entity", PRIVATE_VANITY, PlayerKind.PRIVATE),
        Player(NEVER_PLAYED_STEAM_ID, "Never Played", NEVER_PLAYED_VANITY, PlayerKind.NEVER_PLAYED),
        _fresh_player(),
        Player(HIDDEN_GAMES_STEAM_ID, "Hidden Games", HIDDEN_GAMES_VANITY, PlayerKind.HIDDEN_GAMES),
    )
}

_VANITY_TO_ID: Final[dict[str, str]] = {
    player.vanity.lower(): player.steam_id for player in FIXED_PLAYERS.values() if player.vanity
}


def is_synthetic_id(steam_id: str) -> bool:
    """True for the benchmark range `SYNTHETIC_FIRST_ID` .. `SYNTHETIC_LAST_ID` (decimal strings only)."""
    return steam_id.isdigit() and SYNTHETIC_FIRST_ID <= int(steam_id) <= SYNTHETIC_LAST_ID


def synthetic_steam_id(index: int) -> str:
    """The index-th synthetic player's id (0-based), for benchmarks that need N distinct public players."""
    if not 0 <= index < SYNTHETIC_COUNT:
        raise ValueError(f"synthetic player index out of range: {index}")
    return str(SYNTHETIC_FIRST_ID + index)


# Bounded: 10,000 benchmark players would otherwise pin ~300 MB; regenerating one costs well under a ms.
@functools.lru_cache(maxsize=2048)
def _synthetic_player(steam_id: str) -> Player:
    number = int(steam_id)
    rng = random.Random(number)
    experience = rng.uniform(0.05, 1.0)
    stats = tuple((name, _stat_value(name, rng, experience)) for name in STAT_IDS)
    unlock_times = _unlock_times(
        rng,
        adepts_unlocked=rng.randint(0, len(ADEPT_ACHIEVEMENTS)),
        others_unlocked=rng.randint(0, len(OTHER_ACHIEVEMENTS)),
    )
    persona = f"Player {steam_id[-6:]}"
    return Player(steam_id, persona, None, PlayerKind.PUBLIC, stats, unlock_times)


def avatar_hash(steam_id: str) -> str:
    """A stable 40-hex-digit avatar hash per player, shaped like Steam's."""
    return hashlib.sha1(f"avatar:{steam_id}".encode(), usedforsecurity=False).hexdigest()


def time_created(steam_id: str) -> int:
    """Account creation time (epoch seconds), stable per player."""
    return random.Random(f"created:{steam_id}").randint(1_200_000_000, _FIRST_UNLOCK)


def last_logoff(steam_id: str) -> int:
    """Last log-off time (epoch seconds), stable per player."""
    return random.Random(f"logoff:{steam_id}").randint(_LAST_UNLOCK - 86_400 * 30, _LAST_UNLOCK)


def find_player(steam_id: str) -> Player | None:
    """The player with this SteamID64 (exact decimal string), or None when Steam does not know the id."""
    player = FIXED_PLAYERS.get(steam_id)
    if player is not None:
        return player
    if is_synthetic_id(steam_id):
        return _synthetic_player(steam_id)
    return None


def resolve_vanity(vanity: str) -> str | None:
    """The SteamID64 behind a vanity name (case-insensitive, like steamcommunity.com/id/...), else None."""
    return _VANITY_TO_ID.get(vanity.lower())


__all__ = [
    "ACHIEVEMENTS",
    "ACHIEVEMENTS_GAME_NAME",
    "ADEPT_ACHIEVEMENTS",
    "APP_ID",
    "DEMO_STEAM_ID",
    "DEMO_VANITY",
    "FIXED_PLAYERS",
    "FRESH_STEAM_ID",
    "FRESH_VANITY",
    "GLOBAL_PERCENTAGES",
    "HIDDEN_GAMES_STEAM_ID",
    "HIDDEN_GAMES_VANITY",
    "NEVER_PLAYED_STEAM_ID",
    "NEVER_PLAYED_VANITY",
    "OTHER_ACHIEVEMENTS",
    "PRIVATE_STEAM_ID",
    "PRIVATE_VANITY",
    "SCHEMA",
    "SCHEMA_GAME_NAME",
    "SCHEMA_GAME_VERSION",
    "STATS_GAME_NAME",
    "STAT_IDS",
    "SYNTHETIC_COUNT",
    "SYNTHETIC_FIRST_ID",
    "SYNTHETIC_LAST_ID",
    "AchievementDef",
    "Player",
    "PlayerKind",
    "Role",
    "StatRow",
    "avatar_hash",
    "find_player",
    "is_synthetic_id",
    "last_logoff",
    "resolve_vanity",
    "synthetic_steam_id",
    "time_created",
]
