"""The async client and the CLI against a real in-process grpc.aio server with a fake servicer."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf import any_pb2, duration_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped,unused-ignore]
from grpc_status import rpc_status

from dbd.playerstats.v1 import playerstats_pb2, playerstats_pb2_grpc
from dbd_playerstats_client import PlayerStatsClient, PlayerStatsError, __version__, cli

STEAM_ID = "76561198000000001"
MISSING = "nobody"
BUSY = "busy"
HALFWAY = "halfway"
STORED = "stored"
HELD = "held"
ACHIEVEMENTS_DELAY_S = 0.2

_Context = grpc.aio.ServicerContext[Any, Any]


def _profile() -> playerstats_pb2.Profile:
    return playerstats_pb2.Profile(
        steam_id=STEAM_ID,
        persona_name="Demo Survivor",
        profile_url=f"https://steamcommunity.com/profiles/{STEAM_ID}",
        visibility=playerstats_pb2.PROFILE_VISIBILITY_PUBLIC,
    )


def _provenance(source: playerstats_pb2.DataSource.ValueType, age: timedelta) -> playerstats_pb2.Provenance:
    fetched = timestamp_pb2.Timestamp()
    # Whole minutes, so that two parts built a moment apart are equal.
    fetched.FromDatetime((datetime.now(UTC) - age).replace(second=0, microsecond=0))
    return playerstats_pb2.Provenance(source=source, fetched_at=fetched)


def _stats_part() -> playerstats_pb2.StatsPart:
    return playerstats_pb2.StatsPart(
        profile=_profile(),
        stats=playerstats_pb2.PlayerStats(
            killer_grade=playerstats_pb2.Grade(
                tier=playerstats_pb2.GRADE_TIER_ASH, level=4, pips=3, display_name="Ash IV"
            ),
            survivor_grade=playerstats_pb2.Grade(
                tier=playerstats_pb2.GRADE_TIER_GOLD, level=2, pips=57, display_name="Gold II"
            ),
            bloodpoints=12_345_678,
            raw_stats=[playerstats_pb2.RawStat(name="DBD_BloodwebPoints", int_value=12_345_678)],
        ),
        provenance=_provenance(playerstats_pb2.DATA_SOURCE_LIVE, timedelta(0)),
    )


def _achievements(*, stored: bool) -> playerstats_pb2.AchievementsPart:
    nurse = playerstats_pb2.Adept(
        character="Nurse",
        role=playerstats_pb2.ROLE_KILLER,
        achievement=playerstats_pb2.Achievement(api_name="ACH_NURSE", unlocked=True),
    )
    part = playerstats_pb2.AchievementsPart(
        achievements=playerstats_pb2.Achievements(
            adepts=[nurse],
            killer_adepts=playerstats_pb2.RoleTotals(unlocked=14, total=38),
            survivor_adepts=playerstats_pb2.RoleTotals(unlocked=16, total=46),
            unlocked=120,
            total=282,
        ),
        provenance=_provenance(
            playerstats_pb2.DATA_SOURCE_STORED if stored else playerstats_pb2.DATA_SOURCE_LIVE,
            timedelta(hours=3) if stored else timedelta(0),
        ),
    )
    if stored:
        part.unavailable.CopyFrom(
            playerstats_pb2.Unavailable(
                code=14, reason="UPSTREAM_UNAVAILABLE", message="Steam is not answering", retry_after_ms=30_000
            )
        )
    return part


async def _abort(context: _Context, code: grpc.StatusCode, message: str, reason: str, retry_s: int) -> None:
    details = []
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="playerstats.dbd", metadata={"player": "x"}))
    details.append(info)
    if retry_s:
        retry = any_pb2.Any()
        retry.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_s)))
        details.append(retry)
    status = rpc_status.to_status(status_pb2.Status(code=code.value[0], message=message, details=details))
    await context.abort(status.code, status.details, status.trailing_metadata)


class FakeServicer(playerstats_pb2_grpc.PlayerStatsServiceServicer):
    """Answers by player name: normal, not found, rate limited, failing halfway, or a stored copy."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str | bytes]] = []
        self.release_achievements = asyncio.Event()
        self.achievements_sent = False

    async def _fail_for(self, player: str, context: _Context) -> None:
        self.metadata.append(dict(context.invocation_metadata() or ()))
        if player == MISSING:
            await _abort(context, grpc.StatusCode.NOT_FOUND, f"no Steam player named {player!r}", "PLAYER_NOT_FOUND", 0)
        if player == BUSY:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, "Steam circuit open", "UPSTREAM_CIRCUIT_OPEN", 30)

    async def StreamPlayerStats(
        self, request: playerstats_pb2.StreamPlayerStatsRequest, context: _Context
    ) -> AsyncIterator[playerstats_pb2.StreamPlayerStatsResponse]:
        await self._fail_for(request.player, context)
        yield playerstats_pb2.StreamPlayerStatsResponse(stats=_stats_part())
        if request.player == HALFWAY:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, "Steam went away", "UPSTREAM_UNAVAILABLE", 5)
        if request.player == HELD:
            await self.release_achievements.wait()
        await asyncio.sleep(ACHIEVEMENTS_DELAY_S)
        self.achievements_sent = True
        yield playerstats_pb2.StreamPlayerStatsResponse(achievements=_achievements(stored=request.player == STORED))

    async def GetPlayerStats(
        self, request: playerstats_pb2.GetPlayerStatsRequest, context: _Context
    ) -> playerstats_pb2.GetPlayerStatsResponse:
        await self._fail_for(request.player, context)
        return playerstats_pb2.GetPlayerStatsResponse(
            stats=_stats_part(), achievements=_achievements(stored=request.player == STORED)
        )

    async def ResolvePlayer(
        self, request: playerstats_pb2.ResolvePlayerRequest, context: _Context
    ) -> playerstats_pb2.ResolvePlayerResponse:
        await self._fail_for(request.player, context)
        return playerstats_pb2.ResolvePlayerResponse(profile=_profile())

    async def StreamLobbyStats(
        self, request: playerstats_pb2.StreamLobbyStatsRequest, context: _Context
    ) -> AsyncIterator[playerstats_pb2.StreamLobbyStatsResponse]:
        # The lobby client is tested against the real server (test_client_lobby.py).
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not faked")
        yield playerstats_pb2.StreamLobbyStatsResponse()  # pragma: no cover - abort always raises

    async def GetPlayerHistory(
        self, request: playerstats_pb2.GetPlayerHistoryRequest, context: _Context
    ) -> playerstats_pb2.GetPlayerHistoryResponse:
        # The history client is tested against the real server (test_history.py).
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not faked")
        raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises

    async def WatchPlayer(
        self, request: playerstats_pb2.WatchPlayerRequest, context: _Context
    ) -> AsyncIterator[playerstats_pb2.WatchPlayerResponse]:
        # The watch client is tested against the real server (test_watch.py).
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not faked")
        yield playerstats_pb2.WatchPlayerResponse()  # pragma: no cover - abort always raises


