"""Shared fixtures: a real Steam simulator and a real grpc.aio server on loopback, per test; a throwaway PKI."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.app import RunningServer, build_server
from dbd_playerstats.config.settings import Secret, Settings
from dbd_playerstats.sim import RunningSimulator, running_simulator
from tests.support import postgres_schema

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as AsyncStub


@pytest.fixture
async def schema_url() -> AsyncIterator[str]:
    """A fresh schema of the test PostgreSQL (fails, never skips, when it is down)."""
    async with postgres_schema() as url:
        yield url


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """A fresh Steam simulator on a free loopback port."""
    async with running_simulator() as running:
        yield running


def make_settings(sim: RunningSimulator, data_dir: Path, **resilience: float) -> Settings:
    """Settings pointing at the simulator, with test-friendly resilience overrides."""
    base = Settings.from_env({"PLAYERSTATS_DATA_DIR": str(data_dir)})
    return replace(
        base,
        steam=replace(base.steam, base_url=sim.base_url, api_key=Secret("sim-key")),
        resilience=replace(base.resilience, **resilience),  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(sim: RunningSimulator, tmp_path: Path) -> Settings:
    """Default settings against the simulator, fast backoff so retry tests stay quick."""
    return make_settings(sim, tmp_path, base_backoff_ms=1, max_backoff_ms=5)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    """The real server on 127.0.0.1:<free port>."""
    running = await build_server(settings, listen="127.0.0.1:0")
    try:
        yield running
    finally:
        await running.stop(None)


@pytest.fixture
async def channel(server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> AsyncStub:
    return pb_grpc.PlayerStatsServiceStub(channel)


ServeFn = Callable[[Settings], Awaitable[RunningServer]]


@pytest.fixture
async def serve() -> AsyncIterator[ServeFn]:
    """Start real servers with custom settings on 127.0.0.1:<free port>; every one is stopped at teardown."""
    started: list[RunningServer] = []

    async def start(settings: Settings) -> RunningServer:
        running = await build_server(settings, listen="127.0.0.1:0")
        started.append(running)
        return running

    yield start
    for running in started:
        await running.stop(None)


@dataclass(frozen=True)
class Pki:
    """PEM files of a throwaway PKI: a CA, a server certificate for 127.0.0.1/localhost, clients of that CA
    (alice, bob), and a rogue client whose certificate comes from another CA."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    alice_cert: Path
    alice_key: Path
    bob_cert: Path
    bob_key: Path
    rogue_cert: Path
    rogue_key: Path

    def tls_env(self, *, mutual: bool) -> dict[str, str]:
        """The PLAYERSTATS_TLS_* variables for a TLS (or mutual TLS) server with these files."""
        env = {"PLAYERSTATS_TLS_CERT": str(self.server_cert), "PLAYERSTATS_TLS_KEY": str(self.server_key)}
        if mutual:
            env["PLAYERSTATS_TLS_CLIENT_CA"] = str(self.ca_cert)
        return env


class _Authority:
    """A certificate authority of the throwaway PKI, writing the PEM files it issues into `directory`."""

    def __init__(self, directory: Path, common_name: str, now: datetime.datetime) -> None:
        self.directory = directory
        self.now = now
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (
            self._builder(_name(common_name), _name(common_name), self.key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def _builder(
        self, subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - datetime.timedelta(minutes=5))
            .not_valid_after(self.now + datetime.timedelta(days=1))
        )

    def write(self, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
        cert_path, key_path = self.directory / f"{stem}.pem", self.directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_path, key_path

    def write_own(self, stem: str) -> Path:
        """The CA's own certificate (its key stays in memory: nothing else signs with it)."""
        cert_path, _ = self.write(stem, self.key, self.cert)
        return cert_path

    def leaf(self, common_name: str, *, server: bool) -> tuple[Path, Path]:
        """A certificate for a server (127.0.0.1 and localhost) or a client, issued by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        cert_builder = (
            self._builder(_name(common_name), self.cert.subject, key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            cert_builder = cert_builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return self.write(common_name, key, cert_builder.sign(self.key, hashes.SHA256()))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dbd-playerstats tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, server and client certificates made with `cryptography` (EC P-256, valid one day), once per session."""
    directory = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca = _Authority(directory, "playerstats test CA", now)
    other_ca = _Authority(directory, "some other CA", now)
    server_cert, server_key = ca.leaf("server", server=True)
    alice_cert, alice_key = ca.leaf("alice", server=False)
    bob_cert, bob_key = ca.leaf("bob", server=False)
    rogue_cert, rogue_key = other_ca.leaf("rogue", server=False)
    return Pki(
        ca_cert=ca.write_own("ca"),
        server_cert=server_cert,
        server_key=server_key,
        alice_cert=alice_cert,
        alice_key=alice_key,
        bob_cert=bob_cert,
        bob_key=bob_key,
        rogue_cert=rogue_cert,
        rogue_key=rogue_key,
    )
