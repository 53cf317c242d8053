"""Coalescing through the real server and simulator: a burst of identical requests costs Steam one call per
endpoint, the callers that joined a fetch are linked to it in their traces, and a wave after the TTL costs one more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import grpc
import pytest

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, RunningSimulator
from dbd_playerstats.telemetry import Telemetry
from dbd_playerstats_dev.captured_telemetry import CapturedTelemetry
from tests.support import until

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

STREAM = "/dbd.playerstats.v1.PlayerStatsService/StreamPlayerStats"
BURST = 100
PLAYER_ENDPOINTS = ("profile", "stats", "achievements")
StartFn = Callable[..., Awaitable[tuple[RunningServer, "AsyncStub"]]]


@pytest.fixture
async def start(settings: Settings) -> AsyncIterator[StartFn]:
    """Start the real server (on the simulator) with a Steam budget and caller quota that never bind, and
    cache overrides."""
    running: list[RunningServer] = []
    channels: list[grpc.aio.Channel] = []

    async def start(*, telemetry: Telemetry | None = None, **cache: float) -> tuple[RunningServer, AsyncStub]:
        configured = replace(
            settings,
            resilience=replace(settings.resilience, rate_limit_per_min=100_000, burst_limit=1000),
            limits=replace(settings.limits, caller_quota_per_min=0),
            cache=replace(settings.cache, **cache),  # type: ignore[arg-type]
        )
        running.append(await build_server(configured, listen="127.0.0.1:0", telemetry=telemetry))
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{running[-1].port}"))
        return running[-1], pb_grpc.PlayerStatsServiceStub(channels[-1])

    yield start
    for channel in channels:
        await channel.close()
    for server in running:
        await server.stop(None)


async def stream(stub: AsyncStub, player: str) -> list[pb.StreamPlayerStatsResponse]:
    """Every message of one StreamPlayerStats."""
    call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=20)
    return [message async for message in call]


async def burst(stub: AsyncStub, player: str, size: int = BURST) -> list[list[pb.StreamPlayerStatsResponse]]:
    """`size` identical streams at once, each one's messages in order."""
    return await asyncio.gather(*(stream(stub, player) for _ in range(size)))


def hold(sim: RunningSimulator, seconds: float, *endpoints: str) -> None:
    """Keep Steam's answers `seconds` in flight, so that a burst sent at once finds the fetches running."""
    for endpoint in endpoints:
        sim.state.set_latency(endpoint, seconds)


def seen(sim: RunningSimulator) -> dict[str, int]:
    """The requests Steam saw, per endpoint it saw any for."""
    return {endpoint: n for endpoint, n in sim.state.counts().items() if n and endpoint != "total"}


def assert_both_parts(results: list[list[pb.StreamPlayerStatsResponse]]) -> None:
    """Every stream got the stats, then the achievements, of the demo player, from one and the same answer."""
    assert all([m.WhichOneof("part") for m in messages] == ["stats", "achievements"] for messages in results)
    assert {messages[0].stats.profile.steam_id for messages in results} == {DEMO_STEAM_ID}
    assert len({messages[0].stats.provenance.fetched_at.ToNanoseconds() for messages in results}) == 1
    assert len({messages[1].achievements.provenance.fetched_at.ToNanoseconds() for messages in results}) == 1
    assert all(len(messages[1].achievements.achievements.adepts) == 84 for messages in results)


async def test_a_burst_of_identical_streams_costs_one_call_per_endpoint(start: StartFn, sim: RunningSimulator) -> None:
    """100 concurrent identical streams: Steam sees one profile, one stats and one achievements call (and one
    schema, one percentages call); all 100 get both messages, in order."""
    _, stub = await start()
    hold(sim, 0.3, *PLAYER_ENDPOINTS)
    results = await burst(stub, DEMO_STEAM_ID)
    assert len(results) == BURST
    assert_both_parts(results)
    assert seen(sim) == {"profile": 1, "stats": 1, "achievements": 1, "schema": 1, "rarity": 1}


async def test_a_burst_by_vanity_name_costs_one_vanity_call(start: StartFn, sim: RunningSimulator) -> None:
    """100 concurrent streams naming the player by vanity: one vanity call on top of one call per endpoint."""
    _, stub = await start()
    hold(sim, 0.3, "vanity", *PLAYER_ENDPOINTS)
    results = await burst(stub, "demo")
    assert_both_parts(results)
    assert seen(sim) == {
        "vanity": 1,
        "profile": 1,
        "stats": 1,
        "achievements": 1,
        "schema": 1,
        "rarity": 1,
    }


