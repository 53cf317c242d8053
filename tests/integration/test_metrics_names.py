"""The dashboard and the alerts use only metrics the service exports: a real /metrics scrape after real traffic.

The traffic (both protocols): a public player (`demo`) streamed and fetched, a private player, an invalid id,
the store gone, a Steam key refused, a breaker opened, and the budget paused by a Steam 429 until calls are
refused. Then every metric name in every expression of `deploy/grafana/playerstats.json` and
`deploy/prometheus/alerts.yml`, and every `label="value"` they match on, must be in the scrape.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import PRIVATE_STEAM_ID, Fault, FaultKind, RunningSimulator, synthetic_steam_id
from dbd_playerstats.telemetry import Telemetry, TelemetrySettings
from tests.http_support import SERVICE_PATH, envelope, split_envelopes, with_http
from tests.support import error_details

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "playerstats.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"

# The key gate off (pause 0): the refused key is one step of the traffic, the steps after it need Steam.
RESILIENCE = {
    "cb_max_fails": 3,
    "max_retries": 1,
    "base_backoff_ms": 1,
    "max_backoff_ms": 5,
    "key_rejected_pause_secs": 0,
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def alert_exprs() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression: identifiers left once strings, label matchers, grouping
    clauses, ranges, Grafana variables, function calls, keywords and numbers are taken out."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("(") or match.group() in PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


def equality_matchers(expr: str) -> set[tuple[str, str]]:
    """The `label="value"` matchers of an expression (regular expressions and Grafana variables left out)."""
    return {(label, value) for label, value in re.findall(r'(\w+)="([^"$]*)"', expr)}


def test_the_extraction_reads_promql_as_meant() -> None:
    expr = 'sum by (le, rpc_method) (rate(rpc_server_call_duration_seconds_bucket{job=~"$job"}[$__rate_interval]))'
    assert metric_names(expr) == {"rpc_server_call_duration_seconds_bucket"}
    ratio = 'sum(rate(a_total{x="1"}[5m])) / sum(rate(b_total[5m])) > 0.05'
    assert metric_names(ratio) == {"a_total", "b_total"}
    assert equality_matchers(ratio) == {("x", "1")}


@pytest.fixture
async def telemetry() -> AsyncIterator[Telemetry]:
    """Telemetry with the real Prometheus endpoint on a free port, as PLAYERSTATS_METRICS_PORT=0 gives."""
    created = Telemetry.create(TelemetrySettings(metrics_port=0))
    yield created
    created.shutdown()


async def normal_traffic(running: RunningServer, stub: Any, http: aiohttp.ClientSession) -> None:
    """A public player streamed over both protocols and fetched again (cache hits), a private one, an invalid id."""
    assert running.http is not None
    url = f"http://127.0.0.1:{running.http.port}{SERVICE_PATH}"
    assert [m.WhichOneof("part") async for m in stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player="demo"))] == [
        "stats",
        "achievements",
    ]
    stream_headers = {"content-type": "application/connect+json"}
    async with http.post(f"{url}/StreamPlayerStats", data=envelope({"player": "demo"}), headers=stream_headers) as r:
        assert [list(m) for _, m in split_envelopes(await r.read())] == [["stats"], ["achievements"], []]
    async with http.post(f"{url}/GetPlayerStats", json={"player": "demo"}) as resp:
        assert resp.status == 200
    for player, status in ((PRIVATE_STEAM_ID, 400), ("???", 400)):
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=player), timeout=20)
        async with http.post(f"{url}/GetPlayerStats", json={"player": player}) as resp:
            assert resp.status == status


async def failing_traffic(running: RunningServer, stub: Any, sim: RunningSimulator) -> None:
    """The store gone, a refused key, a breaker opened (vanity), then a Steam 429 pausing the budget (profile)."""
    assert running.store is not None
    await running.store.close()
    await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=synthetic_steam_id(1)), timeout=20)  # served live

    sim.state.script("profile", [FaultKind.BAD_KEY])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=synthetic_steam_id(2)), timeout=20)
    assert error_details(info.value)[0] == "STEAM_KEY_REJECTED"

    sim.state.script("vanity", [FaultKind.HTTP_503] * 20)
    reasons = []
    for _ in range(8):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ResolvePlayer(pb.ResolvePlayerRequest(player="somebody_new"), timeout=20)
        reasons.append(error_details(info.value)[0])
        if reasons[-1] == "UPSTREAM_CIRCUIT_OPEN":
            break
    assert reasons[-1] == "UPSTREAM_CIRCUIT_OPEN", reasons

    sim.state.script("profile", [Fault(FaultKind.RATE_LIMIT, retry_after="120")])
    reasons = []
    for n in (3, 4):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=synthetic_steam_id(n)), timeout=3)
        reasons.append(error_details(info.value)[0])
    assert reasons[-1] == "RATE_LIMITED", reasons


async def test_every_metric_of_the_dashboard_and_alerts_is_scraped(
    settings: Settings, sim: RunningSimulator, telemetry: Telemetry
) -> None:
    """Every name (and matched label value) the dashboard and the alerts use is in /metrics after the traffic."""
    resilience = replace(settings.resilience, **RESILIENCE)
    limits = replace(settings.limits, caller_quota_per_min=0)  # one test client spends more than a caller's burst
    running = await build_server(
        with_http(replace(settings, resilience=resilience, limits=limits)), listen="127.0.0.1:0", telemetry=telemetry
    )
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        ):
            stub = pb_grpc.PlayerStatsServiceStub(channel)
            await normal_traffic(running, stub, http)
            await failing_traffic(running, stub, sim)
            async with http.get(f"http://127.0.0.1:{telemetry.metrics_port}/metrics") as resp:
                assert resp.status == 200
                scrape = await resp.text()
    finally:
        await running.stop(None)

    samples = [sample for family in text_string_to_metric_families(scrape) for sample in family.samples]
    scraped = {sample.name for sample in samples}
    labelled = {(label, value) for sample in samples for label, value in sample.labels.items()}
    exprs = dashboard_exprs() + alert_exprs()
    used = set().union(*(metric_names(expr) for expr in exprs))
    assert len(used) >= 12, sorted(used)  # the extraction found the dashboard's and the alerts' metrics
    assert used - scraped == set(), f"used by deploy/ but not exported: {sorted(used - scraped)}"
    matched = set().union(*(equality_matchers(expr) for expr in exprs))
    assert matched - labelled == set(), f"label values matched by deploy/ but never exported: {matched - labelled}"
    assert {("rpc_system", "grpc"), ("rpc_system", "connect_rpc")} <= labelled
    assert {("error_reason", r) for r in ("PROFILE_PRIVATE", "INVALID_PLAYER", "UPSTREAM_CIRCUIT_OPEN")} <= labelled
