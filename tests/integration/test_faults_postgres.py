"""PostgreSQL restarted mid-run, as the server sees it, under load: serving never breaks, nothing unlocked is lost.

The machine's PostgreSQL cluster is shared (other tests, CI), so it is not restarted: the server reaches it
through a TCP proxy owned by the test. Cutting the proxy closes every connection and refuses new ones, which is
what a restart looks like to a client (the server's connections die, reconnecting is refused until it is back);
restoring it listens again on the same port. Run with `pytest -s` for the figures in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import build_server
from dbd_playerstats.config.settings import Secret, Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, SYNTHETIC_FIRST_ID, RunningSimulator
from dbd_playerstats.sim.fixtures import ACHIEVEMENTS, FIXED_PLAYERS
from dbd_playerstats.store.sql import to_us
from dbd_playerstats_dev.store_testing import postgres_test_url
from tests.support import until, until_async

pytestmark = pytest.mark.postgres

TIMEOUT = 20.0
WAIT_SECS = 30.0
LOAD_PLAYERS = (DEMO_STEAM_ID, *(str(SYNTHETIC_FIRST_ID + 500 + i) for i in range(20)))
LOAD_TOTAL = 200
LOAD_CONCURRENCY = 20
CUT_AFTER = 40  # RPCs completed before the cut
RESTORE_AFTER = 140  # RPCs completed when PostgreSQL comes back: about 100 are served during the outage
NEW_UNLOCK_TIME = 1_754_000_000


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 to one upstream address: `cut()` drops every connection and stops listening
    (connections are refused), `restore()` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.accepted = 0
        self.dropped = 0

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port afterwards)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        """Stop listening, then abort every proxied connection on both sides."""
        assert self._server is not None
        self._server.close()
        self._server = None
        self.dropped += len(self._writers) // 2
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def restore(self) -> None:
        """Accept connections again, on the same port."""
        await self.start()

    async def close(self) -> None:
        """Cut for good."""
        if self._server is not None:
            await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(*self._upstream)
            except OSError:
                writer.transport.abort()
                return
            if self._server is None:  # cut while connecting
                up_writer.transport.abort()
                writer.transport.abort()
                return
            self.accepted += 1
            self._writers.update((writer, up_writer))
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()  # one side closed: close the other, as a dead server would
        self._writers.discard(writer)


def via(url: str, port: int) -> str:
    """`url` pointing at 127.0.0.1:`port` instead of its own host and port."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass
class Load:
    """A running load: calls done, outcome counts, and every unlock reported to a client, per player."""

    done: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    reported: defaultdict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))


def unlocked(part: pb.AchievementsPart) -> dict[str, int]:
    """api name -> unlock time (epoch seconds) of every unlocked achievement in the part."""
    return {a.api_name: a.unlock_time.seconds for a in part.achievements.achievements if a.unlocked}


async def stream_live(stub: pb_grpc.PlayerStatsServiceAsyncStub, player: str, load: Load) -> None:
    """One stream that must give both parts LIVE; its unlocks are recorded as reported."""
    messages = [m async for m in stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=TIMEOUT)]
    assert [m.WhichOneof("part") for m in messages] == ["stats", "achievements"]
    assert messages[0].stats.provenance.source == pb.DATA_SOURCE_LIVE
    part = messages[1].achievements
    assert part.provenance.source == pb.DATA_SOURCE_LIVE
    load.reported[player].update(unlocked(part))


async def hold_load(stub: pb_grpc.PlayerStatsServiceAsyncStub, load: Load, players: Sequence[str]) -> None:
    """LOAD_TOTAL streams, LOAD_CONCURRENCY at a time, round-robin over `players`."""
    pending = iter(range(LOAD_TOTAL))

    async def worker() -> None:
        for index in pending:
            try:
                await stream_live(stub, players[index % len(players)], load)
            except grpc.aio.AioRpcError as err:
                load.counts[err.code().name] += 1
            else:
                load.counts["OK"] += 1
            load.done += 1

    await asyncio.gather(*(worker() for _ in range(LOAD_CONCURRENCY)))


async def stored_unlocks(url: str) -> dict[str, dict[str, int]]:
    """Every unlocked achievement in the database, per player (read directly, not through the proxy)."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rows = await conn.fetch("SELECT steam_id, api_name, unlock_time_us FROM achievements WHERE unlocked")
    finally:
        await conn.close()
    stored: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        micros = row["unlock_time_us"]
        stored[row["steam_id"]][row["api_name"]] = 0 if micros is None else micros // 1_000_000
    return stored


async def merges_between(url: str, cut_at_us: int, restored_at_us: int) -> tuple[int, int]:
    """(merges audited as started during the outage, merges audited as started after the restore)."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        during = await conn.fetchval(
            "SELECT count(*) FROM merge_audit WHERE at_us > $1 AND at_us < $2", cut_at_us, restored_at_us
        )
        after = await conn.fetchval("SELECT count(*) FROM merge_audit WHERE at_us >= $1", restored_at_us)
    finally:
        await conn.close()
    return int(during), int(after)


