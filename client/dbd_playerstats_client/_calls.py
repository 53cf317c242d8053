"""How one call is made, shared by the async and the blocking client.

The two clients differ only in how they wait; everything that decides *what* goes on the wire lives
here: the request built from a player string, the call metadata, the deadline and the channel options.

Deadlines: every call gets one. Its length is, first found: the ``timeout`` given to the method, the
``timeout`` given to the client, else :data:`DEFAULT_UNARY_TIMEOUT_S` for ``GetPlayerStats`` and
``ResolvePlayer`` or :data:`DEFAULT_STREAM_TIMEOUT_S` for the whole of ``StreamPlayerStats`` or
``StreamLobbyStats`` (the stream's last message included). There is deliberately no way to make a call
without a deadline.

``max_age`` (seconds as a number, or a ``datetime.timedelta``; ``None`` leaves the field unset: the
server's cache TTLs decide) becomes the request's ``google.protobuf.Duration``. ``0`` asks for live data.
Its range is the server's to check (a negative value fails ``INVALID_ARGUMENT``); only what cannot be a
Duration at all (NaN, infinity, a non-number) is refused here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import grpc
from google.protobuf import duration_pb2

from dbd.playerstats.v1 import playerstats_pb2
from dbd_playerstats_client._version import __version__

__all__ = [
    "CALLER_ID_METADATA_KEY",
    "DEFAULT_STREAM_TIMEOUT_S",
    "DEFAULT_UNARY_TIMEOUT_S",
    "USER_AGENT",
    "USER_AGENT_OPTION",
    "CallPolicy",
    "MaxAge",
    "channel_credentials",
    "channel_options",
    "get_request",
    "lobby_request",
    "resolve_request",
    "stream_request",
]

#: Seconds allowed to a unary call (GetPlayerStats, ResolvePlayer) unless overridden.
DEFAULT_UNARY_TIMEOUT_S = 10.0
#: Seconds allowed to a whole StreamPlayerStats call unless overridden.
DEFAULT_STREAM_TIMEOUT_S = 30.0
#: Metadata key naming the calling service, for the server's logs, traces and per-caller limits.
CALLER_ID_METADATA_KEY = "x-caller-id"
#: The channel option that prefixes gRPC's own user agent.
USER_AGENT_OPTION = "grpc.primary_user_agent"
USER_AGENT = f"dbd-playerstats-client/{__version__}"

# gRPC's rule for ASCII metadata keys; "-bin" keys carry bytes, which this client never sends.
_METADATA_KEY = re.compile(r"[0-9a-z_.-]+")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")

# google.protobuf.Duration spans about +-10,000 years.
_MAX_DURATION_NANOS = 315_576_000_000 * 10**9

#: How old the data may be: seconds, or a timedelta; ``None`` for the server's own cache TTLs.
MaxAge: TypeAlias = float | timedelta | None


def stream_request(player: str, max_age: MaxAge = None) -> playerstats_pb2.StreamPlayerStatsRequest:
    """The StreamPlayerStats request for ``player`` (SteamID64, vanity name or profile URL)."""
    return playerstats_pb2.StreamPlayerStatsRequest(player=_player(player), max_age=_duration(max_age))


def get_request(player: str, max_age: MaxAge = None) -> playerstats_pb2.GetPlayerStatsRequest:
    """The GetPlayerStats request for ``player``."""
    return playerstats_pb2.GetPlayerStatsRequest(player=_player(player), max_age=_duration(max_age))


def lobby_request(players: Sequence[str], max_age: MaxAge = None) -> playerstats_pb2.StreamLobbyStatsRequest:
    """The StreamLobbyStats request for ``players`` (each in any form ``player`` accepts), in order.

    How many players a lobby may have is the server's rule (1 to 10: ``INVALID_ARGUMENT`` otherwise).
    """
    if isinstance(players, str):
        raise TypeError("players must be a sequence of player strings, not one string")
    return playerstats_pb2.StreamLobbyStatsRequest(
        players=[_player(player) for player in players], max_age=_duration(max_age)
    )


def resolve_request(player: str) -> playerstats_pb2.ResolvePlayerRequest:
    """The ResolvePlayer request for ``player``."""
    return playerstats_pb2.ResolvePlayerRequest(player=_player(player))


def watch_request(player: str, interval: MaxAge = None) -> playerstats_pb2.WatchPlayerRequest:
    """The WatchPlayer request: ``interval`` seconds or a timedelta (None: the server's default)."""
    return playerstats_pb2.WatchPlayerRequest(player=_player(player), interval=_duration(interval))


def history_request(
    player: str, stats: Sequence[str] = (), since: datetime | None = None
) -> playerstats_pb2.GetPlayerHistoryRequest:
    """The GetPlayerHistory request: raw stat names (empty: the headline stats), history from ``since`` on."""
    if isinstance(stats, str):
        raise TypeError("stats must be a sequence of stat names, not one string")
    request = playerstats_pb2.GetPlayerHistoryRequest(player=_player(player), stats=list(stats))
    if since is not None:
        if since.tzinfo is None:
            raise ValueError("since must be an aware datetime (e.g. datetime.now(UTC))")
        request.since.FromDatetime(since)
    return request


def _duration(max_age: MaxAge) -> duration_pb2.Duration | None:
    if max_age is None:
        return None
    if isinstance(max_age, timedelta):
        nanos = ((max_age.days * 86_400 + max_age.seconds) * 1_000_000 + max_age.microseconds) * 1_000
    elif isinstance(max_age, int | float) and not isinstance(max_age, bool):
        if not math.isfinite(max_age):
            raise ValueError(f"max_age must be a finite number of seconds, not {max_age!r}")
        nanos = round(max_age * 1e9)
    else:
        raise TypeError(f"max_age must be seconds or a timedelta, not {type(max_age).__name__}")
    if abs(nanos) > _MAX_DURATION_NANOS:
        raise ValueError(f"max_age is beyond the range of a protobuf Duration: {max_age!r}")
    out = duration_pb2.Duration()
    out.FromNanoseconds(nanos)
    return out


def _player(player: str) -> str:
    # Surrounding blanks are copy-paste noise; every other check is the server's (INVALID_PLAYER),
    # so that the rules live in one place.
    if not isinstance(player, str):
        raise TypeError(f"player must be a str, not {type(player).__name__}")
    return player.strip()


@dataclass(frozen=True)
class CallPolicy:
    """Per-client call settings: deadline override, caller id and extra metadata.

    Attributes:
        timeout: Seconds for every call of this client, overriding both defaults; ``None`` keeps
            the defaults. Must be positive and finite.
        caller_id: Sent as ``x-caller-id`` on every call; ``None`` (or ``""``) sends no such key.
            Printable ASCII only.
        metadata: Extra ``(key, value)`` pairs sent on every call, after ``x-caller-id``. Keys are
            lowercase gRPC ASCII keys (not ``-bin``), values printable ASCII.
    """

    timeout: float | None = None
    caller_id: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _check_timeout(self.timeout, "timeout")
        if self.caller_id is not None:
            _check_value(self.caller_id, CALLER_ID_METADATA_KEY)
        for key, value in self.metadata:
            if not _METADATA_KEY.fullmatch(key) or key.endswith("-bin"):
                raise ValueError(f"metadata key {key!r} is not a lowercase ASCII gRPC key")
            _check_value(value, key)

    @classmethod
    def build(
        cls,
        *,
        timeout: float | None = None,
        caller_id: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> CallPolicy:
        """A policy from the clients' keyword arguments (any sequence of pairs for ``metadata``)."""
        return cls(timeout=timeout, caller_id=caller_id, metadata=tuple((k, v) for k, v in metadata))

    def unary_timeout(self, override: float | None = None) -> float:
        """Seconds of deadline for a unary call, ``override`` (the method's ``timeout``) first."""
        return self._timeout(override, DEFAULT_UNARY_TIMEOUT_S)

    def stream_timeout(self, override: float | None = None) -> float:
        """Seconds of deadline for a whole StreamPlayerStats call, ``override`` first."""
        return self._timeout(override, DEFAULT_STREAM_TIMEOUT_S)

    def _timeout(self, override: float | None, default: float) -> float:
        _check_timeout(override, "timeout")
        if override is not None:
            return float(override)
        return float(self.timeout) if self.timeout is not None else default

    def call_metadata(self) -> tuple[tuple[str, str], ...]:
        """The metadata of every call: ``x-caller-id`` when set, then the extra pairs."""
        caller = ((CALLER_ID_METADATA_KEY, self.caller_id),) if self.caller_id else ()
        return caller + self.metadata


def _check_timeout(timeout: float | None, name: str) -> None:
    if timeout is not None and not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
        raise ValueError(f"{name} must be a positive number of seconds, not {timeout!r}")


def _check_value(value: str, key: str) -> None:
    if not isinstance(value, str) or not _PRINTABLE_ASCII.fullmatch(value):
        raise ValueError(f"metadata {key!r} must be printable ASCII, not {value!r}")


def channel_options(options: Sequence[tuple[str, Any]] = ()) -> list[tuple[str, Any]]:
    """``options`` plus the client's user agent (``grpc.primary_user_agent``).

    A ``grpc.primary_user_agent`` in ``options`` is kept in front of the client's own
    (``"my-service/2.1 dbd-playerstats-client/0.1.0"``), so that both show in the server's logs.
    """
    own = [(key, value) for key, value in options if key == USER_AGENT_OPTION]
    rest = [(key, value) for key, value in options if key != USER_AGENT_OPTION]
    agent = " ".join([*(str(value) for _, value in own), USER_AGENT])
    return [*rest, (USER_AGENT_OPTION, agent)]


def channel_credentials(
    ca_cert: bytes | None = None,
    client_cert: bytes | None = None,
    client_key: bytes | None = None,
) -> grpc.ChannelCredentials:
    """TLS credentials for :class:`PlayerStatsClient` / :class:`PlayerStatsBlockingClient`.

    Args:
        ca_cert: PEM root certificates that sign the server's certificate; ``None`` uses gRPC's
            default roots.
        client_cert: PEM certificate chain presented for mutual TLS; needs ``client_key``.
        client_key: PEM private key of ``client_cert``.

    Raises:
        ValueError: only one of ``client_cert`` and ``client_key`` was given.
    """
    if (client_cert is None) != (client_key is None):
        raise ValueError("client_cert and client_key go together: give both or neither")
    return grpc.ssl_channel_credentials(
        root_certificates=ca_cert, private_key=client_key, certificate_chain=client_cert
    )
