"""The HTTP face under operations: TLS and mutual TLS, its telemetry, the console script, and channelz for grpcurl."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.sim import DEMO_STEAM_ID, PRIVATE_STEAM_ID, RunningSimulator
from dbd_playerstats_dev.captured_telemetry import CapturedTelemetry
from tests.http_support import SERVICE_PATH, connect_failure, envelope, split_envelopes, with_http
from tests.integration.test_server_ops import grpcurl
from tests.support import server_env, server_process

if TYPE_CHECKING:
    from tests.conftest import Pki, ServeFn


def with_tls(settings: Settings, pki: Pki, *, mutual: bool) -> Settings:
    return replace(settings, tls=Settings.from_env(pki.tls_env(mutual=mutual)).tls)


def client_ssl(pki: Pki, who: str | None = None) -> ssl.SSLContext:
    """A client context trusting the test CA, presenting `who`'s certificate (alice, bob, rogue) or none."""
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    if who is not None:
        context.load_cert_chain(getattr(pki, f"{who}_cert"), getattr(pki, f"{who}_key"))
    return context


async def resolve_over_https(server: RunningServer, context: ssl.SSLContext) -> dict[str, object]:
    assert server.http is not None
    assert server.http.scheme == "https"
    url = f"https://127.0.0.1:{server.http.port}{SERVICE_PATH}/ResolvePlayer"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http,
        http.post(url, json={"player": "demo"}, ssl=context) as resp,
    ):
        assert resp.status == 200
        body: dict[str, object] = await resp.json()
        return body


async def test_https_with_the_grpc_ports_certificate(serve: ServeFn, settings: Settings, pki: Pki) -> None:
    """With PLAYERSTATS_TLS_* set, the HTTP face is HTTPS with the same certificate; plain HTTP is refused."""
    server = await serve(with_http(with_tls(settings, pki, mutual=False)))
    body = await resolve_over_https(server, client_ssl(pki))
    assert body["profile"] == {**body["profile"], "steamId": DEMO_STEAM_ID}  # type: ignore[dict-item]
    assert server.http is not None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        with pytest.raises(aiohttp.ClientError):
            await http.post(f"http://127.0.0.1:{server.http.port}{SERVICE_PATH}/ResolvePlayer", json={"player": "x"})


async def test_mutual_tls_requires_a_client_certificate_of_the_ca(serve: ServeFn, settings: Settings, pki: Pki) -> None:
    """Under mutual TLS the HTTP face admits alice (signed by the client CA) and refuses no certificate or a rogue."""
    server = await serve(with_http(with_tls(settings, pki, mutual=True)))
    body = await resolve_over_https(server, client_ssl(pki, "alice"))
    assert "profile" in body
    for who in (None, "rogue"):
        with pytest.raises((aiohttp.ClientError, ssl.SSLError)):
            await resolve_over_https(server, client_ssl(pki, who))


@pytest.fixture
async def captured() -> AsyncIterator[CapturedTelemetry]:
    telemetry = CapturedTelemetry.create()
    yield telemetry
    telemetry.telemetry.shutdown()


