"""The gRPC face of the service: proto in, one fetch call, proto out. Errors are translated by `status`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

import grpc

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.api.history import HEADLINE_STATS, history_to_pb
from dbd_playerstats.api.lobby import lobby_part_to_pb, max_age_of
from dbd_playerstats.api.mapping import get_response, profile_to_pb, stream_response
from dbd_playerstats.api.quota import caller_of
from dbd_playerstats.api.status import stream_errors, unary_errors
from dbd_playerstats.api.watch import watch_event_to_pb
from dbd_playerstats.domain.model import AchievementsPart, StatsPart
from dbd_playerstats.errors import InvalidRequestError
from dbd_playerstats.service.fetcher import PlayerFetcher
from dbd_playerstats.service.freshness import PlayerParts
from dbd_playerstats.service.history import player_history
from dbd_playerstats.service.lobby import Lobby
from dbd_playerstats.service.watch import Watches
from dbd_playerstats.upstream.deadline import Deadline

Context = grpc.aio.ServicerContext[Any, Any]


class PlayerStatsServicer(pb_grpc.PlayerStatsServiceServicer):
    """Implements dbd.playerstats.v1.PlayerStatsService."""

    def __init__(self, fetcher: PlayerFetcher, watches: Watches, *, overall_timeout_secs: float) -> None:
        self._fetcher = fetcher
        self._watches = watches
        self.watches = watches  # for the app, which ends every watch first when the server stops
        self._parts = PlayerParts(fetcher)  # max_age: the store's young copies, else the fetcher's parts
        self._lobby = Lobby(fetcher, self._parts)
        self._overall_timeout_secs = overall_timeout_secs

    def _deadline(self, context: Context) -> Deadline:
        return Deadline.for_rpc(context.time_remaining(), self._overall_timeout_secs)

    @stream_errors
    async def StreamPlayerStats(
        self, request: pb.StreamPlayerStatsRequest, context: Context
    ) -> AsyncIterator[pb.StreamPlayerStatsResponse]:
        max_age = max_age_of(request)
        kept = self._fetcher.kept(request.player) if max_age is None else None
        messages = kept.response("stream") if kept is not None else None
        if messages is not None:  # served whole from what is kept: the same two messages as last time
            for message in messages:
                yield message
            return
        sent: list[pb.StreamPlayerStatsResponse] | None = [] if kept is not None else None
        async for part in self._parts.stream(request.player, self._deadline(context), max_age):
            message = stream_response(part)
            if sent is not None:
                sent.append(message)
            yield message
            del message, part  # not held while the stream waits for its next part (api.handlers)
        if sent is not None and kept is not None and kept.same_as(self._fetcher.kept(request.player)):
            kept.keep("stream", tuple(sent))

    @unary_errors
    async def GetPlayerStats(self, request: pb.GetPlayerStatsRequest, context: Context) -> pb.GetPlayerStatsResponse:
        max_age = max_age_of(request)
        kept = self._fetcher.kept(request.player) if max_age is None else None
        response = kept.response("get") if kept is not None else None
        if response is not None:  # served whole from what is kept: the same message as last time
            return response  # type: ignore[no-any-return]
        stats: StatsPart | None = None
        achievements: AchievementsPart | None = None
        async for part in self._parts.stream(request.player, self._deadline(context), max_age):
            if isinstance(part, StatsPart):
                stats = part
            else:
                achievements = part
        response = get_response(stats, achievements)
        if kept is not None and kept.same_as(self._fetcher.kept(request.player)):
            kept.keep("get", response)
        return response

    @unary_errors
    async def ResolvePlayer(self, request: pb.ResolvePlayerRequest, context: Context) -> pb.ResolvePlayerResponse:
        profile = await self._fetcher.resolve(request.player, self._deadline(context))
        return pb.ResolvePlayerResponse(profile=profile_to_pb(profile))

    @stream_errors
    async def StreamLobbyStats(
        self, request: pb.StreamLobbyStatsRequest, context: Context
    ) -> AsyncIterator[pb.StreamLobbyStatsResponse]:
        max_age = max_age_of(request)
        async for message in self._lobby.stream(list(request.players), self._deadline(context), max_age):
            yield lobby_part_to_pb(message)
            del message

    @unary_errors
    async def GetPlayerHistory(
        self, request: pb.GetPlayerHistoryRequest, context: Context
    ) -> pb.GetPlayerHistoryResponse:
        names = list(request.stats) or list(HEADLINE_STATS)
        since = request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None
        history = await player_history(self._fetcher, request.player, names, since, self._deadline(context))
        return history_to_pb(history)

    @stream_errors
    async def WatchPlayer(
        self, request: pb.WatchPlayerRequest, context: Context
    ) -> AsyncIterator[pb.WatchPlayerResponse]:
        asked = request.interval.ToTimedelta().total_seconds() if request.HasField("interval") else None
        if asked is not None and asked < 0:
            raise InvalidRequestError(f"interval must not be negative, got {asked:g}s")
        deadline = self._deadline(context)
        async for event in self._watches.watch(request.player, asked, caller=caller_of(context), deadline=deadline):
            yield watch_event_to_pb(event)
            del event


__all__ = ["PlayerStatsServicer"]