@pytest.fixture
async def servicer() -> FakeServicer:
    return FakeServicer()


@pytest.fixture
async def target(servicer: FakeServicer) -> AsyncIterator[str]:
    server = grpc.aio.server()
    playerstats_pb2_grpc.add_PlayerStatsServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def test_stream_yields_stats_then_achievements(target: str) -> None:
    """The stream yields exactly the stats part, then the achievements part, then ends."""
    async with PlayerStatsClient(target) as client:
        messages = [message async for message in client.stream_player_stats(STEAM_ID)]
    assert [message.WhichOneof("part") for message in messages] == ["stats", "achievements"]
    assert messages[0].stats == _stats_part()
    assert messages[1].achievements.achievements.unlocked == 120


async def test_stream_delivers_stats_before_achievements_exist(target: str, servicer: FakeServicer) -> None:
    """The stats part arrives while the server is still waiting to send the achievements (held until the test
    has read the stats: an ordering, not a race against a timer)."""
    async with PlayerStatsClient(target) as client, contextlib.aclosing(client.stream_player_stats(HELD)) as stream:
        first = await asyncio.wait_for(anext(stream), timeout=5)
        assert first.WhichOneof("part") == "stats"
        assert not servicer.achievements_sent
        servicer.release_achievements.set()
        second = await asyncio.wait_for(anext(stream), timeout=5)
        assert second.WhichOneof("part") == "achievements"
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(stream), timeout=5)


async def test_calls_carry_caller_id_and_user_agent(target: str, servicer: FakeServicer) -> None:
    """Every call sends x-caller-id and a user agent naming the client and its version."""
    async with PlayerStatsClient(target, caller_id="match-history") as client:
        resolved = await client.resolve_player(STEAM_ID)
        await client.get_player_stats(STEAM_ID)
    assert resolved.profile == _profile()
    assert [m["x-caller-id"] for m in servicer.metadata] == ["match-history", "match-history"]
    user_agent = servicer.metadata[0]["user-agent"]
    assert isinstance(user_agent, str)
    assert user_agent.startswith(f"dbd-playerstats-client/{__version__} ")


async def test_aborted_call_raises_player_stats_error(target: str) -> None:
    """An abort with a rich status raises PlayerStatsError with reason, metadata and retry_after."""
    async with PlayerStatsClient(target) as client:
        with pytest.raises(PlayerStatsError) as caught:
            await client.get_player_stats(BUSY)
    err = caught.value
    assert err.code is grpc.StatusCode.UNAVAILABLE
    assert (err.reason, err.domain, err.retry_after) == ("UPSTREAM_CIRCUIT_OPEN", "playerstats.dbd", 30.0)
    assert err.metadata == {"player": "x"}
    assert isinstance(err.__cause__, grpc.aio.AioRpcError)


