"""SimState over the wire: counters, latency, the request log, and reset to the start-up configuration."""

from __future__ import annotations

import time

import aiohttp
import pytest

from dbd_playerstats.sim import (
    DEMO_STEAM_ID,
    FRESH_STEAM_ID,
    PRIVATE_STEAM_ID,
    FaultKind,
    RunningSimulator,
    SimState,
    StatsVariant,
    Variants,
    running_simulator,
)

KEY = "sim-key"
STATS = "/ISteamUserStats/GetUserStatsForGame/v2/"
ACHIEVEMENTS = "/ISteamUserStats/GetPlayerAchievements/v1/"
PROFILE = "/ISteamUser/GetPlayerSummaries/v2/"
SCHEMA = "/ISteamUserStats/GetSchemaForGame/v2/"


async def status_of(http: aiohttp.ClientSession, path: str, **params: str) -> int:
    """GET and return only the status."""
    async with http.get(path, params=params) as response:
        await response.read()
        return response.status


async def stats(http: aiohttp.ClientSession, steam_id: str, key: str = KEY) -> int:
    """Status of GetUserStatsForGame for `steam_id`."""
    return await status_of(http, STATS, key=key, steamid=steam_id, appid="381210")


async def test_counts_per_endpoint_and_per_player(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """Every request is counted per endpoint and per player, whatever it was answered."""
    await stats(http, DEMO_STEAM_ID)
    await stats(http, DEMO_STEAM_ID, key="wrong")
    await stats(http, PRIVATE_STEAM_ID)
    await status_of(http, ACHIEVEMENTS, key=KEY, steamid=DEMO_STEAM_ID, appid="381210")
    sim.state.script("schema", [FaultKind.HTTP_503])
    await status_of(http, SCHEMA, key=KEY, appid="381210")
    assert sim.state.count("stats") == 3
    assert sim.state.count("stats", DEMO_STEAM_ID) == 2
    assert sim.state.count("stats", PRIVATE_STEAM_ID) == 1
    assert sim.state.count("achievements", DEMO_STEAM_ID) == 1
    assert sim.state.count(steam_id=DEMO_STEAM_ID) == 3
    assert sim.state.count("schema") == 1
    assert sim.state.counts() == {
        "stats": 3,
        "achievements": 1,
        "schema": 1,
        "rarity": 0,
        "profile": 0,
        "vanity": 0,
        "total": 5,
    }


async def test_profile_batch_counts_once_per_player(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """A GetPlayerSummaries batch is one profile request, counted for each distinct id in it."""
    await status_of(http, PROFILE, key=KEY, steamids=f"{DEMO_STEAM_ID},{FRESH_STEAM_ID},{DEMO_STEAM_ID}")
    assert sim.state.count("profile") == 1
    assert sim.state.count("profile", DEMO_STEAM_ID) == 1
    assert sim.state.count("profile", FRESH_STEAM_ID) == 1


def test_unknown_endpoint_names_are_rejected() -> None:
    """Counters, latency and scripts refuse names that are not one of the six endpoints."""
    state = SimState()
    with pytest.raises(ValueError, match="unknown endpoint"):
        state.count("players")
    with pytest.raises(ValueError, match="unknown endpoint"):
        state.set_latency("GetUserStatsForGame", 1.0)
    with pytest.raises(ValueError, match="unknown endpoint"):
        state.script("stat", [FaultKind.HTTP_503])


async def test_latency_delays_every_answer_of_its_endpoint(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """A configured latency delays the answer by at least that long, faults and errors included."""
    sim.state.set_latency("stats", 0.2)
    for key in (KEY, "wrong"):
        started = time.monotonic()
        await stats(http, DEMO_STEAM_ID, key=key)
        assert time.monotonic() - started >= 0.2
    assert sim.state.latency("achievements") == 0.0


async def test_request_log_records_each_answer(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """The log holds (monotonic time, endpoint, steam id, status) per request, oldest first."""
    before = time.monotonic()
    await stats(http, DEMO_STEAM_ID)
    sim.state.script("stats", [FaultKind.RATE_LIMIT])
    await stats(http, FRESH_STEAM_ID)
    await status_of(http, PROFILE, key=KEY, steamids=f"{DEMO_STEAM_ID},{FRESH_STEAM_ID}")
    records = sim.state.requests()
    assert [(r.endpoint, r.steam_id, r.status) for r in records] == [
        ("stats", DEMO_STEAM_ID, 200),
        ("stats", FRESH_STEAM_ID, 429),
        ("profile", f"{DEMO_STEAM_ID},{FRESH_STEAM_ID}", 200),
    ]
    times = [r.time for r in records]
    assert before <= times[0] <= times[1] <= times[2] <= time.monotonic()


async def test_request_log_is_bounded() -> None:
    """Only the newest `log_size` records are kept."""
    async with (
        running_simulator(SimState(log_size=3)) as sim,
        aiohttp.ClientSession(base_url=sim.base_url) as http,
    ):
        for _ in range(5):
            await stats(http, DEMO_STEAM_ID)
        assert len(sim.state.requests()) == 3
        assert sim.state.count("stats") == 5


def test_reset_returns_to_the_start_up_configuration() -> None:
    """reset() keeps the constructor's latency, keys and variants but drops run-time changes, scripts and counts."""
    state = SimState(
        valid_keys={"k1"},
        latency={"stats": 0.05},
        variants=Variants(private_stats=StatsVariant.EMPTY400),
    )
    state.set_latency("stats", 1.0)
    state.set_latency("profile", 2.0)
    state.set_valid_keys({"other"})
    state.set_variants(private_stats=StatsVariant.NO_STATS200)
    state.script("stats", [FaultKind.HTTP_503])
    state.record_request("stats", (DEMO_STEAM_ID,))
    state.log_answer("stats", DEMO_STEAM_ID, 200)
    state.reset()
    assert state.latency("stats") == 0.05
    assert state.latency("profile") == 0.0
    assert state.valid_keys == {"k1"}
    assert state.variants.private_stats is StatsVariant.EMPTY400
    assert state.pending("stats") == ()
    assert state.count() == 0
    assert state.requests() == ()


def test_set_variants_changes_only_the_given_ones() -> None:
    """set_variants leaves the variants it is not given unchanged."""
    state = SimState()
    state.set_variants(unknown_stats=StatsVariant.NO_STATS200)
    assert state.variants == Variants(
        private_stats=StatsVariant.HTML500,
        never_played_stats=StatsVariant.EMPTY400,
        unknown_stats=StatsVariant.NO_STATS200,
    )


async def test_running_simulator_reports_its_address() -> None:
    """running_simulator binds a free port and its base_url is that port on 127.0.0.1."""
    state = SimState()
    async with running_simulator(state) as sim:
        assert sim.state is state
        assert sim.port > 0
        assert sim.base_url == f"http://127.0.0.1:{sim.port}"
