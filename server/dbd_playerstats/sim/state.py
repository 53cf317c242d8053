"""`SimState`: the simulator's mutable configuration and its record of what it was asked.

One instance is shared by every request of one simulator (single event loop, so no locks). Configuration
given to the constructor is the *baseline*: `reset()` returns to it, which lets a test or a benchmark that
started `playerstats-steam-sim --latency stats=0.05` clear faults and counters without losing its latency.

Counting: every request that reached an endpoint handler is counted once per endpoint and once per
(endpoint, player) for each player it names (a GetPlayerSummaries batch counts for each of its ids), before
latency and faults, whatever it was answered. The admin API under `/_sim/` is never counted.
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from dbd_playerstats.sim.answers import Answer
from dbd_playerstats.sim.faults import ErrorRate, Fault, FaultKind

ENDPOINTS: Final[tuple[str, ...]] = ("stats", "achievements", "schema", "rarity", "profile", "vanity")
"""Short endpoint names, the same as `SteamError.endpoint`."""

DEFAULT_API_KEY: Final = "sim-key"
DEFAULT_LOG_SIZE: Final = 100_000


class StatsVariant(StrEnum):
    """How GetUserStatsForGame refuses a player; Steam is inconsistent, so each case is configurable."""

    HTML500 = "html500"
    """500 text/html error page."""
    EMPTY400 = "empty400"
    """400 application/json `{}`."""
    NO_STATS200 = "no_stats200"
    """200 `{"playerstats":{"steamID":...,"gameName":...}}` without a "stats" key."""


@dataclass(frozen=True, slots=True)
class Variants:
    """The stats answer for private (or hidden-games) players, never-played players and unknown ids."""

    private_stats: StatsVariant = StatsVariant.HTML500
    never_played_stats: StatsVariant = StatsVariant.EMPTY400
    unknown_stats: StatsVariant = StatsVariant.HTML500


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One logged request: `time` is `time.monotonic()` when the answer was decided; `steam_id` is the
    request's steamid (GetPlayerSummaries: the raw `steamids` list) or None; `status` is the HTTP status
    sent, 0 when none was (connection reset, or the client went away while the answer was delayed)."""

    time: float
    endpoint: str
    steam_id: str | None
    status: int


