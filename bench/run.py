"""What the rows of one run share: fresh players, the simulator's admin API, the server's environment, `Run`.

`Run` starts and stops the server processes of the rows (so the driver can stop whatever is left when a row
fails), keeps the rows' profiles, and decides which rows are profiled.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import profiling
from bench.config import Config
from bench.procs import BenchError, Proc, find_tool, start
from bench.report import Row
from bench.stats import Summary
from dbd_playerstats.config.settings import DEFAULTS
from dbd_playerstats.sim import synthetic_steam_id

START_TIMEOUT_SECS = 60.0
CIRCUIT_OPEN = "UNAVAILABLE UPSTREAM_CIRCUIT_OPEN"
# Synthetic players are handed out in disjoint ranges, so a "miss" is never a player seen before.
ZIPF_FIRST_INDEX = 500_000
HIT_PLAYER_INDEX = 0


class Ids:
    """Fresh synthetic players, never handed out twice in a run."""

    def __init__(self, first: int = 1_000) -> None:
        self._next = itertools.count(first)

    def fresh(self) -> str:
        index = next(self._next)
        if index >= ZIPF_FIRST_INDEX:
            raise BenchError("out of fresh synthetic players")
        return synthetic_steam_id(index)

    def many(self, count: int) -> list[str]:
        return [self.fresh() for _ in range(count)]


class Sim:
    """The simulator's admin API (`/_sim/...`)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def _call(self, method: str, path: str, body: object = None) -> Any:
        async with self.session.request(
            method, f"{self.base_url}{path}", json=body, timeout=aiohttp.ClientTimeout(total=10)
        ) as response:
            response.raise_for_status()
            return await response.json()

    async def counts(self) -> Counter[str]:
        return Counter(await self._call("GET", "/_sim/counts"))

    async def reset(self) -> None:
        await self._call("POST", "/_sim/reset")

    async def latency(self, **seconds: float) -> None:
        await self._call("POST", "/_sim/latency", seconds)

    async def script(self, endpoint: str, kind: str, count: int) -> None:
        await self._call("POST", "/_sim/faults", {"endpoint": endpoint, "faults": [{"kind": kind}] * count})


def find_bin(name: str) -> str:
    found = find_tool(name)
    if found is None:
        raise BenchError(f"{name} is not installed: run scripts/bench (it installs the project into .venv)")
    return found


def server_env(config: Config, sim_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The server's environment: embedded defaults, except what the benchmark must change."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in DEFAULTS
        and not key.startswith(("PLAYERSTATS_", "OTEL_", "CB_"))
        and key not in {"REDIS_URL", "DATABASE_URL"}
    }
    env = inherited | {
        "STEAM_API_BASE_URL": sim_url,
        "STEAM_API_KEY": "sim-key",
        "PLAYERSTATS_LISTEN": "127.0.0.1:0",
        "PLAYERSTATS_DATA_DIR": str(data_dir),
        "RATE_LIMIT_PER_MIN": "100000000",
        "BURST_LIMIT": "10000000",
        "PLAYERSTATS_CALLER_QUOTA_PER_MIN": "0",
        "PLAYERSTATS_CALLER_RPC_PER_MIN": "0",
        "CB_RESET_TIMEOUT_SECS": "900",
        "PLAYERSTATS_GRACE_SECS": "1",
    }
    return env | extra | dict(config.server_env)


def changed_settings(config: Config) -> dict[str, str]:
    """The server settings the benchmark changes from their embedded defaults (for the report's set-up)."""
    per_run = {"STEAM_API_BASE_URL", "PLAYERSTATS_DATA_DIR", "PLAYERSTATS_LISTEN"}
    return {k: v for k, v in server_env(config, "", Path()).items() if k in DEFAULTS and k not in per_run}


def cache_settings() -> dict[str, str]:
    """The cache variables this build of the server knows (none before caching landed), with their defaults."""
    return {key: value for key, value in DEFAULTS.items() if "CACHE" in key}


@dataclass
class Run:
    """State shared by the rows of one run."""

    config: Config
    workdir: Path
    sim: Sim
    ids: Ids = field(default_factory=Ids)
    procs: list[Proc] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    profiles: list[tuple[str, str]] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    bare_fail_fast: Summary | None = None

    def log(self, message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    async def start_server(self, name: str, **extra: str) -> tuple[Proc, str]:
        env = server_env(self.config, self.sim.base_url, self.workdir / f"data-{name}", **extra)
        proc, match = await start(
            name,
            [find_bin("playerstats-server")],
            env=env,
            ready=re.compile(r"listening on port (\d+)"),
            workdir=self.workdir,
            timeout=START_TIMEOUT_SECS,
        )
        self.procs.append(proc)
        return proc, f"127.0.0.1:{match.group(1)}"

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def want_profile(self, met: bool | None) -> bool:
        return self.config.profile == "always" or (self.config.profile == "unmet" and met is False)

    async def profile(self, proc: Proc, heading: str, load_fn: Callable[[asyncio.Event], Awaitable[object]]) -> None:
        self.log(f"profiling: {heading}")
        result = await profiling.record(
            proc.pid,
            load_fn,
            title=heading,
            seconds=self.config.profile_secs,
            out=self.workdir / f"profile-{len(self.profiles)}.txt",
        )
        self.profiles.append((heading, result if isinstance(result, str) else result.render()))


__all__ = [
    "CIRCUIT_OPEN",
    "HIT_PLAYER_INDEX",
    "START_TIMEOUT_SECS",
    "ZIPF_FIRST_INDEX",
    "Ids",
    "Run",
    "Sim",
    "cache_settings",
    "changed_settings",
    "find_bin",
    "server_env",
]
