"""The Connect face serves the history and the watch like every other RPC (one servicer, both faces):
GetPlayerHistory as a unary JSON POST, WatchPlayer as a Connect server stream whose first message is the
snapshot and which stops once the client goes away."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

import aiohttp

from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, RunningSimulator
from tests.http_support import SERVICE_PATH, envelope, with_http

if TYPE_CHECKING:
    from tests.conftest import ServeFn

FRAME_HEADER = 5


async def test_history_and_watch_over_connect(serve: ServeFn, settings: Settings, sim: RunningSimulator) -> None:
    watchable = replace(settings, watch=replace(settings.watch, min_interval_secs=1.0, default_interval_secs=1.0))
    running = await serve(with_http(watchable))
    assert running.http is not None
    base = f"http://127.0.0.1:{running.http.port}{SERVICE_PATH}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.post(f"{base}/GetPlayerStats", json={"player": "demo"}) as resp:
            assert resp.status == 200
        async with http.post(f"{base}/GetPlayerHistory", json={"player": "demo", "stats": ["DBD_Escape"]}) as resp:
            assert resp.status == 200
            history = await resp.json()
        assert [s["name"] for s in history["series"]] == ["DBD_Escape"]
        assert len(history["series"][0]["points"]) == 1
        headers = {"content-type": "application/connect+json"}
        async with http.post(f"{base}/WatchPlayer", data=envelope({"player": "demo"}), headers=headers) as resp:
            assert resp.status == 200
            header = await resp.content.readexactly(FRAME_HEADER)
            first = json.loads(await resp.content.readexactly(int.from_bytes(header[1:], "big")))
    assert first["snapshot"]["stats"]["profile"]["steamId"] == DEMO_STEAM_ID
    assert "observedAt" in first
