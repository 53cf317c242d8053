"""Fixtures for the simulator tests: a simulator on a real socket and an HTTP session pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from dbd_playerstats.sim import RunningSimulator, running_simulator


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """A simulator with the default state, listening on a free port of 127.0.0.1."""
    async with running_simulator() as running:
        yield running


@pytest.fixture
async def http(sim: RunningSimulator) -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session whose relative URLs go to `sim`."""
    async with aiohttp.ClientSession(base_url=sim.base_url) as session:
        yield session
