"""The clients and the CLI on StreamLobbyStats and `max_age`, against the real server and simulator."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import grpc
import pytest

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, PRIVATE_STEAM_ID, Fault, FaultKind, RunningSimulator
from dbd_playerstats_client import PlayerStatsBlockingClient, PlayerStatsClient, PlayerStatsError, cli
from dbd_playerstats_client.errors import from_status
from tests.conftest import ServeFn
from tests.support import roomy

INVALID = "not a player!"
LOBBY = [DEMO_STEAM_ID, PRIVATE_STEAM_ID, INVALID]


@pytest.fixture
async def target(serve: ServeFn, settings: Settings) -> str:
    running = await serve(roomy(settings))  # stopped by the serve fixture
    return f"127.0.0.1:{running.port}"


def by_index(messages: list[pb.StreamLobbyStatsResponse]) -> dict[int, list[str | None]]:
    out: dict[int, list[str | None]] = {}
    for message in messages:
        out.setdefault(message.index, []).append(message.WhichOneof("part"))
    return out


async def test_async_client_streams_a_lobby(target: str, sim: RunningSimulator) -> None:
    """Each player's parts under its index; a player's error decodes to a PlayerStatsError with its reason."""
    async with PlayerStatsClient(target) as client:
        messages = [m async for m in client.stream_lobby_stats(LOBBY)]
    assert by_index(messages) == {0: ["stats", "achievements"], 1: ["error"], 2: ["error"]}
    errors = {m.index: from_status(m.error) for m in messages if m.HasField("error")}
    assert (errors[1].code, errors[1].reason, errors[1].domain) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PROFILE_PRIVATE",
        "playerstats.dbd",
    )
    assert errors[1].metadata == {"steam_id": PRIVATE_STEAM_ID}
    assert (errors[2].code, errors[2].reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PLAYER")
    assert sim.state.count("profile") == 1


async def test_async_client_max_age(target: str, sim: RunningSimulator) -> None:
    """`max_age=0` fetches live after a cached answer, on the stream, the unary call and the lobby; a timedelta
    of an hour answers from the cache."""
    async with PlayerStatsClient(target) as client:
        await client.get_player_stats(DEMO_STEAM_ID)
        streamed = [m async for m in client.stream_player_stats(DEMO_STEAM_ID, max_age=0)]
        assert streamed[0].stats.provenance.source == pb.DATA_SOURCE_LIVE
        unary = await client.get_player_stats(DEMO_STEAM_ID, max_age=0.0)
        assert unary.stats.provenance.source == pb.DATA_SOURCE_LIVE
        cached = await client.get_player_stats(DEMO_STEAM_ID, max_age=timedelta(hours=1))
        assert cached.stats.provenance.source == pb.DATA_SOURCE_CACHE
        lobby = [m async for m in client.stream_lobby_stats([DEMO_STEAM_ID], max_age=0)]
    assert lobby[0].stats.provenance.source == pb.DATA_SOURCE_LIVE
    assert sim.state.count("stats") == 4


async def test_async_client_raises_for_a_refused_lobby(target: str, sim: RunningSimulator) -> None:
    """Eleven players fail the whole call: PlayerStatsError INVALID_ARGUMENT / INVALID_REQUEST."""
    async with PlayerStatsClient(target) as client:
        with pytest.raises(PlayerStatsError) as caught:
            _ = [m async for m in client.stream_lobby_stats([DEMO_STEAM_ID] * 11)]
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST")
    assert sim.state.count() == 0


async def test_blocking_client_streams_a_lobby(target: str, sim: RunningSimulator) -> None:
    """The blocking client yields the same parts (here live, with `max_age=0`), from a thread of its own."""

    def run() -> list[pb.StreamLobbyStatsResponse]:
        with PlayerStatsBlockingClient(target) as client:
            return list(client.stream_lobby_stats(LOBBY, max_age=0))

    messages = await asyncio.to_thread(run)
    assert by_index(messages) == {0: ["stats", "achievements"], 1: ["error"], 2: ["error"]}
    assert next(m.stats for m in messages if m.HasField("stats")).provenance.source == pb.DATA_SOURCE_LIVE

    def refused() -> None:
        with PlayerStatsBlockingClient(target) as client:
            list(client.stream_lobby_stats([]))

    with pytest.raises(PlayerStatsError) as caught:
        await asyncio.to_thread(refused)
    assert caught.value.reason == "INVALID_REQUEST"


async def _main(*argv: str) -> int:
    # main() runs its own event loop, so it cannot share the test's: it gets a thread.
    return await asyncio.to_thread(cli.main, list(argv))


async def test_cli_lobby_prints_each_part_as_it_arrives(
    target: str, sim: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lobby` prints every part with its elapsed time and #INDEX, a player's failure as a `#N error` line, and
    exits 0; the private player's error comes before the slow player's stats."""
    sim.state.script("stats", [Fault(FaultKind.TIMEOUT, stall_seconds=0.5, steam_id=DEMO_STEAM_ID)])
    assert await _main("--target", target, "lobby", *LOBBY) == 0
    out, err = capsys.readouterr()
    assert err == ""
    timed = [line.split("] ", 1)[1] for line in out.splitlines() if line.startswith("[")]
    assert len(timed) == 4
    assert timed[0].startswith(f"#2 error  '{INVALID}' INVALID_ARGUMENT INVALID_PLAYER: ")
    assert timed[1].startswith(f"#1 error  '{PRIVATE_STEAM_ID}' FAILED_PRECONDITION PROFILE_PRIVATE: ")
    assert timed[2].startswith(f"#0 stats  Demo Survivor ({DEMO_STEAM_ID}) source=LIVE fetched=")
    assert timed[3].startswith("#0 achievements  killer adepts ")
    assert any(line.strip().startswith("raw stats") for line in out.splitlines())


async def test_cli_max_age_and_json(target: str, sim: RunningSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    """`--max-age 0` makes `get` and `lobby` live after a cached answer; `--json` prints one line per message."""
    assert await _main("--target", target, "get", DEMO_STEAM_ID) == 0
    assert await _main("--target", target, "--max-age", "0", "get", DEMO_STEAM_ID) == 0
    assert await _main("--target", target, "--max-age", "0", "--json", "lobby", DEMO_STEAM_ID, "demo") == 0
    out = capsys.readouterr().out
    documents = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(documents) == 4
    assert {d.get("index", 0) for d in documents} == {0, 1}
    assert all(d["steamId"] == DEMO_STEAM_ID for d in documents)
    stats = [d["stats"] for d in documents if "stats" in d]
    assert [s["provenance"]["source"] for s in stats] == ["DATA_SOURCE_LIVE"] * 2
    get_lines = [line for line in out.splitlines() if line.startswith("[")]
    assert "source=LIVE" in get_lines[0]
    assert "source=LIVE" in next(line for line in get_lines[1:] if "] stats" in line)
    assert sim.state.count("stats") == 3
