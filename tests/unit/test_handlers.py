"""The method wrappers registered once per method, and the serializer that sends a kept message's bytes again."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.api.handlers import MIN_KEPT_BYTES, SERVICE, Encoded, Outgoing, handed_over, method_handlers
from dbd_playerstats.telemetry import Telemetry


def big_response(name: str) -> pb.StreamPlayerStatsResponse:
    message = pb.StreamPlayerStatsResponse()
    for index in range(60):
        message.achievements.achievements.achievements.add(api_name=f"{name}_{index}", display_name="x" * 20)
    assert message.ByteSize() >= MIN_KEPT_BYTES
    return message


def test_the_same_message_is_serialized_once_and_its_bytes_sent_again() -> None:
    encode = Encoded()
    message = big_response("A")
    first = encode(message)
    assert first == message.SerializeToString()
    assert encode(message) is first, "the kept bytes, not a new serialization"
    assert encode.kept == 1


def test_an_equal_but_different_message_is_serialized_itself() -> None:
    """Identity, not equality: a message that is a different object is never served another's bytes."""
    encode = Encoded()
    first, second = big_response("A"), big_response("B")
    assert encode(first) == first.SerializeToString()
    assert encode(second) == second.SerializeToString()
    assert encode(second) != encode(first)


def test_small_messages_are_not_kept_and_the_oldest_entries_go_first() -> None:
    encode = Encoded(size=2)
    small = pb.ResolvePlayerResponse(profile=pb.Profile(steam_id="76561198000000001"))
    assert encode(small) == small.SerializeToString()
    assert encode.kept == 0
    messages = [big_response(name) for name in "ABC"]
    kept = [encode(message) for message in messages]
    assert encode.kept == 2
    assert encode(messages[2]) is kept[2]
    assert encode(messages[0]) is not kept[0], "evicted: serialized again"
    assert encode(messages[0]) == kept[0]


def test_every_method_of_the_service_gets_one_wrapped_handler() -> None:
    class Servicer:
        def __getattr__(self, name: str) -> Any:
            async def handler(request: Any, context: Any) -> Any:
                return None

            return handler

    telemetry = Telemetry.disabled()
    try:
        handlers = method_handlers(Servicer(), metrics=telemetry.metrics, quotas=None)
    finally:
        telemetry.shutdown()
    assert sorted(handlers) == sorted(method.name for method in SERVICE.methods)
    for method in SERVICE.methods:
        handler: grpc.RpcMethodHandler[Any, Any] = handlers[method.name]
        assert handler.response_streaming is method.server_streaming
        assert not handler.request_streaming
        request = getattr(pb, method.input_type.name)()
        assert handler.request_deserializer is not None
        assert type(handler.request_deserializer(request.SerializeToString())) is type(request)


class Sent:
    """A message stand-in that can be weakly referenced (protobuf messages cannot): serialized like one."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def SerializeToString(self) -> bytes:
        return self.data


def test_an_outgoing_message_is_handed_over_once() -> None:
    outgoing = Outgoing(big_response("A"))
    assert Encoded()(outgoing) == big_response("A").SerializeToString()
    with pytest.raises(RuntimeError, match="twice"):
        outgoing.take()


async def test_the_sent_message_is_freed_once_serialized() -> None:
    """grpc.aio keeps the last item a handler yielded until the next one: that item is an `Outgoing` the
    serializer empties, so a stream waiting for its next part (or a watch between changes) holds no message."""
    refs: list[weakref.ref[Sent]] = []
    go_on = asyncio.Event()

    async def behavior(request: object, context: object) -> AsyncIterator[Sent]:
        message = Sent(b"x" * 2000)
        refs.append(weakref.ref(message))
        yield message
        del message
        await go_on.wait()

    encode = Encoded(size=0)  # keeps no bytes, and so no message, of its own
    stream = handed_over(behavior)(None, None)
    held = await anext(stream)  # what grpc holds until the next item
    assert encode(held) == b"x" * 2000
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    gc.collect()
    assert refs[0]() is None, "nothing holds the message while the stream waits"
    assert isinstance(held, Outgoing)
    go_on.set()
    with pytest.raises(StopAsyncIteration):
        await waiting
