"""The /_sim/ admin API drives the same state as the Python API, for simulators in another process."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from dbd_playerstats.sim import DEMO_STEAM_ID, PRIVATE_STEAM_ID, FaultKind, RunningSimulator, StatsVariant

KEY = "sim-key"
STATS = "/ISteamUserStats/GetUserStatsForGame/v2/"


async def stats(http: aiohttp.ClientSession, steam_id: str = DEMO_STEAM_ID, key: str = KEY) -> int:
    """Status of GetUserStatsForGame for `steam_id`."""
    async with http.get(STATS, params={"key": key, "steamid": steam_id, "appid": "381210"}) as response:
        await response.read()
        return response.status


async def admin(http: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Call an admin endpoint; return (status, parsed JSON)."""
    async with http.request(method, path, json=body) as response:
        return response.status, await response.json()


async def test_counts_and_requests(http: aiohttp.ClientSession) -> None:
    """GET counts and requests report Steam calls only, never admin calls."""
    await stats(http)
    await stats(http, PRIVATE_STEAM_ID)
    status, counts = await admin(http, "GET", "/_sim/counts")
    assert status == 200
    assert counts["stats"] == 2
    assert counts["total"] == 2
    _, only_demo = await admin(http, "GET", f"/_sim/counts?steam_id={DEMO_STEAM_ID}")
    assert only_demo["stats"] == 1
    _, log = await admin(http, "GET", "/_sim/requests")
    assert [(r["endpoint"], r["steam_id"], r["status"]) for r in log["requests"]] == [
        ("stats", DEMO_STEAM_ID, 200),
        ("stats", PRIVATE_STEAM_ID, 500),
    ]
    assert all(r["time"] <= log["now"] for r in log["requests"])


