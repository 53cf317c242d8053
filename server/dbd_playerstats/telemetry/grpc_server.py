"""The RPC side of telemetry: two grpc.aio server interceptors, the health service left alone.

1. opentelemetry-instrumentation-grpc's aio interceptor (outer) opens the SERVER span, continuing the caller's
   trace from W3C ``traceparent`` metadata, and sees ``context.abort`` (as `status.abort` uses it) to set
   ``rpc.grpc.status_code`` and the span status (ERROR for UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
   UNAVAILABLE, DATA_LOSS; unset for the caller's errors such as FAILED_PRECONDITION).
2. `RpcInterceptor` (inner, so it runs inside that span) covers what the first one does not:

   - the paths that end without ``context.abort``: cancellation by the client (CANCELLED), the caller's
     deadline passing (DEADLINE_EXCEEDED, ERROR) and an exception escaping the handler (UNKNOWN, ERROR); the
     library would leave ``rpc.grpc.status_code`` at 0 and the status unset for those;
   - an ``rpc.message`` event (``rpc.message.type`` SENT, ``rpc.message.id`` from 1, ``playerstats.part`` =
     the oneof field set, e.g. ``stats`` then ``achievements``) each time a streaming handler yields a message;
   - ``rpc.server.call.duration``, ``playerstats.rpc.errors`` (with the ErrorInfo reason `status.abort` records),
     ``playerstats.rpc.first_message.duration`` (streams) and one INFO log line per RPC (method, code, duration,
     player);
   - the RPC's `Metrics` made current for `dbd_playerstats.telemetry.recording`.

Only with tracing on (a span exporter configured) is the first one installed: with tracing off every span would
be non-recording, and the interceptor costs a quarter of the cache-hit throughput for nothing. `RpcInterceptor`
always runs (its span work is skipped on a non-recording span); its wrappers are built once per method.

The health service (``grpc.health.v1.Health``) passes through both untouched: its ``Watch`` writes with
``context.write`` and breaks when wrapped, and health checks every few seconds are noise in traces and logs.
Handlers must be async functions or async generators (the servicer's are). `MeteredRpc` is the per-method part
of `RpcInterceptor`; the Connect face (`api.connect_http`) wraps its calls in it too, so both protocols are
measured and logged alike.
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
from dbd_playerstats.telemetry.metrics import Metrics
from dbd_playerstats.telemetry.recording import metrics_scope, rpc_outcome

log = logging.getLogger("dbd_playerstats.rpc")

RPC_GRPC_STATUS_CODE: Final = "rpc.grpc.status_code"
MAX_LOGGED_PLAYER_CHARS: Final = 128
"""The `player` field is caller input (up to a whole message in size): log lines keep only its start."""
EXCLUDED_SERVICES: Final = ("grpc.health.v1.Health",)
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
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]]


def is_traced(details: grpc.HandlerCallDetails) -> bool:
    """Whether an RPC gets telemetry: every service but the excluded ones (health)."""
    service = details.method.lstrip("/").split("/", 1)[0]
    return service not in EXCLUDED_SERVICES


def server_interceptors(
    *, tracer_provider: TracerProvider, metrics: Metrics, tracing: bool = True
) -> list[grpc.aio.ServerInterceptor]:
    """The interceptors for ``grpc.aio.server(interceptors=...)``, outermost first.

    `tracing` False (no span is ever exported) leaves the OpenTelemetry interceptor out: it would open a
    non-recording span and proxy the servicer context on every call for nothing (a quarter of the cache-hit
    throughput). `RpcInterceptor` stays: the status code, the duration metric and the log line do not need spans.
    """
    rpc = RpcInterceptor(metrics)
    if not tracing:
        return [rpc]
    otel: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=tracer_provider, filter_=negate(health_check())
    )
    return [otel, rpc]


class RpcInterceptor(grpc.aio.ServerInterceptor):
    """Status codes for every ending, stream message events, the RPC duration metric and log line."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        # method path -> (the handler wrapped, its wrapper): wrappers are built once per method, not per call.
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    async def intercept_service(self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails) -> Any:
        """Wrap the handler of every traced RPC."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        path = handler_call_details.method
        kept = self._wrapped.get(path)
        if kept is not None and kept[0] is handler:
            return kept[1]
        wrapped = self._wrap(handler, handler_call_details) if is_traced(handler_call_details) else handler
        self._wrapped[path] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: Any, handler_call_details: grpc.HandlerCallDetails) -> Any:
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        rpc = MeteredRpc(self._metrics, service, method)
        if handler.response_streaming:
            behavior = handler.stream_stream if handler.request_streaming else handler.unary_stream
            factory = (
                grpc.stream_stream_rpc_method_handler
                if handler.request_streaming
                else grpc.unary_stream_rpc_method_handler
            )
            return factory(
                rpc.streaming(behavior),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        behavior = handler.stream_unary if handler.request_streaming else handler.unary_unary
        factory = (
            grpc.stream_unary_rpc_method_handler if handler.request_streaming else grpc.unary_unary_rpc_method_handler
        )
        return factory(
            rpc.unary(behavior),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


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
            span = trace.get_current_span()
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            with metrics_scope(self._metrics), rpc_outcome() as outcome:
                try:
                    response = await behavior(request, context)
                except BaseException as exc:
                    code = _settle(span, context, exc)
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
            with metrics_scope(self._metrics), rpc_outcome() as outcome:
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
                    code = _code_of(context) or grpc.StatusCode.OK
                except BaseException as exc:
                    code = _settle(span, context, exc)
                    raise
                finally:
                    self._finish(request, code, started, outcome.reason)

        return streaming

    def _finish(self, request: Any, code: grpc.StatusCode, started: float, reason: str) -> None:
        duration = time.perf_counter() - started
        failed = code is not grpc.StatusCode.OK
        self._metrics.rpc_finished(
            self._service,
            self._method,
            code.value[0],
            duration,
            system=self._system,
            reason=(reason or code.name) if failed else "",
        )
        player = getattr(request, "player", None)
        log.info(
            "%s %s %.1fms",
            self._method,
            code.name,
            duration * 1000,
            extra={
                "rpc_method": self._method,
                "grpc_code": code.name,
                "duration_ms": round(duration * 1000, 3),
                "player": player[:MAX_LOGGED_PLAYER_CHARS] if isinstance(player, str) else None,
            },
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
    "EXCLUDED_SERVICES",
    "SERVER_ERROR_CODES",
    "MeteredRpc",
    "RpcInterceptor",
    "is_traced",
    "server_interceptors",
]
