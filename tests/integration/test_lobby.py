"""StreamLobbyStats through the real server and simulator: parts in the order they become ready, per-player
errors, one profile call per lobby, duplicates fetched once, and the request-level refusals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import (
    DEMO_STEAM_ID,
    FRESH_STEAM_ID,
    PRIVATE_STEAM_ID,
    Fault,
    FaultKind,
    RunningSimulator,
    synthetic_steam_id,
)
from tests.conftest import ServeFn
from tests.support import error_details, roomy, until

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

TIMEOUT = 20.0
SLOW_STATS_SECS = 1.0
Timed = list[tuple[float, pb.StreamLobbyStatsResponse]]


@pytest.fixture
async def stub(serve: ServeFn, settings: Settings) -> AsyncIterator[AsyncStub]:
    running = await serve(roomy(settings))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield pb_grpc.PlayerStatsServiceStub(channel)


async def lobby(stub: AsyncStub, players: Sequence[str]) -> Timed:
    """Every message of one lobby stream with its arrival time (seconds since the call started)."""
    started = time.monotonic()
    call = stub.StreamLobbyStats(pb.StreamLobbyStatsRequest(players=players), timeout=TIMEOUT)
    return [(time.monotonic() - started, message) async for message in call]


def kinds(messages: Timed, index: int) -> list[str | None]:
    return [m.WhichOneof("part") for _, m in messages if m.index == index]


def error_reason(status: status_pb2.Status) -> str:
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.domain == "playerstats.dbd"
    return str(info.reason)


async def test_a_lobby_of_five_streams_each_player_as_it_becomes_ready(stub: AsyncStub, sim: RunningSimulator) -> None:
    """One private, one invalid, one whose stats Steam holds back a second: every fast player's stats come
    before the slow one's, the private and invalid players get one error each, and the stream ends OK."""
    fast = [DEMO_STEAM_ID, synthetic_steam_id(0)]
    players = [fast[0], PRIVATE_STEAM_ID, "not a player!", FRESH_STEAM_ID, fast[1]]
    sim.state.script("stats", [Fault(FaultKind.TIMEOUT, stall_seconds=SLOW_STATS_SECS, steam_id=FRESH_STEAM_ID)])
    messages = await lobby(stub, players)

    for index in (0, 3, 4):
        assert kinds(messages, index) == ["stats", "achievements"]
    for index in (1, 2):
        assert kinds(messages, index) == ["error"]
    order = [(m.index, m.WhichOneof("part")) for _, m in messages]
    slow_stats = order.index((3, "stats"))
    assert all(order.index((i, "stats")) < slow_stats for i in (0, 4)), order
    assert next(t for t, m in messages if m.index == 3 and m.HasField("stats")) >= SLOW_STATS_SECS

    by_index = {m.index: m for _, m in messages if m.HasField("error")}
    private, invalid = by_index[1], by_index[2]
    assert (private.player, private.steam_id) == (PRIVATE_STEAM_ID, PRIVATE_STEAM_ID)
    assert private.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert error_reason(private.error) == "PROFILE_PRIVATE"
    assert (invalid.player, invalid.steam_id) == ("not a player!", "")
    assert invalid.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert error_reason(invalid.error) == "INVALID_PLAYER"
    stats = {m.index: m.stats for _, m in messages if m.HasField("stats")}
    assert [stats[i].profile.steam_id for i in (0, 3, 4)] == [fast[0], FRESH_STEAM_ID, fast[1]]
    assert all(m.steam_id == m.player for _, m in messages if m.index != 2)
    assert sim.state.count("profile") == 1


async def test_a_cold_lobby_of_five_costs_one_profile_call(stub: AsyncStub, sim: RunningSimulator) -> None:
    """Five players nobody asked for yet: one GetPlayerSummaries call for all, one stats and one achievements
    call each, every part LIVE."""
    players = [synthetic_steam_id(n) for n in range(5)]
    messages = await lobby(stub, players)
    for index, player in enumerate(players):
        assert kinds(messages, index) == ["stats", "achievements"]
        stats = next(m.stats for _, m in messages if m.index == index and m.HasField("stats"))
        assert stats.profile.steam_id == player
        assert stats.provenance.source == pb.DATA_SOURCE_LIVE
    assert sim.state.count("profile") == 1
    assert all(sim.state.count("profile", player) == 1 for player in players)
    assert (sim.state.count("stats"), sim.state.count("achievements")) == (5, 5)


