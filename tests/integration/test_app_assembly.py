"""`build_server` closes what its earlier steps opened when a later step fails, and `stop` closes everything.

Failures are real (gRPC refusing a channel argument, a port another socket holds, a PostgreSQL port nothing
listens on) and what is checked is
observable from outside our code: file descriptors of this process on the SQLite file, `closed` of the aiohttp
session the build created, the clients connected to a private Redis, the shared state's background task.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from dbd_playerstats.app import build_server
from dbd_playerstats.config.settings import Secret, SecretUrl, Settings
from dbd_playerstats.store import SQLITE_FILENAME, StoreError
from dbd_playerstats_dev.redis_testing import PrivateRedis, free_port, private_redis

SHARED_STATE_TASK = "playerstats-shared-state"


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    """A redis-server of this test alone, so its client count is ours."""
    directory = tmp_path / "redis"
    directory.mkdir()
    async with private_redis(directory) as server:
        yield server


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another socket listens on (without SO_REUSEPORT, so gRPC cannot bind it too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def open_files_under(directory: Path) -> list[str]:
    """The files under `directory` this process has open (its /proc/self/fd links)."""
    found: list[str] = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # the descriptor of the directory listing itself, closed by now
            continue
        if target.startswith(str(directory.resolve())):
            found.append(target)
    return found


@contextmanager
def sessions_created() -> Iterator[list[aiohttp.ClientSession]]:
    """The aiohttp sessions created inside the block that are still alive at its end (filled in on exit)."""
    before = {id(obj) for obj in gc.get_objects() if isinstance(obj, aiohttp.ClientSession)}
    created: list[aiohttp.ClientSession] = []
    try:
        yield created
    finally:
        created.extend(
            obj for obj in gc.get_objects() if isinstance(obj, aiohttp.ClientSession) and id(obj) not in before
        )


async def clients_of(redis: PrivateRedis) -> int:
    """Clients connected to `redis`, not counting the one asking."""
    client = Redis.from_url(redis.url, socket_timeout=5, socket_connect_timeout=5)
    try:
        info = await client.info("clients")
        return int(info["connected_clients"]) - 1
    finally:
        await client.aclose()


def shared_state_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == SHARED_STATE_TASK]


def with_redis(settings: Settings, redis: PrivateRedis) -> Settings:
    return replace(settings, shared_state=replace(settings.shared_state, redis_url=SecretUrl(redis.url)))


@pytest.mark.redis
async def test_a_server_grpc_refuses_closes_the_shared_state_the_store_and_the_session(
    settings: Settings, tmp_path: Path, redis_server: PrivateRedis
) -> None:
    """gRPC refuses a channel argument (a `LimitsSettings` built past the variable's bound) when the server is
    created, after Redis, the store and the session were opened: all three are closed, the error is gRPC's own."""
    limits = replace(settings.limits, max_receive_message_bytes=2**40)
    refused = with_redis(replace(settings, limits=limits), redis_server)
    with sessions_created() as sessions, pytest.raises(OverflowError):
        await build_server(refused, listen="127.0.0.1:0")
    assert (tmp_path / SQLITE_FILENAME).exists()
    assert open_files_under(tmp_path) == []
    assert [session.closed for session in sessions] == [True]
    assert await clients_of(redis_server) == 0
    assert shared_state_tasks() == []


async def test_a_taken_port_closes_the_store_and_the_session(
    settings: Settings, tmp_path: Path, taken_port: int
) -> None:
    """Binding fails after the store and the session were opened: both are closed, the OSError is unchanged."""
    address = f"127.0.0.1:{taken_port}"
    with sessions_created() as sessions, pytest.raises(OSError, match=r"^cannot listen on PLAYERSTATS_LISTEN=") as info:
        await build_server(settings, listen=address)
    assert type(info.value) is OSError
    assert str(info.value).startswith(f"cannot listen on PLAYERSTATS_LISTEN={address!r}: ")
    assert (tmp_path / SQLITE_FILENAME).exists()  # the store was opened and migrated before the bind
    assert open_files_under(tmp_path) == []
    assert len(sessions) == 1
    assert sessions[0].closed


@pytest.mark.redis
async def test_a_taken_port_also_closes_the_shared_state(
    settings: Settings, tmp_path: Path, taken_port: int, redis_server: PrivateRedis
) -> None:
    """With REDIS_URL the upstream opened first: its Redis connections and background task are gone too."""
    assert await clients_of(redis_server) == 0
    with sessions_created() as sessions, pytest.raises(OSError, match="cannot listen on PLAYERSTATS_LISTEN="):
        await build_server(with_redis(settings, redis_server), listen=f"127.0.0.1:{taken_port}")
    assert await clients_of(redis_server) == 0
    assert shared_state_tasks() == []
    assert open_files_under(tmp_path) == []
    assert [session.closed for session in sessions] == [True]


@pytest.mark.redis
async def test_a_store_that_cannot_open_closes_the_shared_state(settings: Settings, redis_server: PrivateRedis) -> None:
    """DATABASE_URL on a port nothing listens on: StoreError names it, and the Redis opened before is closed."""
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    broken = with_redis(replace(settings, store=replace(settings.store, database_url=Secret(url))), redis_server)
    with pytest.raises(StoreError, match="cannot connect to DATABASE_URL="):
        await build_server(broken, listen="127.0.0.1:0")
    assert await clients_of(redis_server) == 0
    assert shared_state_tasks() == []


@pytest.mark.redis
async def test_stop_closes_everything_the_build_opened(
    settings: Settings, tmp_path: Path, redis_server: PrivateRedis
) -> None:
    """After a successful build, `stop` leaves no SQLite descriptor, no open session, no Redis client, no task."""
    with sessions_created() as sessions:
        running = await build_server(with_redis(settings, redis_server), listen="127.0.0.1:0")
    assert await clients_of(redis_server) >= 1
    assert len(shared_state_tasks()) == 1
    assert open_files_under(tmp_path) != []
    assert sessions == [running.session]
    await running.stop(None)
    assert running.session.closed
    assert open_files_under(tmp_path) == []
    assert await clients_of(redis_server) == 0
    assert shared_state_tasks() == []
