"""The service's method handlers, each wrapped once when the server is built: quota, then metrics and log line.

grpc.aio interceptors run on every call: one coroutine per interceptor and a handler lookup through them, and a
server with any interceptor loses grpc.aio's fast lookup of registered methods. Issue 12's row 3 measured the
two interceptors this service had (the RPC metrics/log one and the caller quota) at about half of a bare
servicer's cache-hit throughput with a handler that did nothing. Here the same wrappers are applied to each
method once, at registration, and the methods are registered as grpc.aio's generated code registers them
(`add_generic_rpc_handlers` and `add_registered_method_handlers`). Only the OpenTelemetry interceptor, a
library's, stays an interceptor, and only while spans are exported (`telemetry.grpc_server`).

Order, outermost first: `MeteredRpc` (status code, duration metric, first-message metric, log line, message
events on the SERVER span) -> the caller quotas (`api.quota`) -> the servicer method, whose error boundary
(`api.status`) turns exceptions into rich statuses. The Connect face (`api.connect_http`) wraps its calls with
`behavior` too, so both protocols are measured, logged and metered alike.

Responses are serialized by `Encoded`: a message served again (a cache hit is served the very message object of
its answer, `api.mapping`) is serialized once and its bytes sent again. A stream's messages reach grpc inside an
`Outgoing`, which the serializer empties: grpc.aio holds the last message a handler yielded until the next one
(its loop variable), and a stream that waits (for its achievements, a watch between changes) would hold its
last message, three times its encoded size, as long as it waits (issue 12's row 6: a third of a held stream).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import grpc
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.api.quota import CallerQuotas, guard_stream, guard_unary
from dbd_playerstats.telemetry.grpc_server import MeteredRpc
from dbd_playerstats.telemetry.metrics import Metrics

SERVICE: Final = pb.DESCRIPTOR.services_by_name["PlayerStatsService"]
ENCODED_MESSAGES: Final = 64
"""Messages whose bytes are kept (most recently sent first): the hot answers' parts, about 20 KiB each."""
MIN_KEPT_BYTES: Final = 1024
"""Smaller messages are serialized each time: cheaper than keeping them."""

Behavior = Callable[..., Any]


class Outgoing:
    """A stream message on its way to grpc: `take` hands it over once, and nothing refers to it after that."""

    __slots__ = ("_message",)

    def __init__(self, message: Message) -> None:
        self._message: Message | None = message

    def take(self) -> Message:
        message, self._message = self._message, None
        if message is None:
            raise RuntimeError("an outgoing message was serialized twice")
        return message


def handed_over(streaming: Behavior) -> Callable[[Any, Any], AsyncIterator[Outgoing]]:
    """`streaming`'s messages, each inside an `Outgoing` (module docstring)."""

    async def handing_over(request: Any, context: Any) -> AsyncIterator[Outgoing]:
        async for message in streaming(request, context):
            outgoing = Outgoing(message)
            del message
            yield outgoing
            del outgoing

    return handing_over


class Encoded:
    """The response serializer: the bytes of a message sent before, if it is the very same object, else
    ``SerializeToString()``.

    Identity is enough because the messages served again are never mutated (`domain.memo`); an entry holds its
    message, so its id cannot be reused by another object while the entry lives. One event loop: no lock.
    """

    __slots__ = ("_kept", "_size")

    def __init__(self, size: int = ENCODED_MESSAGES) -> None:
        self._kept: OrderedDict[int, tuple[Message, bytes]] = OrderedDict()
        self._size = size

    def __call__(self, sent: Message | Outgoing) -> bytes:
        message = sent.take() if isinstance(sent, Outgoing) else sent
        key = id(message)
        entry = self._kept.get(key)
        if entry is not None and entry[0] is message:
            self._kept.move_to_end(key)
            return entry[1]
        data = message.SerializeToString()
        if len(data) >= MIN_KEPT_BYTES:
            self._kept[key] = (message, data)
            if len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return data

    @property
    def kept(self) -> int:
        """How many messages' bytes are kept (no ``__len__``: grpc skips a serializer that is falsy)."""
        return len(self._kept)


def behavior(
    servicer: object,
    method: MethodDescriptor,
    *,
    metrics: Metrics,
    quotas: CallerQuotas | None,
    system: str = "grpc",
) -> Behavior:
    """The servicer's `method` behind the quotas and `MeteredRpc` (`system`: ``grpc`` or ``connect_rpc``)."""
    handler: Behavior = getattr(servicer, method.name)
    metered = MeteredRpc(metrics, SERVICE.full_name, method.name, system=system)
    if method.server_streaming:
        return metered.streaming(handler if quotas is None else guard_stream(quotas, handler))
    return metered.unary(handler if quotas is None else guard_unary(quotas, handler))


def method_handlers(
    servicer: object, *, metrics: Metrics, quotas: CallerQuotas | None
) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    """Method name -> its wrapped handler (every method of the service is unary-request)."""
    encode = Encoded()
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in SERVICE.methods:
        request_type: type[Message] = getattr(pb, method.input_type.name)
        wrapped = behavior(servicer, method, metrics=metrics, quotas=quotas)
        if method.server_streaming:
            wrapped = handed_over(wrapped)
            factory = grpc.unary_stream_rpc_method_handler
        else:
            factory = grpc.unary_unary_rpc_method_handler
        handlers[method.name] = factory(
            wrapped, request_deserializer=request_type.FromString, response_serializer=encode
        )
    return handlers


def add_service(server: grpc.aio.Server, servicer: object, *, metrics: Metrics, quotas: CallerQuotas | None) -> None:
    """Register the wrapped methods of `servicer` on `server`, as the generated ``add_..._to_server`` does."""
    handlers = method_handlers(servicer, metrics=metrics, quotas=quotas)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
    server.add_registered_method_handlers(SERVICE.full_name, handlers)


__all__ = [
    "ENCODED_MESSAGES",
    "SERVICE",
    "Encoded",
    "Outgoing",
    "add_service",
    "behavior",
    "handed_over",
    "method_handlers",
]
