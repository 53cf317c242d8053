"""Traces of real RPCs: real server, real simulator, spans captured by an in-memory exporter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, PRIVATE_STEAM_ID, FaultKind, RunningSimulator
from dbd_playerstats.telemetry import Telemetry, TelemetrySettings
from tests.support import until

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

STREAM = "/dbd.playerstats.v1.PlayerStatsService/StreamPlayerStats"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def telemetry(exporter: InMemorySpanExporter) -> Iterator[Telemetry]:
    running = Telemetry.create(TelemetrySettings(), span_exporters=[exporter])
    yield running
    running.shutdown()


@pytest.fixture
async def stub(settings: Settings, telemetry: Telemetry) -> AsyncIterator[AsyncStub]:
    running: RunningServer = await build_server(settings, listen="127.0.0.1:0", telemetry=telemetry)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield pb_grpc.PlayerStatsServiceStub(channel)
    finally:
        await running.stop(None)


async def stream(
    stub: AsyncStub, player: str, metadata: tuple[tuple[str, str], ...] = ()
) -> tuple[list[pb.StreamPlayerStatsResponse], grpc.StatusCode]:
    call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=20, metadata=metadata)
    messages: list[pb.StreamPlayerStatsResponse] = []
    try:
        messages.extend([message async for message in call])
    except grpc.aio.AioRpcError as err:
        return messages, err.code()
    return messages, grpc.StatusCode.OK


async def finished(
    exporter: InMemorySpanExporter, done: Callable[[list[ReadableSpan]], bool] | None = None
) -> list[ReadableSpan]:
    """The exported spans once the SERVER span (or `done`) is there: the client may see the end first."""
    check = done or (lambda spans: any(s.kind is SpanKind.SERVER for s in spans))

    def complete() -> list[ReadableSpan] | None:
        spans = list(exporter.get_finished_spans())
        return spans if check(spans) else None

    return await until(complete, "the spans complete")


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{name}: {[s.name for s in spans]}"
    return found[0]


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return sorted(
        (s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id),
        key=lambda s: s.start_time or 0,
    )


async def test_stream_has_server_span_with_steam_calls_and_send_events(
    stub: AsyncStub, exporter: InMemorySpanExporter
) -> None:
    """A stream gives one SERVER span, a steam.<endpoint> child per logical call with a CLIENT span, two send events."""
    messages, code = await stream(stub, DEMO_STEAM_ID)
    assert code is grpc.StatusCode.OK
    assert len(messages) == 2
    spans = await finished(exporter)
    server = one(spans, STREAM)
    assert server.kind is SpanKind.SERVER
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert server.status.status_code is StatusCode.UNSET
    sent = [e for e in server.events if e.name == "rpc.message"]
    assert [e.attributes["playerstats.part"] for e in sent if e.attributes] == ["stats", "achievements"]
    assert sent[0].timestamp < sent[1].timestamp
    stats = one(spans, "steam.stats")
    assert stats.parent is not None
    assert server.context is not None
    assert stats.parent.span_id == server.context.span_id
    assert stats.attributes is not None
    assert stats.attributes["steam.steam_id"] == DEMO_STEAM_ID
    assert stats.attributes["steam.attempts"] == 1
    assert stats.attributes["steam.outcome"] == "ok"
    (attempt,) = children(spans, stats)
    assert attempt.kind is SpanKind.CLIENT
    assert attempt.attributes is not None
    assert attempt.attributes["http.response.status_code"] == 200
    assert "http.request.resend_count" not in attempt.attributes
    assert "key=REDACTED" in str(attempt.attributes["url.full"])


async def test_private_profile_server_span_is_failed_precondition_not_error(
    stub: AsyncStub, exporter: InMemorySpanExporter
) -> None:
    """A private profile: SERVER span rpc.grpc.status_code 9 with status unset, steam.stats outcome PROFILE_PRIVATE."""
    _, code = await stream(stub, PRIVATE_STEAM_ID)
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    spans = await finished(exporter)
    server = one(spans, STREAM)
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert server.status.status_code is StatusCode.UNSET
    assert not [e for e in server.events if e.name == "exception"], "the abort is a status, not an exception event"
    stats = one(spans, "steam.stats")
    assert stats.attributes is not None
    assert stats.attributes["steam.outcome"] == "PROFILE_PRIVATE"
    assert stats.status.status_code is StatusCode.UNSET


async def test_steam_down_marks_server_and_steam_spans_error(
    stub: AsyncStub, sim: RunningSimulator, exporter: InMemorySpanExporter
) -> None:
    """Steam answering 503 until the call gives up: SERVER span UNAVAILABLE (14) and ERROR, steam.stats ERROR."""
    sim.state.script("stats", [FaultKind.HTTP_503] * 10)
    _, code = await stream(stub, DEMO_STEAM_ID)
    assert code is grpc.StatusCode.UNAVAILABLE
    spans = await finished(exporter)
    server = one(spans, STREAM)
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    assert server.status.status_code is StatusCode.ERROR
    stats = one(spans, "steam.stats")
    assert stats.status.status_code is StatusCode.ERROR
    assert stats.attributes is not None
    assert stats.attributes["steam.outcome"] == "UPSTREAM_UNAVAILABLE"
    assert [e.name for e in stats.events].count("exception") == 1
    attempts = children(spans, stats)
    assert attempts
    assert all(a.status.status_code is StatusCode.ERROR for a in attempts)
    assert all(a.attributes and a.attributes["http.response.status_code"] == 503 for a in attempts)


async def test_caller_traceparent_is_continued(stub: AsyncStub, exporter: InMemorySpanExporter) -> None:
    """A W3C traceparent in the call's metadata makes the SERVER span a child of the caller's span."""
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    _, code = await stream(stub, DEMO_STEAM_ID, metadata=(("traceparent", f"00-{trace_id}-{parent_id}-01"),))
    assert code is grpc.StatusCode.OK
    spans = await finished(exporter)
    server = one(spans, STREAM)
    assert server.context is not None
    assert server.parent is not None
    assert f"{server.context.trace_id:032x}" == trace_id
    assert f"{server.parent.span_id:016x}" == parent_id
    assert all(s.context is not None and s.context.trace_id == server.context.trace_id for s in spans)


async def test_cancelled_stream_gets_cancelled_code(
    stub: AsyncStub, sim: RunningSimulator, exporter: InMemorySpanExporter
) -> None:
    """A stream the client cancels before its end is recorded as CANCELLED (1), not OK."""
    sim.state.set_latency("achievements", 5.0)
    call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=DEMO_STEAM_ID), timeout=20)
    await call.read()  # the stats part
    call.cancel()
    spans = await finished(exporter)
    server = one(spans, STREAM)
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.CANCELLED.value[0]
    assert server.status.status_code is StatusCode.UNSET


async def test_health_service_is_not_traced(
    settings: Settings, telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    """Health checks and Watch work under the interceptors and make no span."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    running = await build_server(settings, listen="127.0.0.1:0", telemetry=telemetry)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)
            first = await watch.read()
            assert first.status == health_pb2.HealthCheckResponse.SERVING
            watch.cancel()
    finally:
        await running.stop(None)
    assert not [s for s in exporter.get_finished_spans() if "Health" in s.name]


