"""Every `ErrorKind` end to end: Steam's answer -> classification -> retry and breaker decision -> gRPC status.

One real server per kind, the real simulator answering the way that kind arises. For each row:

- **retry**: Steam sees exactly the requests the kind's retry class allows on the endpoint (1 + its retries, 1 when
  never retried, 0 when the call is refused before Steam);
- **status**: the caller gets the kind's gRPC code and ErrorInfo reason (a cancelling caller gets CANCELLED);
- **breaker** (rows that reach an endpoint's breaker): one call answered 503 throughout (PROBE_FAILURES breaker
  failures) is made on the endpoint before the kind's call, with CB_MAX_FAILS = PROBE_FAILURES + the kind's
  attempts for a failure kind, else PROBE_FAILURES + 1. A *failure* kind's
  attempts then open the breaker; a *healthy* one resets the count, so one more failure after it leaves the
  breaker closed; a *neutral* one does not count, so that one more failure opens it.

The expected code, reason and breaker count are the kind's cells (`dbd_playerstats.errors.ErrorKind`; the unit
tests pin those cells); the request counts are written out here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf import duration_pb2

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.api.status import grpc_code
from dbd_playerstats.app import RunningServer
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.errors import ErrorKind
from dbd_playerstats.sim import (
    DEMO_STEAM_ID,
    NEVER_PLAYED_STEAM_ID,
    PRIVATE_STEAM_ID,
    Fault,
    FaultKind,
    RunningSimulator,
    synthetic_steam_id,
)
from dbd_playerstats.sim.answers import Answer
from dbd_playerstats.upstream import ResilienceEvent, ResilientUpstream
from dbd_playerstats.upstream.events import AttemptFinished
from dbd_playerstats.upstream.resilient import breaker_name
from tests.support import error_details, until

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub
    from tests.conftest import ServeFn

# Fast retries (MAX_RETRIES 2), 0.3 s per attempt, a budget that never binds unless a row says so.
FAST: Mapping[str, float] = {
    "base_backoff_ms": 1,
    "max_backoff_ms": 5,
    "max_retries": 2,
    "api_timeout_secs": 0.3,
    "rate_limit_per_min": 60_000,
    "burst_limit": 100,
}
PROBE_FAILURES = 1 + 2  # a 503's attempt and its MAX_RETRIES retries


@dataclass(frozen=True)
class Failed:
    """How the caller's RPC ended: its gRPC code and ErrorInfo reason (None: no ErrorInfo)."""

    code: grpc.StatusCode
    reason: str | None


