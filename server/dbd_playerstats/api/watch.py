"""WatchPlayer's messages from the service's watch events (pure but for the status of a problem)."""

from __future__ import annotations

from google.rpc import error_details_pb2, status_pb2

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.api.mapping import achievement_to_pb, get_response, stats_part_to_pb, timestamp
from dbd_playerstats.api.status import to_rpc_status
from dbd_playerstats.domain.model import Unavailable
from dbd_playerstats.errors import ERROR_DOMAIN
from dbd_playerstats.service.watch_events import Problem, Snapshot, StatsChanged, Unlocked, WatchEvent


def watch_event_to_pb(event: WatchEvent) -> pb.WatchPlayerResponse:
    if isinstance(event, Snapshot):
        look = event.look
        return pb.WatchPlayerResponse(
            observed_at=timestamp(look.at), snapshot=get_response(look.stats, look.achievements)
        )
    if isinstance(event, StatsChanged):
        changed = pb.StatsChanged(
            deltas=[pb.StatDelta(name=name, before=before, after=after) for name, before, after in event.deltas],
            stats=stats_part_to_pb(event.stats),
        )
        return pb.WatchPlayerResponse(observed_at=timestamp(event.at), stats_changed=changed)
    if isinstance(event, Unlocked):
        unlocked = pb.AchievementUnlocked(
            achievement=achievement_to_pb(event.achievement),
            character=event.character,
            role=pb.Role.ValueType(int(event.role)),
        )
        return pb.WatchPlayerResponse(observed_at=timestamp(event.at), unlocked=unlocked)
    return pb.WatchPlayerResponse(observed_at=timestamp(event.at), problem=_problem(event))


def _problem(problem: Problem) -> status_pb2.Status:
    """The rich status of what went wrong: an error's as the RPC would have failed with, or an `Unavailable`."""
    if not isinstance(problem.error, Unavailable):
        return to_rpc_status(problem.error)
    unavailable = problem.error
    status = status_pb2.Status(code=unavailable.code, message=unavailable.message)
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=unavailable.reason, domain=ERROR_DOMAIN))
    return status


__all__ = ["watch_event_to_pb"]
