"""Helpers for tests of the shared state: the machine's Redis under a throw-away key prefix, and private Redis
servers a test may stop and start (never stop the shared one: other tests use it).

The test Redis is `PLAYERSTATS_TEST_REDIS_URL` (default `redis://127.0.0.1:6379/0`, as on the development
machines and in CI). A server that is down is a `RedisUnavailableError` with a clear message, never a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from redis.asyncio import Redis

from dbd_playerstats.upstream.shared import REDIS_ERRORS

TEST_REDIS_URL_ENV: Final = "PLAYERSTATS_TEST_REDIS_URL"
DEFAULT_TEST_REDIS_URL: Final = "redis://127.0.0.1:6379/0"


class RedisUnavailableError(OSError):
    """The Redis a test needs is not reachable (the message says which and how to fix it)."""


def redis_test_url(environ: Mapping[str, str] = os.environ) -> str:
    """The Redis the tests use."""
    return environ.get(TEST_REDIS_URL_ENV) or DEFAULT_TEST_REDIS_URL


async def delete_prefix(client: Redis, prefix: str) -> int:
    """Delete every key starting with `prefix`; return how many there were."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    return len(keys)


@asynccontextmanager
async def temporary_prefix(url: str | None = None) -> AsyncIterator[str]:
    """A key prefix no other test uses, on the test Redis; its keys are deleted before and after."""
    target = url or redis_test_url()
    prefix = f"playerstats-test:{uuid.uuid4().hex[:16]}:"
    client = Redis.from_url(target, socket_timeout=5, socket_connect_timeout=5)
    try:
        try:
            await delete_prefix(client, prefix)
        except REDIS_ERRORS as exc:
            raise RedisUnavailableError(
                f"the test Redis at {target} ({TEST_REDIS_URL_ENV}) is not reachable: {type(exc).__name__}: "
                f"{exc}; start it (as .ci/run does) and run the tests again"
            ) from exc
        yield prefix
        await delete_prefix(client, prefix)
    finally:
        await client.aclose()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A `redis-server` of the test's own on 127.0.0.1:`port` (no persistence: a restart starts empty).

    `start()` waits until it answers PING; `kill()` SIGKILLs it (clients see refused connections); `start()`
    again brings it back on the same port.
    """

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, timeout_secs: float = 10.0) -> None:
        """Start the server and wait (at most `timeout_secs`) until it answers."""
        executable = shutil.which("redis-server")
        if executable is None:
            raise RedisUnavailableError("redis-server is not installed (Debian package redis-server)")
        self._process = await asyncio.create_subprocess_exec(
            executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self._directory),
            "--logfile",
            str(self._directory / f"redis-{self.port}.log"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            async with asyncio.timeout(timeout_secs):
                while True:
                    if self._process.returncode is not None:
                        raise RedisUnavailableError(f"redis-server on port {self.port} exited at start")
                    with contextlib.suppress(*REDIS_ERRORS):
                        if await client.ping():
                            return
                    await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    async def kill(self) -> None:
        """SIGKILL the server and reap it (idempotent); clients then see refused connections."""
        if self._process is not None:
            if self._process.returncode is None:
                self._process.kill()
            await self._process.wait()
            self._process = None


@asynccontextmanager
async def private_redis(directory: Path) -> AsyncIterator[PrivateRedis]:
    """A started `PrivateRedis`, killed at the end whatever happened."""
    server = PrivateRedis(directory)
    try:
        await server.start()
        yield server
    finally:
        await server.kill()


__all__ = [
    "DEFAULT_TEST_REDIS_URL",
    "TEST_REDIS_URL_ENV",
    "PrivateRedis",
    "RedisUnavailableError",
    "delete_prefix",
    "free_port",
    "private_redis",
    "redis_test_url",
    "temporary_prefix",
]
