"""Parsing the `player` field: SteamID64, vanity name and profile URLs, and everything else refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbd_playerstats.domain.players import STEAM_ID64_BASE, SteamId, Vanity, normalise_steam_id, parse_player
from dbd_playerstats.errors import InvalidPlayerError

DEMO = "76561198000000001"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (DEMO, SteamId(DEMO)),
        (f"  {DEMO}\n", SteamId(DEMO)),
        ("demo", Vanity("demo")),
        ("Some_Name-42", Vanity("Some_Name-42")),
        (f"https://steamcommunity.com/profiles/{DEMO}/", SteamId(DEMO)),
        (f"http://www.steamcommunity.com/profiles/{DEMO}", SteamId(DEMO)),
        (f"steamcommunity.com/profiles/{DEMO}/stats/381210", SteamId(DEMO)),
        ("https://steamcommunity.com/id/demo/", Vanity("demo")),
        ("steamcommunity.com/id/demo", Vanity("demo")),
        ("HTTPS://SteamCommunity.com/id/demo?l=en", Vanity("demo")),
    ],
)
def test_accepted_forms(raw: str, expected: object) -> None:
    """Every documented form of the player field parses to the same identity."""
    assert parse_player(raw) == expected


def test_instance_bits_are_normalised() -> None:
    """A SteamID64 with instance 0 names the same account as instance 1 (the Web API ignores the instance)."""
    instance_zero = str(int(DEMO) - (1 << 32))
    assert normalise_steam_id(instance_zero) == SteamId(DEMO)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "a",
        "x" * 33,
        "name with spaces",
        "émile",
        str(STEAM_ID64_BASE),  # account id 0
        "76561202255233024",  # beyond the last individual account: type bits change
        "99999999999999999",
        "12345678901234567890",
        "103582791429521408",  # a group (type 7)
        "https://evil.example.com/profiles/76561198000000001",
        "https://steamcommunity.com.evil.com/id/demo",
        "https://user:pw@steamcommunity.com/id/demo",
        "https://steamcommunity.com:8443/id/demo",
        "https://steamcommunity.com/groups/demo",
        "https://steamcommunity.com/id/",
        "https://steamcommunity.com/id/bad name",
        "https://steamcommunity.com/profiles/notanumber",
        "javascript:alert(1)",
        "ftp://steamcommunity.com/id/demo",
        "x" * 10_000,
    ],
)
def test_rejected_forms(raw: str) -> None:
    """Anything that cannot name a Steam individual account is INVALID_ARGUMENT material."""
    with pytest.raises(InvalidPlayerError) as info:
        parse_player(raw)
    assert len(info.value.message) < 300


@given(st.text(max_size=400))
def test_any_text_either_parses_or_raises_invalid_player(raw: str) -> None:
    """No input makes the parser raise anything but InvalidPlayerError."""
    try:
        ref = parse_player(raw)
    except InvalidPlayerError:
        return
    assert isinstance(ref, SteamId | Vanity)
    if isinstance(ref, SteamId):
        assert STEAM_ID64_BASE < int(ref.value) <= STEAM_ID64_BASE + 2**32 - 1 + (1 << 32)


@given(st.integers(min_value=1, max_value=2**32 - 1))
def test_every_individual_account_id_round_trips(account_id: int) -> None:
    """Each account id's SteamID64 is accepted unchanged."""
    raw = str(STEAM_ID64_BASE + account_id)
    assert parse_player(raw) == SteamId(raw)
