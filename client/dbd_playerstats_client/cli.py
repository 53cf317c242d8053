"""``playerstats``: ask a dbd-playerstats server about a Steam player from the shell.

Usage: ``playerstats [--target HOST:PORT] [--timeout S] [--max-age S] [--caller-id ID] [--json]
[TLS options] {stream,get,resolve} PLAYER``, ``... lobby PLAYER [PLAYER ...]`` (up to 10) or
``... history PLAYER [--stat NAME ...] [--since ISO]`` (how the stats changed, and the unlock timeline,
from the store) or
``... watch PLAYER [--interval S]`` (the state, then every change as the server sees it, until Ctrl-C).

Output goes to stdout, one part at a time as it arrives, each part's first line prefixed by the
milliseconds elapsed since the call started (and, for ``lobby``, by ``#INDEX``, the player's position
on the command line from 0). With ``--json`` every message is one line of proto3 JSON instead (JSON
Lines). ``--max-age`` (seconds, 0 = live from Steam) is how old the data may be, for ``stream``,
``get`` and ``lobby``. A failed call prints one ``error: CODE REASON: details (retry after N s)``
line to stderr; in a lobby, one player's failure is a ``#INDEX error ...`` line of the output and
the call goes on. Exit status: 0 on success, 1 when the call failed, 2 for a usage error (bad
arguments, unreadable certificate file), 130 on Ctrl-C. No traceback is ever printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import grpc
from google.protobuf import json_format, message

from dbd_playerstats_client import render
from dbd_playerstats_client._calls import channel_credentials
from dbd_playerstats_client._version import __version__
from dbd_playerstats_client.client import PlayerStatsClient
from dbd_playerstats_client.errors import PlayerStatsError

__all__ = ["DEFAULT_TARGET", "TARGET_ENV", "main"]

#: Environment variable naming the default server.
TARGET_ENV = "PLAYERSTATS_TARGET"
#: Server used when neither --target nor PLAYERSTATS_TARGET is given.
DEFAULT_TARGET = "127.0.0.1:50051"

EXIT_OK = 0
EXIT_CALL_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _UsageError(Exception):
    """Arguments that parsed but cannot be used (unreadable file, bad caller id)."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (``sys.argv[1:]`` when ``None``) and return the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return asyncio.run(_run(args))
    except _UsageError as err:
        _fail(f"{parser.prog}: error: {err}")
        return EXIT_USAGE
    except PlayerStatsError as err:
        _fail(render.render_error(err))
        return EXIT_CALL_FAILED
    except KeyboardInterrupt:
        _fail("error: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `playerstats stream x | head -1`: the reader left, nobody to tell
        _silence_stdout()
        return EXIT_CALL_FAILED
    except Exception as err:  # a bug, but the contract is one line and no traceback
        _fail(f"error: internal {type(err).__name__}: {' '.join(str(err).split())}")
        return EXIT_CALL_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="playerstats",
        description="Dead by Daylight stats of a Steam player, from a dbd-playerstats server.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--target",
        default=os.environ.get(TARGET_ENV) or DEFAULT_TARGET,
        help=f"server host:port (default: ${TARGET_ENV} or {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=None,
        help="deadline of the call in seconds (default: 10 for get/resolve, 30 for a whole stream)",
    )
    parser.add_argument(
        "--max-age",
        type=_seconds_or_zero,
        default=None,
        help="oldest data accepted, in seconds; 0 = fetched from Steam now (default: the server's caches decide)",
    )
    parser.add_argument("--caller-id", default=None, help="sent as x-caller-id metadata")
    parser.add_argument("--json", action="store_true", help="print each message as one line of JSON")
    tls = parser.add_argument_group("TLS (any of these switches TLS on)")
    tls.add_argument("--tls", action="store_true", help="use TLS with the system's root certificates")
    tls.add_argument("--ca-cert", type=Path, help="PEM file of the CA that signed the server's certificate")
    tls.add_argument("--client-cert", type=Path, help="PEM client certificate chain, for mutual TLS")
    tls.add_argument("--client-key", type=Path, help="PEM private key of --client-cert")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    player_help = "SteamID64, vanity name or profile URL"
    stream = commands.add_parser("stream", help="stream the stats, then the achievements, as they arrive")
    stream.add_argument("player", help=player_help)
    get = commands.add_parser("get", help="get stats and achievements in one response")
    get.add_argument("player", help=player_help)
    resolve = commands.add_parser("resolve", help="resolve a player to a SteamID64 and profile")
    resolve.add_argument("player", help=player_help)
    lobby = commands.add_parser("lobby", help="stream the parts of up to 10 players at once, as they arrive")
    lobby.add_argument("players", nargs="+", metavar="PLAYER", help=player_help)
    watch = commands.add_parser("watch", help="print the player's state, then each change, until Ctrl-C")
    watch.add_argument("player", help=player_help)
    watch.add_argument("--interval", type=_positive_seconds, default=None, help="seconds between looks")
    history = commands.add_parser("history", help="how the player's stats changed, and when they unlocked what")
    history.add_argument("player", help=player_help)
    history.add_argument(
        "--stat", action="append", default=[], metavar="NAME", help="raw stat name, e.g. DBD_Escape (repeatable)"
    )
    history.add_argument(
        "--since", type=_utc_time, default=None, metavar="ISO", help="only history from then on, e.g. 2026-12-01"
    )
    return parser


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _utc_time(text: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _seconds_or_zero(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive number of seconds: {text!r}")
    return value


async def _run(args: argparse.Namespace) -> int:
    credentials = _credentials(args)
    try:
        client = PlayerStatsClient(args.target, timeout=args.timeout, caller_id=args.caller_id, credentials=credentials)
    except ValueError as err:  # e.g. a caller id that is not printable ASCII
        raise _UsageError(str(err)) from None
    async with client:
        started = time.monotonic()
        if args.command == "stream":
            async for part in client.stream_player_stats(args.player, max_age=args.max_age):
                _emit(args, part, render.render_stream_message(part, now=_now()), started)
        elif args.command == "lobby":
            async for message in client.stream_lobby_stats(args.players, max_age=args.max_age):
                _emit(args, message, render.render_lobby_message(message, now=_now()), started)
        elif args.command == "watch":
            async for event in client.watch_player(args.player, interval=args.interval):
                _emit(args, event, render.render_watch_message(event, now=_now()), started)
        elif args.command == "history":
            history = await client.get_player_history(args.player, stats=args.stat, since=args.since)
            _emit(args, history, render.render_history_response(history), started)
        elif args.command == "get":
            response = await client.get_player_stats(args.player, max_age=args.max_age)
            _emit(args, response, render.render_get_response(response, now=_now()), started)
        else:
            resolved = await client.resolve_player(args.player)
            _emit(args, resolved, render.render_resolve_response(resolved), started)
    return EXIT_OK


def _credentials(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    if not (args.tls or args.ca_cert or args.client_cert or args.client_key):
        return None
    if (args.client_cert is None) != (args.client_key is None):
        raise _UsageError("--client-cert and --client-key go together")
    return channel_credentials(
        ca_cert=_read(args.ca_cert, "--ca-cert"),
        client_cert=_read(args.client_cert, "--client-cert"),
        client_key=_read(args.client_key, "--client-key"),
    )


def _read(path: Path | None, option: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as err:
        raise _UsageError(f"{option}: cannot read {path}: {err.strerror or err}") from None


def _emit(args: argparse.Namespace, msg: message.Message, lines: Sequence[str], started: float) -> None:
    if args.json:
        print(json_format.MessageToJson(msg, indent=None), flush=True)
        return
    elapsed_ms = round((time.monotonic() - started) * 1000)
    prefix = f"[{elapsed_ms:4d} ms] "
    for index, line in enumerate(lines):
        # A part's first line carries the time; the next ones only say "same part" by their indent.
        print((prefix if index == 0 or not line.startswith(" ") else " " * len(prefix)) + line, flush=True)


def _fail(line: str) -> None:
    sys.stdout.flush()
    print(line, file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    # Python flushes stdout again at exit, which would raise (and print) once more.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _now() -> datetime:
    return datetime.now(UTC)
