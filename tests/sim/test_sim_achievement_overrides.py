"""Per-player achievement overrides: what GetPlayerAchievements answers, set from Python or the admin API."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from dbd_playerstats.sim import DEMO_STEAM_ID, FRESH_STEAM_ID, RunningSimulator, SimState
from dbd_playerstats.sim.fixtures import ACHIEVEMENTS, FIXED_PLAYERS

ACHIEVEMENTS_PATH = "/ISteamUserStats/GetPlayerAchievements/v1/"


async def achievements(http: aiohttp.ClientSession, steam_id: str) -> dict[str, dict[str, Any]]:
    """GetPlayerAchievements for `steam_id`, by api name."""
    params = {"key": "sim-key", "steamid": steam_id, "appid": "381210"}
    async with http.get(ACHIEVEMENTS_PATH, params=params) as response:
        assert response.status == 200
        body = await response.json()
    return {entry["apiname"]: entry for entry in body["playerstats"]["achievements"]}


def demo_unlocked() -> list[str]:
    """Api names the demo fixture has unlocked."""
    player = FIXED_PLAYERS[DEMO_STEAM_ID]
    return [a.api_name for a, when in zip(ACHIEVEMENTS, player.unlock_times, strict=True) if when]


async def test_python_overrides_lock_unlock_and_omit(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """Overrides lock an unlocked achievement, unlock a locked one at a given time and leave one out, for one player."""
    locked, omitted = demo_unlocked()[:2]
    newly = next(a.api_name for a in ACHIEVEMENTS if a.api_name not in demo_unlocked())
    sim.state.override_achievements(DEMO_STEAM_ID, {locked: 0, omitted: None, newly: 1_754_000_000})
    entries = await achievements(http, DEMO_STEAM_ID)
    assert entries[locked]["achieved"] == 0
    assert entries[locked]["unlocktime"] == 0
    assert omitted not in entries
    assert (entries[newly]["achieved"], entries[newly]["unlocktime"]) == (1, 1_754_000_000)
    assert len(entries) == len(ACHIEVEMENTS) - 1
    assert len(await achievements(http, FRESH_STEAM_ID)) == len(ACHIEVEMENTS)


async def test_admin_api_sets_and_clears_overrides(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """POST /_sim/achievements sets a player's overrides, `{}` clears them, and reset() forgets them."""
    name = demo_unlocked()[0]
    body = {"steam_id": DEMO_STEAM_ID, "overrides": {name: None}}
    async with http.post("/_sim/achievements", json=body) as response:
        assert (response.status, await response.json()) == (200, {"steam_id": DEMO_STEAM_ID, "overrides": 1})
    assert name not in await achievements(http, DEMO_STEAM_ID)
    async with http.post("/_sim/achievements", json={"steam_id": DEMO_STEAM_ID, "overrides": {}}) as response:
        assert (await response.json())["overrides"] == 0
    assert name in await achievements(http, DEMO_STEAM_ID)
    sim.state.override_achievements(DEMO_STEAM_ID, {name: 0})
    sim.state.reset()
    assert sim.state.achievement_overrides(DEMO_STEAM_ID) == {}


@pytest.mark.parametrize(
    "body",
    [
        {"steam_id": "", "overrides": {}},
        {"steam_id": DEMO_STEAM_ID, "overrides": []},
        {"steam_id": DEMO_STEAM_ID, "overrides": {"ACH_X": -1}},
        {"steam_id": DEMO_STEAM_ID, "overrides": {"ACH_X": "soon"}},
    ],
)
async def test_admin_api_rejects_malformed_overrides(http: aiohttp.ClientSession, body: dict[str, Any]) -> None:
    """A malformed override request is a 400 with an error message and changes nothing."""
    async with http.post("/_sim/achievements", json=body) as response:
        assert response.status == 400
        assert "error" in await response.json()


def test_override_validation_in_python() -> None:
    """The Python API refuses negative or non-integer unlock times and empty names."""
    state = SimState()
    with pytest.raises(ValueError, match="epoch seconds"):
        state.override_achievements(DEMO_STEAM_ID, {"ACH_X": -5})
    with pytest.raises(ValueError, match="non-empty"):
        state.override_achievements(DEMO_STEAM_ID, {"": 0})
    assert state.achievement_overrides(DEMO_STEAM_ID) == {}
