"""The pure Steam parsers' success values: what each well-formed answer becomes, field by field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dbd_playerstats.steam.errors import SteamServerError
from dbd_playerstats.steam.models import (
    GameSchema,
    GlobalPercentages,
    PlayerAchievement,
    PlayerAchievements,
    PlayerSummary,
    SchemaAchievement,
    StatValue,
    UserStats,
    Visibility,
)
from dbd_playerstats.steam.parse import (
    parse_global_percentages,
    parse_player_achievements,
    parse_player_summaries,
    parse_schema,
    parse_user_stats,
    parse_vanity,
)
from tests.steam.parse_support import HTML, JSON, NO_HEADERS, SID, encode


def test_user_stats_keep_every_stat_in_order() -> None:
    """Every usable stat is kept in Steam's order, duplicates included, with int and float values preserved."""
    body = encode(
        {
            "playerstats": {
                "steamID": "not-the-id-we-asked",
                "gameName": "DeadByDaylight",
                "stats": [
                    {"name": "DBD_BloodwebPoints", "value": 1234567},
                    {"name": "DBD_MaxBloodwebPoints_float", "value": 12.5},
                    {"name": "DBD_Camper8_Stat1", "value": 3},
                    {"name": "DBD_Camper8_Stat1", "value": 4},
                    {"name": "DBD_BurnOfferings", "value": 0},
                ],
                "achievements": [{"name": "ACH_UNLOCK_CHUCKLES", "achieved": 1}],
            }
        }
    )
    result = parse_user_stats(200, JSON, body, NO_HEADERS, steam_id=SID)
    assert result == UserStats(
        steam_id=SID,
        stats=(
            StatValue("DBD_BloodwebPoints", 1234567),
            StatValue("DBD_MaxBloodwebPoints_float", 12.5),
            StatValue("DBD_Camper8_Stat1", 3),
            StatValue("DBD_Camper8_Stat1", 4),
            StatValue("DBD_BurnOfferings", 0),
        ),
    )
    assert type(result.stats[0].value) is int


def test_user_stats_value_types() -> None:
    """A float on an integer stat stays float, an int on a *_float stat becomes float, unusable entries drop."""
    body = encode(
        {
            "playerstats": {
                "stats": [
                    {"name": "int_stat", "value": 2.5},
                    {"name": "x_float", "value": 7},
                    {"name": "bool", "value": True},
                    {"name": "string", "value": "12"},
                    {"name": "null", "value": None},
                    {"name": "missing"},
                    {"name": "list", "value": [1]},
                    {"name": "too_big", "value": 2**63},
                    {"name": "too_small", "value": -(2**63) - 1},
                    {"name": "min", "value": -(2**63)},
                    {"name": "", "value": 1},
                    {"name": None, "value": 1},
                    {"value": 1},
                    {"name": 5, "value": 1},
                    {"name": "infinite", "value": "<overflow>"},
                ]
            }
        }
    ).replace(b'"<overflow>"', b"1e999")  # a JSON number that overflows to float infinity
    result = parse_user_stats(200, JSON, body, NO_HEADERS, steam_id=SID)
    assert result.stats == (StatValue("int_stat", 2.5), StatValue("x_float", 7.0), StatValue("min", -(2**63)))
    assert type(result.stats[1].value) is float


def test_user_stats_empty_list_is_not_no_stats() -> None:
    """An empty stats list is an answer with no stats in it, not Steam's "no stats" signal."""
    body = encode({"playerstats": {"steamID": SID, "stats": []}})
    assert parse_user_stats(200, JSON, body, NO_HEADERS, steam_id=SID) == UserStats(SID, ())


