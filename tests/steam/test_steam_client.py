"""The Steam client against a real aiohttp server on loopback: the requests it sends and the answers it parses."""

from __future__ import annotations

import aiohttp
import pytest

from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.steam.errors import SteamNotFoundError
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
from tests.steam.steam_fake import (
    ACHIEVEMENTS_BODY,
    ACHIEVEMENTS_PATH,
    KEY,
    PROFILE_BODY,
    PROFILE_PATH,
    RARITY_BODY,
    RARITY_PATH,
    SCHEMA_BODY,
    SCHEMA_PATH,
    SID,
    SID2,
    STATS_BODY,
    STATS_PATH,
    VANITY_BODY,
    VANITY_PATH,
    FakeSteam,
    assert_key_hidden,
)


async def test_get_user_stats_sends_key_steamid_appid(fake: FakeSteam, client: SteamClient) -> None:
    """Stats are asked with key, steamid and appid, and parsed into UserStats."""
    fake.answer(STATS_PATH, STATS_BODY)
    result = await client.get_user_stats(SID)
    assert fake.requests == [(STATS_PATH, {"key": KEY, "steamid": SID, "appid": "381210"})]
    assert result == UserStats(
        SID, (StatValue("DBD_BloodwebPoints", 100), StatValue("DBD_MaxBloodwebPoints_float", 1.5))
    )


async def test_get_player_achievements_sends_key_steamid_appid(fake: FakeSteam, client: SteamClient) -> None:
    """Achievements are asked with key, steamid and appid, and parsed with unlock times."""
    fake.answer(ACHIEVEMENTS_PATH, ACHIEVEMENTS_BODY)
    result = await client.get_player_achievements(SID)
    assert fake.requests == [(ACHIEVEMENTS_PATH, {"key": KEY, "steamid": SID, "appid": "381210"})]
    assert result.steam_id == SID
    assert [(a.api_name, a.achieved, a.unlock_time is not None) for a in result.achievements] == [("ACH_A", True, True)]
    assert isinstance(result.achievements[0], PlayerAchievement)
    assert isinstance(result, PlayerAchievements)


async def test_get_schema_sends_key_appid_language(fake: FakeSteam, session: aiohttp.ClientSession) -> None:
    """The schema is asked with key, appid and l (the client's language)."""
    client = SteamClient(session, base_url=fake.base_url, api_key=KEY, app_id=480, language="french")
    fake.answer(SCHEMA_PATH, SCHEMA_BODY)
    result = await client.get_schema()
    assert fake.requests == [(SCHEMA_PATH, {"key": KEY, "appid": "480", "l": "french"})]
    assert result == GameSchema(
        "DeadByDaylight", (SchemaAchievement("ACH_A", "A", "d", hidden=False),), ("DBD_BloodwebPoints",)
    )


async def test_get_global_percentages_sends_gameid_without_key(fake: FakeSteam, client: SteamClient) -> None:
    """Rarity is asked with gameid (not appid) and no key at all."""
    fake.answer(RARITY_PATH, RARITY_BODY)
    result = await client.get_global_percentages()
    assert fake.requests == [(RARITY_PATH, {"gameid": "381210"})]
    assert result == GlobalPercentages({"ACH_A": 12.5})


async def test_get_player_summaries_sends_comma_joined_ids(fake: FakeSteam, client: SteamClient) -> None:
    """Summaries are asked with key and the distinct ids comma-joined; unknown ids are absent."""
    fake.answer(PROFILE_PATH, PROFILE_BODY)
    result = await client.get_player_summaries([SID, SID2, SID])
    assert fake.requests == [(PROFILE_PATH, {"key": KEY, "steamids": f"{SID},{SID2}"})]
    assert result == {SID: PlayerSummary(SID, "Dwight", "u", "a", Visibility.PUBLIC)}


async def test_get_player_summary_returns_the_one(fake: FakeSteam, client: SteamClient) -> None:
    """A single summary is returned when Steam knows the id."""
    fake.answer(PROFILE_PATH, PROFILE_BODY)
    assert (await client.get_player_summary(SID)).persona_name == "Dwight"
    assert fake.requests == [(PROFILE_PATH, {"key": KEY, "steamids": SID})]


async def test_get_player_summary_missing_is_not_found(fake: FakeSteam, client: SteamClient) -> None:
    """An id missing from GetPlayerSummaries raises SteamNotFoundError naming that id."""
    fake.answer(PROFILE_PATH, {"response": {"players": []}})
    with pytest.raises(SteamNotFoundError) as caught:
        await client.get_player_summary(SID)
    assert (caught.value.endpoint, caught.value.status, caught.value.steam_id) == ("profile", 200, SID)
    assert_key_hidden(caught.value)


async def test_resolve_vanity_sends_key_vanityurl(fake: FakeSteam, client: SteamClient) -> None:
    """A vanity name is resolved with key and vanityurl into the SteamID64."""
    fake.answer(VANITY_PATH, VANITY_BODY)
    assert await client.resolve_vanity("dwight_fairfield") == SID
    assert fake.requests == [(VANITY_PATH, {"key": KEY, "vanityurl": "dwight_fairfield"})]


async def test_resolve_vanity_no_match_is_not_found(fake: FakeSteam, client: SteamClient) -> None:
    """Steam's 200 "No match" (success 42) raises SteamNotFoundError."""
    fake.answer(VANITY_PATH, {"response": {"success": 42, "message": "No match"}})
    with pytest.raises(SteamNotFoundError) as caught:
        await client.resolve_vanity("nobody-here")
    assert (caught.value.endpoint, caught.value.status) == ("vanity", 200)


async def test_base_url_path_prefix_and_trailing_slash(fake: FakeSteam, session: aiohttp.ClientSession) -> None:
    """A base URL with a path prefix and trailing slash is honoured without doubling the slash."""
    client = SteamClient(session, base_url=f"{fake.base_url}/steam/", api_key=KEY)
    assert client.base_url == f"{fake.base_url}/steam"
    fake.answer("/steam" + VANITY_PATH, VANITY_BODY)
    assert await client.resolve_vanity("x1") == SID