async def test_a_wave_after_the_ttl_costs_one_more_call_each(start: StartFn, sim: RunningSimulator) -> None:
    """Two bursts of 100 separated by the (1 s) TTL: each costs one vanity, profile, stats and achievements call;
    the schema and percentages (hours) are not fetched again."""
    running, stub = await start(stats_ttl_secs=1, achievements_ttl_secs=1, profile_ttl_secs=1, vanity_ttl_secs=1)
    fetcher = running.fetcher
    assert fetcher is not None
    # Held 0.5 s: the whole burst reaches the server while the fetches run, far within the TTL after them.
    hold(sim, 0.5, "vanity", *PLAYER_ENDPOINTS)
    first = await burst(stub, "demo")
    assert_both_parts(first)
    assert [sim.state.count(e) for e in ("vanity", *PLAYER_ENDPOINTS)] == [1, 1, 1, 1]
    await until(
        lambda: (
            not (
                fetcher.vanities.kept("demo")
                or fetcher.profiles.kept(DEMO_STEAM_ID)
                or fetcher.stats.kept(DEMO_STEAM_ID)
                or fetcher.achievements.kept(DEMO_STEAM_ID)
            )
        )
    )
    second = await burst(stub, "demo")
    assert_both_parts(second)
    assert [sim.state.count(e) for e in ("vanity", *PLAYER_ENDPOINTS)] == [2, 2, 2, 2]
    assert (sim.state.count("schema"), sim.state.count("rarity")) == (1, 1)
    assert second[0][0].stats.provenance.fetched_at.ToNanoseconds() > (
        first[0][0].stats.provenance.fetched_at.ToNanoseconds()
    )


async def test_a_joining_stream_is_linked_to_the_fetch_it_joined(start: StartFn, sim: RunningSimulator) -> None:
    """A stream that joins fetches in flight has no Steam span of its own: per endpoint it gets a coalesced.wait
    span linked to the steam.<endpoint> span in the first stream's trace, an event with the linked ids, and the
    coalesced-waits metric counts one wait per endpoint."""
    captured = CapturedTelemetry.create()
    try:
        _, stub = await start(telemetry=captured.telemetry)
        hold(sim, 0.5, *PLAYER_ENDPOINTS)
        first = asyncio.create_task(stream(stub, DEMO_STEAM_ID))
        await until(lambda: all(sim.state.count(e) == 1 for e in PLAYER_ENDPOINTS))
        # Steam holds all three answers for 0.5 s: the second stream joins the three fetches in flight.
        second = await stream(stub, DEMO_STEAM_ID)
        await first
        await until(lambda: len([s for s in captured.spans() if s.name == STREAM]) == 2)
        spans = captured.spans()
        waits = captured.points("playerstats.coalesced.waits")
    finally:
        captured.telemetry.shutdown()
    assert [m.WhichOneof("part") for m in second] == ["stats", "achievements"]
    assert seen(sim) == {"profile": 1, "stats": 1, "achievements": 1, "schema": 1, "rarity": 1}
    servers = [s for s in spans if s.name == STREAM]
    steam = {s.name: s for s in spans if s.name.startswith("steam.")}
    assert set(steam) >= {f"steam.{e}" for e in PLAYER_ENDPOINTS}
    starter_trace = steam["steam.stats"].context.trace_id if steam["steam.stats"].context else None
    (joiner,) = [s for s in servers if s.context is not None and s.context.trace_id != starter_trace]
    assert joiner.context is not None
    in_joiner_trace = [s for s in spans if s.context is not None and s.context.trace_id == joiner.context.trace_id]
    assert not [s for s in in_joiner_trace if s.name.startswith("steam.")]
    wait_spans = {
        str((s.attributes or {}).get("steam.endpoint")): s for s in in_joiner_trace if s.name == "coalesced.wait"
    }
    assert set(wait_spans) == set(PLAYER_ENDPOINTS)
    for endpoint, wait in wait_spans.items():
        target = steam[f"steam.{endpoint}"].context
        assert target is not None
        assert wait.parent is not None
        assert wait.parent.span_id == joiner.context.span_id
        assert [(link.context.trace_id, link.context.span_id) for link in wait.links] == [
            (target.trace_id, target.span_id)
        ]
    events = [e for e in joiner.events if e.name == "coalesced.wait"]
    assert sorted(str((e.attributes or {})["endpoint"]) for e in events) == sorted(PLAYER_ENDPOINTS)
    for event in events:
        attributes = event.attributes or {}
        target = steam[f"steam.{attributes['endpoint']!s}"].context
        assert target is not None
        assert attributes["link.span_id"] == f"{target.span_id:016x}"
        assert attributes["link.trace_id"] == f"{target.trace_id:032x}"
    assert sorted((attributes["steam.endpoint"], value) for attributes, value in waits) == sorted(
        (endpoint, 1) for endpoint in PLAYER_ENDPOINTS
    )
