"""The Steam client's construction, session lifetime, argument checks and repr, which never shows the key."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import aiohttp
import pytest

from dbd_playerstats.steam.client import SteamClient
from tests.steam.steam_fake import KEY, PROFILE_PATH, RARITY_BODY, RARITY_PATH, SID, VANITY_BODY, VANITY_PATH, FakeSteam


def test_repr_hides_the_key(session: aiohttp.ClientSession) -> None:
    """repr(client) shows where it calls but never the key."""
    client = SteamClient(session, base_url="https://api.steampowered.com/", api_key=KEY)
    assert KEY not in repr(client)
    assert KEY not in str(client)
    assert "https://api.steampowered.com" in repr(client)
    assert client.base_url == "https://api.steampowered.com"
    assert (client.app_id, client.language) == (381210, "english")


@pytest.mark.parametrize("base_url", ["api.steampowered.com", "ftp://h", "https://h/?key=x", "/relative"])
def test_invalid_base_url_is_refused(session: aiohttp.ClientSession, base_url: str) -> None:
    """A base URL that is not absolute http(s) without query is a ValueError at construction."""
    with pytest.raises(ValueError, match="base_url"):
        SteamClient(session, base_url=base_url, api_key=KEY)


async def test_borrowed_session_stays_open(fake: FakeSteam, session: aiohttp.ClientSession) -> None:
    """Leaving ``async with`` on a client given a session does not close that session."""
    async with SteamClient(session, base_url=fake.base_url, api_key=KEY) as client:
        fake.answer(VANITY_PATH, VANITY_BODY)
        assert await client.resolve_vanity("x1") == SID
    assert not session.closed


async def test_created_client_owns_and_closes_its_session(fake: FakeSteam) -> None:
    """A client from create() works, closes its own session on exit, and aclose() is idempotent."""
    fake.answer(RARITY_PATH, RARITY_BODY)
    async with await SteamClient.create(fake.base_url, KEY) as client:
        assert (await client.get_global_percentages()).percents == {"ACH_A": 12.5}
        assert "owns_session=True" in repr(client)
    assert client._session.closed
    await client.aclose()


async def test_create_refuses_bad_url_without_leaking_a_session() -> None:
    """create() with an invalid base URL raises ValueError (its session is closed, no unclosed warning)."""
    with pytest.raises(ValueError, match="base_url"):
        await SteamClient.create("not a url", KEY)


@pytest.mark.parametrize("steam_id", ["", "abc", "7656119796026572,9", " 76561197960265729", "٧٦٥", "1" * 21])
async def test_invalid_steam_id_is_refused_before_sending(fake: FakeSteam, client: SteamClient, steam_id: str) -> None:
    """Ids that are not decimal SteamID64 strings raise ValueError and send nothing."""
    with pytest.raises(ValueError, match="steam_id"):
        await client.get_user_stats(steam_id)
    with pytest.raises(ValueError, match="steam_id"):
        await client.get_player_summaries([SID, steam_id])
    assert fake.requests == []


async def test_summaries_argument_limits(fake: FakeSteam, client: SteamClient) -> None:
    """More than 100 distinct ids is a ValueError, one string a TypeError, no ids an empty answer; none is sent."""
    ids = [str(76561197960265729 + n) for n in range(101)]
    with pytest.raises(ValueError, match="100"):
        await client.get_player_summaries(ids)
    with pytest.raises(TypeError):
        await client.get_player_summaries(SID)
    assert await client.get_player_summaries([]) == {}
    assert fake.requests == []
    fake.answer(PROFILE_PATH, {"response": {"players": []}})
    assert await client.get_player_summaries(ids[:100] + ids[:5]) == {}
    assert len(fake.requests[0][1]["steamids"].split(",")) == 100


async def test_empty_vanity_is_refused(client: SteamClient) -> None:
    """An empty vanity name is a ValueError."""
    with pytest.raises(ValueError, match="vanity"):
        await client.resolve_vanity(" ")


def test_every_method_takes_a_keyword_timeout() -> None:
    """Every endpoint method accepts ``timeout`` as a keyword-only float | None defaulting to None."""
    methods: list[Callable[..., object]] = [
        SteamClient.get_user_stats,
        SteamClient.get_player_achievements,
        SteamClient.get_schema,
        SteamClient.get_global_percentages,
        SteamClient.get_player_summaries,
        SteamClient.get_player_summary,
        SteamClient.resolve_vanity,
    ]
    for method in methods:
        parameter = inspect.signature(method).parameters["timeout"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        assert parameter.default is None