async def test_entries_naming_the_same_player_are_fetched_once(stub: AsyncStub, sim: RunningSimulator) -> None:
    """A SteamID64 given twice and as its vanity name: one fetch, both parts under each of the three indexes."""
    players = [DEMO_STEAM_ID, "demo", synthetic_steam_id(1), DEMO_STEAM_ID]
    messages = await lobby(stub, players)
    for index in range(4):
        assert kinds(messages, index) == ["stats", "achievements"]
    demo = [m for _, m in messages if m.index in (0, 1, 3)]
    assert {m.steam_id for m in demo} == {DEMO_STEAM_ID}
    assert [m.player for m in demo if m.HasField("stats")] == [players[m.index] for m in demo if m.HasField("stats")]
    demo_stats = [m.stats for m in demo if m.HasField("stats")]
    assert all(s == demo_stats[0] for s in demo_stats)
    assert sim.state.count("stats", DEMO_STEAM_ID) == 1
    assert sim.state.count("achievements", DEMO_STEAM_ID) == 1
    assert sim.state.count("vanity") == 1
    assert sim.state.count("profile") == 1


async def test_a_lobby_joins_a_fetch_already_in_flight(stub: AsyncStub, sim: RunningSimulator) -> None:
    """A lobby asking for a player whose stats a StreamPlayerStats is already fetching waits for that fetch."""
    sim.state.set_latency("stats", 0.5)
    single = asyncio.ensure_future(stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=DEMO_STEAM_ID), timeout=TIMEOUT))
    await until(lambda: sim.state.count("stats") == 1)  # the single request's stats call has reached Steam
    messages = await lobby(stub, [DEMO_STEAM_ID, synthetic_steam_id(2)])
    await single
    assert kinds(messages, 0) == ["stats", "achievements"]
    assert sim.state.count("stats", DEMO_STEAM_ID) == 1


async def test_the_lobby_fails_as_a_whole_once_its_deadline_has_passed(
    serve: ServeFn, settings: Settings, sim: RunningSimulator
) -> None:
    """With OVERALL_TIMEOUT_SECS 2 and one player's stats held back 10 s, the fast player's parts are sent, then
    the stream fails DEADLINE_EXCEEDED (the lobby's time is up, not one player's)."""
    configured = roomy(settings)
    running = await serve(replace(configured, resilience=replace(configured.resilience, overall_timeout_secs=2.0)))
    sim.state.script("stats", [Fault(FaultKind.TIMEOUT, stall_seconds=10.0, steam_id=FRESH_STEAM_ID)])
    received: list[pb.StreamLobbyStatsResponse] = []

    async def drain(stub: AsyncStub) -> None:
        request = pb.StreamLobbyStatsRequest(players=[DEMO_STEAM_ID, FRESH_STEAM_ID])
        async for message in stub.StreamLobbyStats(request, timeout=TIMEOUT):
            received.append(message)

    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await drain(pb_grpc.PlayerStatsServiceStub(channel))
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error_details(info.value)[0] == "DEADLINE_EXCEEDED"
    assert [(m.index, m.WhichOneof("part")) for m in received] == [(0, "stats"), (0, "achievements")]


async def test_a_caller_cancelling_a_lobby_leaves_nothing_running(
    serve: ServeFn, settings: Settings, sim: RunningSimulator
) -> None:
    """Cancelled after its first message, while the achievements are still at Steam: every fetch of the lobby
    is cancelled and its profile batch released on the server."""
    running = await serve(roomy(settings))
    fetcher = running.fetcher
    assert fetcher is not None
    sim.state.set_latency("achievements", 60.0)  # far beyond the wait below: only a cancellation ends them
    players = [DEMO_STEAM_ID, synthetic_steam_id(5)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        call = pb_grpc.PlayerStatsServiceStub(channel).StreamLobbyStats(
            pb.StreamLobbyStatsRequest(players=players), timeout=TIMEOUT
        )
        first = await call.read()
        assert isinstance(first, pb.StreamLobbyStatsResponse)
        assert first.WhichOneof("part") == "stats"
        call.cancel()
    await until(lambda: not any(fetcher.achievements.in_flight(player) for player in players))
    assert not any(fetcher.summaries.batched(player) for player in players)


@pytest.mark.parametrize("size", [0, 11])
async def test_lobbies_of_zero_or_eleven_players_are_refused(stub: AsyncStub, sim: RunningSimulator, size: int) -> None:
    """The whole stream fails INVALID_ARGUMENT / INVALID_REQUEST before any message, costing Steam nothing."""
    players = [synthetic_steam_id(n) for n in range(size)]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await lobby(stub, players)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(info.value)[0] == "INVALID_REQUEST"
    assert sim.state.count() == 0


async def test_ten_players_are_served(stub: AsyncStub, sim: RunningSimulator) -> None:
    """Ten is the largest lobby: ten players, still one profile call."""
    players = [synthetic_steam_id(n) for n in range(10)]
    messages = await lobby(stub, players)
    assert sorted(m.index for _, m in messages) == sorted(list(range(10)) * 2)
    assert sim.state.count("profile") == 1
