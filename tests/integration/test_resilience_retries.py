"""Retries through the real server against the simulator's fault injection, counting the simulator's requests."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, PRIVATE_STEAM_ID, Fault, FaultKind, RunningSimulator
from tests.support import StartFn, stub_starter

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub
    from tests.conftest import ServeFn

# Fast, roomy settings: 1-5 ms backoff, a budget that never binds, a breaker that never opens.
FAST = {
    "base_backoff_ms": 1,
    "max_backoff_ms": 5,
    "max_retries": 2,
    "api_timeout_secs": 0.3,
    "rate_limit_per_min": 60_000,
    "burst_limit": 100,
    "cb_max_fails": 1000,
}


@pytest.fixture
async def start(serve: ServeFn, settings: Settings) -> AsyncIterator[StartFn]:
    """Start the real server with FAST resilience settings (plus overrides) and return a stub on it."""
    # Answers about the player not kept, so that each request below asks Steam.
    settings = replace(settings, cache=replace(settings.cache, player_error_ttl_secs=0))
    async with stub_starter(serve, settings, FAST) as start_stub:
        yield start_stub


def error_info(err: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)
    assert status is not None, "every error carries a google.rpc.Status"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


async def resolve_fails(stub: AsyncStub, player: str = DEMO_STEAM_ID) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=player), timeout=20)
    return info.value


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        # 429 without Retry-After: x2.0 backoff, 3 retries.
        (Fault(FaultKind.RATE_LIMIT), (1 + 3, grpc.StatusCode.UNAVAILABLE, "UPSTREAM_RATE_LIMITED")),
        # No answer within API_TIMEOUT_SECS (0.3 s): 2 retries.
        (Fault(FaultKind.TIMEOUT, stall_seconds=5), (1 + 2, grpc.StatusCode.UNAVAILABLE, "UPSTREAM_TIMEOUT")),
        # Connection reset: 4 retries; aiohttp resends a GET once after a disconnect, so 2 requests per attempt.
        (Fault(FaultKind.RESET), (2 * (1 + 4), grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNREACHABLE")),
        # 5xx and HTML maintenance pages: MAX_RETRIES (2).
        (Fault(FaultKind.HTTP_503), (1 + 2, grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE")),
        (Fault(FaultKind.HTML_200), (1 + 2, grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE")),
        # A 200 with garbage: like a server error.
        (Fault(FaultKind.MALFORMED_JSON), (1 + 2, grpc.StatusCode.UNAVAILABLE, "UPSTREAM_BAD_RESPONSE")),
        # Our key refused: never retried.
        (Fault(FaultKind.BAD_KEY), (1, grpc.StatusCode.INTERNAL, "STEAM_KEY_REJECTED")),
    ],
    ids=lambda v: v.kind.value if isinstance(v, Fault) else str(v[0]),
)
async def test_each_error_class_is_retried_exactly_as_configured(
    start: StartFn, sim: RunningSimulator, fault: Fault, expected: tuple[int, grpc.StatusCode, str]
) -> None:
    """A profile call failing forever reaches Steam exactly 1 + its class's retries times, then fails with its code."""
    requests, code, reason = expected
    stub = await start()
    sim.state.script("profile", [fault] * 30)
    err = await resolve_fails(stub)
    assert err.code() == code
    assert error_info(err).reason == reason
    assert sim.state.count("profile") == requests
    assert len(sim.state.pending("profile")) == 30 - requests


async def test_a_call_recovers_when_steam_does(start: StartFn, sim: RunningSimulator) -> None:
    """Two 503s then a normal answer: the caller gets the profile, Steam saw three requests."""
    stub = await start()
    sim.state.script("profile", [FaultKind.HTTP_503, FaultKind.HTTP_503])
    response = await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=20)
    assert response.profile.steam_id == DEMO_STEAM_ID
    assert sim.state.count("profile") == 3


async def test_retry_after_seconds_is_honoured(start: StartFn, sim: RunningSimulator) -> None:
    """A 429 with Retry-After: 1 is retried no sooner than 1 s after Steam answered it (never shortened)."""
    stub = await start(max_backoff_ms=5)
    sim.state.script("profile", [Fault(FaultKind.RATE_LIMIT, retry_after="1")])
    started = time.monotonic()
    await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=20)
    first, second = sim.state.requests()
    assert (first.status, second.status) == (429, 200)
    assert second.time - first.time >= 1.0
    assert time.monotonic() - started >= 1.0


async def test_retry_after_http_date_is_honoured(start: StartFn, sim: RunningSimulator) -> None:
    """A 429 whose Retry-After is an HTTP date is retried at or after that date."""
    stub = await start()
    when = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    sim.state.script("profile", [Fault(FaultKind.RATE_LIMIT, retry_after=email.utils.format_datetime(when, True))])
    wall_minus_monotonic = time.time() - time.monotonic()
    await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=20)
    first, second = sim.state.requests()
    assert (first.status, second.status) == (429, 200)
    assert second.time + wall_minus_monotonic >= when.timestamp() - 0.01  # 10 ms for the two clocks' reading


async def test_a_private_profile_is_called_once_and_never_opens_the_breaker(
    start: StartFn, sim: RunningSimulator
) -> None:
    """Many private-profile requests (stats answered 500) with CB_MAX_FAILS=2: one stats call each, breaker closed."""
    stub = await start(cb_max_fails=2)
    for attempt in range(1, 6):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=PRIVATE_STEAM_ID), timeout=20)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_info(info.value).reason == "PROFILE_PRIVATE"
        assert sim.state.count("stats", PRIVATE_STEAM_ID) == attempt
    response = await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=DEMO_STEAM_ID), timeout=20)
    assert response.stats.profile.steam_id == DEMO_STEAM_ID
    assert sim.state.count("stats", DEMO_STEAM_ID) == 1
