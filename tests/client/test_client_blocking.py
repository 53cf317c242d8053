"""The blocking client on a grpcio-testing channel: what it sends, and how failures come back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar, cast

import grpc
import grpc_testing
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped,unused-ignore]
from grpc_status import rpc_status

from dbd.playerstats.v1 import playerstats_pb2
from dbd_playerstats_client import PlayerStatsBlockingClient, PlayerStatsError

SERVICE = playerstats_pb2.DESCRIPTOR.services_by_name["PlayerStatsService"]
GET = SERVICE.methods_by_name["GetPlayerStats"]
RESOLVE = SERVICE.methods_by_name["ResolvePlayer"]
STREAM = SERVICE.methods_by_name["StreamPlayerStats"]
STEAM_ID = "76561198000000001"

T = TypeVar("T")


class _RecordingCallable:
    """Delegates to grpcio-testing's multi-callable and records the call's keyword arguments."""

    def __init__(self, inner: Any, calls: list[dict[str, Any]]) -> None:
        self._inner = inner
        self._calls = calls

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        self._calls.append(kwargs)
        return self._inner(request, **kwargs)


class _RecordingChannel:
    """A grpcio-testing channel that also records timeouts, which grpcio-testing itself drops."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[dict[str, Any]] = []

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> _RecordingCallable:
        return _RecordingCallable(self.inner.unary_unary(method, *args, **kwargs), self.calls)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> _RecordingCallable:
        return _RecordingCallable(self.inner.unary_stream(method, *args, **kwargs), self.calls)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def channel() -> _RecordingChannel:
    return _RecordingChannel(grpc_testing.channel([SERVICE], grpc_testing.strict_real_time()))


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


def _client(channel: _RecordingChannel, **kwargs: Any) -> PlayerStatsBlockingClient:
    return PlayerStatsBlockingClient.from_channel(cast(grpc.Channel, channel), **kwargs)


def _in_thread(pool: ThreadPoolExecutor, fn: Callable[[], T]) -> Future[T]:
    return pool.submit(fn)


def _rich_trailers(
    code: grpc.StatusCode,
    message: str,
    *,
    reason: str = "RATE_LIMITED",
    retry_after: duration_pb2.Duration | None = None,
    metadata: dict[str, str] | None = None,
) -> tuple[tuple[str, bytes], ...]:
    details = []
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="playerstats.dbd", metadata=metadata or {}))
    details.append(info)
    if retry_after is not None:
        retry = any_pb2.Any()
        retry.Pack(error_details_pb2.RetryInfo(retry_delay=retry_after))
        details.append(retry)
    status = status_pb2.Status(code=code.value[0], message=message, details=details)
    return cast(tuple[tuple[str, bytes], ...], rpc_status.to_status(status).trailing_metadata)


def _stats_message() -> playerstats_pb2.StreamPlayerStatsResponse:
    return playerstats_pb2.StreamPlayerStatsResponse(
        stats=playerstats_pb2.StatsPart(profile=playerstats_pb2.Profile(steam_id=STEAM_ID))
    )


def _achievements_message() -> playerstats_pb2.StreamPlayerStatsResponse:
    return playerstats_pb2.StreamPlayerStatsResponse(
        achievements=playerstats_pb2.AchievementsPart(achievements=playerstats_pb2.Achievements(unlocked=3))
    )


def test_get_sends_the_player_caller_id_and_default_deadline(
    channel: _RecordingChannel, pool: ThreadPoolExecutor
) -> None:
    """GetPlayerStats carries the stripped player, x-caller-id, extra metadata and a 10 s deadline."""
    client = _client(channel, caller_id="match-history", metadata=[("x-request-source", "test")])
    future = _in_thread(pool, lambda: client.get_player_stats("  somename "))
    metadata, request, rpc = channel.inner.take_unary_unary(GET)
    expected = playerstats_pb2.GetPlayerStatsResponse(
        stats=playerstats_pb2.StatsPart(profile=playerstats_pb2.Profile(steam_id=STEAM_ID))
    )
    rpc.terminate(expected, (), grpc.StatusCode.OK, "")

    assert future.result(timeout=5) == expected
    assert request == playerstats_pb2.GetPlayerStatsRequest(player="somename")
    assert dict(metadata)["x-caller-id"] == "match-history"
    assert dict(metadata)["x-request-source"] == "test"
    assert channel.calls == [
        {"timeout": 10.0, "metadata": (("x-caller-id", "match-history"), ("x-request-source", "test"))}
    ]