def test_player_achievements_values() -> None:
    """Achieved flags and unlock times are read; 0, locked, absent or absurd unlock times become None."""
    body = encode(
        {
            "playerstats": {
                "steamID": SID,
                "gameName": "DeadByDaylight",
                "achievements": [
                    {"apiname": "ACH_A", "achieved": 1, "unlocktime": 1600000000},
                    {"apiname": "ACH_B", "achieved": 0, "unlocktime": 0},
                    {"apiname": "ACH_C", "achieved": 1, "unlocktime": 0},
                    {"apiname": "ACH_D", "achieved": "1", "unlocktime": "1600000000"},
                    {"apiname": "ACH_E", "achieved": True, "unlocktime": 10**30},
                    {"apiname": "ACH_F", "achieved": 0, "unlocktime": 1600000000},
                    {"apiname": "ACH_G", "achieved": 1},
                    {"apiname": "ACH_H", "achieved": 1, "unlocktime": -5, "name": "H", "description": "d"},
                    {"apiname": "ACH_I", "achieved": None},
                    {"apiname": "", "achieved": 1},
                    {"achieved": 1},
                ],
                "success": True,
            }
        }
    )
    unlocked = datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC)
    result = parse_player_achievements(200, JSON, body, NO_HEADERS, steam_id=SID)
    assert result == PlayerAchievements(
        steam_id=SID,
        achievements=(
            PlayerAchievement("ACH_A", True, unlocked),
            PlayerAchievement("ACH_B", False, None),
            PlayerAchievement("ACH_C", True, None),
            PlayerAchievement("ACH_D", True, unlocked),
            PlayerAchievement("ACH_E", True, None),
            PlayerAchievement("ACH_F", False, None),
            PlayerAchievement("ACH_G", True, None),
            PlayerAchievement("ACH_H", True, None),
        ),
    )


@pytest.mark.parametrize("achievements", [None, "absent"])
def test_player_achievements_absent_list_is_empty(achievements: object) -> None:
    """A success without an achievements list (or with null) means no achievements."""
    playerstats: dict[str, object] = {"steamID": SID, "success": True}
    if achievements != "absent":
        playerstats["achievements"] = achievements
    result = parse_player_achievements(200, JSON, encode({"playerstats": playerstats}), NO_HEADERS, steam_id=SID)
    assert result == PlayerAchievements(SID, ())


def test_schema_values() -> None:
    """Schema achievements keep order and flags; missing descriptions and names fall back to ""."""
    body = encode(
        {
            "game": {
                "gameName": "DeadByDaylight",
                "gameVersion": "12",
                "availableGameStats": {
                    "stats": [
                        {"name": "DBD_BloodwebPoints", "defaultvalue": 0, "displayName": ""},
                        {"name": "DBD_MaxBloodwebPoints_float", "defaultvalue": 0, "displayName": "Max"},
                        {"defaultvalue": 0},
                    ],
                    "achievements": [
                        {
                            "name": "ACH_A",
                            "defaultvalue": 0,
                            "displayName": "Adept Dwight",
                            "hidden": 0,
                            "description": "Achieve a merciless victory",
                            "icon": "https://x/a.jpg",
                            "icongray": "https://x/a_gray.jpg",
                        },
                        {"name": "ACH_SECRET", "defaultvalue": 0, "displayName": "Secret", "hidden": 1},
                        {"name": "ACH_ODD", "displayName": None, "hidden": "1", "description": 5},
                        {"displayName": "nameless"},
                    ],
                },
            }
        }
    )
    assert parse_schema(200, JSON, body, NO_HEADERS) == GameSchema(
        game_name="DeadByDaylight",
        achievements=(
            SchemaAchievement("ACH_A", "Adept Dwight", "Achieve a merciless victory", hidden=False),
            SchemaAchievement("ACH_SECRET", "Secret", "", hidden=True),
            SchemaAchievement("ACH_ODD", "", "", hidden=True),
        ),
        stat_names=("DBD_BloodwebPoints", "DBD_MaxBloodwebPoints_float"),
    )


@pytest.mark.parametrize(
    "game",
    [{}, {"gameName": "x", "availableGameStats": None}, {"availableGameStats": {}}, {"gameName": 3}],
)
def test_schema_without_content_is_empty(game: dict[str, object]) -> None:
    """``{"game":{}}`` and its null or empty variants are an empty schema, not an error."""
    result = parse_schema(200, JSON, encode({"game": game}), NO_HEADERS)
    assert result.achievements == ()
    assert result.stat_names == ()
    assert result.game_name == (game["gameName"] if isinstance(game.get("gameName"), str) else "")


