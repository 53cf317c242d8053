"""The RPC side of telemetry: the SERVER span (a library's interceptor) and `MeteredRpc` around each method.

1. opentelemetry-instrumentation-grpc's aio interceptor opens the SERVER span, continuing the caller's trace
   from W3C ``traceparent`` metadata, and sees ``context.abort`` (as `status.abort` uses it) to set
   ``rpc.grpc.status_code`` and the span status (ERROR for UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
   UNAVAILABLE, DATA_LOSS; unset for the caller's errors such as FAILED_PRECONDITION). It is installed only
   while spans are exported: with tracing off every span would be non-recording, and an interceptor costs
   throughput on every call for nothing.
2. `MeteredRpc` wraps each method of the service once, at registration (`api.handlers`), so it runs inside that
   span and covers what the interceptor does not:

   - the paths that end without ``context.abort``: cancellation by the client (CANCELLED), the caller's
     deadline passing (DEADLINE_EXCEEDED, ERROR) and an exception escaping the handler (UNKNOWN, ERROR); the
     library would leave ``rpc.grpc.status_code`` at 0 and the status unset for those;
   - an ``rpc.message`` event (``rpc.message.type`` SENT, ``rpc.message.id`` from 1, ``playerstats.part`` =
     the oneof field set, e.g. ``stats`` then ``achievements``) each time a streaming handler yields a message;
   - ``rpc.server.call.duration``, ``playerstats.rpc.errors`` (with the ErrorInfo reason `status.abort` records),
     ``playerstats.rpc.first_message.duration`` (streams) and one INFO log line per RPC (method, code, duration,
     player);
   - the RPC's `Metrics` made current for `dbd_playerstats.telemetry.recording`.

The health service (``grpc.health.v1.Health``) is neither wrapped nor traced: its ``Watch`` writes with
``context.write`` and breaks when wrapped, and health checks every few seconds are noise in traces and logs.
Handlers must be async functions or async generators (the servicer's are). The Connect face
(`api.connect_http`) wraps its calls in `MeteredRpc` too, so both protocols are measured and logged alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.instrumentation.grpc.filters import health_check, negate
from opentelemetry.trace import Span, Status, StatusCode, TracerProvider

from dbd_playerstats.errors import RpcAborted
from dbd_playerstats.telemetry.logs import access_line
from dbd_playerstats.telemetry.metrics import Metrics
from dbd_playerstats.telemetry.recording import RpcScope

log = logging.getLogger("dbd_playerstats.rpc")

RPC_GRPC_STATUS_CODE: Final = "rpc.grpc.status_code"
MAX_LOGGED_PLAYER_CHARS: Final = 128
"""The `player` field is caller input (up to a whole message in size): log lines keep only its start."""
# gRPC server codes that make a SERVER span ERROR (OpenTelemetry semantic conventions for gRPC).
SERVER_ERROR_CODES: Final = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)

Context = grpc.aio.ServicerContext[Any, Any]
_CODES: Final = {code: (code.value[0], code.name) for code in grpc.StatusCode}
"""Each code's number and name, looked up once (an enum member's `value` and `name` are properties)."""


def server_interceptors(*, tracer_provider: TracerProvider, tracing: bool = True) -> list[grpc.aio.ServerInterceptor]:
    """The interceptors for ``grpc.aio.server(interceptors=...)``: the SERVER span's, while `tracing` (spans are
    exported; health excluded), else none."""
    if not tracing:
        return []
    otel: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=tracer_provider, filter_=negate(health_check())
    )
    return [otel]


class MeteredRpc:
    """One RPC method's wrappers: each call measures itself and settles its status code.

    `behavior(request, context)` needs of `context` only ``code()`` and ``time_remaining()``; `system` is the
    ``rpc.system`` of the metrics (``grpc``, or ``connect_rpc`` for the HTTP face).
    """

    def __init__(self, metrics: Metrics, service: str, method: str, *, system: str = "grpc") -> None:
        self._metrics = metrics
        self._service = service
        self._method = method
        self._system = system

    def unary(self, behavior: Any) -> Callable[[Any, Context], Awaitable[Any]]:
        async def unary(request: Any, context: Context) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            with RpcScope(self._metrics) as outcome:
                try:
                    response = await behavior(request, context)
                except BaseException as exc:
                    code = _settle(trace.get_current_span(), context, exc)
                    raise
                else:
                    code = _code_of(context) or grpc.StatusCode.OK
                    return response
                finally:
                    self._finish(request, code, started, outcome.reason)

        return unary

    def streaming(self, behavior: Any) -> Callable[[Any, Context], AsyncIterator[Any]]:
        async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
            span = trace.get_current_span()
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            sent = 0
            with RpcScope(self._metrics) as outcome:
                try:
                    async for message in behavior(request, context):
                        sent += 1
                        if sent == 1:
                            self._metrics.rpc_first_message(
                                self._service, self._method, time.perf_counter() - started, system=self._system
                            )
                        if span.is_recording():
                            span.add_event("rpc.message", _sent_attributes(message, sent))
                        yield message
                        del message  # not held while the stream waits for its next one (api.handlers)
                    code = _code_of(context) or grpc.StatusCode.OK
                except BaseException as exc:
                    code = _settle(span, context, exc)
                    raise
                finally:
                    self._finish(request, code, started, outcome.reason)

        return streaming

    def _finish(self, request: Any, code: grpc.StatusCode, started: float, reason: str) -> None:
        duration = time.perf_counter() - started
        number, name = _CODES[code]
        self._metrics.rpc_finished(
            self._service,
            self._method,
            number,
            duration,
            system=self._system,
            reason=(reason or name) if number else "",
        )
        player = getattr(request, "player", None)
        access_line(
            log, self._method, name, duration, player[:MAX_LOGGED_PLAYER_CHARS] if isinstance(player, str) else None
        )


def _sent_attributes(message: Any, index: int) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {"rpc.message.type": "SENT", "rpc.message.id": index}
    descriptor = getattr(message, "DESCRIPTOR", None)
    for oneof in getattr(descriptor, "oneofs", ()):
        part = message.WhichOneof(oneof.name)
        if part:
            attributes["playerstats.part"] = part
            break
    byte_size = getattr(message, "ByteSize", None)
    if callable(byte_size):
        attributes["rpc.message.uncompressed_size"] = byte_size()
    return attributes


def _code_of(context: Context) -> grpc.StatusCode | None:
    """The code the handler set or aborted with (None when it set none)."""
    try:
        code = context.code()
    except Exception:
        return None
    return code if isinstance(code, grpc.StatusCode) else None


def _settle(span: Span, context: Context, exc: BaseException) -> grpc.StatusCode:
    """The status an RPC ending with `exc` gets, written on the SERVER span unless `context.abort` already was."""
    if isinstance(exc, grpc.aio.AbortError | RpcAborted):
        return _code_of(context) or grpc.StatusCode.UNKNOWN  # the library's context wrapper recorded it
    if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0
        code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
        description = "the caller's deadline passed" if code is grpc.StatusCode.DEADLINE_EXCEEDED else ""
    else:
        code = grpc.StatusCode.UNKNOWN
        description = f"unhandled {type(exc).__name__}"
    span.set_attribute(RPC_GRPC_STATUS_CODE, code.value[0])
    if code in SERVER_ERROR_CODES:
        span.set_status(Status(StatusCode.ERROR, f"{code}:{description}"))
    return code


__all__ = [
    "SERVER_ERROR_CODES",
    "MeteredRpc",
    "server_interceptors",
]