def test_no_caller_id_sends_no_caller_key(channel: _RecordingChannel, pool: ThreadPoolExecutor) -> None:
    """Without a caller id the x-caller-id key is absent rather than empty."""
    client = _client(channel)
    future = _in_thread(pool, lambda: client.resolve_player(STEAM_ID))
    metadata, request, rpc = channel.inner.take_unary_unary(RESOLVE)
    rpc.terminate(playerstats_pb2.ResolvePlayerResponse(), (), grpc.StatusCode.OK, "")

    future.result(timeout=5)
    assert request.player == STEAM_ID
    assert "x-caller-id" not in dict(metadata)


@pytest.mark.parametrize(
    ("client_timeout", "call_timeout", "expected"),
    [(None, None, 10.0), (3.0, None, 3.0), (3.0, 1.5, 1.5), (None, 0.25, 0.25)],
)
def test_unary_deadline_precedence(
    channel: _RecordingChannel,
    pool: ThreadPoolExecutor,
    client_timeout: float | None,
    call_timeout: float | None,
    expected: float,
) -> None:
    """The method's timeout beats the client's, which beats the 10 s unary default."""
    client = _client(channel, timeout=client_timeout)
    future = _in_thread(pool, lambda: client.resolve_player(STEAM_ID, timeout=call_timeout))
    _, _, rpc = channel.inner.take_unary_unary(RESOLVE)
    rpc.terminate(playerstats_pb2.ResolvePlayerResponse(), (), grpc.StatusCode.OK, "")

    future.result(timeout=5)
    assert channel.calls[0]["timeout"] == expected


def test_invalid_timeout_is_refused_before_any_call(channel: _RecordingChannel) -> None:
    """A zero or negative per-call timeout raises ValueError and makes no call."""
    client = _client(channel)
    with pytest.raises(ValueError, match="positive"):
        client.get_player_stats(STEAM_ID, timeout=0)
    assert channel.calls == []


def test_failed_call_becomes_player_stats_error(channel: _RecordingChannel, pool: ThreadPoolExecutor) -> None:
    """ErrorInfo and RetryInfo in the trailers become reason, domain, metadata and retry_after."""
    client = _client(channel)
    future = _in_thread(pool, lambda: client.get_player_stats(STEAM_ID))
    _, _, rpc = channel.inner.take_unary_unary(GET)
    trailers = _rich_trailers(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too many requests",
        retry_after=duration_pb2.Duration(seconds=2, nanos=500_000_000),
        metadata={"caller": "match-history"},
    )
    rpc.terminate(None, trailers, grpc.StatusCode.RESOURCE_EXHAUSTED, "too many requests")

    with pytest.raises(PlayerStatsError) as caught:
        future.result(timeout=5)
    err = caught.value
    assert err.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.details == "too many requests"
    assert err.reason == "RATE_LIMITED"
    assert err.domain == "playerstats.dbd"
    assert err.metadata == {"caller": "match-history"}
    assert err.retry_after == 2.5
    assert isinstance(err.__cause__, grpc.RpcError)
    assert str(err) == "RESOURCE_EXHAUSTED RATE_LIMITED: too many requests"


def test_garbled_details_still_give_the_code(channel: _RecordingChannel, pool: ThreadPoolExecutor) -> None:
    """Undecodable grpc-status-details-bin leaves reason and retry_after unset but keeps code and details."""
    client = _client(channel)
    future = _in_thread(pool, lambda: client.get_player_stats(STEAM_ID))
    _, _, rpc = channel.inner.take_unary_unary(GET)
    rpc.terminate(None, (("grpc-status-details-bin", b"\xff\xfe not a status"),), grpc.StatusCode.INTERNAL, "boom")

    with pytest.raises(PlayerStatsError) as caught:
        future.result(timeout=5)
    assert (caught.value.code, caught.value.details) == (grpc.StatusCode.INTERNAL, "boom")
    assert (caught.value.reason, caught.value.domain, caught.value.retry_after) == (None, None, None)


