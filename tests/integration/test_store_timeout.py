"""A store that hangs (PostgreSQL tables locked by another session) never makes a request hang.

Every wait of a request for the store is bounded by PLAYERSTATS_STORE_TIMEOUT_SECS: a hung write is served as
without a store (Steam's answer, LIVE), a hung read as no stored copy; the writes go on in the background and are
durable once the store answers again, so nothing Steam said is lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING

import asyncpg
import grpc
import pytest
from google.protobuf import duration_pb2

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer
from dbd_playerstats.config.settings import Secret, Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, FaultKind, RunningSimulator
from tests.support import error_details

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub
    from tests.conftest import ServeFn

pytestmark = pytest.mark.postgres

STORE_TIMEOUT_SECS = 0.3
RPC_TIMEOUT_SECS = 8.0  # the store would hang far longer (PostgreSQL's own command timeout is 10 s)


@pytest.fixture
async def locker(schema_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(schema_url)
    yield connection
    await connection.close()


@pytest.fixture
async def hangable(
    serve: ServeFn, settings: Settings, schema_url: str
) -> AsyncIterator[tuple[RunningServer, AsyncStub]]:
    """The real server on a fresh PostgreSQL schema, with a short store timeout; and a stub on it."""
    configured = replace(
        settings,
        store=replace(settings.store, database_url=Secret(schema_url), timeout_secs=STORE_TIMEOUT_SECS),
        resilience=replace(settings.resilience, max_retries=0),
        limits=replace(settings.limits, caller_quota_per_min=0),
    )
    server = await serve(configured)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield server, pb_grpc.PlayerStatsServiceStub(channel)


async def stream(stub: AsyncStub, max_age: float | None = None) -> list[pb.StreamPlayerStatsResponse]:
    request = pb.StreamPlayerStatsRequest(player=DEMO_STEAM_ID)
    if max_age is not None:
        request.max_age.CopyFrom(duration_pb2.Duration(seconds=int(max_age)))
    return [message async for message in stub.StreamPlayerStats(request, timeout=RPC_TIMEOUT_SECS)]


async def test_a_hung_store_is_served_around_and_its_writes_land_once_it_answers(
    hangable: tuple[RunningServer, AsyncStub], sim: RunningSimulator, locker: asyncpg.Connection
) -> None:
    """Tables locked: a live stream still gets both parts (achievements LIVE, unmerged); with Steam's stats down
    the stored-stats fallback gives up its read and the call fails UNAVAILABLE, not DEADLINE_EXCEEDED. Unlocked,
    the stats save and the achievements merge started while it hung are in the store."""
    server, stub = hangable
    await stream(stub)  # a first snapshot stored
    await locker.execute("BEGIN")
    await locker.execute("LOCK TABLE achievements, stats_snapshots, players IN ACCESS EXCLUSIVE MODE")

    live = await stream(stub, max_age=0)
    assert [m.WhichOneof("part") for m in live] == ["stats", "achievements"]
    assert live[1].achievements.provenance.source == pb.DATA_SOURCE_LIVE
    assert not live[1].achievements.HasField("unavailable")

    sim.state.script("stats", [FaultKind.HTTP_503])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stream(stub, max_age=0)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_details(info.value)[0] == "UPSTREAM_UNAVAILABLE"

    await locker.execute("ROLLBACK")
    assert server.fetcher is not None
    await server.fetcher.wait_for_store_writes()

    stats_at = live[0].stats.provenance.fetched_at.ToMicroseconds()
    achievements_at = live[1].achievements.provenance.fetched_at.ToMicroseconds()
    assert await locker.fetchval("SELECT fetched_at_us FROM stats_snapshots") == stats_at
    merged = await locker.fetch("SELECT snapshot_at_us FROM merge_audit WHERE decision LIKE 'accepted%'")
    assert achievements_at in {row["snapshot_at_us"] for row in merged}
