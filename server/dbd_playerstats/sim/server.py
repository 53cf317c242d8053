"""`running_simulator`: serve the simulator on a real socket for the duration of an `async with` block.

Tests, the demo and the benchmarks talk to it over TCP exactly as the service talks to Steam. The runner
cancels a handler when its client disconnects (as Steam stops working for a caller that hung up), so a
stalled `timeout` fault does not outlive the client that gave up on it, and shutdown waits at most
`shutdown_timeout` seconds for requests still in flight.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from dbd_playerstats.sim.app import make_app
from dbd_playerstats.sim.state import SimState

DEFAULT_HOST = "127.0.0.1"
DEFAULT_SHUTDOWN_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    """A simulator accepting connections: point the Steam client's base URL at `base_url`."""

    state: SimState
    host: str
    port: int

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT` without a trailing slash (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@asynccontextmanager
async def running_simulator(
    state: SimState | None = None,
    host: str = DEFAULT_HOST,
    port: int = 0,
    *,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
) -> AsyncIterator[RunningSimulator]:
    """Serve `state` (a fresh default `SimState` when None) on host:port; port 0 picks a free port.

    The socket is listening when the block is entered and closed when it exits.
    """
    state = state if state is not None else SimState()
    runner = web.AppRunner(
        make_app(state), handler_cancellation=True, shutdown_timeout=shutdown_timeout, access_log=None
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = _bound_port(runner)
        yield RunningSimulator(state=state, host=host, port=bound_port)
    finally:
        await runner.cleanup()


def _bound_port(runner: web.AppRunner) -> int:
    """The port the OS gave the (single) listening socket."""
    address = runner.addresses[0]
    return int(address[1])


__all__ = ["DEFAULT_HOST", "RunningSimulator", "running_simulator"]
