"""Helpers shared by the integration tests: reading rich statuses, and real servers with resilience overrides."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer
from dbd_playerstats.settings import Settings

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

StartFn = Callable[..., Awaitable["AsyncStub"]]


def error_details(err: grpc.aio.AioRpcError) -> tuple[str, float | None]:
    """The ErrorInfo reason and the RetryInfo delay in seconds (None when absent) of a failed call."""
    status = rpc_status.from_call(err)
    assert status is not None, "every error carries a google.rpc.Status"
    reason, retry = "", None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry_info = error_details_pb2.RetryInfo()
            detail.Unpack(retry_info)
            retry = retry_info.retry_delay.ToTimedelta().total_seconds()
    return reason, retry


@asynccontextmanager
async def stub_starter(
    serve: Callable[[Settings], Awaitable[RunningServer]], settings: Settings, base: Mapping[str, float]
) -> AsyncIterator[StartFn]:
    """`start(**overrides)` starts a real server whose resilience settings are `base | overrides` and returns a
    stub on it; every channel is closed on exit (the servers by the `serve` fixture)."""
    channels: list[grpc.aio.Channel] = []

    async def start(**overrides: float) -> AsyncStub:
        resilience = replace(settings.resilience, **(dict(base) | overrides))  # type: ignore[arg-type]
        running = await serve(replace(settings, resilience=resilience))
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{running.port}"))
        return pb_grpc.PlayerStatsServiceStub(channels[-1])

    try:
        yield start
    finally:
        for channel in channels:
            await channel.close()
