"""The proto side of `max_age` and of StreamLobbyStats: Duration in, lobby messages out (pure)."""

from __future__ import annotations

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.api.mapping import achievements_part_to_pb, stats_part_to_pb
from dbd_playerstats.api.status import to_rpc_status
from dbd_playerstats.domain.model import StatsPart
from dbd_playerstats.errors import InvalidRequestError
from dbd_playerstats.service.lobby import LobbyPart

_MAX_NANOS = 999_999_999

WithMaxAge = pb.StreamPlayerStatsRequest | pb.GetPlayerStatsRequest | pb.StreamLobbyStatsRequest


def max_age_of(request: WithMaxAge) -> float | None:
    """The request's `max_age` in seconds; None when unset; InvalidRequestError when negative (or not a valid
    Duration: nanos beyond a second)."""
    if not request.HasField("max_age"):
        return None
    duration = request.max_age
    if duration.seconds < 0 or duration.nanos < 0:
        raise InvalidRequestError(f"max_age must not be negative, got {duration.seconds}s {duration.nanos}ns")
    if duration.nanos > _MAX_NANOS:
        raise InvalidRequestError(f"max_age is not a valid Duration: nanos {duration.nanos} > {_MAX_NANOS}")
    return duration.seconds + duration.nanos / 1e9


def lobby_part_to_pb(message: LobbyPart) -> pb.StreamLobbyStatsResponse:
    """One lobby message: the part, or the error as the google.rpc.Status a failed StreamPlayerStats carries."""
    out = pb.StreamLobbyStatsResponse(index=message.index, player=message.player, steam_id=message.steam_id)
    if message.error is not None:
        out.error.CopyFrom(to_rpc_status(message.error))
    elif isinstance(message.part, StatsPart):
        out.stats.CopyFrom(stats_part_to_pb(message.part))
    elif message.part is not None:
        out.achievements.CopyFrom(achievements_part_to_pb(message.part))
    return out


__all__ = ["lobby_part_to_pb", "max_age_of"]
