"""A Steam Web API simulator for Dead by Daylight (app 381210), served over real sockets.

It answers like api.steampowered.com (paths, parameters, JSON shapes, statuses, content types, HTML error
pages), serves deterministic players (see `fixtures`), injects faults on demand and counts every request.
Use `running_simulator()` in-process or the `playerstats-steam-sim` command plus the `/_sim/` admin API::

    async with running_simulator() as sim:
        sim.state.script("stats", [Fault(FaultKind.HTTP_503)])
        ...  # point the Steam client at sim.base_url with key "sim-key"
        assert sim.state.count("stats", DEMO_STEAM_ID) == 2
"""

from dbd_playerstats.sim.app import STATE_KEY, make_app
from dbd_playerstats.sim.faults import ErrorRate, Fault, FaultKind
from dbd_playerstats.sim.fixtures import (
    APP_ID,
    DEMO_STEAM_ID,
    DEMO_VANITY,
    FRESH_STEAM_ID,
    FRESH_VANITY,
    HIDDEN_GAMES_STEAM_ID,
    HIDDEN_GAMES_VANITY,
    NEVER_PLAYED_STEAM_ID,
    NEVER_PLAYED_VANITY,
    PRIVATE_STEAM_ID,
    PRIVATE_VANITY,
    SYNTHETIC_FIRST_ID,
    SYNTHETIC_LAST_ID,
    synthetic_steam_id,
)
from dbd_playerstats.sim.server import RunningSimulator, running_simulator
from dbd_playerstats.sim.state import (
    DEFAULT_API_KEY,
    ENDPOINTS,
    RequestRecord,
    SimState,
    StatsVariant,
    Variants,
)

__all__ = [
    "APP_ID",
    "DEFAULT_API_KEY",
    "DEMO_STEAM_ID",
    "DEMO_VANITY",
    "ENDPOINTS",
    "FRESH_STEAM_ID",
    "FRESH_VANITY",
    "HIDDEN_GAMES_STEAM_ID",
    "HIDDEN_GAMES_VANITY",
    "NEVER_PLAYED_STEAM_ID",
    "NEVER_PLAYED_VANITY",
    "PRIVATE_STEAM_ID",
    "PRIVATE_VANITY",
    "STATE_KEY",
    "SYNTHETIC_FIRST_ID",
    "SYNTHETIC_LAST_ID",
    "ErrorRate",
    "Fault",
    "FaultKind",
    "RequestRecord",
    "RunningSimulator",
    "SimState",
    "StatsVariant",
    "Variants",
    "make_app",
    "running_simulator",
    "synthetic_steam_id",
]
