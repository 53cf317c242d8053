"""GetPlayerHistory's messages from the service's history (pure), and the stats it shows by default."""

from __future__ import annotations

from typing import Final

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.api.mapping import FLOAT_STATS, INT_STATS, KILLER_PIPS, SURVIVOR_PIPS, timestamp
from dbd_playerstats.service.history import PlayerHistory

HEADLINE_STATS: Final[tuple[str, ...]] = (*INT_STATS.values(), *FLOAT_STATS.values(), KILLER_PIPS, SURVIVOR_PIPS)
"""The raw stats behind PlayerStats' typed fields: what a request without `stats` gets."""


def history_to_pb(history: PlayerHistory) -> pb.GetPlayerHistoryResponse:
    out = pb.GetPlayerHistoryResponse()
    for series in history.series:
        added = out.series.add(name=series.name)
        for at, value in series.points:
            added.points.add(at=timestamp(at), value=value)
    for unlock in history.unlocks:
        achievement = pb.Achievement(api_name=unlock.api_name, display_name=unlock.display_name, unlocked=True)
        if unlock.unlock_time is not None:
            achievement.unlock_time.CopyFrom(timestamp(unlock.unlock_time))
        out.unlocks.add(achievement=achievement, character=unlock.character, role=int(unlock.role))
    return out


__all__ = ["HEADLINE_STATS", "history_to_pb"]
