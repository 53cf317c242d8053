"""Helpers shared by the tests: polling for a condition, reading rich statuses, and real servers with
resilience overrides."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import RunningSimulator
from dbd_playerstats.store import StoreError
from dbd_playerstats_dev.store_testing import temporary_schema

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

StartFn = Callable[..., Awaitable["AsyncStub"]]
T = TypeVar("T")
POLL_SECS = 0.01
POLL_TIMEOUT_SECS = 5.0


async def until_async(
    probe: Callable[[], Awaitable[T | None]],
    what: str = "",
    *,
    timeout: float = POLL_TIMEOUT_SECS,
    interval: float = POLL_SECS,
) -> T:
    """Await `probe()` every `interval` seconds until it gives something truthy, and return that.

    For state that has counters or logs, not events (the simulator's request log, a replica's stderr, a health
    status). `timeout` is a safety net against a hang, never the behaviour under test: reaching it fails the test
    with an AssertionError naming `what`.
    """
    try:
        async with asyncio.timeout(timeout):
            while True:
                value = await probe()
                if value:
                    return value
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout:g} s waiting until {what or 'the probe answered'}") from None


async def until(
    condition: Callable[[], T | None],
    what: str = "",
    *,
    timeout: float = POLL_TIMEOUT_SECS,
    interval: float = POLL_SECS,
) -> T:
    """`until_async` for a plain (not awaitable) condition: the first truthy `condition()`."""

    async def probe() -> T | None:
        return condition()

    return await until_async(probe, what or "the condition held", timeout=timeout, interval=interval)


def error_details(err: grpc.aio.AioRpcError) -> tuple[str, float | None]:
    """The ErrorInfo reason and the RetryInfo delay in seconds (None when absent) of a failed call."""
    status = rpc_status.from_call(err)
    assert status is not None, "every error carries a google.rpc.Status"
    reason, retry = "", None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry_info = error_details_pb2.RetryInfo()
            detail.Unpack(retry_info)
            retry = retry_info.retry_delay.ToTimedelta().total_seconds()
    return reason, retry


def roomy_settings(settings: Settings, **resilience: float) -> Settings:
    """`settings` with a Steam budget and a caller quota that never bind, a breaker that never opens (faults are
    meant to reach the parser and the deadline every time) and no per-player answer kept between requests."""
    base = {"rate_limit_per_min": 600_000, "burst_limit": 1000, "cb_max_fails": 1_000_000}
    return replace(
        settings,
        resilience=replace(settings.resilience, **(base | resilience)),  # type: ignore[arg-type]
        cache=replace(settings.cache, stats_ttl_secs=0, achievements_ttl_secs=0, profile_ttl_secs=0),
        limits=replace(settings.limits, caller_quota_per_min=0),
    )


async def stream_messages(stub: AsyncStub, player: str, timeout: float = 20.0) -> list[pb.StreamPlayerStatsResponse]:
    """Every message of one StreamPlayerStats call (raises the call's error)."""
    return [m async for m in stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=timeout)]


Noted = tuple[float, Counter[str], pb.StreamPlayerStatsResponse]


async def stream_noting_answers(
    stub: AsyncStub, sim: RunningSimulator, player: str, *, timeout: float = 20.0
) -> list[Noted]:
    """Every message of one stream with its arrival time (seconds since the call started) and the answers the
    simulator had logged by then, per endpoint: "the stats came before Steam answered the achievements" is then
    an ordering on one event loop, not a stopwatch reading a loaded machine can stretch."""
    started = time.monotonic()
    call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=timeout)
    return [
        (time.monotonic() - started, Counter(record.endpoint for record in sim.state.requests()), message)
        async for message in call
    ]


@asynccontextmanager
async def stub_starter(
    serve: Callable[[Settings], Awaitable[RunningServer]], settings: Settings, base: Mapping[str, float]
) -> AsyncIterator[StartFn]:
    """`start(**overrides)` starts a real server whose resilience settings are `base | overrides` and returns a
    stub on it; every channel is closed on exit (the servers by the `serve` fixture)."""
    channels: list[grpc.aio.Channel] = []

    async def start(**overrides: float) -> AsyncStub:
        resilience = replace(settings.resilience, **(dict(base) | overrides))  # type: ignore[arg-type]
        running = await serve(replace(settings, resilience=resilience))
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{running.port}"))
        return pb_grpc.PlayerStatsServiceStub(channels[-1])

    try:
        yield start
    finally:
        for channel in channels:
            await channel.close()


def roomy(settings: Settings, **cache: float) -> Settings:
    """`settings` with a Steam budget that never binds, no caller quota and `cache` overrides, so that a test
    counting Steam calls or ordering parts is not paced by the token buckets."""
    return replace(
        settings,
        resilience=replace(settings.resilience, rate_limit_per_min=100_000, burst_limit=1000),
        limits=replace(settings.limits, caller_quota_per_min=0),
        cache=replace(settings.cache, **cache),  # type: ignore[arg-type]
    )


SERVER_EXE = shutil.which("playerstats-server", path=str(Path(sys.executable).parent))
START_TIMEOUT_SECS = 30.0


def server_env(sim: RunningSimulator, data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without service settings, pointed at the simulator and `data_dir`, no retries
    and a Steam budget that never binds; `extra` adds or overrides variables."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PLAYERSTATS_", "DATABASE_URL", "OTEL_"))}
    return inherited | {
        "STEAM_API_BASE_URL": sim.base_url,
        "STEAM_API_KEY": "sim-key",
        "PLAYERSTATS_LISTEN": "127.0.0.1:0",
        "PLAYERSTATS_DATA_DIR": str(data_dir),
        "MAX_RETRIES": "0",
        "RATE_LIMIT_PER_MIN": "600000",
        "BURST_LIMIT": "1000",
        **extra,
    }


@asynccontextmanager
async def server_process(env: dict[str, str], log: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """Start the `playerstats-server` console script, wait for its "listening on port N" line; kill it if the
    block did not end it."""
    assert SERVER_EXE is not None, "playerstats-server is installed with the project"
    with log.open("ab") as log_file:
        proc = await asyncio.create_subprocess_exec(
            SERVER_EXE, env=env, stdout=asyncio.subprocess.PIPE, stderr=log_file
        )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_SECS)).decode()
        assert line.startswith("playerstats-server listening on port "), f"{line!r}; see {log}"
        yield proc, int(line.rsplit(" ", 1)[1])
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@asynccontextmanager
async def entered_or_fail(manager: AbstractAsyncContextManager[T], down: type[Exception]) -> AsyncIterator[T]:
    """`manager` entered, the test failed (never skipped) with its message when entering raises `down` (a
    service the tests need is not running), and exited afterwards."""
    try:
        value = await manager.__aenter__()
    except down as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield value
    finally:
        await manager.__aexit__(None, None, None)


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A URL whose connections use a fresh schema of the test PostgreSQL; fails (never skips) when it is down."""
    async with entered_or_fail(temporary_schema(), StoreError) as url:
        yield url
