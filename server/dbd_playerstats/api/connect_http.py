"""The JSON/HTTP face: PlayerStatsService over the Connect protocol on `PLAYERSTATS_HTTP_LISTEN`, in this process.

Runtime: `connectrpc` (the Connect project's Python runtime) as an ASGI application: Connect unary (POST, and
GET for the unary methods, marked side-effect free, so a browser address bar works), Connect server streaming
(enveloped frames, end-of-stream JSON), ``connect-timeout-ms`` deadlines, Connect error JSON with google.rpc
details; it also answers gRPC and gRPC-Web on the same port. Served in this event loop by `hypercorn` (HTTP/1.1
and HTTP/2: h2c with prior knowledge in plaintext, ALPN under TLS). No code generation: the endpoints come from
the descriptors already generated for gRPC, and every one calls the *same* `PlayerStatsServicer` instance the
gRPC server uses, through `ConnectServicerContext`.

Per call, in the gRPC port's order: a SERVER span (only while tracing; W3C ``traceparent`` header continued) ->
`MeteredRpc` (``rpc.server.call.duration`` and ``playerstats.rpc.errors`` with ``rpc.system=connect_rpc``, the
time to the first message, the log line) -> the caller quotas (the same `CallerQuotas` object as gRPC, so one
caller has one bucket whichever protocol it uses) -> the servicer method, whose error boundary aborts with the
rich status that `ConnectServicerContext.abort` turns into the Connect error.

The same TLS files as the gRPC port (mutual TLS included: hypercorn then requires a certificate of the client
CA); the request size limit is `PLAYERSTATS_MAX_RECV_MSG_BYTES`, and HTTP/2 streams per connection are capped at
`PLAYERSTATS_MAX_CONCURRENT_STREAMS`. `PLAYERSTATS_MAX_CONCURRENT_RPCS` and the keepalive settings are gRPC core's
and apply to the gRPC port only; hypercorn closes idle HTTP keep-alive connections after 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast

from connectrpc.compat import google_protobuf_codecs
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication, Endpoint
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from hypercorn.asyncio import serve
from hypercorn.config import Config
from opentelemetry import propagate
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.api.connect_context import AbortError, ConnectServicerContext
from dbd_playerstats.api.handlers import behavior
from dbd_playerstats.api.quota import CallerQuotas
from dbd_playerstats.api.servicer import PlayerStatsServicer
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.telemetry import Telemetry
from dbd_playerstats.telemetry.grpc_server import SERVER_ERROR_CODES

if TYPE_CHECKING:
    from connectrpc._server_shared import EndpointServerStream, EndpointUnary

log = logging.getLogger(__name__)

SERVICE: Final = pb.DESCRIPTOR.services_by_name["PlayerStatsService"]
RPC_SYSTEM: Final = "connect_rpc"
IDLE_CLOSE_SECS: Final = 0.25
"""The least grace on stop: idle keep-alive connections close cleanly in it instead of being cancelled."""

Behavior = Callable[[Any, Any], Any]
AnyEndpoint: TypeAlias = "EndpointServerStream[Any, Any] | EndpointUnary[Any, Any]"


def method_info(method: MethodDescriptor) -> MethodInfo[Any, Any]:
    """connectrpc's description of `method`; unary methods answer GET (they change nothing a caller can see)."""
    streaming = method.server_streaming
    return MethodInfo(
        name=method.name,
        service_name=SERVICE.full_name,
        input=GetMessageClass(method.input_type),
        output=GetMessageClass(method.output_type),
        idempotency_level=IdempotencyLevel.UNKNOWN if streaming else IdempotencyLevel.NO_SIDE_EFFECTS,
        stream_type=StreamType.SERVER_STREAM if streaming else StreamType.UNARY,
    )