def check_endpoint(endpoint: str) -> str:
    """Return `endpoint` if it is a known short name, else raise ValueError naming the valid ones."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {', '.join(ENDPOINTS)}")
    return endpoint


class SimState:
    """Latency, faults, keys, variants and counters of one simulator.

    `latency` maps endpoint -> seconds slept before every answer; `error_rates` maps endpoint ->
    probabilistic fault; `seed` seeds error rates whose own seed is None in admin requests.
    """

    def __init__(
        self,
        *,
        valid_keys: Iterable[str] = (DEFAULT_API_KEY,),
        latency: Mapping[str, float] | None = None,
        error_rates: Mapping[str, ErrorRate] | None = None,
        variants: Variants | None = None,
        seed: int = 0,
        log_size: int = DEFAULT_LOG_SIZE,
    ) -> None:
        self.seed = seed
        self._baseline_keys = frozenset(valid_keys)
        self._baseline_latency = dict(latency or {})
        self._baseline_rates = dict(error_rates or {})
        self._baseline_variants = variants or Variants()
        for endpoint in (*self._baseline_latency, *self._baseline_rates):
            check_endpoint(endpoint)
        self._log: deque[RequestRecord] = deque(maxlen=log_size)
        self.valid_keys: frozenset[str] = self._baseline_keys
        self.variants: Variants = self._baseline_variants
        self._latency: dict[str, float] = {}
        self._queues: dict[str, deque[Fault]] = {}
        self._rates: dict[str, tuple[ErrorRate, random.Random]] = {}
        self._counts: Counter[str] = Counter()
        self._player_counts: Counter[tuple[str, str]] = Counter()
        self._achievement_overrides: dict[str, dict[str, int | None]] = {}
        self._stats_overrides: dict[str, dict[str, int | float]] = {}
        self._answer_overrides: dict[str, Answer] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the constructor's configuration; clear scripted faults, achievement and answer overrides,
        counters, log."""
        self.valid_keys = self._baseline_keys
        self.variants = self._baseline_variants
        self._latency = {}
        for endpoint, seconds in self._baseline_latency.items():
            self.set_latency(endpoint, seconds)
        self._rates = {}
        for endpoint, rate in self._baseline_rates.items():
            self.set_error_rate(endpoint, rate)
        self._queues = {endpoint: deque() for endpoint in ENDPOINTS}
        self._achievement_overrides = {}
        self._stats_overrides = {}
        self._answer_overrides = {}
        self._counts.clear()
        self._player_counts.clear()
        self._log.clear()

    # -- configuration ------------------------------------------------------------------------------------

    def set_latency(self, endpoint: str, seconds: float) -> None:
        """Sleep `seconds` before every answer of `endpoint` (0 removes the delay)."""
        check_endpoint(endpoint)
        if not seconds >= 0:
            raise ValueError(f"latency must be >= 0 seconds, got {seconds!r}")
        self._latency[endpoint] = float(seconds)

    def latency(self, endpoint: str) -> float:
        """Seconds slept before every answer of `endpoint`."""
        return self._latency.get(endpoint, 0.0)

    def set_valid_keys(self, keys: Iterable[str]) -> None:
        """Replace the accepted API keys (an empty set refuses every key)."""
        self.valid_keys = frozenset(keys)

    def set_variants(
        self,
        *,
        private_stats: StatsVariant | None = None,
        never_played_stats: StatsVariant | None = None,
        unknown_stats: StatsVariant | None = None,
    ) -> None:
        """Change how stats are refused; None keeps the current variant."""
        current = self.variants
        self.variants = Variants(
            private_stats=StatsVariant(private_stats or current.private_stats),
            never_played_stats=StatsVariant(never_played_stats or current.never_played_stats),
            unknown_stats=StatsVariant(unknown_stats or current.unknown_stats),
        )

    def script(self, endpoint: str, faults: Iterable[Fault | FaultKind], steam_id: str | None = None) -> None:
        """Queue `faults`, in order, for the next matching requests to `endpoint`; then answers are normal.

        `steam_id` restricts each fault that does not name a player itself to requests about that player.
        A request takes the first queued fault that matches it, so faults for different players are
        consumed independently while each player's faults keep their order.
        """
        queue = self._queues[check_endpoint(endpoint)]
        for item in faults:
            fault = item if isinstance(item, Fault) else Fault(item)
            if steam_id is not None and fault.steam_id is None:
                fault = Fault(fault.kind, fault.retry_after, fault.stall_seconds, steam_id)
            queue.append(fault)

    def unscript(self, endpoint: str) -> None:
        """Drop the faults still queued for `endpoint`: its next requests are answered normally."""
        self._queues[check_endpoint(endpoint)].clear()

    def pending(self, endpoint: str) -> tuple[Fault, ...]:
        """Scripted faults not yet consumed for `endpoint`, in order."""
        return tuple(self._queues[check_endpoint(endpoint)])

    def override_achievements(self, steam_id: str, overrides: Mapping[str, int | None]) -> None:
        """Change what GetPlayerAchievements answers for `steam_id` until `reset()` (an empty map clears it).

        `overrides` maps api name -> unlock time in epoch seconds (0: locked), or None to leave that achievement
        out of the answer, as a Steam answer that lost it would. Names the schema lacks are ignored; players
        whose achievements Steam refuses are unaffected; GetUserStatsForGame is not changed.
        """
        checked: dict[str, int | None] = {}
        for api_name, unlock_time in overrides.items():
            if not api_name:
                raise ValueError("achievement override names must be non-empty")
            if unlock_time is not None and (
                isinstance(unlock_time, bool) or not isinstance(unlock_time, int) or unlock_time < 0
            ):
                raise ValueError(f"unlock time of {api_name} must be epoch seconds >= 0 or None, got {unlock_time!r}")
            checked[api_name] = unlock_time
        if checked:
            self._achievement_overrides[steam_id] = checked
        else:
            self._achievement_overrides.pop(steam_id, None)

    def override_stats(self, steam_id: str, overrides: Mapping[str, int | float]) -> None:
        """Change what GetUserStatsForGame answers for `steam_id` until `reset()` (an empty map clears it): each
        stat id gets the value given (a stat the player lacks is added), the others keep theirs; a player whose
        stats Steam refuses is unaffected. Lets a test play a match between two polls."""
        checked: dict[str, int | float] = {}
        for name, value in overrides.items():
            if not name:
                raise ValueError("stat override names must be non-empty")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"value of {name} must be a number, got {value!r}")
            checked[name] = value
        if checked:
            self._stats_overrides.setdefault(steam_id, {}).update(checked)
        else:
            self._stats_overrides.pop(steam_id, None)

    def stats_overrides(self, steam_id: str) -> Mapping[str, int | float]:
        """The stat overrides in force for `steam_id` (empty when none)."""
        return self._stats_overrides.get(steam_id, {})

    def achievement_overrides(self, steam_id: str) -> Mapping[str, int | None]:
        """The overrides in force for `steam_id` (empty when none)."""
        return self._achievement_overrides.get(steam_id, {})

    def override_answer(self, endpoint: str, answer: Answer | None) -> None:
        """Answer every request to `endpoint` with exactly `answer` until `reset()` (None removes it).

        A test hook for hostile upstream bodies: `answer`'s status, content type, body bytes and headers are sent
        as given, for every player, instead of Steam's answer (the key is not checked). Requests are still
        counted, delayed by the latency and subject to scripted and random faults first; `truncated_json` still
        cuts the real answer, not this one.
        """
        check_endpoint(endpoint)
        if answer is None:
            self._answer_overrides.pop(endpoint, None)
        else:
            self._answer_overrides[endpoint] = answer

    def answer_override(self, endpoint: str) -> Answer | None:
        """The answer `override_answer` put in force for `endpoint`, or None."""
        return self._answer_overrides.get(endpoint)

    def set_error_rate(self, endpoint: str, rate: ErrorRate | None) -> None:
        """Answer `endpoint` with `rate.fault` with probability `rate.probability` (None or 0 removes it).

        The RNG is re-seeded with `rate.seed` on every call and on `reset()`, so a run is reproducible.
        """
        check_endpoint(endpoint)
        if rate is None or rate.probability == 0:
            self._rates.pop(endpoint, None)
            return
        self._rates[endpoint] = (rate, random.Random(rate.seed))

    def error_rate(self, endpoint: str) -> ErrorRate | None:
        """The probabilistic fault configured for `endpoint`, if any."""
        entry = self._rates.get(check_endpoint(endpoint))
        return entry[0] if entry else None

    # -- per request --------------------------------------------------------------------------------------

    def record_request(self, endpoint: str, steam_ids: tuple[str, ...]) -> None:
        """Count one request to `endpoint` about `steam_ids` (each distinct id counted once)."""
        self._counts[endpoint] += 1
        for steam_id in dict.fromkeys(steam_ids):
            self._player_counts[endpoint, steam_id] += 1

    def next_fault(self, endpoint: str, steam_ids: tuple[str, ...]) -> Fault | None:
        """The fault for this request: the first matching scripted one (consumed), else a random draw.

        A draw happens for every request that has no scripted fault, so the sequence stays reproducible.
        """
        queue = self._queues[endpoint]
        for index, fault in enumerate(queue):
            if fault.matches(steam_ids):
                del queue[index]
                return fault
        entry = self._rates.get(endpoint)
        if entry is not None:
            rate, rng = entry
            if rng.random() < rate.probability:
                return rate.fault
        return None

    def log_answer(self, endpoint: str, steam_id: str | None, status: int) -> None:
        """Append one record to the bounded request log (oldest records are dropped first)."""
        self._log.append(RequestRecord(time.monotonic(), endpoint, steam_id, status))

    # -- reading ------------------------------------------------------------------------------------------

    def count(self, endpoint: str | None = None, steam_id: str | None = None) -> int:
        """Requests counted for `endpoint` (None: all endpoints), optionally only those about `steam_id`."""
        endpoints = ENDPOINTS if endpoint is None else (check_endpoint(endpoint),)
        if steam_id is None:
            return sum(self._counts[name] for name in endpoints)
        return sum(self._player_counts[name, steam_id] for name in endpoints)

    def counts(self, steam_id: str | None = None) -> dict[str, int]:
        """Per-endpoint counts plus "total" (optionally only about `steam_id`)."""
        result = {endpoint: self.count(endpoint, steam_id) for endpoint in ENDPOINTS}
        result["total"] = sum(result.values())
        return result

    def requests(self) -> tuple[RequestRecord, ...]:
        """The request log, oldest first."""
        return tuple(self._log)


__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_LOG_SIZE",
    "ENDPOINTS",
    "RequestRecord",
    "SimState",
    "StatsVariant",
    "Variants",
    "check_endpoint",
]
