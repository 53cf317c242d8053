"""The `/_sim/` admin API: control a simulator running in another process (benchmarks, multi-process tests).

All bodies are JSON; a malformed request gets 400 `{"error": "..."}`. Admin requests are never counted.

- `GET /_sim/counts[?steam_id=ID]`: `{"stats": n, ..., "vanity": n, "total": n}`, only that player's
  requests when `steam_id` is given.
- `POST /_sim/reset`: back to the start-up configuration; counters, log and scripted faults cleared.
- `POST /_sim/latency` `{"stats": 0.05, ...}`: per-endpoint latency in seconds; answers all latencies.
- `POST /_sim/faults` `{"endpoint": "stats", "faults": [{"kind": "http_503"}, {"kind": "rate_limit",
  "retry_after": "1"}], "steam_id": null}`: queue faults (each may also carry `stall_seconds`, `steam_id`);
  answers `{"pending": n}`.
- `POST /_sim/error-rate` `{"endpoint", "kind", "probability", "seed"?, "retry_after"?, "stall_seconds"?}`:
  seeded random fault; probability 0 removes it; `seed` defaults to the simulator's `--seed`.
- `POST /_sim/keys` `{"valid": ["k1"]}`: replace the accepted API keys.
- `POST /_sim/achievements` `{"steam_id": ID, "overrides": {"ACH_X": 0, "ACH_Y": null}}`: what
  GetPlayerAchievements answers for that player (unlock time in epoch seconds, 0 locked, null left out; `{}`
  clears); answers `{"steam_id": ID, "overrides": n}`.
- `POST /_sim/stats` `{"steam_id": ID, "overrides": {"DBD_Escape": 12}}`: change stats while running (they add
  up until reset; `{}` clears); answers `{"steam_id": ID, "overrides": n}`.
- `POST /_sim/variants` `{"private_stats"?, "never_played_stats"?, "unknown_stats"?}`: each one of
  `html500`, `empty400`, `no_stats200`.
- `GET /_sim/requests`: `{"now": t, "requests": [{"time", "endpoint", "steam_id", "status"}, ...]}`.
- `GET /_sim/config`: current latency, keys, variants, error rates and pending scripted faults.

`time` and `now` are `time.monotonic()` of the simulator's host, comparable across processes on Linux.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from dbd_playerstats.sim.faults import ErrorRate, Fault
from dbd_playerstats.sim.state import ENDPOINTS, SimState, StatsVariant, check_endpoint

AdminHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _AdminError(ValueError):
    """A malformed admin request: answered 400 with its message."""


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except json.JSONDecodeError as exc:
        raise _AdminError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _AdminError("body must be a JSON object")
    return data


def _admin(handler: Callable[[web.Request, SimState], Awaitable[Any]], state: SimState) -> AdminHandler:
    """Wrap a handler returning a JSON-able value; ValueError/TypeError/KeyError become 400s."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            result = await handler(request, state)
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(result)

    return handle


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _AdminError(f"{what} must be a number")
    return float(value)


async def _counts(request: web.Request, state: SimState) -> dict[str, int]:
    return state.counts(request.query.get("steam_id") or None)


async def _reset(_request: web.Request, state: SimState) -> dict[str, bool]:
    state.reset()
    return {"ok": True}


async def _latency(request: web.Request, state: SimState) -> dict[str, float]:
    body = await _json_object(request)
    settings = {check_endpoint(endpoint): _number(value, endpoint) for endpoint, value in body.items()}
    for endpoint, seconds in settings.items():
        state.set_latency(endpoint, seconds)
    return {endpoint: state.latency(endpoint) for endpoint in ENDPOINTS}


async def _faults(request: web.Request, state: SimState) -> dict[str, int]:
    body = await _json_object(request)
    endpoint = check_endpoint(str(body.get("endpoint", "")))
    raw_faults = body.get("faults")
    steam_id = body.get("steam_id")
    if not isinstance(raw_faults, list) or not all(isinstance(item, dict) for item in raw_faults):
        raise _AdminError("faults must be a list of objects")
    if steam_id is not None and not isinstance(steam_id, str):
        raise _AdminError("steam_id must be a string or null")
    state.script(endpoint, [Fault.from_json(item) for item in raw_faults], steam_id=steam_id)
    return {"pending": len(state.pending(endpoint))}


