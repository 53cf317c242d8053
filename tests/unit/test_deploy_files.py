"""The files under deploy/: alert rules checked and unit-tested by promtool, every alert with its runbook, the
dashboard's panels, and deploy/compose.yaml's structure (no Docker engine here, so no `docker compose config`).

promtool is Debian's `prometheus` package (/usr/bin/promtool); .ci/run installs it when it is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from dbd_playerstats.config.settings import DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "playerstats.json"
COMPOSE = DEPLOY / "compose.yaml"
OPERATIONS = ROOT / "docs" / "operations.md"

EXPECTED_ALERTS = {
    "PlayerstatsBreakerOpen",
    "PlayerstatsSteamKeyRejected",
    "PlayerstatsBudgetExhausted",
    "PlayerstatsErrorRatio",
    "PlayerstatsTimeToFirstMessageSlow",
    "PlayerstatsStoreErrors",
}
EXPECTED_SERVICES = {
    "playerstats",
    "steam-sim",
    "postgres",
    "redis",
    "otel-collector",
    "jaeger",
    "prometheus",
    "grafana",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe is not None, "promtool is missing: apt-get install -y prometheus (.ci/run does it)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_checks_the_alert_rules() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in result.stdout


def test_promtool_rule_tests_pass_and_cover_the_breaker_and_key_alerts() -> None:
    result = promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    tests = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert {"PlayerstatsBreakerOpen", "PlayerstatsSteamKeyRejected"} <= tested


def test_promtool_checks_the_prometheus_config_of_the_stack() -> None:
    result = promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_of_the_issue_each_with_a_runbook_section() -> None:
    """Breaker open, key rejected, budget exhausted, error ratio, slow first message, store errors; each links to
    a heading of docs/operations.md that exists."""
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} == EXPECTED_ALERTS
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in rules:
        assert rule["labels"]["severity"] in {"page", "warning"}
        path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert path == "docs/operations.md"
        assert anchor in anchors, f"{rule['alert']}: no heading #{anchor} in docs/operations.md"


def test_the_dashboard_has_the_panels_of_the_issue() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    titles = " | ".join(p["title"].lower() for p in panels)
    for wanted in (
        "calls per second",
        "errors per second by reason",
        "time to first message",
        "total call latency",
        "steam http attempts by endpoint and outcome",
        "retries",
        "breaker state",
        "budget tokens",
        "cache hit ratio",
        "merge decisions",
    ):
        assert wanted in titles, wanted
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24


def test_compose_runs_the_service_with_its_dependencies() -> None:
    """Every service has a pinned image, well-formed ports, dependencies that exist and mounted files that exist;
    the service's environment names only variables it reads."""
    compose = yaml.safe_load(COMPOSE.read_text())
    services: dict[str, Any] = compose["services"]
    assert set(services) == EXPECTED_SERVICES
    for name, service in services.items():
        image = service["image"]
        assert ":" in image, f"{name}: pin the image tag"
        assert not image.endswith(":latest"), name
        for port in service.get("ports", []):
            assert re.fullmatch(r"\d{2,5}:\d{2,5}", port), f"{name}: {port!r}"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} is missing"
            else:
                assert source in compose.get("volumes", {}), f"{name}: volume {source} is not declared"
    app = services["playerstats"]
    assert (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).is_file()
    environment: dict[str, str] = app["environment"]
    for variable in environment:
        assert variable in DEFAULTS or variable.startswith("OTEL_") or variable == "PLAYERSTATS_METRICS_PORT", variable
    published = {port.split(":")[1] for port in app["ports"]}
    assert environment["PLAYERSTATS_LISTEN"].rsplit(":", 1)[1] in published
    assert environment["PLAYERSTATS_HTTP_LISTEN"].rsplit(":", 1)[1] in published
    assert environment["PLAYERSTATS_METRICS_PORT"] in published


def test_the_stacks_prometheus_collector_and_grafana_files_fit_together() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    metrics_port = compose["services"]["playerstats"]["environment"]["PLAYERSTATS_METRICS_PORT"]
    prometheus = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = [t for job in prometheus["scrape_configs"] for c in job["static_configs"] for t in c["targets"]]
    assert targets == [f"playerstats:{metrics_port}"]

    collector = yaml.safe_load((DEPLOY / "otel-collector" / "config.yaml").read_text())
    for pipeline in collector["service"]["pipelines"].values():
        assert set(pipeline["receivers"]) <= set(collector["receivers"])
        assert set(pipeline["exporters"]) <= set(collector["exporters"])
    traces_endpoint = compose["services"]["playerstats"]["environment"]["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    assert traces_endpoint.endswith(":" + collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].split(":")[1])

    datasources = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert [d["type"] for d in datasources["datasources"]] == ["prometheus"]
    providers = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "playerstats.yml").read_text())
    mounted = [v.split(":")[1] for v in compose["services"]["grafana"]["volumes"]]
    assert any(m.startswith(providers["providers"][0]["options"]["path"]) for m in mounted)
