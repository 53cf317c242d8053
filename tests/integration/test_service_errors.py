"""Every error case of the README's table, through the real server and simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.sim import (
    DEMO_STEAM_ID,
    HIDDEN_GAMES_STEAM_ID,
    NEVER_PLAYED_STEAM_ID,
    PRIVATE_STEAM_ID,
    FaultKind,
    RunningSimulator,
    StatsVariant,
)

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub

UNKNOWN_STEAM_ID = "76561198999999999"


async def fail(stub: AsyncStub, player: str) -> tuple[grpc.aio.AioRpcError, error_details_pb2.ErrorInfo]:
    """Run a stream that must fail before any message; return the error and its ErrorInfo."""

    async def drain() -> list[pb.StreamPlayerStatsResponse]:
        call = stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=20)
        return [message async for message in call]

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await drain()
    status = rpc_status.from_call(info.value)
    assert status is not None, "every error carries a google.rpc.Status"
    error_info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(error_info)
    assert error_info.domain == "playerstats.dbd"
    return info.value, error_info


@pytest.mark.parametrize("player", ["", "not a player!", "1234567890123456789012", "https://evil.com/id/x"])
async def test_malformed_player_is_invalid_argument_without_upstream_calls(
    stub: AsyncStub, sim: RunningSimulator, player: str
) -> None:
    """Malformed input fails INVALID_ARGUMENT / INVALID_PLAYER and costs Steam nothing."""
    err, info = await fail(stub, player)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.reason == "INVALID_PLAYER"
    assert sim.state.count() == 0


async def test_unknown_vanity_is_not_found(stub: AsyncStub, sim: RunningSimulator) -> None:
    """A vanity name Steam does not know is NOT_FOUND / PLAYER_NOT_FOUND after one vanity call."""
    err, info = await fail(stub, "nobody_has_this_name")
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert info.reason == "PLAYER_NOT_FOUND"
    assert sim.state.count("vanity") == 1
    assert sim.state.count("stats") == 0


async def test_unknown_steam_id_is_not_found(stub: AsyncStub, sim: RunningSimulator) -> None:
    """An id missing from GetPlayerSummaries is NOT_FOUND even though its stats answer is an ambiguous 500."""
    err, info = await fail(stub, UNKNOWN_STEAM_ID)
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert info.reason == "PLAYER_NOT_FOUND"
    assert info.metadata["steam_id"] == UNKNOWN_STEAM_ID
    assert sim.state.count("stats") == 1


@pytest.mark.parametrize("variant", ["html500", "empty400", "no_stats200"])
async def test_private_profile_is_failed_precondition_and_not_retried(
    stub: AsyncStub, sim: RunningSimulator, variant: str
) -> None:
    """Whatever ambiguous answer Steam gives a private profile's stats, it is PROFILE_PRIVATE after one call."""
    sim.state.set_variants(private_stats=StatsVariant(variant))
    err, info = await fail(stub, PRIVATE_STEAM_ID)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info.reason == "PROFILE_PRIVATE"
    assert sim.state.count("stats") == 1


async def test_public_profile_with_private_game_details_is_private(stub: AsyncStub, sim: RunningSimulator) -> None:
    """A public profile whose game details are private is told apart by the achievements call's 403 body."""
    err, info = await fail(stub, HIDDEN_GAMES_STEAM_ID)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info.reason == "PROFILE_PRIVATE"
    assert sim.state.count("stats") == 1


async def test_never_played_is_not_found_no_game_stats(stub: AsyncStub, sim: RunningSimulator) -> None:
    """A public account without DBD stats is NOT_FOUND / NO_GAME_STATS."""
    err, info = await fail(stub, NEVER_PLAYED_STEAM_ID)
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert info.reason == "NO_GAME_STATS"
    assert sim.state.count("stats") == 1


async def test_steam_failing_is_unavailable(stub: AsyncStub, sim: RunningSimulator) -> None:
    """Steam answering stats with 503 for a public player is UNAVAILABLE / UPSTREAM_UNAVAILABLE."""
    sim.state.script("stats", [FaultKind.HTTP_503] * 50)
    err, info = await fail(stub, DEMO_STEAM_ID)
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert info.reason == "UPSTREAM_UNAVAILABLE"
    assert info.metadata["upstream_endpoint"] == "stats"
    assert info.metadata["upstream_status"] == "503"


async def test_bad_key_tells_the_operator_and_never_leaks_the_key(stub: AsyncStub, sim: RunningSimulator) -> None:
    """A key Steam refuses is INTERNAL / STEAM_KEY_REJECTED; the key text appears nowhere in the status."""
    sim.state.set_valid_keys(["another-key"])
    err, info = await fail(stub, DEMO_STEAM_ID)
    assert err.code() == grpc.StatusCode.INTERNAL
    assert info.reason == "STEAM_KEY_REJECTED"
    assert "operator" in (err.details() or "")
    for key, value in err.trailing_metadata() or ():
        assert b"sim-key" not in (value if isinstance(value, bytes) else value.encode()), key
    assert "sim-key" not in (err.details() or "")


async def test_unary_errors_carry_the_same_status(stub: AsyncStub) -> None:
    """GetPlayerStats and ResolvePlayer fail with the same codes and reasons as the stream."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=PRIVATE_STEAM_ID), timeout=20)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ResolvePlayer(pb.ResolvePlayerRequest(player="nobody_has_this_name"), timeout=20)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
