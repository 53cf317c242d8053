"""The simulator's data: the real DBD ids, the adept rules and deterministic players."""

from __future__ import annotations

import dbd_playerstats.sim as sim_package
from dbd_playerstats.sim import fixtures
from dbd_playerstats.sim.fixtures import PlayerKind, Role


def test_all_283_real_stat_ids_are_present_once() -> None:
    """The stat list is the 283 distinct ids of the real August 2025 response."""
    assert len(fixtures.STAT_IDS) == 283
    assert len(set(fixtures.STAT_IDS)) == 283
    assert {"DBD_KillerSkulls", "DBD_CamperSkulls", "DBD_FinishWithPerks_Idx268435495"} <= set(fixtures.STAT_IDS)


def test_adepts_are_84_with_roles_readable_from_the_description() -> None:
    """84 adepts (38 killers, 46 survivors) named "Adept <Character>"; killers say merciless, survivors escape."""
    adepts = fixtures.ADEPT_ACHIEVEMENTS
    assert len(adepts) == 84
    assert sum(a.adept_role is Role.KILLER for a in adepts) == 38
    assert sum(a.adept_role is Role.SURVIVOR for a in adepts) == 46
    for adept in adepts:
        assert adept.display_name.startswith("Adept ")
        assert adept.description is not None
        if adept.adept_role is Role.KILLER:
            assert "merciless victory" in adept.description
        else:
            assert adept.description.startswith("Escape with ")
    names = {a.display_name for a in adepts}
    assert {"Adept Onryō", "Adept Élodie", "Adept Good Guy", "Adept Bill"} <= names


def test_other_achievements_include_hidden_ones_without_description() -> None:
    """About thirty non-adept achievements exist, some hidden and lacking a description, none named Adept."""
    others = fixtures.OTHER_ACHIEVEMENTS
    assert 25 <= len(others) <= 35
    assert any(a.hidden and a.description is None for a in others)
    assert all(a.adept_role is None and not a.display_name.startswith("Adept") for a in others)
    api_names = [a.api_name for a in fixtures.ACHIEVEMENTS]
    assert len(api_names) == len(set(api_names))


def test_demo_player_matches_its_documented_profile() -> None:
    """The demo player has every stat, the documented grades and 30 adepts unlocked."""
    demo = fixtures.find_player(fixtures.DEMO_STEAM_ID)
    assert demo is not None
    stats = dict(demo.stats)
    assert list(stats) == list(fixtures.STAT_IDS)
    assert stats["DBD_KillerSkulls"] == 62
    assert stats["DBD_CamperSkulls"] == 87
    assert all(isinstance(v, float) == name.endswith("_float") for name, v in stats.items())
    adept_times = demo.unlock_times[: len(fixtures.ADEPT_ACHIEVEMENTS)]
    other_times = demo.unlock_times[len(fixtures.ADEPT_ACHIEVEMENTS) :]
    assert sum(1 for t in adept_times if t) == 30
    assert sum(1 for t in other_times if t) == len(fixtures.OTHER_ACHIEVEMENTS) // 2


def test_synthetic_players_are_deterministic_and_bounded() -> None:
    """Ids of the benchmark range give the same public player every time; ids just outside are unknown."""
    first = fixtures.synthetic_steam_id(0)
    last = fixtures.synthetic_steam_id(fixtures.SYNTHETIC_COUNT - 1)
    assert (first, last) == ("76561198100000000", "76561198100999999")
    player = fixtures.find_player("76561198100000123")
    assert player is not None
    assert player.persona_name == "Player 000123"
    assert player.vanity is None
    assert player.kind is PlayerKind.PUBLIC
    fixtures._synthetic_player.cache_clear()
    again = fixtures.find_player("76561198100000123")
    assert again == player
    assert fixtures.find_player("76561198101000000") is None
    assert fixtures.find_player("76561198099999999") is None


def test_vanity_names_resolve_case_insensitively() -> None:
    """Every fixture vanity resolves to its player, whatever the case; other names do not."""
    assert fixtures.resolve_vanity("demo") == fixtures.DEMO_STEAM_ID
    assert fixtures.resolve_vanity("Private_Player") == fixtures.PRIVATE_STEAM_ID
    assert fixtures.resolve_vanity("never_played") == fixtures.NEVER_PLAYED_STEAM_ID
    assert fixtures.resolve_vanity("fresh_player") == fixtures.FRESH_STEAM_ID
    assert fixtures.resolve_vanity("hidden_games") == fixtures.HIDDEN_GAMES_STEAM_ID
    assert fixtures.resolve_vanity("nobody_here") is None


def test_global_percentages_cover_every_achievement_with_some_strings() -> None:
    """Every achievement has a percentage; some are numeric strings, as Steam sometimes sends them."""
    entries = fixtures.GLOBAL_PERCENTAGES["achievementpercentages"]["achievements"]
    assert {e["name"] for e in entries} == {a.api_name for a in fixtures.ACHIEVEMENTS}
    assert any(isinstance(e["percent"], str) for e in entries)
    assert any(isinstance(e["percent"], float) for e in entries)
    assert all(0 <= float(e["percent"]) <= 100 for e in entries)


def test_public_surface_is_complete() -> None:
    """`__all__` lists exactly the public names the package defines."""
    public = {name for name in vars(sim_package) if not name.startswith("_")}
    modules = {"admin", "answers", "app", "faults", "fixtures", "server", "state", "steam_api", "main"}
    assert set(sim_package.__all__) == public - modules