async def test_faults_are_scripted_through_the_admin_api(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """POST faults queues them in order, optionally for one player, with their parameters."""
    body = {"endpoint": "stats", "faults": [{"kind": "http_503"}, {"kind": "rate_limit", "retry_after": "1"}]}
    assert await admin(http, "POST", "/_sim/faults", {**body, "steam_id": None}) == (200, {"pending": 2})
    assert sim.state.pending("stats")[1].retry_after == "1"
    restricted = {"endpoint": "stats", "faults": [{"kind": "http_500"}], "steam_id": PRIVATE_STEAM_ID}
    assert await admin(http, "POST", "/_sim/faults", restricted) == (200, {"pending": 3})
    assert [await stats(http) for _ in range(3)] == [503, 429, 200]
    assert await stats(http, PRIVATE_STEAM_ID, key="wrong") == 500


async def test_error_rate_latency_keys_and_variants(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """POST error-rate, latency, keys and variants change the live configuration, visible in GET config."""
    rate = {"endpoint": "stats", "kind": "http_503", "probability": 1.0, "seed": 1}
    assert (await admin(http, "POST", "/_sim/error-rate", rate))[0] == 200
    assert await stats(http) == 503
    assert (await admin(http, "POST", "/_sim/error-rate", {**rate, "probability": 0}))[0] == 200
    assert await stats(http) == 200
    status, latency = await admin(http, "POST", "/_sim/latency", {"stats": 0.01, "profile": 0.02})
    assert status == 200
    assert (latency["stats"], latency["profile"], latency["schema"]) == (0.01, 0.02, 0.0)
    assert await admin(http, "POST", "/_sim/keys", {"valid": ["k1"]}) == (200, {"valid": ["k1"]})
    assert await stats(http) == 403
    assert await stats(http, key="k1") == 200
    status, variants = await admin(http, "POST", "/_sim/variants", {"private_stats": "empty400"})
    assert status == 200
    assert variants["private_stats"] == "empty400"
    assert await stats(http, PRIVATE_STEAM_ID, key="k1") == 400
    _, config = await admin(http, "GET", "/_sim/config")
    assert config["valid_keys"] == ["k1"]
    assert config["latency"]["profile"] == 0.02
    assert config["variants"]["private_stats"] == "empty400"
    assert sim.state.variants.private_stats is StatsVariant.EMPTY400


async def test_reset_clears_everything_set_at_run_time(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """POST reset drops admin-made changes, scripts, counters and the log."""
    await admin(http, "POST", "/_sim/keys", {"valid": ["k1"]})
    await admin(http, "POST", "/_sim/faults", {"endpoint": "schema", "faults": [{"kind": "reset"}]})
    await stats(http)
    assert await admin(http, "POST", "/_sim/reset") == (200, {"ok": True})
    assert sim.state.count() == 0
    assert sim.state.pending("schema") == ()
    assert await stats(http) == 200
    _, log = await admin(http, "GET", "/_sim/requests")
    assert len(log["requests"]) == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_sim/latency", {"statz": 1}),
        ("/_sim/latency", {"stats": "slow"}),
        ("/_sim/latency", {"stats": -1}),
        ("/_sim/faults", {"endpoint": "stats", "faults": [{"kind": "http_418"}]}),
        ("/_sim/faults", {"endpoint": "stats", "faults": "http_503"}),
        ("/_sim/faults", {"endpoint": "stats", "faults": [{"kind": "http_503", "retry_after": "1"}]}),
        ("/_sim/error-rate", {"endpoint": "stats", "kind": "http_503", "probability": 2}),
        ("/_sim/error-rate", {"endpoint": "stats", "kind": "http_503"}),
        ("/_sim/keys", {"valid": "k1"}),
        ("/_sim/variants", {"private_stats": "html404"}),
        ("/_sim/variants", {"friends_stats": "html500"}),
        ("/_sim/keys", ["k1"]),
    ],
)
async def test_malformed_admin_requests_are_400(
    sim: RunningSimulator, http: aiohttp.ClientSession, path: str, body: Any
) -> None:
    """A malformed admin body gets 400 with an error message and changes nothing."""
    status, answer = await admin(http, "POST", path, body)
    assert status == 400
    assert answer["error"]
    assert sim.state.pending("stats") == ()
    assert sim.state.valid_keys == {"sim-key"}


async def test_non_json_admin_body_is_400(http: aiohttp.ClientSession) -> None:
    """A body that is not JSON gets a 400 JSON error rather than a 500."""
    async with http.post("/_sim/latency", data=b"stats=1") as response:
        assert response.status == 400
        assert "not JSON" in (await response.json())["error"]


async def test_admin_scripted_kinds_match_python_kinds(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """Every FaultKind name is accepted by the admin API."""
    faults = [{"kind": kind.value} for kind in FaultKind]
    assert await admin(http, "POST", "/_sim/faults", {"endpoint": "vanity", "faults": faults}) == (
        200,
        {"pending": len(FaultKind)},
    )
    assert [fault.kind for fault in sim.state.pending("vanity")] == list(FaultKind)


async def test_stats_can_be_changed_while_running(http: aiohttp.ClientSession) -> None:
    """POST /_sim/stats changes GetUserStatsForGame of one player ({} clears); a non-number is a 400."""

    async def escapes() -> int:
        params = {"key": KEY, "steamid": DEMO_STEAM_ID, "appid": "381210"}
        async with http.get("/ISteamUserStats/GetUserStatsForGame/v2/", params=params) as resp:
            entries = (await resp.json())["playerstats"]["stats"]
        return next(int(entry["value"]) for entry in entries if entry["name"] == "DBD_Escape")

    before = await escapes()
    change = {"steam_id": DEMO_STEAM_ID, "overrides": {"DBD_Escape": before + 1}}
    assert await admin(http, "POST", "/_sim/stats", change) == (200, {"steam_id": DEMO_STEAM_ID, "overrides": 1})
    assert await escapes() == before + 1
    status, _ = await admin(http, "POST", "/_sim/stats", {"steam_id": DEMO_STEAM_ID, "overrides": {"DBD_Escape": "x"}})
    assert status == 400
    assert (await admin(http, "POST", "/_sim/stats", {"steam_id": DEMO_STEAM_ID, "overrides": {}}))[0] == 200
    assert await escapes() == before
