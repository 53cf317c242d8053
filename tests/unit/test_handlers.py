"""The method wrappers registered once per method, and the serializer that sends a kept message's bytes again."""

from __future__ import annotations

from typing import Any

import grpc

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.api.handlers import MIN_KEPT_BYTES, SERVICE, Encoded, method_handlers
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