def test_global_percentages_values() -> None:
    """Numbers and numeric strings become floats; unusable or out-of-range percents are dropped."""
    body = encode(
        {
            "achievementpercentages": {
                "achievements": [
                    {"name": "ACH_A", "percent": 45.5},
                    {"name": "ACH_B", "percent": "12.300000190734863"},
                    {"name": "ACH_C", "percent": 3},
                    {"name": "ACH_D", "percent": "n/a"},
                    {"name": "ACH_E", "percent": True},
                    {"name": "ACH_F", "percent": None},
                    {"name": "ACH_G", "percent": "nan"},
                    {"name": "ACH_H", "percent": 100.5},
                    {"name": "ACH_I", "percent": -1},
                    {"name": "ACH_J", "percent": 10**400},
                    {"name": "ACH_K", "percent": "1" * 100},
                    {"name": "ACH_L", "percent": "0"},
                    {"percent": 50},
                ]
            }
        }
    )
    result = parse_global_percentages(200, JSON, body, NO_HEADERS)
    assert result == GlobalPercentages({"ACH_A": 45.5, "ACH_B": 12.300000190734863, "ACH_C": 3.0, "ACH_L": 0.0})
    assert all(type(value) is float for value in result.percents.values())


def test_player_summaries_values() -> None:
    """Summaries are keyed by id; visibility maps 1/2/3 and anything else to UNKNOWN; bad ids are dropped."""
    body = encode(
        {
            "response": {
                "players": [
                    {
                        "steamid": SID,
                        "communityvisibilitystate": 3,
                        "profilestate": 1,
                        "personaname": "Dwight",
                        "profileurl": f"https://steamcommunity.com/profiles/{SID}/",
                        "avatarfull": "https://avatars/x_full.jpg",
                    },
                    {"steamid": "76561197960265730", "communityvisibilitystate": 1, "personaname": "Meg"},
                    {"steamid": "76561197960265731", "communityvisibilitystate": 2},
                    {"steamid": 76561197960265732, "communityvisibilitystate": 7},
                    {"steamid": "76561197960265733", "communityvisibilitystate": "3", "personaname": None},
                    {"steamid": "76561197960265734", "communityvisibilitystate": True},
                    {"steamid": "not-an-id", "communityvisibilitystate": 3},
                    {"steamid": True},
                    {"personaname": "no id"},
                ]
            }
        }
    )
    result = parse_player_summaries(200, JSON, body, NO_HEADERS)
    assert result == {
        SID: PlayerSummary(
            SID,
            "Dwight",
            f"https://steamcommunity.com/profiles/{SID}/",
            "https://avatars/x_full.jpg",
            Visibility.PUBLIC,
        ),
        "76561197960265730": PlayerSummary("76561197960265730", "Meg", "", "", Visibility.PRIVATE),
        "76561197960265731": PlayerSummary("76561197960265731", "", "", "", Visibility.FRIENDS_ONLY),
        "76561197960265732": PlayerSummary("76561197960265732", "", "", "", Visibility.UNKNOWN),
        "76561197960265733": PlayerSummary("76561197960265733", "", "", "", Visibility.PUBLIC),
        "76561197960265734": PlayerSummary("76561197960265734", "", "", "", Visibility.UNKNOWN),
    }


@pytest.mark.parametrize("response", [{"players": []}, {"players": None}, {}])
def test_player_summaries_without_players_is_empty(response: dict[str, object]) -> None:
    """Unknown ids are simply missing: an empty, null or absent players list is an empty dict."""
    assert parse_player_summaries(200, JSON, encode({"response": response}), NO_HEADERS) == {}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"steamid": SID, "success": 1}, SID),
        ({"steamid": int(SID), "success": 1}, SID),
        ({"steamid": SID, "success": "1"}, SID),
        ({"steamid": SID, "success": 1.0}, SID),
    ],
)
def test_vanity_values(response: dict[str, object], expected: str) -> None:
    """A resolved vanity name yields the SteamID64 string, whether Steam sent it as a string or a number."""
    assert parse_vanity(200, JSON, encode({"response": response}), NO_HEADERS) == expected


def test_summary_error_carries_single_steam_id() -> None:
    """A profile failure is labelled with the one id asked for, when the caller passes it."""
    with pytest.raises(SteamServerError) as caught:
        parse_player_summaries(503, HTML, b"<html/>", NO_HEADERS, steam_id=SID)
    assert caught.value.steam_id == SID
