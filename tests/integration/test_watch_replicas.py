"""Two replicas sharing Redis and PostgreSQL, one watcher of the same player on each: the replica holding the
player's lease asks Steam, the other reads its looks from the store, so Steam sees one stats call per interval
between them; both watchers get the snapshot and the change."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING

import grpc
import pytest

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.config.settings import Secret, SecretUrl, Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, RunningSimulator
from dbd_playerstats_dev.redis_testing import redis_test_url, temporary_prefix
from tests.integration.test_watch import EVENT_TIMEOUT_SECS, INTERVAL, escapes_of, watch_settings

if TYPE_CHECKING:
    from tests.conftest import ServeFn

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    async with temporary_prefix() as value:
        yield value


async def test_two_replicas_look_at_a_watched_player_once_per_interval_between_them(
    serve: ServeFn, settings: Settings, sim: RunningSimulator, schema_url: str, prefix: str
) -> None:
    shared = replace(
        watch_settings(settings),
        store=replace(settings.store, database_url=Secret(schema_url)),
        shared_state=replace(settings.shared_state, redis_url=SecretUrl(redis_test_url()), redis_key_prefix=prefix),
    )
    replicas = [await serve(shared), await serve(shared)]
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{r.port}") for r in replicas]
    try:
        stubs = [pb_grpc.PlayerStatsServiceStub(channel) for channel in channels]
        calls = [stub.WatchPlayer(pb.WatchPlayerRequest(player="demo", interval=INTERVAL)) for stub in stubs]

        async def next_of(call: object, kind: str) -> pb.WatchPlayerResponse:
            while True:
                message: pb.WatchPlayerResponse = await asyncio.wait_for(call.read(), EVENT_TIMEOUT_SECS)  # type: ignore[attr-defined]
                if message.WhichOneof("event") == kind:
                    return message

        snapshots = [await next_of(call, "snapshot") for call in calls]
        before = escapes_of(snapshots[0].snapshot.stats)
        sim.state.override_stats(DEMO_STEAM_ID, {"DBD_Escape": before + 1})
        for call in calls:
            changed = await next_of(call, "stats_changed")
            assert [(d.name, d.before, d.after) for d in changed.stats_changed.deltas] == [
                ("DBD_Escape", before, before + 1)
            ]
        looks = [r.time for r in sim.state.requests() if r.endpoint == "stats" and r.steam_id == DEMO_STEAM_ID]
        assert len(looks) >= 2
        gaps = [b - a for a, b in itertools.pairwise(looks)]
        assert min(gaps) >= 0.9, f"one stats call per 1 s interval between the two replicas: {gaps}"
        for call in calls:
            call.cancel()
    finally:
        for channel in channels:
            await channel.close()
