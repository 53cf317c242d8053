"""`make_app`: the simulator as an aiohttp application, Steam's six endpoints plus the `/_sim/` admin API.

Every Steam request goes through one pipeline, in this order, so a test can reason about what it sees:

1. count the request (per endpoint and per player named in it);
2. sleep the endpoint's configured latency;
3. take the next fault (scripted queue first, then the seeded error rate):
   `reset` closes the connection, `timeout` sleeps `stall_seconds` then carries on normally, any other kind
   replaces the answer below;
4. check the API key (rarity needs none): missing -> 400 page, unknown -> 403 page;
5. answer as Steam would (`steam_api`), unless `SimState.override_answer` set an answer for the endpoint
   (sent verbatim instead of steps 4 and 5: the hook for hostile bodies);
6. log (monotonic time, endpoint, steam id, status).

Each endpoint answers on both version spellings (`v2` and `v0002`, `v1` and `v0001`), with or without the
trailing slash. Any other path gets Steam's 404 HTML page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from dbd_playerstats.sim import steam_api
from dbd_playerstats.sim.admin import admin_routes
from dbd_playerstats.sim.answers import Answer, forbidden_key, missing_parameter, not_found
from dbd_playerstats.sim.faults import FaultKind, fault_answer
from dbd_playerstats.sim.state import SimState

STATE_KEY: Final = web.AppKey("dbd_playerstats_sim_state", SimState)
"""Where `make_app` stores its `SimState` (`app[STATE_KEY]`)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Query = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One Steam method: where it lives, whether it needs a key, and how it answers.

    `players` names the steam ids a request is about (for counters and player-restricted faults);
    `log_id` is the steam id written to the request log.
    """

    name: str
    path: str
    versions: tuple[str, str]
    needs_key: bool
    answer: Callable[[Query, SimState], Answer]
    players: Callable[[Query], tuple[str, ...]]
    log_id: Callable[[Query], str | None]


def _steamid(query: Query) -> tuple[str, ...]:
    steam_id = query.get("steamid", "")
    return (steam_id,) if steam_id else ()


def _no_players(_query: Query) -> tuple[str, ...]:
    return ()


def _no_log_id(_query: Query) -> str | None:
    return None


ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint(
        "stats",
        "/ISteamUserStats/GetUserStatsForGame",
        ("v2", "v0002"),
        needs_key=True,
        answer=lambda query, state: steam_api.answer_stats(
            query, state.variants, state.stats_overrides(query.get("steamid", ""))
        ),
        players=_steamid,
        log_id=lambda query: query.get("steamid") or None,
    ),
    Endpoint(
        "achievements",
        "/ISteamUserStats/GetPlayerAchievements",
        ("v1", "v0001"),
        needs_key=True,
        answer=lambda query, state: steam_api.answer_achievements(
            query, state.achievement_overrides(query.get("steamid", ""))
        ),
        players=_steamid,
        log_id=lambda query: query.get("steamid") or None,
    ),
    Endpoint(
        "schema",
        "/ISteamUserStats/GetSchemaForGame",
        ("v2", "v0002"),
        needs_key=True,
        answer=lambda query, _state: steam_api.answer_schema(query),
        players=_no_players,
        log_id=_no_log_id,
    ),
    Endpoint(
        "rarity",
        "/ISteamUserStats/GetGlobalAchievementPercentagesForApp",
        ("v2", "v0002"),
        needs_key=False,
        answer=lambda query, _state: steam_api.answer_rarity(query),
        players=_no_players,
        log_id=_no_log_id,
    ),
    Endpoint(
        "profile",
        "/ISteamUser/GetPlayerSummaries",
        ("v2", "v0002"),
        needs_key=True,
        answer=lambda query, _state: steam_api.answer_profile(query),
        players=steam_api.summary_ids,
        log_id=lambda query: query.get("steamids") or None,
    ),
    Endpoint(
        "vanity",
        "/ISteamUser/ResolveVanityURL",
        ("v1", "v0001"),
        needs_key=True,
        answer=lambda query, _state: steam_api.answer_vanity(query),
        players=_no_players,
        log_id=_no_log_id,
    ),
)
"""The six Steam methods, keyed by the short names of `SteamError.endpoint`."""


def _answer(endpoint: Endpoint, state: SimState, query: Query) -> Answer:
    """Steps 4-5 of the pipeline: the key check, then Steam's answer."""
    if endpoint.needs_key:
        key = query.get("key", "")
        if not key:
            return missing_parameter("key")
        if key not in state.valid_keys:
            return forbidden_key()
    return endpoint.answer(query, state)


def _drop_connection(request: web.Request) -> web.Response:
    """Close the socket unanswered; the returned response is never written (aiohttp drops it quietly)."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


def _handler(endpoint: Endpoint, state: SimState) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        query: Query = request.query
        players = endpoint.players(query)
        state.record_request(endpoint.name, players)
        status = 0
        try:
            latency = state.latency(endpoint.name)
            if latency > 0:
                await asyncio.sleep(latency)
            fault = state.next_fault(endpoint.name, players)
            if fault is not None and fault.kind is FaultKind.RESET:
                return _drop_connection(request)
            if fault is not None and fault.kind is FaultKind.TIMEOUT:
                await asyncio.sleep(fault.stall_seconds)
                fault = None
            if fault is None:
                answer = state.answer_override(endpoint.name) or _answer(endpoint, state, query)
            elif fault.kind is FaultKind.TRUNCATED_JSON:
                answer = fault_answer(fault, endpoint.name, _answer(endpoint, state, query))
            else:
                answer = fault_answer(fault, endpoint.name)
            status = answer.status
            return answer.to_response()
        finally:
            state.log_answer(endpoint.name, endpoint.log_id(query), status)

    return handle


async def _not_found(_request: web.Request) -> web.StreamResponse:
    return not_found().to_response()


def make_app(state: SimState) -> web.Application:
    """The simulator application serving `state` (kept as `app[STATE_KEY]`)."""
    app = web.Application()
    app[STATE_KEY] = state
    for endpoint in ENDPOINTS:
        handler = _handler(endpoint, state)
        for version in endpoint.versions:
            app.router.add_get(f"{endpoint.path}/{version}/", handler)
            app.router.add_get(f"{endpoint.path}/{version}", handler)
    app.router.add_routes(admin_routes(state))
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


__all__ = ["ENDPOINTS", "STATE_KEY", "Endpoint", "make_app"]