def test_status_disagreeing_with_the_call_is_ignored(channel: _RecordingChannel, pool: ThreadPoolExecutor) -> None:
    """A rich status whose code differs from the call's (a proxy rewrote it) is not trusted."""
    client = _client(channel)
    future = _in_thread(pool, lambda: client.get_player_stats(STEAM_ID))
    _, _, rpc = channel.inner.take_unary_unary(GET)
    trailers = _rich_trailers(grpc.StatusCode.NOT_FOUND, "gone", reason="PLAYER_NOT_FOUND")
    rpc.terminate(None, trailers, grpc.StatusCode.UNAVAILABLE, "gone")

    with pytest.raises(PlayerStatsError) as caught:
        future.result(timeout=5)
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
    assert caught.value.reason is None


def test_stream_yields_parts_in_order_with_stream_deadline(
    channel: _RecordingChannel, pool: ThreadPoolExecutor
) -> None:
    """StreamPlayerStats yields stats then achievements, on a 30 s deadline with the caller id."""
    client = _client(channel, caller_id="svc")
    future = _in_thread(pool, lambda: list(client.stream_player_stats(STEAM_ID)))
    metadata, request, rpc = channel.inner.take_unary_stream(STREAM)
    rpc.send_response(_stats_message())
    rpc.send_response(_achievements_message())
    rpc.terminate((), grpc.StatusCode.OK, "")

    assert future.result(timeout=5) == [_stats_message(), _achievements_message()]
    assert request == playerstats_pb2.StreamPlayerStatsRequest(player=STEAM_ID)
    assert dict(metadata)["x-caller-id"] == "svc"
    assert channel.calls == [{"timeout": 30.0, "metadata": (("x-caller-id", "svc"),)}]


def test_stream_failure_after_first_part(channel: _RecordingChannel, pool: ThreadPoolExecutor) -> None:
    """A stream that fails after the stats part yields that part, then raises PlayerStatsError."""
    client = _client(channel)
    received: list[playerstats_pb2.StreamPlayerStatsResponse] = []
    first_received = threading.Event()

    def consume() -> None:
        for message in client.stream_player_stats(STEAM_ID, timeout=4):
            received.append(message)
            first_received.set()

    future = _in_thread(pool, consume)
    _, _, rpc = channel.inner.take_unary_stream(STREAM)
    rpc.send_response(_stats_message())
    # grpcio-testing drops unread responses once the RPC is terminated with an error.
    assert first_received.wait(timeout=5)
    trailers = _rich_trailers(
        grpc.StatusCode.UNAVAILABLE,
        "Steam is down",
        reason="UPSTREAM_UNAVAILABLE",
        retry_after=duration_pb2.Duration(seconds=30),
    )
    rpc.terminate(trailers, grpc.StatusCode.UNAVAILABLE, "Steam is down")

    with pytest.raises(PlayerStatsError) as caught:
        future.result(timeout=5)
    assert received == [_stats_message()]
    assert (caught.value.reason, caught.value.retry_after) == ("UPSTREAM_UNAVAILABLE", 30.0)
    assert channel.calls[0]["timeout"] == 4


def test_close_leaves_a_borrowed_channel_open(channel: _RecordingChannel, pool: ThreadPoolExecutor) -> None:
    """A client made from_channel does not close the caller's channel on exit."""
    with _client(channel) as client:
        pass
    future = _in_thread(pool, lambda: client.resolve_player(STEAM_ID))
    _, _, rpc = channel.inner.take_unary_unary(RESOLVE)
    rpc.terminate(playerstats_pb2.ResolvePlayerResponse(), (), grpc.StatusCode.OK, "")
    assert future.result(timeout=5) == playerstats_pb2.ResolvePlayerResponse()
