"""Telemetry leaving the process: OTLP over a real gRPC connection, Prometheus, logs; the Steam key never leaves."""

from __future__ import annotations

import asyncio
import io
import logging
import urllib.request
from dataclasses import replace

import grpc
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import build_server
from dbd_playerstats.config.settings import Secret, Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, PRIVATE_STEAM_ID, Fault, FaultKind, RunningSimulator
from dbd_playerstats.telemetry import JsonFormatter, RedactingFilter, Telemetry, TelemetrySettings
from dbd_playerstats_dev.otlp_receiver import running_receiver

STREAM = "/dbd.playerstats.v1.PlayerStatsService/StreamPlayerStats"
SECRET = "Zq7xTelemetryLeakCanary0042"


def generous(settings: Settings) -> Settings:
    """`settings` with a Steam budget no test call waits for (the default 100/min would add 0.6 s per token)."""
    return replace(settings, resilience=replace(settings.resilience, rate_limit_per_min=60_000, burst_limit=1_000))


async def run_calls(port: int) -> None:
    """A stream, a unary call and a failing stream against the server on `port`."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        messages = [m async for m in stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player="demo"), timeout=20)]
        assert len(messages) == 2
        await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=DEMO_STEAM_ID), timeout=20)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=PRIVATE_STEAM_ID), timeout=20)


async def test_otlp_receiver_gets_the_spans_over_the_wire(settings: Settings) -> None:
    """With OTEL_EXPORTER_OTLP_ENDPOINT at an in-process OTLP/gRPC receiver, the trace arrives there, whole."""
    with running_receiver() as receiver:
        telemetry = Telemetry.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint})
        try:
            running = await build_server(generous(settings), listen="127.0.0.1:0", telemetry=telemetry)
            try:
                await run_calls(running.port)
            finally:
                await running.stop(None)
            await asyncio.to_thread(telemetry.force_flush)
        finally:
            await asyncio.to_thread(telemetry.shutdown)
        spans = receiver.spans()
        metric_names = receiver.metric_names()
    server = next(s for s in spans if s.name == STREAM)
    assert server.kind == "SERVER"
    assert server.service_name == "dbd-playerstats"
    assert server.attributes["rpc.grpc.status_code"] == 0
    in_trace = [s for s in spans if s.trace_id == server.trace_id]
    stats = next(s for s in in_trace if s.name == "steam.stats")
    assert stats.parent_span_id == server.span_id
    attempt = next(s for s in in_trace if s.parent_span_id == stats.span_id)
    assert attempt.kind == "CLIENT"
    assert "key=REDACTED" in attempt.attributes["url.full"]
    assert [e.attributes["playerstats.part"] for e in server.events if e.name == "rpc.message"] == [
        "stats",
        "achievements",
    ]
    assert {"rpc.server.call.duration", "playerstats.steam.attempts"} <= metric_names


async def test_steam_key_never_leaves_in_spans_metrics_prometheus_or_logs(
    sim: RunningSimulator, settings: Settings
) -> None:
    """With a distinctive key, retries, a timeout and a private profile: no span, metric, scrape or log line has it."""
    sim.state.set_valid_keys([SECRET])
    settings = replace(
        generous(settings),
        steam=replace(settings.steam, api_key=Secret(SECRET)),
        resilience=replace(generous(settings).resilience, api_timeout_secs=0.3, max_retries=3, cb_max_fails=20),
    )
    spans = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    telemetry = Telemetry.create(TelemetrySettings(metrics_port=0), span_exporters=[spans], metric_readers=[reader])
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.addFilter(RedactingFilter(telemetry.redactor))
    handler.setFormatter(JsonFormatter(telemetry.redactor))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        running = await build_server(settings, listen="127.0.0.1:0", telemetry=telemetry)
        try:
            sim.state.script("stats", [FaultKind.HTTP_503, Fault(FaultKind.TIMEOUT, stall_seconds=1.0)])
            await run_calls(running.port)
            url = f"{sim.base_url}/ISteamUserStats/GetUserStatsForGame/v2/?key={SECRET}&steamid=1"
            logging.getLogger("dbd_playerstats.test").warning("a careless line quoting %s", url)
            error = ValueError(f"request to {url} failed")
            logging.getLogger("dbd_playerstats.test").error("a careless traceback", exc_info=error)
        finally:
            await running.stop(None)
        scrape = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{telemetry.metrics_port}/metrics", timeout=5).read()
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        telemetry.shutdown()
    exported = "\n".join(span.to_json() for span in spans.get_finished_spans())
    metrics = reader.get_metrics_data()
    assert metrics is not None
    log_text = logs.getvalue()
    assert "key=REDACTED" in exported, "the attempt spans carry the redacted URL"
    assert "retrying stats" in log_text, "retries are logged at debug"
    assert "a careless line quoting" in log_text
    assert "request to" in log_text
    assert sim.state.count("stats") >= 3
    for name, text in {
        "spans": exported,
        "metrics": metrics.to_json(),
        "prometheus": scrape.decode(),
        "logs": log_text,
    }.items():
        assert SECRET not in text, f"the key leaked into {name}"


async def test_prometheus_endpoint_serves_the_service_metrics(settings: Settings) -> None:
    """PLAYERSTATS_METRICS_PORT serves RPC durations, Steam attempts and HTTP client durations in Prometheus text."""
    telemetry = Telemetry.from_env({"PLAYERSTATS_METRICS_PORT": "0"})
    try:
        assert telemetry.metrics_port
        running = await build_server(generous(settings), listen="127.0.0.1:0", telemetry=telemetry)
        try:
            await run_calls(running.port)
        finally:
            await running.stop(None)
        scrape = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{telemetry.metrics_port}/metrics", timeout=5).read()
        )
    finally:
        telemetry.shutdown()
    text = scrape.decode()
    assert "rpc_server_call_duration_seconds_count{" in text
    assert 'rpc_method="StreamPlayerStats"' in text
    assert "playerstats_steam_attempts_total{" in text
    assert 'steam_outcome="PROFILE_PRIVATE"' in text
    assert "http_client_request_duration_seconds" in text
