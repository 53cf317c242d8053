"""Requests served whole from what is kept (`service.kept`), through the real server and simulator: the same bytes
as the long way, no Steam call, every cache hit counted, and never once something it came from changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import duration_pb2
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, DEMO_VANITY, RunningSimulator
from dbd_playerstats.telemetry import Telemetry, TelemetrySettings
from tests.support import until_async

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

TIMEOUT = 10.0


class Served:
    """The server (metrics read in memory, no span exported: the path of an untraced request) and a stub."""

    def __init__(self, running: RunningServer, stub: AsyncStub, reader: InMemoryMetricReader) -> None:
        self.running = running
        self.stub = stub
        self.reader = reader

    def hits(self) -> dict[str, int]:
        data = self.reader.get_metrics_data()
        counts: dict[str, int] = {}
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == "playerstats.cache.lookups":
                        for point in metric.data.data_points:
                            attributes = dict(point.attributes or {})
                            if attributes["cache.result"] == "hit":
                                counts[str(attributes["cache"])] = int(getattr(point, "value", 0))
        return counts

    def kept(self, player: str, kind: str) -> object | None:
        """The response the kept path would serve `player` now (None: it would take the long way)."""
        assert self.running.fetcher is not None
        kept = self.running.fetcher.kept(player)
        return None if kept is None else kept.achievements.memo.peek(f"kept_response:{kind}", kept.sources)


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[Served]:
    reader = InMemoryMetricReader()
    telemetry = Telemetry.create(TelemetrySettings(), metric_readers=[reader])
    configured = replace(
        settings,
        limits=replace(settings.limits, caller_quota_per_min=0),
        cache=replace(settings.cache, stats_ttl_secs=2.0, achievements_ttl_secs=2.0),
    )
    running = await build_server(configured, listen="127.0.0.1:0", telemetry=telemetry)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield Served(running, pb_grpc.PlayerStatsServiceStub(channel), reader)
    finally:
        await running.stop(None)
        telemetry.shutdown()


async def get(served: Served, player: str, max_age: duration_pb2.Duration | None = None) -> pb.GetPlayerStatsResponse:
    request = pb.GetPlayerStatsRequest(player=player, max_age=max_age)
    return await served.stub.GetPlayerStats(request, timeout=TIMEOUT)


async def stream(served: Served, player: str) -> list[bytes]:
    call = served.stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=TIMEOUT)
    return [message.SerializeToString() async for message in call]


async def test_a_repeated_request_is_the_long_ways_bytes_without_steam(served: Served, sim: RunningSimulator) -> None:
    """First request live, second the long way from the caches (and kept), third and later from the kept one."""
    first = await get(served, DEMO_STEAM_ID)
    assert first.stats.provenance.source == pb.DATA_SOURCE_LIVE
    assert served.kept(DEMO_STEAM_ID, "get") is None, "a live answer is never kept as a response"
    calls = sim.state.counts(DEMO_STEAM_ID)
    second = await get(served, DEMO_STEAM_ID)
    assert second.stats.provenance.source == pb.DATA_SOURCE_CACHE
    assert served.kept(DEMO_STEAM_ID, "get") is not None
    hits = served.hits()
    third, fourth = await get(served, DEMO_STEAM_ID), await get(served, DEMO_STEAM_ID)
    assert third.SerializeToString() == fourth.SerializeToString() == second.SerializeToString()
    assert sim.state.counts(DEMO_STEAM_ID) == calls, "no Steam call for a kept request"
    after = served.hits()
    for cache in ("stats", "profile", "achievements", "schema", "rarity"):
        assert after[cache] - hits.get(cache, 0) == 2, f"each kept request counts its {cache} hit"

    streamed = [await stream(served, DEMO_STEAM_ID) for _ in range(3)]
    assert streamed[0] == streamed[1] == streamed[2]
    assert len(streamed[0]) == 2
    assert pb.StreamPlayerStatsResponse.FromString(streamed[0][0]).stats == second.stats
    assert pb.StreamPlayerStatsResponse.FromString(streamed[0][1]).achievements == second.achievements


async def test_a_vanity_name_is_served_kept_and_counts_its_vanity_hit(served: Served) -> None:
    await get(served, DEMO_VANITY)
    second = await get(served, DEMO_VANITY)
    before = served.hits()
    third = await get(served, DEMO_VANITY)
    assert third.SerializeToString() == second.SerializeToString()
    assert served.hits()["vanity"] == before["vanity"] + 1


async def test_max_age_takes_the_long_way(served: Served, sim: RunningSimulator) -> None:
    """A caller asking for fresher data than kept is never served the kept response."""
    await get(served, DEMO_STEAM_ID)
    await get(served, DEMO_STEAM_ID)
    calls = sim.state.counts(DEMO_STEAM_ID)["stats"]
    fresh = await get(served, DEMO_STEAM_ID, max_age=duration_pb2.Duration(seconds=0))
    assert fresh.stats.provenance.source == pb.DATA_SOURCE_LIVE
    assert sim.state.counts(DEMO_STEAM_ID)["stats"] == calls + 1


async def test_a_changed_answer_is_served_once_the_kept_one_expires(served: Served, sim: RunningSimulator) -> None:
    """The kept response goes with the answers it came from: after their TTL the new stats are served."""
    await get(served, DEMO_STEAM_ID)
    kept = await get(served, DEMO_STEAM_ID)
    escapes = kept.stats.stats.escapes
    sim.state.override_stats(DEMO_STEAM_ID, {"DBD_Escape": escapes + 7})
    assert (await get(served, DEMO_STEAM_ID)).stats.stats.escapes == escapes, "kept for the TTL"

    async def changed() -> pb.GetPlayerStatsResponse | None:
        response = await get(served, DEMO_STEAM_ID)
        return response if response.stats.stats.escapes == escapes + 7 else None

    fresh = await until_async(changed, "the new stats after the stats TTL")
    assert fresh.stats.provenance.source == pb.DATA_SOURCE_LIVE
