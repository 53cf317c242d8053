"""The async client (``grpc.aio``) and its blocking twin (sync ``grpc``).

Both turn a player string into a request, attach the caller's metadata and a deadline
(:mod:`dbd_playerstats_client._calls`), make the call on the generated stub and raise every gRPC
failure as a chained :class:`~dbd_playerstats_client.errors.PlayerStatsError`. Neither retries: the
error's ``retry_after`` says how long the server asks callers to wait.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import grpc
import grpc.aio

from dbd.playerstats.v1 import playerstats_pb2, playerstats_pb2_grpc
from dbd_playerstats_client import _calls
from dbd_playerstats_client._calls import MaxAge, channel_credentials
from dbd_playerstats_client.errors import translate_rpc_errors

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub

__all__ = ["PlayerStatsBlockingClient", "PlayerStatsClient", "channel_credentials"]


class PlayerStatsClient:
    """Async client of the dbd-playerstats service, on a ``grpc.aio`` channel.

    Create it inside the running event loop and close it with ``aclose()`` or ``async with``::

        async with PlayerStatsClient("127.0.0.1:50051", caller_id="match-history") as client:
            async for message in client.stream_player_stats("76561198000000001"):
                ...

    Args:
        target: ``host:port`` (or any gRPC target URI) of the server.
        timeout: Seconds of deadline for every call, overriding the defaults (10 s unary, 30 s
            for a whole stream); a method's own ``timeout`` overrides this in turn.
        caller_id: Sent as ``x-caller-id`` metadata on every call.
        metadata: Extra ``(key, value)`` metadata sent on every call.
        credentials: TLS credentials (see :func:`channel_credentials`); ``None`` is plaintext.
        options: Extra gRPC channel options; the client adds its ``grpc.primary_user_agent``.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float | None = None,
        caller_id: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        policy = _calls.CallPolicy.build(timeout=timeout, caller_id=caller_id, metadata=metadata)
        opts = _calls.channel_options(options)
        channel = (
            grpc.aio.secure_channel(target, credentials, options=opts)
            if credentials is not None
            else grpc.aio.insecure_channel(target, options=opts)
        )
        self._setup(channel, policy, owns_channel=True)

    @classmethod
    def from_channel(
        cls,
        channel: grpc.aio.Channel,
        *,
        timeout: float | None = None,
        caller_id: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> Self:
        """A client on a channel the caller built (interceptors, custom options) and keeps owning.

        ``aclose()`` then leaves the channel open, and the client's user agent is not added.
        """
        client = cls.__new__(cls)
        policy = _calls.CallPolicy.build(timeout=timeout, caller_id=caller_id, metadata=metadata)
        client._setup(channel, policy, owns_channel=False)
        return client

    def _setup(self, channel: grpc.aio.Channel, policy: _calls.CallPolicy, *, owns_channel: bool) -> None:
        self._channel = channel
        self._owns_channel = owns_channel
        self._policy = policy
        self._stub: PlayerStatsServiceAsyncStub = playerstats_pb2_grpc.PlayerStatsServiceStub(channel)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the channel if the client created it, cancelling calls still running. Idempotent."""
        if self._owns_channel:
            await self._channel.close()

    async def stream_player_stats(
        self,
        player: str,
        *,
        max_age: MaxAge = None,
        timeout: float | None = None,
    ) -> AsyncGenerator[playerstats_pb2.StreamPlayerStatsResponse, None]:
        """Yield the stats part as soon as the server has it, then the achievements part.

        The call starts at the first iteration; the deadline covers the whole stream. Leaving the
        loop early cancels the call once the generator is closed: use ``contextlib.aclosing`` to
        close it at once. ``max_age`` (seconds or a timedelta): how old the parts may be; ``0``
        asks Steam now; ``None`` leaves it to the server's caches.

        Raises:
            PlayerStatsError: the call failed, possibly after the first message was yielded.
        """
        call = self._stub.StreamPlayerStats(
            _calls.stream_request(player, max_age),
            timeout=self._policy.stream_timeout(timeout),
            metadata=self._policy.call_metadata(),
        )
        try:
            with translate_rpc_errors():
                async for message in call:
                    yield message
        finally:
            call.cancel()

    async def get_player_stats(
        self,
        player: str,
        *,
        max_age: MaxAge = None,
        timeout: float | None = None,
    ) -> playerstats_pb2.GetPlayerStatsResponse:
        """Both parts in one response, once both are settled (``max_age`` as in :meth:`stream_player_stats`).

        Raises:
            PlayerStatsError: the call failed.
        """
        with translate_rpc_errors():
            return await self._stub.GetPlayerStats(
                _calls.get_request(player, max_age),
                timeout=self._policy.unary_timeout(timeout),
                metadata=self._policy.call_metadata(),
            )

    async def resolve_player(
        self,
        player: str,
        *,
        timeout: float | None = None,
    ) -> playerstats_pb2.ResolvePlayerResponse:
        """The SteamID64 and public profile of ``player``.

        Raises:
            PlayerStatsError: the call failed.
        """
        with translate_rpc_errors():
            return await self._stub.ResolvePlayer(
                _calls.resolve_request(player),
                timeout=self._policy.unary_timeout(timeout),
                metadata=self._policy.call_metadata(),
            )

    async def watch_player(
        self, player: str, *, interval: MaxAge = None
    ) -> AsyncGenerator[playerstats_pb2.WatchPlayerResponse, None]:
        """Yield the player's snapshot, then each change as the server sees it, until the loop is left.

        ``interval`` (seconds or a timedelta): how often the server looks (raised to its minimum; None: its
        default). No deadline: a watch lasts until it is cancelled (leave the loop and close the generator)
        or the server stops (PlayerStatsError UNAVAILABLE SHUTTING_DOWN: watch again).

        Raises:
            PlayerStatsError: the watch could not start or ended.
        """
        call = self._stub.WatchPlayer(_calls.watch_request(player, interval), metadata=self._policy.call_metadata())
        try:
            with translate_rpc_errors():
                async for message in call:
                    yield message
        finally:
            call.cancel()

    async def get_player_history(
        self,
        player: str,
        *,
        stats: Sequence[str] = (),
        since: datetime | None = None,
        timeout: float | None = None,
    ) -> playerstats_pb2.GetPlayerHistoryResponse:
        """How ``stats`` (raw names; empty: the headline stats) changed, and the unlock timeline, since ``since``.

        Raises:
            PlayerStatsError: the call failed.
        """
        with translate_rpc_errors():
            return await self._stub.GetPlayerHistory(
                _calls.history_request(player, stats, since),
                timeout=self._policy.unary_timeout(timeout),
                metadata=self._policy.call_metadata(),
            )

    async def stream_lobby_stats(
        self,
        players: Sequence[str],
        *,
        max_age: MaxAge = None,
        timeout: float | None = None,
    ) -> AsyncGenerator[playerstats_pb2.StreamLobbyStatsResponse, None]:
        """Yield the parts of up to 10 players as the server has them, each naming its ``index``.

        Per player: its ``stats``, then its ``achievements``, or one ``error`` (a ``google.rpc.Status``;
        :func:`~dbd_playerstats_client.errors.from_status` turns it into a :class:`PlayerStatsError`).
        Parts of different players interleave in the order they became ready. The deadline (the
        stream default, 30 s) covers the whole lobby; ``max_age`` applies to every player.

        Raises:
            PlayerStatsError: the call as a whole failed (no players or more than 10, a negative
                ``max_age``, the caller's quota, the deadline), possibly after some messages.
        """
        call = self._stub.StreamLobbyStats(
            _calls.lobby_request(players, max_age),
            timeout=self._policy.stream_timeout(timeout),
            metadata=self._policy.call_metadata(),
        )
        try:
            with translate_rpc_errors():
                async for message in call:
                    yield message
        finally:
            call.cancel()


class PlayerStatsBlockingClient:
    """Blocking client of the dbd-playerstats service, on a sync ``grpc`` channel.

    For code without an event loop; same arguments, defaults and errors as
    :class:`PlayerStatsClient`. Thread-safe like the gRPC channel under it. Close it with
    ``close()`` or ``with``.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float | None = None,
        caller_id: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        policy = _calls.CallPolicy.build(timeout=timeout, caller_id=caller_id, metadata=metadata)
        opts = _calls.channel_options(options)
        channel = (
            grpc.secure_channel(target, credentials, options=opts)
            if credentials is not None
            else grpc.insecure_channel(target, options=opts)
        )
        self._setup(channel, policy, owns_channel=True)

    @classmethod
    def from_channel(
        cls,
        channel: grpc.Channel,
        *,
        timeout: float | None = None,
        caller_id: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> Self:
        """A client on a channel the caller built and keeps owning (``close()`` leaves it open)."""
        client = cls.__new__(cls)
        policy = _calls.CallPolicy.build(timeout=timeout, caller_id=caller_id, metadata=metadata)
        client._setup(channel, policy, owns_channel=False)
        return client

    def _setup(self, channel: grpc.Channel, policy: _calls.CallPolicy, *, owns_channel: bool) -> None:
        self._channel = channel
        self._owns_channel = owns_channel
        self._policy = policy
        self._stub = playerstats_pb2_grpc.PlayerStatsServiceStub(channel)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel if the client created it. Idempotent."""
        if self._owns_channel:
            self._channel.close()

    def stream_player_stats(
        self, player: str, *, max_age: MaxAge = None, timeout: float | None = None
    ) -> Generator[playerstats_pb2.StreamPlayerStatsResponse, None, None]:
        """Yield the stats part, then the achievements part, as :meth:`PlayerStatsClient.stream_player_stats`.

        Raises:
            PlayerStatsError: the call failed, possibly after the first message was yielded.
        """
        call = self._stub.StreamPlayerStats(
            _calls.stream_request(player, max_age),
            timeout=self._policy.stream_timeout(timeout),
            metadata=self._policy.call_metadata(),
        )
        try:
            with translate_rpc_errors():
                yield from call
        finally:
            call.cancel()

    def get_player_stats(
        self, player: str, *, max_age: MaxAge = None, timeout: float | None = None
    ) -> playerstats_pb2.GetPlayerStatsResponse:
        """Both parts in one response, once both are settled.

        Raises:
            PlayerStatsError: the call failed.
        """
        with translate_rpc_errors():
            return self._stub.GetPlayerStats(
                _calls.get_request(player, max_age),
                timeout=self._policy.unary_timeout(timeout),
                metadata=self._policy.call_metadata(),
            )

    def resolve_player(self, player: str, *, timeout: float | None = None) -> playerstats_pb2.ResolvePlayerResponse:
        """The SteamID64 and public profile of ``player``.

        Raises:
            PlayerStatsError: the call failed.
        """
        with translate_rpc_errors():
            return self._stub.ResolvePlayer(
                _calls.resolve_request(player),
                timeout=self._policy.unary_timeout(timeout),
                metadata=self._policy.call_metadata(),
            )

    def watch_player(
        self, player: str, *, interval: MaxAge = None
    ) -> Generator[playerstats_pb2.WatchPlayerResponse, None, None]:
        """The events of a watch, as :meth:`PlayerStatsClient.watch_player`.

        Raises:
            PlayerStatsError: the watch could not start or ended.
        """
        call = self._stub.WatchPlayer(_calls.watch_request(player, interval), metadata=self._policy.call_metadata())
        try:
            with translate_rpc_errors():
                yield from call
        finally:
            call.cancel()

    def get_player_history(
        self,
        player: str,
        *,
        stats: Sequence[str] = (),
        since: datetime | None = None,
        timeout: float | None = None,
    ) -> playerstats_pb2.GetPlayerHistoryResponse:
        """How ``stats`` changed, and the unlock timeline (see the async client).

        Raises:
            PlayerStatsError: the call failed.
        """
        with translate_rpc_errors():
            return self._stub.GetPlayerHistory(
                _calls.history_request(player, stats, since),
                timeout=self._policy.unary_timeout(timeout),
                metadata=self._policy.call_metadata(),
            )

    def stream_lobby_stats(
        self, players: Sequence[str], *, max_age: MaxAge = None, timeout: float | None = None
    ) -> Generator[playerstats_pb2.StreamLobbyStatsResponse, None, None]:
        """Yield the parts of up to 10 players as they are ready, as :meth:`PlayerStatsClient.stream_lobby_stats`.

        Raises:
            PlayerStatsError: the call as a whole failed, possibly after some messages.
        """
        call = self._stub.StreamLobbyStats(
            _calls.lobby_request(players, max_age),
            timeout=self._policy.stream_timeout(timeout),
            metadata=self._policy.call_metadata(),
        )
        try:
            with translate_rpc_errors():
                yield from call
        finally:
            call.cancel()
