"""The real server against the real simulator over loopback: streaming, unary, resolution."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import grpc
import pytest

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.domain.grades import grade_from_pips
from dbd_playerstats.sim import DEMO_STEAM_ID, FaultKind, RunningSimulator
from tests.support import stream_noting_answers, until

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

STREAM_TIMEOUT = 20.0


async def collect(stub: AsyncStub, player: str) -> list[tuple[float, pb.StreamPlayerStatsResponse]]:
    """Every message of a stream with its arrival time (seconds since the call started)."""
    started = time.monotonic()
    out = []
    async for message in stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=STREAM_TIMEOUT):
        out.append((time.monotonic() - started, message))
    return out


async def test_stream_sends_stats_then_achievements_then_ends(stub: AsyncStub, sim: RunningSimulator) -> None:
    """Exactly two messages: profile+stats first, achievements with 84 adepts second; stream ends OK."""
    messages = [m for _, m in await collect(stub, DEMO_STEAM_ID)]
    assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
    stats_part, ach_part = messages[0].stats, messages[1].achievements

    assert stats_part.profile.steam_id == DEMO_STEAM_ID
    assert stats_part.profile.persona_name == "Demo Survivor"
    assert stats_part.profile.visibility == pb.PROFILE_VISIBILITY_PUBLIC
    assert stats_part.provenance.source == pb.DATA_SOURCE_LIVE
    assert stats_part.provenance.fetched_at.seconds > 0
    raw = {s.name: s for s in stats_part.stats.raw_stats}
    assert len(raw) == 283  # every stat id the fixture sends is passed through
    assert stats_part.stats.bloodpoints == raw["DBD_BloodwebPoints"].int_value
    assert stats_part.stats.generators_repaired == pytest.approx(raw["DBD_GeneratorPct_float"].float_value)
    killer = grade_from_pips(raw["DBD_KillerSkulls"].int_value)
    assert stats_part.stats.killer_grade.display_name == killer.display_name
    assert stats_part.stats.killer_grade.pips == raw["DBD_KillerSkulls"].int_value

    achievements = ach_part.achievements
    assert not ach_part.HasField("unavailable")
    assert ach_part.provenance.source == pb.DATA_SOURCE_LIVE
    assert (achievements.killer_adepts.total, achievements.survivor_adepts.total) == (38, 46)
    assert len(achievements.adepts) == 84
    unlocked_adepts = [a for a in achievements.adepts if a.achievement.unlocked]
    assert achievements.killer_adepts.unlocked + achievements.survivor_adepts.unlocked == len(unlocked_adepts)
    assert unlocked_adepts, "the demo player has unlocked adepts"
    assert all(a.achievement.HasField("unlock_time") for a in unlocked_adepts)
    assert all(a.achievement.HasField("global_percent") for a in achievements.adepts)
    assert achievements.total == len(achievements.achievements)
    assert achievements.unlocked == sum(a.unlocked for a in achievements.achievements)
    assert sim.state.count("stats") == 1
    assert sim.state.count("achievements") == 1


async def test_stats_arrive_before_the_achievements_latency_has_passed(stub: AsyncStub, sim: RunningSimulator) -> None:
    """With achievements 1.5 s slower than stats, the stats message comes first, before Steam has even answered
    the achievements request."""
    sim.state.set_latency("achievements", 1.5)
    (t_stats, answered, first), (t_ach, _, second) = await stream_noting_answers(stub, sim, DEMO_STEAM_ID)
    assert first.WhichOneof("part") == "stats"
    assert second.WhichOneof("part") == "achievements"
    assert answered["achievements"] == 0, f"the stats waited for the achievements answer ({t_stats:.2f} s)"
    assert t_ach >= 1.5


async def test_stats_and_achievements_are_fetched_concurrently(stub: AsyncStub, sim: RunningSimulator) -> None:
    """With 1 s for each, both Steam requests are in flight together: the stream takes about the slower of the
    two, not their 2 s sum."""
    sim.state.set_latency("stats", 1.0)
    sim.state.set_latency("achievements", 1.0)
    streaming = asyncio.ensure_future(collect(stub, DEMO_STEAM_ID))
    await until(lambda: sim.state.count("stats") == sim.state.count("achievements") == 1, "both requests arrived")
    # Both arrived, and neither has been answered: neither request waited for the other's answer. (The server,
    # the simulator and this test share one event loop: this check runs long before the 1 s latency timers.)
    assert [r.endpoint for r in sim.state.requests() if r.endpoint in {"stats", "achievements"}] == []
    timed = await streaming
    assert [m.WhichOneof("part") for _, m in timed] == ["stats", "achievements"]


@pytest.mark.parametrize(
    "player",
    [
        DEMO_STEAM_ID,
        "demo",
        "https://steamcommunity.com/id/demo/",
        f"https://steamcommunity.com/profiles/{DEMO_STEAM_ID}",
        "steamcommunity.com/id/demo",
    ],
)
async def test_all_player_forms_reach_the_same_player(stub: AsyncStub, sim: RunningSimulator, player: str) -> None:
    """SteamID64, vanity name and both URL forms name the same account; only names cost a vanity call."""
    response = await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=player), timeout=STREAM_TIMEOUT)
    assert response.stats.profile.steam_id == DEMO_STEAM_ID
    expected_vanity_calls = 0 if DEMO_STEAM_ID in player else 1
    assert sim.state.count("vanity") == expected_vanity_calls


async def test_unary_returns_both_parts(stub: AsyncStub) -> None:
    """GetPlayerStats holds the stats and the settled achievements in one response."""
    response = await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player="demo"), timeout=STREAM_TIMEOUT)
    assert response.stats.profile.persona_name == "Demo Survivor"
    assert len(response.achievements.achievements.adepts) == 84
    assert not response.achievements.HasField("unavailable")


async def test_resolve_player_by_url(stub: AsyncStub, sim: RunningSimulator) -> None:
    """ResolvePlayer returns the SteamID64 and persona of a vanity URL without touching stats."""
    response = await stub.ResolvePlayer(
        pb.ResolvePlayerRequest(player="https://steamcommunity.com/id/demo"), timeout=STREAM_TIMEOUT
    )
    assert response.profile.steam_id == DEMO_STEAM_ID
    assert response.profile.persona_name == "Demo Survivor"
    assert sim.state.count("stats") == 0
    assert sim.state.count("vanity") == 1


async def test_achievements_failing_still_delivers_stats(stub: AsyncStub, sim: RunningSimulator) -> None:
    """When Steam's achievements call fails, the stream sends stats, then an unavailable part, and ends OK."""
    sim.state.set_latency("achievements", 0.0)
    sim.state.script("achievements", [FaultKind.HTTP_503] * 20)
    messages = [m for _, m in await collect(stub, DEMO_STEAM_ID)]
    assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
    unavailable = messages[1].achievements.unavailable
    assert unavailable.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert unavailable.reason == "UPSTREAM_UNAVAILABLE"
    assert not messages[1].achievements.HasField("achievements")


async def test_client_cancel_stops_upstream_work(stub: AsyncStub, sim: RunningSimulator) -> None:
    """A caller that cancels after the stats message leaves no stream running on the server."""
    sim.state.set_latency("achievements", 5.0)
    call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=DEMO_STEAM_ID), timeout=STREAM_TIMEOUT)
    first = await call.read()
    assert isinstance(first, pb.StreamPlayerStatsResponse)
    assert first.WhichOneof("part") == "stats"
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call.read()
    assert call.cancelled()