async def _error_rate(request: web.Request, state: SimState) -> dict[str, Any]:
    body = await _json_object(request)
    endpoint = check_endpoint(str(body.pop("endpoint", "")))
    probability = _number(body.pop("probability", None), "probability")
    seed = body.pop("seed", None)
    if seed is None:
        seed = state.seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise _AdminError("seed must be an integer")
    rate = ErrorRate(Fault.from_json(body), probability, seed)
    state.set_error_rate(endpoint, rate)
    return {"endpoint": endpoint, "kind": rate.fault.kind.value, "probability": probability, "seed": seed}


async def _keys(request: web.Request, state: SimState) -> dict[str, list[str]]:
    body = await _json_object(request)
    valid = body.get("valid")
    if not isinstance(valid, list) or not all(isinstance(key, str) for key in valid):
        raise _AdminError("valid must be a list of strings")
    state.set_valid_keys(valid)
    return {"valid": sorted(state.valid_keys)}


async def _player_overrides(request: web.Request, what: str) -> tuple[str, dict[str, Any]]:
    """`{"steam_id": ID, "overrides": {...}}` of a POST body, checked."""
    body = await _json_object(request)
    steam_id = body.get("steam_id")
    overrides = body.get("overrides")
    if not isinstance(steam_id, str) or not steam_id:
        raise _AdminError("steam_id must be a non-empty string")
    if not isinstance(overrides, dict):
        raise _AdminError(f"overrides must be an object of {what}")
    return steam_id, overrides


async def _achievements(request: web.Request, state: SimState) -> dict[str, Any]:
    steam_id, overrides = await _player_overrides(request, "api name -> unlock time or null")
    state.override_achievements(steam_id, overrides)
    return {"steam_id": steam_id, "overrides": len(state.achievement_overrides(steam_id))}


async def _stats(request: web.Request, state: SimState) -> dict[str, Any]:
    steam_id, overrides = await _player_overrides(request, "stat id -> number")
    state.override_stats(steam_id, overrides)
    return {"steam_id": steam_id, "overrides": len(state.stats_overrides(steam_id))}


async def _variants(request: web.Request, state: SimState) -> dict[str, str]:
    body = await _json_object(request)
    unknown = set(body) - {"private_stats", "never_played_stats", "unknown_stats"}
    if unknown:
        raise _AdminError(f"unknown variant fields: {sorted(unknown)}")
    state.set_variants(**{name: StatsVariant(value) for name, value in body.items()})
    return {name: str(value) for name, value in asdict(state.variants).items()}


async def _requests(_request: web.Request, state: SimState) -> dict[str, Any]:
    return {"now": time.monotonic(), "requests": [asdict(record) for record in state.requests()]}


async def _config(_request: web.Request, state: SimState) -> dict[str, Any]:
    rates = {endpoint: state.error_rate(endpoint) for endpoint in ENDPOINTS}
    return {
        "latency": {endpoint: state.latency(endpoint) for endpoint in ENDPOINTS},
        "valid_keys": sorted(state.valid_keys),
        "variants": {name: str(value) for name, value in asdict(state.variants).items()},
        "error_rates": {
            endpoint: {"kind": rate.fault.kind.value, "probability": rate.probability, "seed": rate.seed}
            for endpoint, rate in rates.items()
            if rate is not None
        },
        "pending": {endpoint: [fault.kind.value for fault in state.pending(endpoint)] for endpoint in ENDPOINTS},
    }


def admin_routes(state: SimState) -> list[web.RouteDef]:
    """The `/_sim/` routes bound to `state`."""
    return [
        web.get("/_sim/counts", _admin(_counts, state)),
        web.post("/_sim/reset", _admin(_reset, state)),
        web.post("/_sim/latency", _admin(_latency, state)),
        web.post("/_sim/faults", _admin(_faults, state)),
        web.post("/_sim/error-rate", _admin(_error_rate, state)),
        web.post("/_sim/keys", _admin(_keys, state)),
        web.post("/_sim/achievements", _admin(_achievements, state)),
        web.post("/_sim/stats", _admin(_stats, state)),
        web.post("/_sim/variants", _admin(_variants, state)),
        web.get("/_sim/requests", _admin(_requests, state)),
        web.get("/_sim/config", _admin(_config, state)),
    ]


__all__ = ["admin_routes"]
