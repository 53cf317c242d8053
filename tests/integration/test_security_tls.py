"""TLS and mutual TLS on the real server, with the client package, raw channels and the CLI."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dbd_playerstats.app import RunningServer
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, RunningSimulator
from dbd_playerstats_client import (
    PlayerStatsBlockingClient,
    PlayerStatsClient,
    PlayerStatsError,
    channel_credentials,
    cli,
)

if TYPE_CHECKING:
    from tests.conftest import Pki, ServeFn


def with_tls(settings: Settings, pki: Pki, *, mutual: bool) -> Settings:
    """`settings` with the TLS files of `pki`, read through the same validation as the environment."""
    return replace(settings, tls=Settings.from_env(pki.tls_env(mutual=mutual)).tls)


@pytest.fixture
async def tls_server(serve: ServeFn, settings: Settings, pki: Pki) -> RunningServer:
    """The real server with TLS (no client certificates asked)."""
    return await serve(with_tls(settings, pki, mutual=False))


@pytest.fixture
async def mtls_server(serve: ServeFn, settings: Settings, pki: Pki) -> RunningServer:
    """The real server with mutual TLS: client certificates must be signed by the test CA."""
    return await serve(with_tls(settings, pki, mutual=True))


def credentials(pki: Pki, who: str | None) -> grpc.ChannelCredentials:
    """Client credentials trusting the test CA, presenting `who`'s certificate (alice, bob, rogue) or none."""
    if who is None:
        return channel_credentials(ca_cert=pki.ca_cert.read_bytes())
    return channel_credentials(
        ca_cert=pki.ca_cert.read_bytes(),
        client_cert=getattr(pki, f"{who}_cert").read_bytes(),
        client_key=getattr(pki, f"{who}_key").read_bytes(),
    )


async def stream_parts(
    server: RunningServer, creds: grpc.ChannelCredentials | None, host: str = "127.0.0.1"
) -> list[str]:
    """Stream the demo player with the client package and return the parts received."""
    async with PlayerStatsClient(f"{host}:{server.port}", credentials=creds, timeout=10) as client:
        return [str(message.WhichOneof("part")) async for message in client.stream_player_stats(DEMO_STEAM_ID)]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_tls_client_streams_the_demo_player(tls_server: RunningServer, pki: Pki, host: str) -> None:
    """A client trusting the CA streams stats then achievements over TLS, by IP or by name (both in the SAN)."""
    assert await stream_parts(tls_server, credentials(pki, None), host) == ["stats", "achievements"]


async def test_blocking_client_resolves_over_tls(tls_server: RunningServer, pki: Pki) -> None:
    """The blocking client with channel_credentials works over TLS too (run in a thread: it blocks)."""

    def resolve() -> str:
        target = f"127.0.0.1:{tls_server.port}"
        with PlayerStatsBlockingClient(target, credentials=credentials(pki, None), timeout=10) as client:
            return client.resolve_player("demo").profile.steam_id

    assert await asyncio.to_thread(resolve) == DEMO_STEAM_ID


async def test_plaintext_client_cannot_talk_to_the_tls_port(tls_server: RunningServer, sim: RunningSimulator) -> None:
    """A plaintext client gets UNAVAILABLE from the transport (no ErrorInfo) and Steam is never called."""
    with pytest.raises(PlayerStatsError) as info:
        await stream_parts(tls_server, None)
    assert info.value.code is grpc.StatusCode.UNAVAILABLE
    assert info.value.reason is None
    assert sim.state.count() == 0


async def test_client_not_trusting_the_server_certificate_is_refused(
    tls_server: RunningServer, pki: Pki, sim: RunningSimulator
) -> None:
    """A client whose roots do not include the server's CA refuses the server: UNAVAILABLE, no Steam call."""
    rogue_roots = channel_credentials(ca_cert=pki.rogue_cert.read_bytes())
    with pytest.raises(PlayerStatsError) as info:
        await stream_parts(tls_server, rogue_roots)
    assert info.value.code is grpc.StatusCode.UNAVAILABLE
    assert sim.state.count() == 0


async def test_mtls_client_with_a_certificate_from_the_ca_streams(mtls_server: RunningServer, pki: Pki) -> None:
    """Under mutual TLS a client presenting a certificate signed by the CA is served."""
    assert await stream_parts(mtls_server, credentials(pki, "alice")) == ["stats", "achievements"]


@pytest.mark.parametrize("who", [None, "rogue"], ids=["no-client-certificate", "certificate-of-another-ca"])
async def test_mtls_refuses_callers_without_a_valid_certificate_at_the_handshake(
    mtls_server: RunningServer, pki: Pki, sim: RunningSimulator, who: str | None
) -> None:
    """No client certificate, or one from another CA: the handshake fails (UNAVAILABLE, no status details) and
    no RPC runs, so Steam is never called; health is refused the same way."""
    with pytest.raises(PlayerStatsError) as info:
        await stream_parts(mtls_server, credentials(pki, who))
    assert info.value.code is grpc.StatusCode.UNAVAILABLE
    assert info.value.reason is None
    async with grpc.aio.secure_channel(f"127.0.0.1:{mtls_server.port}", credentials(pki, who)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raw:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert raw.value.code() is grpc.StatusCode.UNAVAILABLE
    assert sim.state.count() == 0


async def run_cli(*argv: str) -> int:
    # main() runs its own event loop, so it cannot share the test's: it gets a thread.
    return await asyncio.to_thread(cli.main, list(argv))


async def test_cli_with_ca_and_client_certificate_streams_over_mtls(
    mtls_server: RunningServer, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    """`playerstats --ca-cert --client-cert --client-key stream demo` exits 0 with both parts printed."""
    code = await run_cli(
        "--target",
        f"127.0.0.1:{mtls_server.port}",
        "--ca-cert",
        str(pki.ca_cert),
        "--client-cert",
        str(pki.alice_cert),
        "--client-key",
        str(pki.alice_key),
        "stream",
        "demo",
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    assert "] stats  Demo Survivor" in out
    assert "] achievements  " in out


@pytest.mark.parametrize(
    "tls_args",
    [[], ["--ca-cert", "{ca}"], ["--tls"]],
    ids=["plaintext", "tls-without-client-certificate", "system-roots"],
)
async def test_cli_without_a_client_certificate_fails_with_one_line(
    mtls_server: RunningServer, pki: Pki, capsys: pytest.CaptureFixture[str], tls_args: list[str]
) -> None:
    """Against mutual TLS the CLI without a client certificate exits 1 with one `error: UNAVAILABLE` line."""
    args = [arg.format(ca=pki.ca_cert) for arg in tls_args]
    code = await run_cli("--target", f"127.0.0.1:{mtls_server.port}", "--timeout", "5", *args, "get", "demo")
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.startswith("error: UNAVAILABLE")
    assert err.count("\n") == 1
    assert "Traceback" not in err
