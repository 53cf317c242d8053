"""Shared fixtures: a real Steam simulator and a real grpc.aio server on loopback, per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest

from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.settings import Secret, Settings
from dbd_playerstats.sim import RunningSimulator, running_simulator

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """A fresh Steam simulator on a free loopback port."""
    async with running_simulator() as running:
        yield running


def make_settings(sim: RunningSimulator, data_dir: Path, **resilience: float) -> Settings:
    """Settings pointing at the simulator, with test-friendly resilience overrides."""
    base = Settings.from_env({"PLAYERSTATS_DATA_DIR": str(data_dir)})
    return replace(
        base,
        steam=replace(base.steam, base_url=sim.base_url, api_key=Secret("sim-key")),
        resilience=replace(base.resilience, **resilience),  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(sim: RunningSimulator, tmp_path: Path) -> Settings:
    """Default settings against the simulator, fast backoff so retry tests stay quick."""
    return make_settings(sim, tmp_path, base_backoff_ms=1, max_backoff_ms=5)


ServerFactory = Callable[[Settings], "AsyncIterator[RunningServer]"]


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    """The real server on 127.0.0.1:<free port>."""
    running = await build_server(settings, listen="127.0.0.1:0")
    try:
        yield running
    finally:
        await running.stop(None)


@pytest.fixture
async def channel(server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> AsyncStub:
    return pb_grpc.PlayerStatsServiceStub(channel)
