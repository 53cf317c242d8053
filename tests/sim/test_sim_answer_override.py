"""`SimState.override_answer`: an arbitrary answer for one endpoint, the hook of the hostile-body tests."""

from __future__ import annotations

import aiohttp
import pytest

from dbd_playerstats.sim import DEMO_STEAM_ID, Fault, FaultKind, RunningSimulator, SimState
from dbd_playerstats.sim.answers import Answer

ACHIEVEMENTS = "/ISteamUserStats/GetPlayerAchievements/v1/"
STATS = "/ISteamUserStats/GetUserStatsForGame/v2/"
PARAMS = {"key": "sim-key", "steamid": DEMO_STEAM_ID, "appid": "381210"}


async def get(http: aiohttp.ClientSession, path: str, params: dict[str, str] = PARAMS) -> tuple[int, str, bytes]:
    """(status, media type, body) of one GET."""
    async with http.get(path, params=params) as response:
        return response.status, response.content_type, await response.read()


async def test_override_is_sent_verbatim_for_its_endpoint_only(
    sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    """The overridden endpoint sends exactly the given status, type, body and headers, even without a key;
    other endpoints answer normally, and the request is still counted."""
    body = b'\x00\xff{"playerstats": [<html>'
    sim.state.override_answer("achievements", Answer(200, "application/json", body, (("X-Extra", "1"),)))
    async with http.get(ACHIEVEMENTS, params={"steamid": DEMO_STEAM_ID}) as response:
        assert (response.status, response.content_type, await response.read()) == (200, "application/json", body)
        assert response.headers["X-Extra"] == "1"
    status, _, stats_body = await get(http, STATS)
    assert status == 200
    assert stats_body.startswith(b'{"playerstats"')
    assert sim.state.count("achievements", DEMO_STEAM_ID) == 1


async def test_faults_come_before_the_override_and_none_removes_it(
    sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    """A scripted fault still answers first; None (or reset) brings Steam's own answer back."""
    sim.state.override_answer("achievements", Answer(200, "text/html", b"<html>down</html>"))
    sim.state.script("achievements", [Fault(FaultKind.HTTP_503)])
    assert (await get(http, ACHIEVEMENTS))[0] == 503
    assert await get(http, ACHIEVEMENTS) == (200, "text/html", b"<html>down</html>")
    sim.state.override_answer("achievements", None)
    assert (await get(http, ACHIEVEMENTS))[2].startswith(b'{"playerstats"')
    sim.state.override_answer("stats", Answer(500, "text/plain", b""))
    sim.state.reset()
    assert sim.state.answer_override("stats") is None


def test_override_names_a_known_endpoint() -> None:
    """An unknown endpoint name is refused, as everywhere in the simulator."""
    with pytest.raises(ValueError, match="unknown endpoint"):
        SimState().override_answer("nope", Answer(200, "application/json", b"{}"))
