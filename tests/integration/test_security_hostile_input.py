"""Hostile `player` fields through the real server and simulator: a classified answer every time, never a crash.

Each example sends one generated `player` to one of the three RPCs over a raw stub (the client package would
strip blanks first), then asks the health service, so "the server keeps serving" is checked after every input.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import quote

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.domain.players import STEAM_ID64_BASE
from dbd_playerstats.sim import (
    DEMO_STEAM_ID,
    HIDDEN_GAMES_STEAM_ID,
    NEVER_PLAYED_STEAM_ID,
    PRIVATE_STEAM_ID,
    SYNTHETIC_FIRST_ID,
    SYNTHETIC_LAST_ID,
)

if TYPE_CHECKING:
    from tests.conftest import ServeFn

EXAMPLES = 150
RECEIVE_LIMIT_BYTES = Settings().limits.max_receive_message_bytes  # the default, 1 MiB
# The request is one length-delimited field: 1 tag byte + at most 4 length bytes around the UTF-8 text.
MAX_PLAYER_BYTES = RECEIVE_LIMIT_BYTES - 5

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,  # the private and hidden-games fixtures
}
REASONS = {"INVALID_PLAYER", "PLAYER_NOT_FOUND", "NO_GAME_STATS", "PROFILE_PRIVATE"}

VALID = [
    "demo",
    DEMO_STEAM_ID,
    PRIVATE_STEAM_ID,
    NEVER_PLAYED_STEAM_ID,
    HIDDEN_GAMES_STEAM_ID,
    "private_player",
    str(SYNTHETIC_FIRST_ID + 4242),
    f"https://steamcommunity.com/profiles/{DEMO_STEAM_ID}",
    "https://steamcommunity.com/id/demo/",
    "www.steamcommunity.com/id/demo",
]
INVISIBLE = [
    "\x00",
    "\u202e",
    "\u200f",
    "\u200b",
    "\ufeff",
    "\u2028",
    "\u0301",
    "\r\n",
    "\t",
    "\x7f",
    "%00",
    "\U000e0041",
]
URL_TEMPLATES = [
    "https://steamcommunity.com/id/{x}",
    "https://steamcommunity.com/profiles/{x}",
    "http://www.steamcommunity.com/id/{x}/games?tab=all",
    "https://steamcommunity.com@evil.example/id/{x}",
    "https://evil.example/steamcommunity.com/id/{x}",
    "https://steamcommunity.com.evil.example/id/{x}",
    "https://user:pw@steamcommunity.com/id/{x}",
    "https://steamcommunity.com:8443/id/{x}",
    "https://steamcommunity.com:99999999/id/{x}",
    "https://steamcommunity.com:-1/id/{x}",
    "https://[::1/id/{x}",
    "//steamcommunity.com/id/{x}",
    "javascript:alert('{x}')//steamcommunity.com",
    "file:///etc/{x}",
    "ftp://steamcommunity.com/id/{x}",
    "https://steamcommunity.com/id/{x}%2F..%2F..%2Fadmin",
    "https://steamcommunity.com/%69d/{x}",
    "HTTPS://STEAMCOMMUNITY.COM/ID/{x}",
    "steamcommunity.com/groups/{x}",
    "https://steamcommunity.com/profiles/{x}#/../id/demo",
    "https://steamcommunity.com/id/{x}?redirect=https://evil.example",
    "https://steamcommunity.com\\@evil.example/id/{x}",
    "https://steamcommunity.com%2F@evil.example/id/{x}",
    "https://steamcommunity\u3002com/id/{x}",
    "https://xn--stemcommunity-xyz.com/id/{x}",
    "steamcommunity.com/profiles/{x}/../../id/demo",
    "https://steamcommunity.com/profiles/ {x}",
]
FULLWIDTH = str.maketrans("0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19")
ARABIC_INDIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")

# Any text protobuf can carry (no lone surrogates), from every Unicode category.
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)


def steam_id64(universe: int, account_type: int, instance: int, account: int) -> str:
    return str((universe << 56) | (account_type << 52) | (instance << 32) | account)


def insert(text: str, extra: str, at: int) -> str:
    at %= len(text) + 1
    return text[:at] + extra + text[at:]


def huge(unit: str, count: int) -> str:
    """`unit` repeated as often as asked, capped so the request stays within the receive limit."""
    return unit * min(count, MAX_PLAYER_BYTES // len(unit.encode()))


def kind(name: str, strategy: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, str]]:
    return strategy.map(lambda player: (name, player))


players = st.one_of(
    kind("valid", st.sampled_from(VALID)),
    kind("any unicode", any_text),
    # SteamID64s of every universe, account type and instance, and plain numbers far outside 64 bits.
    kind(
        "steamid64 fields",
        st.builds(
            steam_id64, st.integers(0, 255), st.integers(0, 15), st.integers(0, 2**20 - 1), st.integers(0, 2**32 - 1)
        ),
    ),
    kind("near id range", st.integers(STEAM_ID64_BASE - 5, STEAM_ID64_BASE + 2**32 + 5).map(str)),
    kind("synthetic player", st.integers(SYNTHETIC_FIRST_ID, SYNTHETIC_LAST_ID).map(str)),
    kind("huge integer", st.integers(-(2**80), 2**80).map(str)),
    kind(
        "url trick",
        st.builds(str.format, st.sampled_from(URL_TEMPLATES), x=st.one_of(st.sampled_from(VALID), any_text)),
    ),
    kind("percent-encoded", st.sampled_from(VALID).map(lambda v: quote(v, safe=""))),
    kind("fully percent-encoded", st.sampled_from(VALID).map(lambda v: "".join(f"%{b:02X}" for b in v.encode()))),
    kind("invisible char", st.builds(insert, st.sampled_from(VALID), st.sampled_from(INVISIBLE), st.integers(0, 80))),
    kind("fullwidth digits", st.sampled_from(VALID).map(lambda v: v.translate(FULLWIDTH))),
    kind("arabic-indic digits", st.sampled_from(VALID).map(lambda v: v.translate(ARABIC_INDIC))),
    kind(
        "unicode padding",
        st.builds(
            lambda pad, v: pad + v + pad,
            st.sampled_from([" ", "\u00a0", "\u3000", "\n", "\u2003"]),
            st.sampled_from(VALID),
        ),
    ),
    kind(
        "huge",
        st.builds(
            huge,
            st.sampled_from(["a", "7", "/", "é", "\u202e", "😀", "demo ", "%2F"]),
            st.integers(257, RECEIVE_LIMIT_BYTES),
        ),
    ),
)


@pytest.fixture
async def open_server(serve: ServeFn, settings: Settings) -> RunningServer:
    """The real server with no per-caller quota and a Steam budget that cannot run out during the run."""
    return await serve(
        replace(
            settings,
            limits=replace(settings.limits, caller_quota_per_min=0, caller_rpc_per_min=0),
            resilience=replace(settings.resilience, rate_limit_per_min=10**6, burst_limit=10**6, cb_max_fails=10**6),
        )
    )


async def call(stub: pb_grpc.PlayerStatsServiceAsyncStub, rpc: str, player: str) -> grpc.aio.AioRpcError | None:
    """Make the RPC to its end; return its error, or None when it succeeded."""
    try:
        if rpc == "stream":
            async for _ in stub.StreamPlayerStats(pb.StreamPlayerStatsRequest(player=player), timeout=20):
                pass
        elif rpc == "get":
            await stub.GetPlayerStats(pb.GetPlayerStatsRequest(player=player), timeout=20)
        else:
            await stub.ResolvePlayer(pb.ResolvePlayerRequest(player=player), timeout=20)
    except grpc.aio.AioRpcError as err:
        return err
    return None


def assert_classified(err: grpc.aio.AioRpcError) -> None:
    """A failure carries the service's rich status with a caller-facing reason and a bounded message."""
    status = rpc_status.from_call(err)
    assert status is not None, f"{err.code()} without a google.rpc.Status: {err.details()}"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason in REASONS, (err.code(), info.reason, err.details())
    assert len(err.details() or "") < 1024, "the message quotes the input shortened"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=players, rpc=st.sampled_from(["resolve", "get", "stream"]))
@example(case=("huge", "x" * MAX_PLAYER_BYTES), rpc="resolve")
@example(case=("invisible char", "\x00"), rpc="stream")
@example(case=("valid", PRIVATE_STEAM_ID), rpc="get")
@example(case=("huge integer", str(2**64 + 1)), rpc="resolve")
@example(case=("url trick", "https://steamcommunity.com@evil.example/id/demo"), rpc="resolve")
async def test_hostile_player_fields_get_a_classified_answer_and_the_server_keeps_serving(
    open_server: RunningServer, case: tuple[str, str], rpc: str
) -> None:
    """Whatever the `player` field holds, the status is OK, INVALID_ARGUMENT, NOT_FOUND or FAILED_PRECONDITION
    with a rich status (never INTERNAL or UNKNOWN), and the health service still answers SERVING afterwards."""
    family, player = case
    async with grpc.aio.insecure_channel(f"127.0.0.1:{open_server.port}") as channel:
        err = await call(pb_grpc.PlayerStatsServiceStub(channel), rpc, player)
        code = grpc.StatusCode.OK if err is None else err.code()
        event(f"input {family}")
        event(f"status {code.name}")
        assert code in ALLOWED, (code, player[:200])
        if err is not None:
            assert_classified(err)
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
