"""The CLI without a server: argument errors, unreachable servers and unreadable files."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dbd_playerstats_client import cli


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_target(capsys: pytest.CaptureFixture[str]) -> None:
    """A target nobody listens on gives exit 1 and exactly one 'error: UNAVAILABLE' line, no traceback."""
    code = cli.main(["--target", f"127.0.0.1:{_closed_port()}", "--timeout", "5", "get", "someone"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.startswith("error: UNAVAILABLE: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_target_from_environment(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """PLAYERSTATS_TARGET is the default target (seen here in the failure to reach it)."""
    port = _closed_port()
    monkeypatch.setenv("PLAYERSTATS_TARGET", f"127.0.0.1:{port}")
    assert cli.main(["resolve", "someone"]) == 1
    assert capsys.readouterr().err.startswith("error: UNAVAILABLE")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["get"],
        ["frobnicate", "x"],
        ["--timeout", "0", "get", "x"],
        ["--timeout", "soon", "get", "x"],
        ["lobby"],
        ["--max-age", "-1", "lobby", "x"],
        ["--max-age", "later", "get", "x"],
    ],
    ids=[
        "no-command",
        "no-player",
        "bad-command",
        "zero-timeout",
        "non-numeric-timeout",
        "lobby-without-players",
        "negative-max-age",
        "non-numeric-max-age",
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad arguments exit 2 with argparse's usage message and no traceback."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: playerstats" in err
    assert "Traceback" not in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """--help prints the usage with every subcommand and exits 0."""
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("stream", "get", "resolve", "lobby", "--max-age", "--ca-cert", "--json"):
        assert word in out


def test_unreadable_certificate_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --ca-cert that cannot be read exits 2 with one line naming the option."""
    assert cli.main(["--ca-cert", str(tmp_path / "missing.pem"), "get", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("playerstats: error: --ca-cert: cannot read ")
    assert err.count("\n") == 1


def test_client_cert_without_key_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--client-cert without --client-key exits 2 before any connection."""
    cert = tmp_path / "client.pem"
    cert.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    assert cli.main(["--client-cert", str(cert), "get", "x"]) == 2
    assert "--client-cert and --client-key go together" in capsys.readouterr().err


def test_bad_caller_id_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A caller id that cannot travel as metadata exits 2 with one line."""
    assert cli.main(["--caller-id", "caf\u00e9", "get", "x"]) == 2
    assert capsys.readouterr().err.startswith("playerstats: error: metadata 'x-caller-id'")
