"""The Python grpc.aio loads of the driver: timed streams, throughput, the Zipf mix, fail-fast, held streams.

Every load is bounded by a count or a duration (usually both), and checks what it got: a stream is a success
only when it ends OK after exactly two messages, stats then achievements. Times are `time.perf_counter()` on the
driver, i.e. what a caller on the same machine sees, client overhead included.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import grpc
import grpc.aio

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats_client.errors import from_rpc_error

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as Stub

CALL_TIMEOUT_SECS = 30.0
SETTLE_POLL_SECS = 0.1
# Separate channels must not share one connection (grpc's global subchannel pool would merge them).
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]


@asynccontextmanager
async def stubs(target: str, count: int) -> AsyncIterator[list[Stub]]:
    """`count` stubs, each on its own channel and so its own HTTP/2 connection."""
    channels = [grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) for _ in range(max(1, count))]
    try:
        await asyncio.gather(*(asyncio.wait_for(ch.channel_ready(), 10) for ch in channels))
        yield [pb_grpc.PlayerStatsServiceStub(ch) for ch in channels]
    finally:
        await asyncio.gather(*(ch.close(None) for ch in channels))


def describe_error(err: grpc.aio.AioRpcError) -> str:
    """`CODE REASON` of a failed call (the reason from its google.rpc.ErrorInfo, when there is one)."""
    rich = from_rpc_error(err)
    return f"{err.code().name} {rich.reason or ''}".strip()


@dataclass
class StreamTimes:
    """Per stream, milliseconds from the call to the first message and to the end; failures by kind."""

    first_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)


async def _timed_stream(stub: Stub, player: str, out: StreamTimes) -> None:
    start = time.perf_counter()
    first = 0.0
    parts: list[str] = []
    try:
        async for message in stub.StreamPlayerStats(
            pb.StreamPlayerStatsRequest(player=player), timeout=CALL_TIMEOUT_SECS
        ):
            if not parts:
                first = time.perf_counter()
            part = message.WhichOneof("part") or "?"
            parts.append(part)
            if part == "stats":
                out.sources[pb.DataSource.Name(message.stats.provenance.source)] += 1
    except grpc.aio.AioRpcError as err:
        out.errors[describe_error(err)] += 1
        return
    end = time.perf_counter()
    if parts != ["stats", "achievements"]:
        out.errors[f"OK but messages {parts}"] += 1
        return
    out.first_ms.append((first - start) * 1000)
    out.total_ms.append((end - start) * 1000)


async def timed_streams(stub_list: Sequence[Stub], players: Sequence[str], concurrency: int) -> StreamTimes:
    """Stream every player once, `concurrency` at a time, timing each."""
    out = StreamTimes()
    queue = list(reversed(players))

    async def worker(index: int) -> None:
        stub = stub_list[index % len(stub_list)]
        while queue:
            await _timed_stream(stub, queue.pop(), out)

    await asyncio.gather(*(worker(i) for i in range(max(1, min(concurrency, len(players))))))
    return out


async def streams_until(
    stub_list: Sequence[Stub], next_player: Callable[[], str], stop: asyncio.Event, concurrency: int
) -> StreamTimes:
    """Timed streams of ever new players until `stop` is set (the profiling pass of rows 1 and 2)."""
    out = StreamTimes()

    async def worker(index: int) -> None:
        stub = stub_list[index % len(stub_list)]
        while not stop.is_set():
            await _timed_stream(stub, next_player(), out)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return out


@dataclass
class Throughput:
    """Completed calls in `seconds` of wall time, with the driver's own CPU seconds over that time."""

    completed: int
    seconds: float
    errors: Counter[str]
    driver_cpu_secs: float

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0


async def _throughput(
    call: Callable[[int], Awaitable[str | None]], *, concurrency: int, duration: float, warmup: float
) -> Throughput:
    """`concurrency` workers run `call(worker index)` back to back; only calls completed within the `duration`
    after `warmup` count. `call` returns None for a good call, else the error label to count."""
    errors: Counter[str] = Counter()
    counted = 0
    measuring = False
    done = asyncio.Event()

    async def worker(index: int) -> None:
        nonlocal counted
        while not done.is_set():
            error = await call(index)
            if error is not None:
                errors[error] += 1
            elif measuring and not done.is_set():
                counted += 1

    workers = [asyncio.ensure_future(worker(i)) for i in range(concurrency)]
    try:
        await asyncio.sleep(warmup)
        measuring = True
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(duration)
        done.set()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        await asyncio.wait_for(asyncio.gather(*workers), CALL_TIMEOUT_SECS)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return Throughput(counted, seconds, errors, cpu)


async def stream_throughput(
    stub_list: Sequence[Stub], player: str, *, concurrency: int, duration: float, warmup: float
) -> Throughput:
    """Back-to-back streams of one player from `concurrency` workers; only the `duration` after `warmup` counts."""
    request = pb.StreamPlayerStatsRequest(player=player)

    async def call(index: int) -> str | None:
        stub = stub_list[index % len(stub_list)]
        try:
            n = 0
            async for _ in stub.StreamPlayerStats(request, timeout=CALL_TIMEOUT_SECS):
                n += 1
        except grpc.aio.AioRpcError as err:
            return describe_error(err)
        return None if n == 2 else f"OK but {n} messages"

    return await _throughput(call, concurrency=concurrency, duration=duration, warmup=warmup)


