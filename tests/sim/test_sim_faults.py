"""Fault injection: every fault kind on the wire, scripted queues, player-restricted faults, seeded error rates."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from dbd_playerstats.sim import (
    DEMO_STEAM_ID,
    FRESH_STEAM_ID,
    ErrorRate,
    Fault,
    FaultKind,
    RunningSimulator,
    SimState,
    running_simulator,
)
from tests.support import until

KEY = "sim-key"
STATS = "/ISteamUserStats/GetUserStatsForGame/v2/"
ACHIEVEMENTS = "/ISteamUserStats/GetPlayerAchievements/v1/"
PROFILE = "/ISteamUser/GetPlayerSummaries/v2/"
OTHER_STEAM_ID = "76561198100000007"
CALLS = {
    "stats": (STATS, {"key": KEY, "steamid": DEMO_STEAM_ID, "appid": "381210"}),
    "achievements": (ACHIEVEMENTS, {"key": KEY, "steamid": DEMO_STEAM_ID, "appid": "381210"}),
    "schema": ("/ISteamUserStats/GetSchemaForGame/v2/", {"key": KEY, "appid": "381210"}),
    "rarity": ("/ISteamUserStats/GetGlobalAchievementPercentagesForApp/v2/", {"gameid": "381210"}),
    "profile": (PROFILE, {"key": KEY, "steamids": DEMO_STEAM_ID}),
    "vanity": ("/ISteamUser/ResolveVanityURL/v1/", {"key": KEY, "vanityurl": "demo"}),
}


async def call(
    http: aiohttp.ClientSession, endpoint: str = "stats", steam_id: str | None = None
) -> tuple[int, str, bytes, dict[str, str]]:
    """Call `endpoint` (about `steam_id` when given); return (status, media type, body, headers)."""
    path, params = CALLS[endpoint]
    if steam_id is not None:
        params = {**params, ("steamids" if endpoint == "profile" else "steamid"): steam_id}
    async with http.get(path, params=params) as response:
        return response.status, response.content_type, await response.read(), dict(response.headers)


async def statuses(http: aiohttp.ClientSession, n: int, endpoint: str = "stats") -> list[int]:
    """Statuses of `n` sequential calls to `endpoint`."""
    return [(await call(http, endpoint))[0] for _ in range(n)]


@pytest.mark.parametrize(
    ("kind", "status", "fragment"),
    [
        (FaultKind.HTTP_500, 500, b"<h1>Internal Server Error</h1>"),
        (FaultKind.HTTP_502, 502, b"<h1>Bad Gateway</h1>"),
        (FaultKind.HTTP_503, 503, b"<h1>Service Unavailable</h1>"),
        (FaultKind.HTML_200, 200, b"maintenance"),
        (FaultKind.RATE_LIMIT, 429, b"<h1>Too Many Requests</h1>"),
        (FaultKind.BAD_KEY, 403, b"Retrying will not help. Please verify your <pre>key=</pre> parameter."),
    ],
)
async def test_html_faults(
    sim: RunningSimulator, http: aiohttp.ClientSession, kind: FaultKind, status: int, fragment: bytes
) -> None:
    """Each HTML fault answers its status with a text/html page like Steam's, then answers are normal."""
    sim.state.script("stats", [Fault(kind)])
    got_status, media_type, body, headers = await call(http)
    assert (got_status, media_type) == (status, "text/html")
    assert fragment in body
    assert "Retry-After" not in headers
    assert (await call(http))[0] == 200


@pytest.mark.parametrize("retry_after", ["2", "Wed, 21 Oct 2026 07:28:00 GMT"])
async def test_rate_limit_sends_retry_after_verbatim(
    sim: RunningSimulator, http: aiohttp.ClientSession, retry_after: str
) -> None:
    """A rate_limit fault with `retry_after` sends it unchanged as the Retry-After header of a 429."""
    sim.state.script("stats", [Fault(FaultKind.RATE_LIMIT, retry_after=retry_after)])
    status, _, _, headers = await call(http)
    assert status == 429
    assert headers["Retry-After"] == retry_after


