"""The shared call policy, channel options, TLS credentials and the package's public surface."""

from __future__ import annotations

import importlib.metadata
from datetime import timedelta

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

import dbd_playerstats_client
from dbd_playerstats_client import _calls


def test_public_surface_is_complete() -> None:
    """__all__ names exactly the public API, and every name in it exists."""
    assert sorted(dbd_playerstats_client.__all__) == [
        "PlayerStatsBlockingClient",
        "PlayerStatsClient",
        "PlayerStatsError",
        "__version__",
        "channel_credentials",
    ]
    for name in dbd_playerstats_client.__all__:
        assert getattr(dbd_playerstats_client, name) is not None


def test_version_and_user_agent_come_from_the_distribution() -> None:
    """__version__ is the installed distribution's, and the user agent carries it."""
    version = importlib.metadata.version("dbd-playerstats-client")
    assert dbd_playerstats_client.__version__ == version
    assert f"dbd-playerstats-client/{version}" == _calls.USER_AGENT


def test_requests_carry_the_stripped_player() -> None:
    """Each request builder puts the player, stripped of surrounding blanks, in the player field."""
    assert _calls.stream_request(" 7656 ").player == "7656"
    assert _calls.get_request("https://steamcommunity.com/id/x").player == "https://steamcommunity.com/id/x"
    assert _calls.resolve_request("name\n").player == "name"


def test_max_age_becomes_a_duration() -> None:
    """Seconds or a timedelta become the request's Duration (0 included: live); None leaves the field unset."""
    assert _calls.stream_request("x", 0).max_age == Duration(seconds=0)
    assert _calls.stream_request("x", 0).HasField("max_age")
    assert not _calls.stream_request("x").HasField("max_age")
    assert _calls.get_request("x", 1.5).max_age == Duration(seconds=1, nanos=500_000_000)
    assert _calls.get_request("x", timedelta(hours=1)).max_age == Duration(seconds=3600)
    assert _calls.lobby_request(["x"], timedelta(microseconds=-1)).max_age == Duration(nanos=-1000)


@pytest.mark.parametrize(
    ("max_age", "error"),
    [(float("nan"), ValueError), (float("inf"), ValueError), (1e12, ValueError), ("60", TypeError), (True, TypeError)],
    ids=["nan", "inf", "beyond-duration", "string", "bool"],
)
def test_max_age_that_cannot_be_a_duration_is_refused(max_age: object, error: type[Exception]) -> None:
    """Only what cannot be a Duration is refused here; the range (negative values) is the server's to check."""
    with pytest.raises(error, match="max_age"):
        _calls.stream_request("x", max_age)  # type: ignore[arg-type]


def test_lobby_request_keeps_the_order_and_strips_each_player() -> None:
    """The players go out in order, each stripped; one string instead of a sequence is a TypeError."""
    assert list(_calls.lobby_request([" a ", "b\n", "a"]).players) == ["a", "b", "a"]
    with pytest.raises(TypeError, match="sequence"):
        _calls.lobby_request("76561198000000001")


def test_non_string_player_is_a_type_error() -> None:
    """A player that is not a string is refused before any request is built."""
    with pytest.raises(TypeError, match="player must be a str"):
        _calls.get_request(76561198000000001)  # type: ignore[arg-type]


def test_timeouts() -> None:
    """Defaults are 10 s unary and 30 s stream; the client's and then the call's timeout override them."""
    assert (_calls.CallPolicy().unary_timeout(), _calls.CallPolicy().stream_timeout()) == (10.0, 30.0)
    assert _calls.CallPolicy(timeout=2).stream_timeout() == 2.0
    assert _calls.CallPolicy(timeout=2).unary_timeout(0.5) == 0.5


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan")])
def test_bad_timeouts_are_refused(timeout: float) -> None:
    """Zero, negative, infinite and NaN timeouts raise ValueError, on the client and per call."""
    with pytest.raises(ValueError, match="positive"):
        _calls.CallPolicy(timeout=timeout)
    with pytest.raises(ValueError, match="positive"):
        _calls.CallPolicy().unary_timeout(timeout)


def test_call_metadata() -> None:
    """x-caller-id comes first when set, then the extra pairs; an empty caller id sends nothing."""
    policy = _calls.CallPolicy.build(caller_id="svc", metadata=[("x-tenant", "eu")])
    assert policy.call_metadata() == (("x-caller-id", "svc"), ("x-tenant", "eu"))
    assert _calls.CallPolicy(caller_id="").call_metadata() == ()


@pytest.mark.parametrize(
    ("caller_id", "metadata"),
    [("caf\u00e9", ()), ("a\nb", ()), (None, (("X-Upper", "v"),)), (None, (("k-bin", "v"),))],
)
def test_bad_metadata_is_refused(caller_id: str | None, metadata: tuple[tuple[str, str], ...]) -> None:
    """Non-ASCII or control characters in values and invalid or binary keys raise ValueError early."""
    with pytest.raises(ValueError, match="metadata"):
        _calls.CallPolicy(caller_id=caller_id, metadata=metadata)


def test_channel_options_add_the_user_agent() -> None:
    """The client's user agent is added, after a caller's own primary user agent when there is one."""
    assert _calls.channel_options([("grpc.keepalive_time_ms", 1000)]) == [
        ("grpc.keepalive_time_ms", 1000),
        ("grpc.primary_user_agent", _calls.USER_AGENT),
    ]
    assert _calls.channel_options([("grpc.primary_user_agent", "svc/2")]) == [
        ("grpc.primary_user_agent", f"svc/2 {_calls.USER_AGENT}")
    ]


def test_channel_credentials() -> None:
    """channel_credentials builds TLS credentials and refuses a client certificate without its key."""
    assert isinstance(dbd_playerstats_client.channel_credentials(), grpc.ChannelCredentials)
    with pytest.raises(ValueError, match="together"):
        dbd_playerstats_client.channel_credentials(client_cert=b"cert")