async def unary_throughput(
    stub_list: Sequence[Stub], player: str, *, concurrency: int, duration: float, warmup: float
) -> Throughput:
    """Back-to-back GetPlayerStats of one player (used only when h2load is not installed)."""
    request = pb.GetPlayerStatsRequest(player=player)

    async def call(index: int) -> str | None:
        try:
            await stub_list[index % len(stub_list)].GetPlayerStats(request, timeout=CALL_TIMEOUT_SECS)
        except grpc.aio.AioRpcError as err:
            return describe_error(err)
        return None

    return await _throughput(call, concurrency=concurrency, duration=duration, warmup=warmup)


async def unary_once(stub: Stub, player: str) -> tuple[str, pb.GetPlayerStatsResponse | None]:
    """One GetPlayerStats: ("OK", response) or ("CODE REASON", None)."""
    try:
        response = await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=player), timeout=CALL_TIMEOUT_SECS)
    except grpc.aio.AioRpcError as err:
        return describe_error(err), None
    return "OK", response


async def stream_once(stub: Stub, player: str) -> list[pb.StreamPlayerStatsResponse]:
    """One StreamPlayerStats, all its messages (raises grpc.aio.AioRpcError on failure)."""
    call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=CALL_TIMEOUT_SECS)
    return [message async for message in call]


async def mixed_streams(stub_list: Sequence[Stub], players: Sequence[str], concurrency: int) -> StreamTimes:
    """The Zipf mix: one stream per entry of `players` (repeats included), `concurrency` at a time."""
    return await timed_streams(stub_list, players, concurrency)


@dataclass
class FailFast:
    """Latencies (ms) of calls that failed as expected, and how every call ended."""

    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)


async def fail_fast(
    stub_list: Sequence[Stub],
    next_player: Callable[[], str],
    *,
    expect: str,
    count: int,
    concurrency: int,
    stop: asyncio.Event | None = None,
    method: str = "GetPlayerStats",
) -> FailFast:
    """`count` calls of `method` (GetPlayerStats or ResolvePlayer) for new players (or until `stop`), each
    expected to fail with `expect`."""
    out = FailFast()
    remaining = count

    async def call(stub: Stub, player: str) -> object:
        if method == "ResolvePlayer":
            return await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=player), timeout=CALL_TIMEOUT_SECS)
        return await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=player), timeout=CALL_TIMEOUT_SECS)

    async def worker(index: int) -> None:
        nonlocal remaining
        stub = stub_list[index % len(stub_list)]
        while remaining > 0 and not (stop is not None and stop.is_set()):
            remaining -= 1
            player = next_player()
            start = time.perf_counter()
            try:
                await call(stub, player)
            except grpc.aio.AioRpcError as err:
                elapsed = (time.perf_counter() - start) * 1000
                outcome = describe_error(err)
                out.outcomes[outcome] += 1
                if outcome == expect:
                    out.latencies_ms.append(elapsed)
                continue
            out.outcomes["OK"] += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return out


@dataclass
class Held:
    """Streams held open: how many were open when memory was read, and how many had their first message."""

    opened: int
    still_open: int
    first_messages: int
    errors: Counter[str]
    waited_secs: float


async def hold_streams(
    stub_list: Sequence[Stub],
    players: Sequence[str],
    *,
    settled: Callable[[], Awaitable[bool]],
    max_wait: float,
) -> Held:
    """Open one stream per player, wait until `settled()` says the server has absorbed them (at most
    `max_wait` seconds), count them, then cancel them all."""
    firsts = 0
    errors: Counter[str] = Counter()
    calls = []

    async def consume(
        call: grpc.aio.UnaryStreamCall[pb.StreamPlayerStatsRequest, pb.StreamPlayerStatsResponse],
    ) -> None:
        nonlocal firsts
        try:
            if await call.read() is not grpc.aio.EOF:
                firsts += 1
                while await call.read() is not grpc.aio.EOF:
                    pass
        except grpc.aio.AioRpcError as err:
            if err.code() is not grpc.StatusCode.CANCELLED:
                errors[describe_error(err)] += 1

    for index, player in enumerate(players):
        stub = stub_list[index % len(stub_list)]
        calls.append(stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=CALL_TIMEOUT_SECS * 4))
    tasks = [asyncio.ensure_future(consume(call)) for call in calls]
    start = time.monotonic()
    try:
        for _ in range(max(1, math.ceil(max_wait / SETTLE_POLL_SECS))):
            if await settled():
                break
            await asyncio.sleep(SETTLE_POLL_SECS)
        waited = time.monotonic() - start
        still_open = sum(1 for task in tasks if not task.done())
        return Held(len(calls), still_open, firsts, errors, waited)
    finally:
        for call in calls:
            call.cancel()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)


__all__ = [
    "FailFast",
    "Held",
    "StreamTimes",
    "Throughput",
    "describe_error",
    "fail_fast",
    "hold_streams",
    "mixed_streams",
    "stream_once",
    "stream_throughput",
    "streams_until",
    "stubs",
    "timed_streams",
    "unary_once",
    "unary_throughput",
]