async def test_each_http_call_has_a_server_span_and_rpc_metrics(
    settings: Settings, sim: RunningSimulator, captured: CapturedTelemetry
) -> None:
    """A SERVER span per call (continuing the caller's traceparent, ERROR only for the server's own failures),
    and the RPC duration, error and first-message metrics with rpc.system=connect_rpc."""
    running = await build_server(with_http(settings), listen="127.0.0.1:0", telemetry=captured.telemetry)
    try:
        assert running.http is not None
        url = f"http://127.0.0.1:{running.http.port}{SERVICE_PATH}"
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            headers = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
            async with http.post(f"{url}/ResolvePlayer", json={"player": "demo"}, headers=headers) as resp:
                assert resp.status == 200
            async with http.post(f"{url}/ResolvePlayer", json={"player": PRIVATE_STEAM_ID}) as resp:
                assert resp.status == 200  # resolving a private player works; its stats do not
            stream_headers = {"content-type": "application/connect+json"}
            body = envelope({"player": PRIVATE_STEAM_ID})
            async with http.post(f"{url}/StreamPlayerStats", data=body, headers=stream_headers) as resp:
                frames = split_envelopes(await resp.read())
            assert connect_failure(frames[-1][1]["error"]).reason == "PROFILE_PRIVATE"
            demo = envelope({"player": "demo"})
            async with http.post(f"{url}/StreamPlayerStats", data=demo, headers=stream_headers) as resp:
                assert [list(m) for _, m in split_envelopes(await resp.read())] == [["stats"], ["achievements"], []]
    finally:
        await running.stop(None)

    servers = [s for s in captured.spans() if s.kind is SpanKind.SERVER and s.attributes is not None]
    connect = [s for s in servers if s.attributes and s.attributes.get("rpc.system") == "connect_rpc"]
    assert [s.name for s in connect] == [
        f"{SERVICE_PATH}/ResolvePlayer",
        f"{SERVICE_PATH}/ResolvePlayer",
        f"{SERVICE_PATH}/StreamPlayerStats",
        f"{SERVICE_PATH}/StreamPlayerStats",
    ]
    assert format(connect[0].context.trace_id, "032x") == trace_id
    private = connect[2]
    assert private.attributes is not None
    assert private.attributes["rpc.grpc.status_code"] == 9  # FAILED_PRECONDITION
    assert private.attributes["rpc.connect_rpc.error_code"] == "failed_precondition"
    assert private.status.status_code is not StatusCode.ERROR  # the caller's fault, not the server's
    assert any(
        s.name == "steam.profile" and s.context.trace_id == connect[0].context.trace_id for s in captured.spans()
    )

    durations = captured.points("rpc.server.call.duration")
    connect_points = {
        (p["rpc.method"], p["rpc.grpc.status_code"]): n for p, n in durations if p["rpc.system"] == "connect_rpc"
    }
    assert connect_points == {("ResolvePlayer", 0): 2, ("StreamPlayerStats", 9): 1, ("StreamPlayerStats", 0): 1}
    errors = [
        (p["rpc.system"], p["rpc.method"], p["error.reason"], n) for p, n in captured.points("playerstats.rpc.errors")
    ]
    assert errors == [("connect_rpc", "StreamPlayerStats", "PROFILE_PRIVATE", 1)]
    first = [
        (p["rpc.system"], p["rpc.method"], n) for p, n in captured.points("playerstats.rpc.first_message.duration")
    ]
    assert first == [("connect_rpc", "StreamPlayerStats", 1)]


async def test_console_script_prints_the_http_port(sim: RunningSimulator, tmp_path: Path) -> None:
    """playerstats-server with PLAYERSTATS_HTTP_LISTEN prints the HTTP port on its second line and serves curl's
    request there."""
    env = server_env(sim, tmp_path, PLAYERSTATS_HTTP_LISTEN="127.0.0.1:0")
    async with server_process(env, tmp_path / "server.log") as (proc, _port):
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.startswith("playerstats-server Connect (JSON/HTTP) on port "), line
        http_port = int(line.rsplit(" ", 1)[1])
        url = f"http://127.0.0.1:{http_port}{SERVICE_PATH}/GetPlayerStats"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http,
            http.post(url, data=json.dumps({"player": "demo"}), headers={"content-type": "application/json"}) as resp,
        ):
            assert resp.status == 200
            assert (await resp.json())["stats"]["profile"]["steamId"] == DEMO_STEAM_ID
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_grpcurl_lists_channelz_and_its_server(server: RunningServer, stub: object) -> None:
    """Reflection lists grpc.channelz.v1.Channelz; GetServers shows the listening server with its call counters,
    and GetServerSockets its open sockets (the stub fixture's channel among them)."""
    target = f"127.0.0.1:{server.port}"
    code, out, err = await grpcurl("-plaintext", target, "list")
    assert code == 0, err
    assert "grpc.channelz.v1.Channelz" in out.split()

    code, out, err = await grpcurl("-plaintext", "-d", "{}", target, "grpc.channelz.v1.Channelz/GetServers")
    assert code == 0, err
    # Channelz lists every server of the process: servers of earlier tests linger until collected. Ours is the
    # newest one listening (ids only grow).
    servers = [s for s in json.loads(out)["server"] if proto_field(s, "listen_socket")]
    assert servers, "the listening socket is listed"
    ours = max(servers, key=lambda s: int(proto_field(s["ref"], "server_id")))
    assert int(proto_field(ours["data"], "calls_started")) >= 2  # our own list and GetServers calls at least
    server_id = proto_field(ours["ref"], "server_id")

    request = json.dumps({"server_id": server_id})
    code, out, err = await grpcurl("-plaintext", "-d", request, target, "grpc.channelz.v1.Channelz/GetServerSockets")
    assert code == 0, err
    assert proto_field(json.loads(out), "socket_ref"), "the open connections are listed"


def proto_field(message: dict[str, Any], name: str) -> Any:
    """`name` of a JSON message, spelled as proto (grpcurl 1.8) or lowerCamelCase (proto3 JSON)."""
    head, *rest = name.split("_")
    return message.get(name, message.get(head + "".join(part.title() for part in rest)))