async def test_truncated_json_is_the_real_body_cut_in_half(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """truncated_json answers 200 application/json with the first half of the real body, which does not parse."""
    _, _, real, _ = await call(http)
    sim.state.script("stats", [FaultKind.TRUNCATED_JSON])
    status, media_type, body, _ = await call(http)
    assert (status, media_type) == (200, "application/json")
    assert body == real[: len(real) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


async def test_malformed_json_does_not_parse(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """malformed_json answers 200 application/json whose text is not JSON."""
    sim.state.script("stats", [FaultKind.MALFORMED_JSON])
    status, media_type, body, _ = await call(http)
    assert (status, media_type) == (200, "application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


@pytest.mark.parametrize("endpoint", list(CALLS))
async def test_wrong_shape_is_valid_json_of_the_wrong_type(
    sim: RunningSimulator, http: aiohttp.ClientSession, endpoint: str
) -> None:
    """wrong_shape answers 200 JSON whose expected top-level member is not an object."""
    _, _, real, _ = await call(http, endpoint)
    (top_key,) = json.loads(real)
    sim.state.script(endpoint, [FaultKind.WRONG_SHAPE])
    status, media_type, body, _ = await call(http, endpoint)
    assert (status, media_type) == (200, "application/json")
    parsed = json.loads(body)
    assert list(parsed) == [top_key]
    assert not isinstance(parsed[top_key], dict)


async def test_reset_closes_the_connection_without_a_byte(sim: RunningSimulator) -> None:
    """reset closes the TCP connection without sending any response bytes."""
    sim.state.script("stats", [FaultKind.RESET])
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    path, params = CALLS["stats"]
    query = "&".join(f"{name}={value}" for name, value in params.items())
    writer.write(f"GET {path}?{query} HTTP/1.1\r\nHost: steam\r\n\r\n".encode())
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""
    writer.close()
    assert [record.status for record in sim.state.requests()] == [0]


async def test_reset_surfaces_as_a_disconnect_in_aiohttp(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """aiohttp retries a GET once after a disconnect, so two queued resets surface as ServerDisconnectedError."""
    sim.state.script("stats", [FaultKind.RESET, FaultKind.RESET])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http)
    assert sim.state.count("stats") == 2
    assert (await call(http))[0] == 200


async def test_timeout_stalls_past_a_short_client_timeout(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """A timeout fault holds the answer long enough for a short client timeout to fire; the next call is normal."""
    sim.state.script("stats", [Fault(FaultKind.TIMEOUT, stall_seconds=5.0)])
    path, params = CALLS["stats"]
    with pytest.raises(TimeoutError):
        async with http.get(path, params=params, timeout=aiohttp.ClientTimeout(total=0.2)) as response:
            await response.read()
    assert (await call(http))[0] == 200
    # The abandoned handler is cancelled (and logged) once the server notices the disconnect.
    await until(lambda: len(sim.state.requests()) == 2, "the abandoned request was logged")
    assert sorted(record.status for record in sim.state.requests()) == [0, 200]


async def test_timeout_answers_normally_after_the_stall(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """A client that waits out the stall gets the normal answer, no sooner than `stall_seconds`."""
    sim.state.script("stats", [Fault(FaultKind.TIMEOUT, stall_seconds=0.3)])
    started = time.monotonic()
    status, _, body, _ = await call(http)
    assert time.monotonic() - started >= 0.3
    assert status == 200
    assert json.loads(body)["playerstats"]["steamID"] == DEMO_STEAM_ID


async def test_scripted_faults_are_consumed_in_order(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """A script answers the next requests with its faults in order, then every answer is normal."""
    sim.state.script("stats", [FaultKind.HTTP_503, Fault(FaultKind.RATE_LIMIT, retry_after="1"), FaultKind.HTTP_500])
    assert await statuses(http, 5) == [503, 429, 500, 200, 200]
    assert sim.state.pending("stats") == ()


async def test_scripts_are_per_endpoint(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """A fault scripted for stats leaves the other endpoints alone."""
    sim.state.script("stats", [FaultKind.HTTP_503])
    assert (await call(http, "achievements"))[0] == 200
    assert (await call(http, "profile"))[0] == 200
    assert (await call(http, "stats"))[0] == 503


async def test_player_restricted_script_hits_only_that_player(
    sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    """A script restricted to one steam id fails only that player's requests to that endpoint."""
    sim.state.script("stats", [FaultKind.HTTP_503], steam_id=DEMO_STEAM_ID)
    assert (await call(http, "stats", OTHER_STEAM_ID))[0] == 200
    assert (await call(http, "achievements", DEMO_STEAM_ID))[0] == 200
    assert (await call(http, "stats", DEMO_STEAM_ID))[0] == 503
    assert (await call(http, "stats", DEMO_STEAM_ID))[0] == 200


async def test_player_faults_and_global_faults_are_consumed_independently(
    sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    """A request takes the first queued fault it matches, skipping faults reserved for another player."""
    sim.state.script("stats", [FaultKind.HTTP_500], steam_id=DEMO_STEAM_ID)
    sim.state.script("stats", [FaultKind.HTTP_502])
    assert (await call(http, "stats", OTHER_STEAM_ID))[0] == 502
    assert (await call(http, "stats", OTHER_STEAM_ID))[0] == 200
    assert (await call(http, "stats", DEMO_STEAM_ID))[0] == 500


async def test_profile_fault_matches_a_batch_containing_the_player(
    sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    """A profile fault restricted to one id hits a GetPlayerSummaries batch only when the id is in it."""
    sim.state.script("profile", [FaultKind.HTTP_503], steam_id=DEMO_STEAM_ID)
    assert (await call(http, "profile", FRESH_STEAM_ID))[0] == 200
    assert (await call(http, "profile", f"{FRESH_STEAM_ID},{DEMO_STEAM_ID}"))[0] == 503


async def test_error_rate_is_reproducible_with_a_seed() -> None:
    """The same seed gives the same sequence of faulted and normal answers, in a new simulator or after reset."""
    rate = ErrorRate(Fault(FaultKind.HTTP_503), probability=0.5, seed=7)
    runs: list[list[int]] = []
    for _ in range(2):
        async with (
            running_simulator(SimState(error_rates={"stats": rate})) as sim,
            aiohttp.ClientSession(base_url=sim.base_url) as http,
        ):
            runs.append(await statuses(http, 30))
            sim.state.reset()
            runs.append(await statuses(http, 30))
    assert runs[0] == runs[1] == runs[2] == runs[3]
    assert set(runs[0]) == {200, 503}


async def test_different_seeds_give_different_sequences(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """Changing the seed changes which requests fail."""
    sim.state.set_error_rate("stats", ErrorRate(Fault(FaultKind.HTTP_503), 0.5, seed=1))
    first = await statuses(http, 30)
    sim.state.set_error_rate("stats", ErrorRate(Fault(FaultKind.HTTP_503), 0.5, seed=2))
    assert await statuses(http, 30) != first


async def test_scripted_faults_take_precedence_over_the_error_rate(
    sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    """While a script is pending it decides the answer; the error rate applies to the other requests."""
    sim.state.set_error_rate("stats", ErrorRate(Fault(FaultKind.HTTP_502), probability=1.0))
    sim.state.script("stats", [FaultKind.RATE_LIMIT])
    assert await statuses(http, 3) == [429, 502, 502]
    sim.state.set_error_rate("stats", None)
    assert await statuses(http, 1) == [200]


def test_fault_values_are_validated() -> None:
    """Retry-After only fits rate_limit, stalls cannot be negative and probabilities stay in [0, 1]."""
    with pytest.raises(ValueError, match="retry_after"):
        Fault(FaultKind.HTTP_503, retry_after="1")
    with pytest.raises(ValueError, match="stall_seconds"):
        Fault(FaultKind.TIMEOUT, stall_seconds=-1)
    with pytest.raises(ValueError, match="probability"):
        ErrorRate(Fault(FaultKind.HTTP_503), probability=1.5)
    assert Fault.from_json({"kind": "timeout", "stall_seconds": 2}) == Fault(FaultKind.TIMEOUT, stall_seconds=2.0)
    with pytest.raises(ValueError, match="unknown fault fields"):
        Fault.from_json({"kind": "http_503", "status": 503})
