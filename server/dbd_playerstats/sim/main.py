"""`playerstats-steam-sim`: run the Steam Web API simulator as its own process.

    playerstats-steam-sim [--host 127.0.0.1] [--port 8090] [--api-key KEY ...] [--seed N]
                          [--latency ENDPOINT=SECONDS ...] [--error-rate ENDPOINT=KIND:PROB ...]

Once the socket accepts connections it prints exactly one line, `steam-sim listening on http://HOST:PORT`,
to stdout (flushed), so a script started with `--port 0` can read the port from it. SIGTERM and SIGINT stop
it cleanly (exit 0). A bad option prints one line naming it to stderr and exits 2. Everything else is
controlled at run time through the `/_sim/` admin API.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import NoReturn

from dbd_playerstats.sim.faults import ErrorRate, Fault, FaultKind
from dbd_playerstats.sim.server import DEFAULT_HOST, running_simulator
from dbd_playerstats.sim.state import DEFAULT_API_KEY, SimState, check_endpoint

DEFAULT_PORT = 8090
PROG = "playerstats-steam-sim"


class _OneLineParser(argparse.ArgumentParser):
    """argparse without the usage block: scripts get one line that names the bad option."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _latency(text: str) -> tuple[str, float]:
    endpoint, sep, seconds = text.partition("=")
    try:
        check_endpoint(endpoint)
        value = float(seconds)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected ENDPOINT=SECONDS, got {text!r} ({exc})") from exc
    if not sep or not value >= 0:
        raise argparse.ArgumentTypeError(f"expected ENDPOINT=SECONDS with SECONDS >= 0, got {text!r}")
    return endpoint, value


def _error_rate(text: str) -> tuple[str, FaultKind, float]:
    endpoint, sep, rest = text.partition("=")
    kind, colon, probability = rest.partition(":")
    usage = f"expected ENDPOINT=KIND:PROB with PROB in [0, 1], got {text!r}"
    try:
        check_endpoint(endpoint)
        fault_kind = FaultKind(kind)
        value = float(probability)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{usage} ({exc})") from exc
    if not (sep and colon and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(usage)
    return endpoint, fault_kind, value


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return port


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog=PROG, description="Steam Web API simulator for Dead by Daylight stats.")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument(
        "--api-key", action="append", dest="api_keys", metavar="KEY", help=f"repeatable; default {DEFAULT_API_KEY}"
    )
    parser.add_argument("--latency", type=_latency, action="append", default=[], metavar="ENDPOINT=SECONDS")
    parser.add_argument("--error-rate", type=_error_rate, action="append", default=[], metavar="ENDPOINT=KIND:PROB")
    parser.add_argument("--seed", type=int, default=0, help="seed of the error-rate RNGs (default 0)")
    return parser


def build_state(args: argparse.Namespace) -> SimState:
    """The start-up configuration (what `POST /_sim/reset` returns to)."""
    rates = {
        endpoint: ErrorRate(Fault(kind), probability, args.seed) for endpoint, kind, probability in args.error_rate
    }
    return SimState(
        valid_keys=args.api_keys or (DEFAULT_API_KEY,),
        latency=dict(args.latency),
        error_rates=rates,
        seed=args.seed,
    )


async def _serve(state: SimState, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running_simulator(state, host, port) as sim:
        print(f"steam-sim listening on {sim.base_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; 0 on a clean stop, 2 on a bad option, 1 when the socket cannot be bound."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on bad options; callers get the code back
        return exc.code if isinstance(exc.code, int) else 2
    state = build_state(args)
    try:
        asyncio.run(_serve(state, args.host, args.port))
    except OSError as exc:
        print(f"{PROG}: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
