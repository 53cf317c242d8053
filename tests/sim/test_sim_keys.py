"""API key checks: Steam's 400 page for a missing key, its 403 page for an unknown one, none for rarity."""

from __future__ import annotations

import aiohttp
import pytest

from dbd_playerstats.sim import DEMO_STEAM_ID, RunningSimulator, SimState, running_simulator

KEYED_PATHS = [
    ("/ISteamUserStats/GetUserStatsForGame/v2/", {"steamid": DEMO_STEAM_ID, "appid": "381210"}),
    ("/ISteamUserStats/GetPlayerAchievements/v1/", {"steamid": DEMO_STEAM_ID, "appid": "381210"}),
    ("/ISteamUserStats/GetSchemaForGame/v2/", {"appid": "381210"}),
    ("/ISteamUser/GetPlayerSummaries/v2/", {"steamids": DEMO_STEAM_ID}),
    ("/ISteamUser/ResolveVanityURL/v1/", {"vanityurl": "demo"}),
]
RARITY = "/ISteamUserStats/GetGlobalAchievementPercentagesForApp/v2/"
FORBIDDEN_PAGE = (
    "<html><head><title>Forbidden</title></head><body><h1>Forbidden</h1>Access is denied. "
    "Retrying will not help. Please verify your <pre>key=</pre> parameter.</body></html>"
)


async def fetch(http: aiohttp.ClientSession, path: str, params: dict[str, str]) -> tuple[int, str, str]:
    """GET and return (status, media type, body text)."""
    async with http.get(path, params=params) as response:
        return response.status, response.content_type, await response.text()


@pytest.mark.parametrize(("path", "params"), KEYED_PATHS)
async def test_missing_key_is_a_400_page(http: aiohttp.ClientSession, path: str, params: dict[str, str]) -> None:
    """Without `key`, every keyed endpoint answers Steam's 400 HTML page saying the key is missing."""
    status, media_type, text = await fetch(http, path, params)
    assert (status, media_type) == (400, "text/html")
    assert "<title>Bad Request</title>" in text
    assert "parameter 'key' is missing" in text


@pytest.mark.parametrize(("path", "params"), KEYED_PATHS)
async def test_wrong_key_is_steams_403_page(http: aiohttp.ClientSession, path: str, params: dict[str, str]) -> None:
    """An unknown key gets Steam's exact 403 "verify your key" page."""
    status, media_type, text = await fetch(http, path, {**params, "key": "not-a-key"})
    assert (status, media_type, text) == (403, "text/html", FORBIDDEN_PAGE)


async def test_rarity_ignores_the_key(http: aiohttp.ClientSession) -> None:
    """Global percentages are served with no key and with a wrong one."""
    assert (await fetch(http, RARITY, {"gameid": "381210"}))[0] == 200
    assert (await fetch(http, RARITY, {"gameid": "381210", "key": "not-a-key"}))[0] == 200


async def test_configured_keys_replace_the_default() -> None:
    """A simulator built with other keys accepts them and refuses the default `sim-key`."""
    async with (
        running_simulator(SimState(valid_keys={"k1", "k2"})) as sim,
        aiohttp.ClientSession(base_url=sim.base_url) as http,
    ):
        path, params = KEYED_PATHS[2]
        assert (await fetch(http, path, {**params, "key": "k2"}))[0] == 200
        assert (await fetch(http, path, {**params, "key": "sim-key"}))[0] == 403


async def test_keys_can_be_revoked_at_run_time(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """After `set_valid_keys`, the old key is refused like a revoked one."""
    path, params = KEYED_PATHS[0]
    assert (await fetch(http, path, {**params, "key": "sim-key"}))[0] == 200
    sim.state.set_valid_keys({"rotated"})
    assert (await fetch(http, path, {**params, "key": "sim-key"}))[0] == 403
    assert (await fetch(http, path, {**params, "key": "rotated"}))[0] == 200
