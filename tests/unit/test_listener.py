"""The gRPC options and credentials built from the settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from dbd_playerstats.api.listener import max_concurrent_rpcs, server_credentials, server_options
from dbd_playerstats.config.settings import LimitsSettings, Settings, TlsSettings


def test_default_limits_become_these_grpc_options() -> None:
    """Each limit setting is passed to gRPC under its channel argument, times in milliseconds."""
    options = dict(server_options(Settings.from_env({}).limits))
    assert options == {
        "grpc.max_receive_message_length": 1024 * 1024,
        "grpc.max_send_message_length": 4 * 1024 * 1024,
        "grpc.max_concurrent_streams": 100,
        "grpc.keepalive_time_ms": 60_000,
        "grpc.keepalive_timeout_ms": 20_000,
        "grpc.http2.min_ping_interval_without_data_ms": 10_000,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.http2.max_ping_strikes": 2,
        "grpc.max_connection_age_ms": 1_800_000,
        "grpc.max_connection_age_grace_ms": 60_000,
    }


def test_zero_means_no_connection_age_and_no_rpc_cap() -> None:
    """Connection age 0 leaves gRPC's unlimited default; a concurrent-RPC cap of 0 is no cap (None)."""
    limits = replace(LimitsSettings(), max_connection_age_secs=0, max_concurrent_rpcs=0)
    names = {name for name, _ in server_options(limits)}
    assert "grpc.max_connection_age_ms" not in names
    assert "grpc.max_connection_age_grace_ms" not in names
    assert max_concurrent_rpcs(limits) is None
    assert max_concurrent_rpcs(LimitsSettings()) == 1000


def test_plaintext_has_no_credentials() -> None:
    """Without a certificate the port stays plaintext."""
    assert server_credentials(TlsSettings()) is None


def test_tls_files_become_server_credentials(tmp_path: Path) -> None:
    """With certificate and key the port gets ServerCredentials; a file gone since start-up names its variable."""
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    assert isinstance(server_credentials(TlsSettings(cert_file=cert, key_file=key)), grpc.ServerCredentials)
    with pytest.raises(OSError, match="cannot read PLAYERSTATS_TLS_CLIENT_CA="):
        server_credentials(TlsSettings(cert_file=cert, key_file=key, client_ca_file=tmp_path / "gone.pem"))