@dataclass
class Harness:
    """One real server against the simulator, a stub on it, and the resilience events it emitted."""

    sim: RunningSimulator
    server: RunningServer
    stub: AsyncStub
    events: list[ResilienceEvent] = field(default_factory=list)

    @property
    def upstream(self) -> ResilientUpstream:
        assert self.server.upstream is not None
        return self.server.upstream

    async def resolve(self, player: str = DEMO_STEAM_ID, timeout: float = 20) -> Failed:
        """ResolvePlayer, which must fail (one vanity and/or profile call)."""
        return await failed(self.stub.ResolvePlayer(pb.ResolvePlayerRequest(player=player), timeout=timeout))

    async def stats(self, player: str) -> Failed:
        """GetPlayerStats, which must fail on its stats call."""
        return await failed(self.stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=player), timeout=20))

    async def negative_max_age(self) -> Failed:
        """GetPlayerStats with a negative `max_age`: refused before any Steam call."""
        request = pb.GetPlayerStatsRequest(player=DEMO_STEAM_ID, max_age=duration_pb2.Duration(seconds=-1))
        return await failed(self.stub.GetPlayerStats(request, timeout=20))

    async def one_failure(self, endpoint: str) -> Failed:
        """One logical call on `endpoint` that Steam answers 503 every time: PROBE_FAILURES breaker failures (its
        attempt and FAST's retries; fewer once the breaker opens, which then refuses the retry)."""
        self.sim.state.script(endpoint, [Fault(FaultKind.HTTP_503)] * PROBE_FAILURES)
        if endpoint == "vanity":
            outcome = await self.resolve("a_vanity_name")
        elif endpoint == "stats":
            outcome = await self.stats(DEMO_STEAM_ID)
        else:
            assert endpoint == "profile"
            outcome = await self.resolve(DEMO_STEAM_ID)
        assert outcome in (
            Failed(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
            Failed(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CIRCUIT_OPEN"),
        )
        return outcome

    async def breaker(self, endpoint: str) -> str:
        return await self.upstream.breakers.state(breaker_name(endpoint))


async def failed(call: Awaitable[Any]) -> Failed:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return Failed(info.value.code(), error_details(info.value)[0] or None)


# -- how each kind arises -------------------------------------------------------------------------------------


def scripted(endpoint: str, kind: FaultKind, **fault: Any) -> Callable[[Harness], Awaitable[Failed]]:
    """Steam answers every `endpoint` request about DEMO with `kind`; the caller resolves DEMO."""

    async def provoke(h: Harness) -> Failed:
        h.sim.state.script(endpoint, [Fault(kind, steam_id=DEMO_STEAM_ID, **fault)] * 30)
        return await h.resolve()

    return provoke


async def rejected_request(h: Harness) -> Failed:
    """Steam answers the profile call with a 4xx that says nothing about the player."""
    h.sim.state.override_answer("profile", Answer(404, "text/html", b"<html><body>Not Found</body></html>"))
    return await h.resolve()


async def cancelled(h: Harness) -> Failed:
    """The caller cancels while Steam holds the profile answer back: the attempt ends cancelled."""
    h.sim.state.script("profile", [Fault(FaultKind.TIMEOUT, stall_seconds=60, steam_id=DEMO_STEAM_ID)])

    def record(event: ResilienceEvent) -> None:
        h.events.append(event)

    h.upstream.add_observer(record)
    sent = h.sim.state.count("profile")
    call = h.stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=20)
    await until(lambda: h.sim.state.count("profile") > sent, "the profile attempt reached Steam")
    call.cancel()
    code = await call.code()
    await until(
        lambda: any(isinstance(e, AttemptFinished) and e.error == "CancelledError" for e in h.events),
        "the server's attempt ended cancelled",
    )
    return Failed(code, None)


async def session_closed(h: Harness) -> Failed:
    """A bug of ours: the HTTP session was closed under the running server (RuntimeError, no SteamError)."""
    await h.server.session.close()
    return await h.resolve()


async def history_of_a_closed_store(h: Harness) -> Failed:
    """GetPlayerHistory once the store is closed: history has no other source."""
    assert h.server.store is not None
    await h.server.store.close()
    request = pb.GetPlayerHistoryRequest(player=DEMO_STEAM_ID)
    return await failed(h.stub.GetPlayerHistory(request, timeout=20))


async def one_watch_too_many(h: Harness) -> Failed:
    """A caller holding PLAYERSTATS_WATCH_MAX_PER_CALLER (20) watches asks for one more."""
    calls = [h.stub.WatchPlayer(pb.WatchPlayerRequest(player=DEMO_STEAM_ID)) for _ in range(20)]
    for call in calls:
        first: pb.WatchPlayerResponse = await call.read()  # type: ignore[assignment]
        assert first.WhichOneof("event") == "snapshot"
    outcome = await failed(h.stub.WatchPlayer(pb.WatchPlayerRequest(player=DEMO_STEAM_ID)).read())
    for call in calls:
        call.cancel()
    return outcome


async def watching_while_the_server_stops(h: Harness) -> Failed:
    """A watch open when the server stops."""
    call = h.stub.WatchPlayer(pb.WatchPlayerRequest(player=DEMO_STEAM_ID))
    first: pb.WatchPlayerResponse = await call.read()  # type: ignore[assignment]
    assert first.WhichOneof("event") == "snapshot"
    stopping = asyncio.ensure_future(h.server.stop(5))
    outcome = await failed(call.read())
    await stopping
    return outcome


async def open_circuit(h: Harness) -> Failed:
    return await h.resolve()


async def open_the_circuit(h: Harness) -> None:
    await h.one_failure("profile")  # CB_MAX_FAILS 1: its first 503 opens the breaker
    assert await h.breaker("profile") == "open"


async def spend_the_quota(h: Harness) -> None:
    await h.stub.ResolvePlayer(pb.ResolvePlayerRequest(player=DEMO_STEAM_ID), timeout=20)  # one Steam call: the token


@dataclass(frozen=True)
class Case:
    """One way of failing. `requests`: Steam requests the kind's call costs on `endpoint`; `attempts`: attempts
    it settles with the endpoint's breaker (`probe`: whether the breaker is probed; a call refused before any
    attempt, or a row whose setup is the breaker itself, is not)."""

    kind: ErrorKind
    provoke: Callable[[Harness], Awaitable[Failed]]
    endpoint: str
    requests: int
    attempts: int = 1
    probe: bool = True
    setup: Callable[[Harness], Awaitable[None]] | None = None
    resilience: Mapping[str, float] = field(default_factory=dict)
    quota: tuple[int, int] | None = None  # (per minute, burst) of every caller


CASES = [
    Case(ErrorKind.INVALID_PLAYER, lambda h: h.resolve("not a player!"), "profile", 0, 0, probe=False),
    Case(ErrorKind.INVALID_REQUEST, lambda h: h.negative_max_age(), "stats", 0, 0, probe=False),
    Case(ErrorKind.PLAYER_NOT_FOUND, lambda h: h.resolve("nobody_has_this_name"), "vanity", 1),
    Case(ErrorKind.NO_GAME_STATS, lambda h: h.stats(NEVER_PLAYED_STEAM_ID), "stats", 1),
    Case(ErrorKind.PROFILE_PRIVATE, lambda h: h.stats(PRIVATE_STEAM_ID), "stats", 1),
    Case(
        ErrorKind.UPSTREAM_CIRCUIT_OPEN,
        open_circuit,
        "profile",
        0,
        0,
        probe=False,
        setup=open_the_circuit,
        resilience={"cb_max_fails": 1},
    ),
    # A token every 2 s, burst 1: the failure before takes it, the kind's call (0.5 s left) is refused at once.
    Case(
        ErrorKind.RATE_LIMITED,
        lambda h: h.resolve(timeout=0.5),
        "profile",
        0,
        resilience={"rate_limit_per_min": 30, "burst_limit": 1},
    ),
    # The quota's one token paid for DEMO's profile call: another (cold) player's call is refused before Steam.
    Case(
        ErrorKind.CALLER_QUOTA_EXCEEDED,
        lambda h: h.resolve(synthetic_steam_id(1)),
        "profile",
        0,
        0,
        probe=False,
        setup=spend_the_quota,
        quota=(1, 1),
    ),
    Case(
        ErrorKind.DEADLINE_EXCEEDED,
        lambda h: h.resolve(),
        "profile",
        0,
        0,
        probe=False,
        resilience={"overall_timeout_secs": 0},
    ),
    # 5xx: MAX_RETRIES (2).
    Case(ErrorKind.UPSTREAM_UNAVAILABLE, scripted("profile", FaultKind.HTTP_503), "profile", 1 + 2, 1 + 2),
    # Connection reset: 4 retries; aiohttp resends a GET once after a disconnect, so 2 requests per attempt.
    Case(ErrorKind.UPSTREAM_UNREACHABLE, scripted("profile", FaultKind.RESET), "profile", 2 * (1 + 4), 1 + 4),
    # No answer within API_TIMEOUT_SECS (0.3 s): 2 retries.
    Case(
        ErrorKind.UPSTREAM_TIMEOUT,
        scripted("profile", FaultKind.TIMEOUT, stall_seconds=5),
        "profile",
        1 + 2,
        1 + 2,
    ),
    # 429 without Retry-After: 3 retries.
    Case(ErrorKind.UPSTREAM_RATE_LIMITED, scripted("profile", FaultKind.RATE_LIMIT), "profile", 1 + 3, 1 + 3),
    # A 200 with garbage: like a server error, MAX_RETRIES.
    Case(ErrorKind.UPSTREAM_BAD_RESPONSE, scripted("profile", FaultKind.MALFORMED_JSON), "profile", 1 + 2, 1 + 2),
    # The key gate off (pause 0), so that the probe after it reaches Steam.
    Case(
        ErrorKind.STEAM_KEY_REJECTED,
        scripted("profile", FaultKind.BAD_KEY),
        "profile",
        1,
        resilience={"key_rejected_pause_secs": 0},
    ),
    Case(ErrorKind.UPSTREAM_REJECTED_REQUEST, rejected_request, "profile", 1),
    Case(ErrorKind.HISTORY_UNAVAILABLE, history_of_a_closed_store, "profile", 0, 0, probe=False),
    Case(ErrorKind.WATCH_LIMIT_EXCEEDED, one_watch_too_many, "vanity", 0, 0, probe=False),
    Case(ErrorKind.SHUTTING_DOWN, watching_while_the_server_stops, "vanity", 0, 0, probe=False),
    Case(ErrorKind.CANCELLED, cancelled, "profile", 1, resilience={"api_timeout_secs": 30}),
    # Never sent: the session refuses before any byte goes out; one attempt, not retried.
    Case(ErrorKind.INTERNAL, session_closed, "profile", 0, 1),
]


def test_every_kind_has_a_case() -> None:
    assert sorted(case.kind.name for case in CASES) == sorted(kind.name for kind in ErrorKind)


@pytest.fixture
async def harness(
    serve: ServeFn, settings: Settings, sim: RunningSimulator
) -> AsyncIterator[Callable[[Case], Awaitable[Harness]]]:
    """`start(case)`: a real server configured for `case` and a stub on it; the channels close at teardown."""
    channels: list[grpc.aio.Channel] = []

    async def start(case: Case) -> Harness:
        max_fails = PROBE_FAILURES + (case.attempts if case.kind.breaker == "failure" else 1)
        overrides = {**FAST, "cb_max_fails": max_fails, **case.resilience}
        resilience = replace(settings.resilience, **overrides)  # type: ignore[arg-type]
        configured = replace(settings, resilience=resilience)
        if case.quota is not None:
            per_min, burst = case.quota
            configured = replace(
                configured, limits=replace(settings.limits, caller_quota_per_min=per_min, caller_burst=burst)
            )
        server = await serve(configured)
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{server.port}"))
        return Harness(sim, server, pb_grpc.PlayerStatsServiceStub(channels[-1]))

    yield start
    for channel in channels:
        await channel.close()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.kind.name)
async def test_each_kind_end_to_end(case: Case, harness: Callable[[Case], Awaitable[Harness]]) -> None:
    """Steam's answer -> the kind -> its retries (Steam's request count), its breaker count and its status."""
    kind = case.kind
    h = await harness(case)
    if case.setup is not None:
        await case.setup(h)
    if case.probe:
        await h.one_failure(case.endpoint)
    before = h.sim.state.count(case.endpoint)

    outcome = await case.provoke(h)

    assert h.sim.state.count(case.endpoint) - before == case.requests
    assert outcome == Failed(grpc_code(kind), None if kind is ErrorKind.CANCELLED else kind.reason)
    if not case.probe:
        return
    h.sim.state.unscript(case.endpoint)  # faults the kind's retries did not use would answer the probe
    if kind.breaker == "failure":
        assert await h.breaker(case.endpoint) == "open", "the failure before and the kind's attempts open it"
        return
    assert await h.breaker(case.endpoint) == "closed"
    await h.one_failure(case.endpoint)
    expected = "closed" if kind.breaker == "healthy" else "open"
    assert await h.breaker(case.endpoint) == expected, f"{kind.breaker}: the count is reset only by a healthy one"
