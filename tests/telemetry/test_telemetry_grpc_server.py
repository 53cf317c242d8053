"""The method wrappers settle rpc.grpc.status_code and the span status for endings without context.abort."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from opentelemetry.trace import StatusCode

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.api.handlers import add_service
from dbd_playerstats.telemetry import Telemetry
from dbd_playerstats_dev.captured_telemetry import CapturedTelemetry
from tests.support import until

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

SERVICE = "/dbd.playerstats.v1.PlayerStatsService"
Context = grpc.aio.ServicerContext[Any, Any]


class Misbehaving(pb_grpc.PlayerStatsServiceServicer):
    """Handlers that end in the ways status.py never produces."""

    async def ResolvePlayer(self, request: pb.ResolvePlayerRequest, context: Context) -> pb.ResolvePlayerResponse:
        raise RuntimeError("a bug that escaped the error translation")

    async def GetPlayerStats(self, request: pb.GetPlayerStatsRequest, context: Context) -> pb.GetPlayerStatsResponse:
        await asyncio.sleep(30)
        return pb.GetPlayerStatsResponse()

    async def StreamPlayerStats(
        self, request: pb.StreamPlayerStatsRequest, context: Context
    ) -> AsyncIterator[pb.StreamPlayerStatsResponse]:
        yield pb.StreamPlayerStatsResponse(stats=pb.StatsPart())
        yield pb.StreamPlayerStatsResponse(achievements=pb.AchievementsPart())

    async def StreamLobbyStats(
        self, request: pb.StreamLobbyStatsRequest, context: Context
    ) -> AsyncIterator[pb.StreamLobbyStatsResponse]:
        yield pb.StreamLobbyStatsResponse(index=0, stats=pb.StatsPart())

    async def GetPlayerHistory(
        self, request: pb.GetPlayerHistoryRequest, context: Context
    ) -> pb.GetPlayerHistoryResponse:
        return pb.GetPlayerHistoryResponse()

    async def WatchPlayer(
        self, request: pb.WatchPlayerRequest, context: Context
    ) -> AsyncIterator[pb.WatchPlayerResponse]:
        yield pb.WatchPlayerResponse()


@pytest.fixture
def captured() -> Iterator[CapturedTelemetry]:
    running = CapturedTelemetry.create()
    yield running
    running.telemetry.shutdown()


@pytest.fixture
async def stub(captured: CapturedTelemetry) -> AsyncIterator[AsyncStub]:
    server = grpc.aio.server(interceptors=captured.telemetry.server_interceptors())
    add_service(server, Misbehaving(), metrics=captured.telemetry.metrics, quotas=None)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield pb_grpc.PlayerStatsServiceStub(channel)
    finally:
        await server.stop(None)


async def server_span(captured: CapturedTelemetry, method: str) -> Any:
    """The SERVER span of `method`, once exported (the client may see the end of the call first)."""
    spans = await until(
        lambda: [s for s in captured.spans() if s.name == f"{SERVICE}/{method}"], f"a SERVER span for {method}"
    )
    return spans[0]


async def test_escaped_exception_is_unknown_and_error(stub: AsyncStub, captured: CapturedTelemetry) -> None:
    """An exception escaping a handler is UNKNOWN (2) on the SERVER span, which is ERROR."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ResolvePlayer(pb.ResolvePlayerRequest(player="x"), timeout=5)
    assert info.value.code() is grpc.StatusCode.UNKNOWN
    span = await server_span(captured, "ResolvePlayer")
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNKNOWN.value[0]
    assert span.status.status_code is StatusCode.ERROR


async def test_passed_deadline_is_deadline_exceeded_and_error(stub: AsyncStub, captured: CapturedTelemetry) -> None:
    """A handler still running when the caller's deadline passes is DEADLINE_EXCEEDED (4) and ERROR."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player="x"), timeout=0.2)
    assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    span = await server_span(captured, "GetPlayerStats")
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert span.status.status_code is StatusCode.ERROR


async def test_stream_messages_are_events_and_rpc_is_measured_and_logged(
    stub: AsyncStub, captured: CapturedTelemetry, caplog: pytest.LogCaptureFixture
) -> None:
    """Each streamed message is an rpc.message event naming its part; the RPC gets a duration point and a log line."""
    with caplog.at_level(logging.INFO, logger="dbd_playerstats.rpc"):
        call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player="demo"), timeout=5)
        assert len([m async for m in call]) == 2
        span = await server_span(captured, "StreamPlayerStats")
    events = [e.attributes for e in span.events if e.name == "rpc.message"]
    assert [(e["rpc.message.id"], e["playerstats.part"], e["rpc.message.type"]) for e in events if e] == [
        (1, "stats", "SENT"),
        (2, "achievements", "SENT"),
    ]
    assert captured.points("rpc.server.call.duration") == [
        (
            {
                "rpc.system": "grpc",
                "rpc.service": "dbd.playerstats.v1.PlayerStatsService",
                "rpc.method": "StreamPlayerStats",
                "rpc.grpc.status_code": 0,
            },
            1,
        )
    ]
    (record,) = [r for r in caplog.records if r.name == "dbd_playerstats.rpc"]
    assert record.levelno == logging.INFO
    fields = vars(record)
    assert (fields["rpc_method"], fields["grpc_code"], fields["player"]) == ("StreamPlayerStats", "OK", "demo")
    assert fields["duration_ms"] >= 0


def test_without_tracing_no_interceptor_is_installed() -> None:
    """Telemetry off: no interceptor at all (no span would be kept); the RPC log/metric wrappers are per method."""
    disabled = Telemetry.disabled()
    try:
        interceptors = disabled.server_interceptors()
    finally:
        disabled.shutdown()
    assert interceptors == []


def test_with_tracing_only_the_opentelemetry_interceptor_is_installed(captured: CapturedTelemetry) -> None:
    interceptors = captured.telemetry.server_interceptors()
    assert [type(i).__module__.split(".")[:3] for i in interceptors] == [["opentelemetry", "instrumentation", "grpc"]]
