"""Fixtures of the Steam client tests: the loopback fake Steam, an aiohttp session, a client of the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from dbd_playerstats.steam.client import SteamClient
from tests.steam.steam_fake import KEY, FakeSteam


@pytest.fixture
async def fake() -> AsyncIterator[FakeSteam]:
    app = web.Application()
    server = TestServer(app, host="127.0.0.1", port=0)
    steam_fake = FakeSteam(server)
    app.router.add_route("GET", "/{tail:.*}", steam_fake.dispatch)
    await server.start_server()
    try:
        yield steam_fake
    finally:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def client(fake: FakeSteam, session: aiohttp.ClientSession) -> SteamClient:
    return SteamClient(session, base_url=fake.base_url, api_key=KEY)
