"""The `playerstats-steam-sim` console script: announces its address, serves, stops cleanly, rejects bad options."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from dbd_playerstats.sim import DEMO_STEAM_ID
from dbd_playerstats.sim.main import main

SCRIPT = shutil.which("playerstats-steam-sim") or str(Path(sys.executable).parent / "playerstats-steam-sim")
STATS = "/ISteamUserStats/GetUserStatsForGame/v2/"


async def start(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start the simulator on a free port; return the process and the base URL from its first line."""
    process = await asyncio.create_subprocess_exec(
        SCRIPT, "--port", "0", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), timeout=10)).decode()
    prefix = "steam-sim listening on "
    assert line.startswith(prefix), line
    assert line.endswith("\n")
    return process, line.removeprefix(prefix).strip()


async def stop(process: asyncio.subprocess.Process) -> int:
    """Send SIGTERM and return the exit code."""
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), timeout=10)


async def test_console_script_announces_serves_and_stops_on_sigterm() -> None:
    """The script prints one line with its URL, answers Steam calls there, and exits 0 on SIGTERM."""
    process, base_url = await start()
    try:
        assert base_url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession(base_url=base_url) as http:
            params = {"key": "sim-key", "steamid": DEMO_STEAM_ID, "appid": "381210"}
            async with http.get(STATS, params=params) as response:
                assert response.status == 200
                body = await response.json()
            assert body["playerstats"]["steamID"] == DEMO_STEAM_ID
    finally:
        code = await stop(process)
    assert code == 0
    assert process.stdout is not None
    assert await process.stdout.read() == b""


async def test_console_script_applies_its_options() -> None:
    """--api-key, --latency and --error-rate configure the served state (visible through /_sim/config)."""
    process, base_url = await start(
        "--api-key",
        "k1",
        "--api-key",
        "k2",
        "--latency",
        "stats=0.01",
        "--error-rate",
        "profile=http_503:1",
        "--seed",
        "3",
    )
    try:
        async with aiohttp.ClientSession(base_url=base_url) as http:
            async with http.get("/_sim/config") as response:
                config = await response.json()
            async with http.get(
                "/ISteamUser/GetPlayerSummaries/v2/", params={"key": "k2", "steamids": DEMO_STEAM_ID}
            ) as r:
                profile_status = r.status
    finally:
        assert await stop(process) == 0
    assert config["valid_keys"] == ["k1", "k2"]
    assert config["latency"]["stats"] == 0.01
    assert config["error_rates"]["profile"] == {"kind": "http_503", "probability": 1.0, "seed": 3}
    assert profile_status == 503


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--latency", "stats"], "--latency"),
        (["--latency", "nowhere=1"], "--latency"),
        (["--error-rate", "stats=http_418:0.5"], "--error-rate"),
        (["--error-rate", "stats=http_503:1.5"], "--error-rate"),
        (["--port", "70000"], "--port"),
        (["--seed", "x"], "--seed"),
        (["--colour"], "--colour"),
    ],
)
def test_bad_option_is_one_line_naming_it_and_code_2(
    capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    """main() rejects a bad option with a single stderr line naming it and returns 2 without serving."""
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert option in lines[0]


async def test_console_script_exits_2_on_a_bad_option() -> None:
    """The installed script itself exits with status 2 on a bad option."""
    process = await asyncio.create_subprocess_exec(
        SCRIPT, "--latency", "stats", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
    assert process.returncode == 2
    assert b"--latency" in stderr