async def test_two_503s_make_three_attempt_spans_and_two_retry_events(
    sim: RunningSimulator, settings: Settings, telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    """Two injected 503s: one steam.stats span, three CLIENT attempt spans (503, 503, 200), two steam.retry events."""
    settings = replace(settings, resilience=replace(settings.resilience, max_retries=3, cb_max_fails=10))
    running = await build_server(settings, listen="127.0.0.1:0", telemetry=telemetry)
    try:
        sim.state.script("stats", [FaultKind.HTTP_503, FaultKind.HTTP_503])
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            messages, code = await stream(pb_grpc.PlayerStatsServiceStub(channel), DEMO_STEAM_ID)
    finally:
        await running.stop(None)
    assert code is grpc.StatusCode.OK
    assert len(messages) == 2
    spans = await finished(exporter)
    server = one(spans, STREAM)
    assert server.status.status_code is StatusCode.UNSET
    stats = one(spans, "steam.stats")
    assert stats.parent is not None
    assert server.context is not None
    assert stats.parent.span_id == server.context.span_id
    assert stats.attributes is not None
    assert stats.attributes["steam.attempts"] == 3
    assert stats.attributes["steam.outcome"] == "ok"
    assert stats.status.status_code is StatusCode.UNSET
    retries = [e for e in stats.events if e.name == "steam.retry"]
    assert [e.attributes["attempt"] for e in retries if e.attributes] == [1, 2]
    assert all(e.attributes and e.attributes["error.class"] == "server" for e in retries)
    attempts = children(spans, stats)
    assert [a.kind for a in attempts] == [SpanKind.CLIENT] * 3
    assert [a.attributes["http.response.status_code"] for a in attempts if a.attributes] == [503, 503, 200]
    assert [a.status.status_code for a in attempts] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    assert [(a.attributes or {}).get("http.request.resend_count") for a in attempts] == [None, 1, 2]


async def test_breaker_open_fails_fast_with_error_spans(
    sim: RunningSimulator, settings: Settings, telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    """Breaker open: UNAVAILABLE, SERVER span ERROR (14), the steam span ERROR with a breaker.rejected event."""
    settings = replace(
        settings, resilience=replace(settings.resilience, cb_max_fails=1, max_retries=0, cb_reset_timeout_secs=60)
    )
    running = await build_server(settings, listen="127.0.0.1:0", telemetry=telemetry)
    try:
        sim.state.script("stats", [FaultKind.HTTP_503] * 5)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            client = pb_grpc.PlayerStatsServiceStub(channel)
            await stream(client, DEMO_STEAM_ID)  # opens the breaker
            exporter.clear()
            _, code = await stream(client, DEMO_STEAM_ID)
    finally:
        await running.stop(None)
    assert code is grpc.StatusCode.UNAVAILABLE
    spans = await finished(exporter)
    server = one(spans, STREAM)
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    assert server.status.status_code is StatusCode.ERROR
    rejected = [s for s in spans if s.name.startswith("steam.") and any(e.name == "breaker.rejected" for e in s.events)]
    assert rejected
    assert all(s.status.status_code is StatusCode.ERROR for s in rejected)
    assert all(s.attributes and s.attributes["steam.outcome"] == "UPSTREAM_CIRCUIT_OPEN" for s in rejected)