class ConnectCalls:
    """Builds the endpoints: each wraps one servicer method in span, metrics and quota (module docstring)."""

    def __init__(
        self,
        servicer: PlayerStatsServicer,
        *,
        quota: CallerQuotas | None,
        telemetry: Telemetry,
        trust_caller_id: bool = True,
    ) -> None:
        self._servicer = servicer
        self._quota = quota
        self._telemetry = telemetry
        self._trust_caller_id = trust_caller_id

    def endpoints(self, _service: object = None) -> dict[str, AnyEndpoint]:
        """URL path -> endpoint, for every method of PlayerStatsService."""
        endpoints: dict[str, AnyEndpoint] = {}
        for method in SERVICE.methods:
            info = method_info(method)
            call = behavior(
                self._servicer, method, metrics=self._telemetry.metrics, quotas=self._quota, system=RPC_SYSTEM
            )
            path = f"/{SERVICE.full_name}/{method.name}"
            if method.server_streaming:
                endpoints[path] = Endpoint.server_stream(info, self._stream(path, call))
            else:
                endpoints[path] = Endpoint.unary(info, self._unary(path, call))
        return endpoints

    def _unary(self, path: str, call: Behavior) -> Callable[[Any, RequestContext[Any, Any]], Awaitable[Any]]:
        async def unary(request: Any, ctx: RequestContext[Any, Any]) -> Any:
            context = ConnectServicerContext(ctx, trust_caller_id=self._trust_caller_id)
            with self._server_span(path, ctx) as span:
                try:
                    response = await call(request, context)
                except AbortError as exc:
                    _end_span(span, exc)
                    raise
                _end_span(span, None)
                return response

        return unary

    def _stream(self, path: str, call: Behavior) -> Callable[[Any, RequestContext[Any, Any]], AsyncIterator[Any]]:
        async def stream(request: Any, ctx: RequestContext[Any, Any]) -> AsyncIterator[Any]:
            context = ConnectServicerContext(ctx, trust_caller_id=self._trust_caller_id)
            with self._server_span(path, ctx) as span:
                try:
                    async for message in call(request, context):
                        yield message
                except AbortError as exc:
                    _end_span(span, exc)
                    raise
                _end_span(span, None)

        return stream

    @contextlib.contextmanager
    def _server_span(self, path: str, ctx: RequestContext[Any, Any]) -> Iterator[Span | None]:
        """The SERVER span of one call, continuing the caller's trace; None (no span at all) while not tracing."""
        if not self._telemetry.tracing:
            yield None
            return
        attributes = {
            "rpc.system": RPC_SYSTEM,
            "rpc.service": SERVICE.full_name,
            "rpc.method": path.rsplit("/", 1)[1],
            "http.request.method": ctx.http_method,
        }
        if ctx.client_address:
            attributes["client.address"] = ctx.client_address.rpartition(":")[0]
        parent = propagate.extract(dict(ctx.request_headers.items()))
        with self._telemetry.tracer.start_as_current_span(
            path,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield span


def _end_span(span: Span | None, error: AbortError | None) -> None:
    """The status code on the span: 0, or the aborted code (ERROR for the server's own failures)."""
    if span is None:
        return
    if error is None:
        span.set_attribute("rpc.grpc.status_code", 0)
        return
    span.set_attribute("rpc.grpc.status_code", error.grpc_code.value[0])
    span.set_attribute("rpc.connect_rpc.error_code", error.code.value)
    if error.grpc_code in SERVER_ERROR_CODES:
        span.set_status(Status(StatusCode.ERROR, f"{error.grpc_code}:{error.message}"))


class PlayerStatsConnectApp(ConnectASGIApplication[object]):
    """The ASGI application of PlayerStatsService (JSON and binary protobuf codecs of google.protobuf)."""

    def __init__(self, calls: ConnectCalls, *, read_max_bytes: int) -> None:
        super().__init__(
            service=object(),
            endpoints=calls.endpoints,
            read_max_bytes=read_max_bytes,
            codecs=google_protobuf_codecs(),
        )

    @property
    def path(self) -> str:
        """The URL prefix of the service's methods."""
        return f"/{SERVICE.full_name}"


@dataclass
class ConnectHttpServer:
    """The running HTTP face: its bound port (None on a unix socket) and how to stop it."""

    port: int | None
    scheme: str
    _task: asyncio.Task[None] = field(repr=False)
    _shutdown: asyncio.Event = field(repr=False)
    _config: Config = field(repr=False)

    async def stop(self, grace: float | None) -> None:
        """Stop accepting, give calls in flight `grace` seconds (None or 0: `IDLE_CLOSE_SECS`), then close."""
        self._config.graceful_timeout = max(grace or 0.0, IDLE_CLOSE_SECS)
        self._shutdown.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def start_connect_http(
    settings: Settings, servicer: PlayerStatsServicer, *, quota: CallerQuotas | None, telemetry: Telemetry
) -> ConnectHttpServer | None:
    """Serve `servicer` on `PLAYERSTATS_HTTP_LISTEN` (None, and nothing started, when it is empty).

    Raises OSError naming the variable when the address cannot be bound.
    """
    listen = settings.server.http_listen
    if not listen:
        return None
    tls = settings.tls
    calls = ConnectCalls(servicer, quota=quota, telemetry=telemetry, trust_caller_id=tls.client_ca_file is None)
    app = PlayerStatsConnectApp(calls, read_max_bytes=settings.limits.max_receive_message_bytes)
    config = _config(settings)
    bind, port = _bind(listen)
    config.bind = [bind]
    shutdown = asyncio.Event()
    started = asyncio.Event()
    task = asyncio.create_task(serve(_on_startup(app, started), config, shutdown_trigger=shutdown.wait, mode="asgi"))
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # raises what stopped it
        raise OSError(f"the HTTP face on PLAYERSTATS_HTTP_LISTEN={listen!r} stopped at start-up")
    scheme = "https" if config.ssl_enabled else "http"
    log.info("Connect (JSON/HTTP) on %s (port %s, %s)", listen, port, scheme)
    return ConnectHttpServer(port=port, scheme=scheme, _task=task, _shutdown=shutdown, _config=config)


def _config(settings: Settings) -> Config:
    config = Config()
    config.errorlog = logging.getLogger("dbd_playerstats.http")  # hypercorn's own lines, in our log format
    config.accesslog = None  # MeteredRpc writes the one line per call
    config.include_server_header = False
    config.h2_max_concurrent_streams = settings.limits.max_concurrent_streams
    tls = settings.tls
    if tls.cert_file is not None and tls.key_file is not None:
        config.certfile = str(tls.cert_file)
        config.keyfile = str(tls.key_file)
        if tls.client_ca_file is not None:
            config.ca_certs = str(tls.client_ca_file)
            config.verify_mode = ssl.CERT_REQUIRED
        config.create_ssl_context()  # fail here, naming nothing half-started, if the files do not load
    return config


def _bind(listen: str) -> tuple[str, int | None]:
    """hypercorn's bind string for `listen`: a TCP socket bound here (so port 0 works and the port is known)."""
    if listen.startswith("unix:"):
        return listen, None
    host, _, port_text = listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server(
            (host, int(port_text)), family=family, dualstack_ipv6=family == socket.AF_INET6 and host == "::"
        )
    except OSError as exc:
        raise OSError(f"cannot listen on PLAYERSTATS_HTTP_LISTEN={listen!r}: {exc.strerror or exc}") from None
    port = int(sock.getsockname()[1])
    return f"fd://{sock.detach()}", port


def _on_startup(app: PlayerStatsConnectApp, started: asyncio.Event) -> Any:
    """`app`, setting `started` once the server has run its start-up (the lifespan protocol)."""

    async def asgi(scope: Mapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(cast(Any, scope), receive, send)
            return

        async def watched(message: Mapping[str, Any]) -> None:
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                started.set()

        await app(cast(Any, scope), receive, watched)

    return asgi


__all__ = [
    "RPC_SYSTEM",
    "ConnectCalls",
    "ConnectHttpServer",
    "PlayerStatsConnectApp",
    "method_info",
    "start_connect_http",
]
