"""Merge decisions as telemetry: real streams against the real server with its SQLite store, then the
``playerstats.merge.decisions`` counter and the ``merge.decision`` event on the RPC's SERVER span."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.domain.adepts import Role, fallback_adepts
from dbd_playerstats.sim import DEMO_STEAM_ID, RunningSimulator
from dbd_playerstats.sim.fixtures import ACHIEVEMENTS, FIXED_PLAYERS
from dbd_playerstats.store import Decision
from dbd_playerstats_dev.captured_telemetry import CapturedTelemetry

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

STREAM = "/dbd.playerstats.v1.PlayerStatsService/StreamPlayerStats"
MERGES = "playerstats.merge.decisions"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No retries, a roomy Steam budget and no answer kept: every stream reaches Steam and merges again."""
    resilience = replace(settings.resilience, max_retries=0, rate_limit_per_min=6000, burst_limit=100)
    cache = replace(settings.cache, stats_ttl_secs=0, achievements_ttl_secs=0, profile_ttl_secs=0)
    return replace(settings, resilience=resilience, cache=cache)


@pytest.fixture
def captured() -> Iterator[CapturedTelemetry]:
    running = CapturedTelemetry.create()
    yield running
    running.telemetry.shutdown()


@pytest.fixture
async def running(settings: Settings, captured: CapturedTelemetry) -> AsyncIterator[RunningServer]:
    """The real server, its default SQLite store under the test's data dir, telemetry kept in memory."""
    server = await build_server(settings, listen="127.0.0.1:0", telemetry=captured.telemetry)
    try:
        yield server
    finally:
        await server.stop(None)


@pytest.fixture
async def stub(running: RunningServer) -> AsyncIterator[AsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield pb_grpc.PlayerStatsServiceStub(channel)


async def stream(stub: AsyncStub) -> pb.AchievementsPart:
    """The achievements part of one successful stream of the demo player."""
    request = pb.StreamPlayerStatsRequest(player=DEMO_STEAM_ID)
    messages = [m async for m in stub.StreamPlayerStats(request, timeout=20)]
    assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
    return messages[1].achievements


async def server_spans(captured: CapturedTelemetry, count: int) -> list[ReadableSpan]:
    """The first `count` SERVER spans of the stream, once they have ended (the client may see the end first)."""
    for _ in range(500):
        spans = [s for s in captured.spans() if s.name == STREAM]
        if len(spans) >= count:
            return spans
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} {STREAM} spans ended")


def demo_unlocked() -> list[str]:
    player = FIXED_PLAYERS[DEMO_STEAM_ID]
    return sorted(a.api_name for a, t in zip(ACHIEVEMENTS, player.unlock_times, strict=True) if t)


async def test_each_merge_decision_is_counted_with_its_reason(
    stub: AsyncStub, running: RunningServer, captured: CapturedTelemetry, sim: RunningSimulator
) -> None:
    """Accepted, accepted with a rollback ignored, rejected as too small: one point each, labelled as the store
    audited it, and already counted when the caller has the part the merge decided."""
    assert running.store is not None
    await stream(stub)
    assert captured.points(MERGES) == [({"merge.decision": "accepted", "merge.reason": ""}, 1)]

    victim, vanished = demo_unlocked()[:2]
    sim.state.override_achievements(DEMO_STEAM_ID, {victim: 0, vanished: None})
    await stream(stub)
    survivors = [d.api_name for d in fallback_adepts() if d.role is Role.SURVIVOR]
    sim.state.override_achievements(DEMO_STEAM_ID, dict.fromkeys(survivors[:30]))
    rejected = await stream(stub)
    assert rejected.unavailable.reason == "UPSTREAM_BAD_RESPONSE"

    assert sorted(captured.points(MERGES), key=str) == [
        ({"merge.decision": "accepted", "merge.reason": ""}, 1),
        ({"merge.decision": "accepted", "merge.reason": "with_rollback"}, 1),
        ({"merge.decision": "rejected", "merge.reason": "too_small"}, 1),
    ]
    audit = await running.store.audit(DEMO_STEAM_ID)
    assert [row.decision for row in audit] == [
        Decision.ACCEPTED,
        Decision.ACCEPTED_WITH_ROLLBACK,
        Decision.REJECTED_TOO_SMALL,
    ]


async def test_the_decision_is_an_event_on_the_rpc_span_with_its_counts(
    stub: AsyncStub, captured: CapturedTelemetry, sim: RunningSimulator
) -> None:
    """The SERVER span of each stream carries one ``merge.decision`` event: the decision and what it changed."""
    await stream(stub)
    victim, vanished = demo_unlocked()[:2]
    sim.state.override_achievements(DEMO_STEAM_ID, {victim: 0, vanished: None})
    await stream(stub)
    first, second = await server_spans(captured, 2)
    events = [[dict(e.attributes or {}) for e in s.events if e.name == "merge.decision"] for s in (first, second)]
    assert events == [
        [
            {
                "decision": "accepted",
                "reason": "",
                "new_unlocks": len(demo_unlocked()),
                "rollbacks": 0,
                "snapshot_size": len(ACHIEVEMENTS),
            }
        ],
        [
            {
                "decision": "accepted",
                "reason": "with_rollback",
                "new_unlocks": 0,
                "rollbacks": 2,
                "snapshot_size": len(ACHIEVEMENTS) - 1,
            }
        ],
    ]


async def test_a_store_failure_records_no_decision(
    stub: AsyncStub, running: RunningServer, captured: CapturedTelemetry
) -> None:
    """With the store gone the part is served live and no decision is counted: no merge decided anything."""
    assert running.store is not None
    await running.store.close()
    part = await stream(stub)
    assert part.provenance.source == pb.DATA_SOURCE_LIVE
    assert captured.points(MERGES) == []