async def test_stream_error_after_first_part(target: str) -> None:
    """A stream aborted after its first part yields that part, then raises PlayerStatsError."""
    received: list[str | None] = []

    async def consume(client: PlayerStatsClient) -> None:
        async for message in client.stream_player_stats(HALFWAY):
            received.append(message.WhichOneof("part"))

    async with PlayerStatsClient(target) as client:
        with pytest.raises(PlayerStatsError) as caught:
            await consume(client)
    assert received == ["stats"]
    assert (caught.value.reason, caught.value.retry_after) == ("UPSTREAM_UNAVAILABLE", 5.0)


async def test_deadline_exceeded_is_a_player_stats_error(target: str) -> None:
    """A stream outliving its timeout fails with DEADLINE_EXCEEDED and no reason."""
    async with PlayerStatsClient(target) as client:
        with pytest.raises(PlayerStatsError) as caught:
            async for _ in client.stream_player_stats(STEAM_ID, timeout=ACHIEVEMENTS_DELAY_S / 4):
                pass
    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert caught.value.reason is None


async def test_from_channel_leaves_the_channel_open(target: str) -> None:
    """aclose() of a client made from_channel leaves the caller's channel usable."""
    async with grpc.aio.insecure_channel(target) as channel:
        async with PlayerStatsClient.from_channel(channel, caller_id="svc") as client:
            await client.resolve_player(STEAM_ID)
        again = PlayerStatsClient.from_channel(channel)
        assert (await again.resolve_player(STEAM_ID)).profile.steam_id == STEAM_ID


async def _main(*argv: str) -> int:
    # main() runs its own event loop, so it cannot share the test's: it gets a thread.
    return await asyncio.to_thread(cli.main, list(argv))


async def test_cli_stream_prints_each_part_with_elapsed_time(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`stream` prints the stats part first, then the achievements part, each with its elapsed ms."""
    assert await _main("--target", target, "stream", STEAM_ID) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert err == ""
    assert lines[0].startswith("[")
    assert f"] stats  Demo Survivor ({STEAM_ID}) source=LIVE fetched=" in lines[0]
    timed = [line for line in lines if line.startswith("[")]
    assert len(timed) == 2
    assert "] achievements  killer adepts 14/38, survivor adepts 16/46, all 120/282 source=LIVE" in timed[1]
    stats_ms, achievements_ms = (int(line[1:].split("ms]")[0]) for line in timed)
    assert stats_ms < achievements_ms
    assert achievements_ms >= ACHIEVEMENTS_DELAY_S * 1000
    assert any("killer Ash IV (3 pips), survivor Gold II (57 pips)" in line for line in lines)
    assert any(line.strip() == "killer adepts    Nurse" for line in lines)
    assert any(line.strip() == "raw stats    1" for line in lines)


async def test_cli_get_stored_copy(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`get` of a player with stored achievements says it is a stored copy, its age and the reason."""
    assert await _main("--target", target, "get", STORED) == 0
    out = capsys.readouterr().out
    assert "source=STORED" in out
    assert "stored copy from " in out
    assert ", 3 h old" in out
    assert "unavailable  UPSTREAM_UNAVAILABLE (UNAVAILABLE): Steam is not answering (retry after 30 s)" in out


async def test_cli_resolve(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`resolve` prints the name, SteamID64, visibility and profile URL."""
    assert await _main("--target", target, "--caller-id", "cli-test", "resolve", "demo") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(f"] player  Demo Survivor ({STEAM_ID}) visibility=PUBLIC")
    assert f"https://steamcommunity.com/profiles/{STEAM_ID}" in out


async def test_cli_json_lines_parse(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    """With --json every stream message is one line of proto3 JSON."""
    assert await _main("--target", target, "--json", "stream", STEAM_ID) == 0
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [next(iter(document)) for document in documents] == ["stats", "achievements"]
    assert documents[0]["stats"]["profile"]["steamId"] == STEAM_ID
    assert documents[1]["achievements"]["achievements"]["unlocked"] == 120


async def test_cli_error_line_and_exit_code(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A failed call prints one error line with code, reason, details and retry hint, and exits 1."""
    assert await _main("--target", target, "get", BUSY) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: UNAVAILABLE UPSTREAM_CIRCUIT_OPEN: Steam circuit open (retry after 30 s)\n"


async def test_cli_not_found(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing player prints NOT_FOUND PLAYER_NOT_FOUND without a retry hint and exits 1."""
    assert await _main("--target", target, "resolve", MISSING) == 1
    assert capsys.readouterr().err == f"error: NOT_FOUND PLAYER_NOT_FOUND: no Steam player named {MISSING!r}\n"


async def test_cli_stream_failing_halfway(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A stream failing after the stats part prints that part, then the error line, and exits 1."""
    assert await _main("--target", target, "stream", HALFWAY) == 1
    out, err = capsys.readouterr()
    assert "] stats  Demo Survivor" in out
    assert "achievements" not in out
    assert err == "error: UNAVAILABLE UPSTREAM_UNAVAILABLE: Steam went away (retry after 5 s)\n"