def proxied(settings: Settings, schema_url: str, proxy_port: int) -> Settings:
    """`settings` on the schema through the proxy, with a budget and quota that never bind and no answer kept
    between requests (every stream asks Steam, every achievements answer is a merge)."""
    return replace(
        settings,
        store=replace(settings.store, database_url=Secret(via(schema_url, proxy_port))),
        resilience=replace(settings.resilience, rate_limit_per_min=600_000, burst_limit=1000),
        cache=replace(settings.cache, stats_ttl_secs=0, achievements_ttl_secs=0, profile_ttl_secs=0),
        limits=replace(settings.limits, caller_quota_per_min=0),
    )


@dataclass
class Outage:
    """What the load saw while PostgreSQL was away: calls and seconds, the audit clock's bounds, unsaved logs."""

    calls: int
    secs: float
    cut_at_us: int
    restored_at_us: int
    lost_writes: list[logging.LogRecord]


async def load_through_an_outage(
    stub: pb_grpc.PlayerStatsServiceAsyncStub,
    sim: RunningSimulator,
    proxy: CuttableProxy,
    load: Load,
    *,
    newly: str,
    caplog: pytest.LogCaptureFixture,
) -> Outage:
    """The load, with PostgreSQL cut after CUT_AFTER calls and back after RESTORE_AFTER; during the outage Steam
    shows the demo player a new unlock `newly`, and a client is shown it."""
    with caplog.at_level(logging.ERROR, logger="dbd_playerstats"):
        load_task = asyncio.ensure_future(hold_load(stub, load, LOAD_PLAYERS))
        await until(lambda: load.done >= CUT_AFTER, f"{CUT_AFTER} calls were done", timeout=WAIT_SECS)
        await proxy.cut()
        cut_at, cut_at_us, done_at_cut = time.monotonic(), to_us(datetime.now(UTC)), load.done
        # Steam now shows a new unlock: the clients see it while the database is away.
        sim.state.override_achievements(DEMO_STEAM_ID, {newly: NEW_UNLOCK_TIME})
        await stream_live(stub, DEMO_STEAM_ID, load)
        assert load.reported[DEMO_STEAM_ID][newly] == NEW_UNLOCK_TIME
        await until(lambda: load.done >= RESTORE_AFTER, f"{RESTORE_AFTER} calls were done", timeout=WAIT_SECS)
        calls, secs = load.done - done_at_cut, time.monotonic() - cut_at
        lost_writes = [r for r in caplog.records if r.levelno == logging.ERROR and "NOT stored" in r.message]
        await proxy.restore()
        restored_at_us = to_us(datetime.now(UTC))
        await load_task
    return Outage(calls, secs, cut_at_us, restored_at_us, lost_writes)


async def test_postgres_restart_mid_run_loses_no_unlock(
    settings: Settings, sim: RunningSimulator, schema_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL cut under 200 streams (20 at a time) and back: every call is served LIVE throughout, each
    unsaved snapshot is logged at ERROR, merges succeed again once it is back (the pool reconnects), and every
    unlock any client was shown, the one first seen during the outage included, ends up stored."""
    upstream = urlsplit(postgres_test_url())
    proxy = CuttableProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432)
    await proxy.start()
    player = FIXED_PLAYERS[DEMO_STEAM_ID]
    newly = next(a.api_name for a, t in zip(ACHIEVEMENTS, player.unlock_times, strict=True) if not t)
    load = Load()
    running = await build_server(proxied(settings, schema_url, proxy.port), listen="127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.PlayerStatsServiceStub(channel)
            await stream_live(stub, DEMO_STEAM_ID, load)
            assert (await stored_unlocks(schema_url))[DEMO_STEAM_ID] == load.reported[DEMO_STEAM_ID]
            outage = await load_through_an_outage(stub, sim, proxy, load, newly=newly, caplog=caplog)
            assert load.counts == {"OK": LOAD_TOTAL}
            assert outage.lost_writes, "writes during the outage are logged at ERROR"
            assert any(DEMO_STEAM_ID in r.message and "achievements snapshot" in r.message for r in outage.lost_writes)

            async def merged_again() -> bool:
                """Merges succeed again: the new unlock reaches the database through the reconnected pool."""
                if newly in (await stored_unlocks(schema_url)).get(DEMO_STEAM_ID, {}):
                    return True
                await stream_live(stub, DEMO_STEAM_ID, load)
                return False

            await until_async(merged_again, "merges succeeded again", timeout=WAIT_SECS)
            # Every player asked once more: the store catches up with whatever it missed.
            for name in LOAD_PLAYERS:
                await stream_live(stub, name, load)
    finally:
        await running.stop(None)
        await proxy.close()

    merged_during, merged_after = await merges_between(schema_url, outage.cut_at_us, outage.restored_at_us)
    assert merged_during == 0, "the outage was real: no merge can commit without the database"
    assert merged_after > 0
    stored = await stored_unlocks(schema_url)
    lost = {
        (name, api_name)
        for name, shown in load.reported.items()
        for api_name, when in shown.items()
        if stored.get(name, {}).get(api_name) != when
    }
    assert lost == set()
    print(
        f"\npostgres restart: load {dict(load.counts)}; outage {outage.secs:.2f}s over {outage.calls} calls,"
        f" {proxy.dropped} connections dropped, {len(outage.lost_writes)} unsaved snapshots logged at ERROR,"
        f" {merged_during} merges stored during it; {merged_after} merges stored after the restore;"
        f" {sum(len(v) for v in load.reported.values())} unlocks shown to clients across {len(load.reported)}"
        f" players, {len(lost)} lost"
    )
