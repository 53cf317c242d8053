"""The reference servicer: a bare grpc.aio server implementing PlayerStatsService with canned answers.

    python -m bench.bare_server --unary FILE --stream FILE [FILE ...] [--listen 127.0.0.1:0]

`--unary` is a serialized GetPlayerStatsResponse and each `--stream` file a serialized StreamPlayerStatsResponse,
captured from the real server by the driver, so both servers send the same bytes (row 3). ResolvePlayer always
fails the way a call on an open breaker does (UNAVAILABLE with the same ErrorInfo and RetryInfo details, built
once): the reference of row 5; StreamLobbyStats (not measured) fails the same way. No interceptors, no options,
no work per call beyond what grpc.aio does. Prints `bare-server listening on port N` once it accepts calls;
SIGTERM or SIGINT stops it.

`--server-wrappers` registers it as the real server registers its servicer: each method behind the same wrappers
(`dbd_playerstats.api.handlers`: metrics, the JSON log line per RPC on stderr, the per-caller quotas) and the
same interceptors (telemetry as configured by the environment, off by default): what the server's unary
throughput could be if its handler cost nothing. Both run on the server's event loop (uvloop where installed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_status import rpc_status

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.api.handlers import add_service
from dbd_playerstats.api.quota import CallerQuotas
from dbd_playerstats.api.status import to_rpc_status
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.errors import CircuitOpenError
from dbd_playerstats.main import run
from dbd_playerstats.telemetry import Redactor, Telemetry, TelemetrySettings, configure_logging

Context = grpc.aio.ServicerContext[Any, Any]


class BareServicer(pb_grpc.PlayerStatsServiceServicer):
    """Returns pre-built messages: the cost of grpc.aio plus protobuf serialization, nothing else."""

    def __init__(self, unary: pb.GetPlayerStatsResponse, stream: Sequence[pb.StreamPlayerStatsResponse]) -> None:
        self._unary = unary
        self._stream = tuple(stream)
        status = rpc_status.to_status(
            to_rpc_status(CircuitOpenError("the Steam stats breaker is open", retry_after=60))
        )
        self._failure = (status.code, status.details, status.trailing_metadata)

    async def StreamPlayerStats(
        self, request: pb.StreamPlayerStatsRequest, context: Context
    ) -> AsyncIterator[pb.StreamPlayerStatsResponse]:
        for message in self._stream:
            yield message

    async def GetPlayerStats(self, request: pb.GetPlayerStatsRequest, context: Context) -> pb.GetPlayerStatsResponse:
        return self._unary

    async def ResolvePlayer(self, request: pb.ResolvePlayerRequest, context: Context) -> pb.ResolvePlayerResponse:
        await context.abort(*self._failure)
        raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises

    async def StreamLobbyStats(
        self, request: pb.StreamLobbyStatsRequest, context: Context
    ) -> AsyncIterator[pb.StreamLobbyStatsResponse]:
        await context.abort(*self._failure)  # not measured: fails as ResolvePlayer does
        yield pb.StreamLobbyStatsResponse()  # pragma: no cover - abort always raises

    async def GetPlayerHistory(
        self, request: pb.GetPlayerHistoryRequest, context: Context
    ) -> pb.GetPlayerHistoryResponse:
        await context.abort(*self._failure)  # not measured: fails as ResolvePlayer does
        raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises

    async def WatchPlayer(
        self, request: pb.WatchPlayerRequest, context: Context
    ) -> AsyncIterator[pb.WatchPlayerResponse]:
        await context.abort(*self._failure)  # not measured: fails as ResolvePlayer does
        yield pb.WatchPlayerResponse()  # pragma: no cover - abort always raises


def wrapped_server(servicer: BareServicer) -> grpc.aio.Server:
    """A server with `servicer` registered as `dbd_playerstats.app.build_server` registers the real one: each
    method behind the same wrappers (`api.handlers`: metrics, log line, quotas) and the same interceptors
    (telemetry from the environment, off by default), with its logging set up."""
    settings = Settings.from_env(os.environ)
    redactor = Redactor()
    configure_logging(settings.server.log_level, redactor, background=True)
    telemetry = Telemetry.create(TelemetrySettings.from_env(os.environ), redactor=redactor)
    server = grpc.aio.server(interceptors=telemetry.server_interceptors())
    add_service(server, servicer, metrics=telemetry.metrics, quotas=CallerQuotas.from_settings(settings.limits))
    return server


async def serve(servicer: BareServicer, listen: str, *, wrapped: bool = False) -> None:
    if wrapped:
        server = wrapped_server(servicer)
    else:
        server = grpc.aio.server()
        pb_grpc.add_PlayerStatsServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port(listen)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"bare-server listening on port {port}", flush=True)
    await stop.wait()
    await server.stop(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_server", description=__doc__)
    parser.add_argument("--unary", type=Path, required=True, help="serialized GetPlayerStatsResponse")
    parser.add_argument("--stream", type=Path, nargs="+", required=True, help="serialized StreamPlayerStatsResponse")
    parser.add_argument("--listen", default="127.0.0.1:0", help="loopback address (default %(default)s)")
    parser.add_argument("--server-wrappers", action="store_true", help="the real server's method wrappers around it")
    args = parser.parse_args(argv)
    unary = pb.GetPlayerStatsResponse.FromString(args.unary.read_bytes())
    stream = [pb.StreamPlayerStatsResponse.FromString(path.read_bytes()) for path in args.stream]
    run(serve(BareServicer(unary, stream), args.listen, wrapped=args.server_wrappers))  # the server's event loop
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
