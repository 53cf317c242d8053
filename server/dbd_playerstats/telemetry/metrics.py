"""The service's OpenTelemetry instruments, created once per `Telemetry`, with one method per thing measured.

Names and attributes are stable (dashboards depend on them) and low in cardinality: no player ids, no URLs.
Durations are histograms in seconds. Prometheus sees dots as underscores, counters with ``_total`` and seconds
histograms with ``_seconds`` (e.g. ``playerstats_steam_attempts_total``, ``rpc_server_call_duration_seconds``).

============================================  =========  ==================================================
instrument                                  kind       attributes
============================================  =========  ==================================================
``rpc.server.call.duration``                histogram  rpc.system, rpc.service, rpc.method, rpc.grpc.status_code
``playerstats.rpc.first_message.duration``  histogram  rpc.system, rpc.service, rpc.method (streams: stats)
``playerstats.rpc.errors``                  counter    those of rpc.server.call.duration, and error.reason
``playerstats.steam.call.duration``         histogram  steam.endpoint, steam.outcome (one logical call)
``playerstats.steam.attempts``              counter    steam.endpoint, steam.outcome (one HTTP attempt)
``playerstats.steam.retries``               counter    steam.endpoint, error.class
``playerstats.breaker.state``               gauge      breaker (0 closed, 1 half-open, 2 open)
``playerstats.breaker.transitions``         counter    breaker, breaker.state (the new state)
``playerstats.breaker.rejections``          counter    breaker
``playerstats.ratelimit.wait.duration``     histogram  steam.endpoint
``playerstats.ratelimit.rejections``        counter    steam.endpoint
``playerstats.ratelimit.slowdowns``         counter    steam.endpoint
``playerstats.ratelimit.tokens``            gauge      (none): tokens left in the shared Steam budget
``playerstats.shared_state.degraded``       gauge      (none): 1 while Redis is unreachable (in-process fall-back)
``playerstats.cache.lookups``               counter    cache, cache.result (hit / miss)
``playerstats.coalesced.waits``             counter    steam.endpoint
``playerstats.merge.decisions``             counter    merge.decision, merge.reason
``playerstats.store.errors``                counter    store.operation (failed; the call was served without it)
============================================  =========  ==================================================

`rpc.system` is ``grpc`` on the gRPC port and ``connect_rpc`` on the HTTP face (`api.connect_http`); there
`rpc.grpc.status_code` still holds the numeric gRPC code, so one panel covers both. `error.reason` is the ErrorInfo
reason (``PROFILE_PRIVATE``, ...), or the code's name when the call ended without one (``CANCELLED``, ...).
The aiohttp instrumentation adds ``http.client.request.duration`` per HTTP attempt.
`steam.outcome` is ``ok``, ``cancelled`` or the error's ErrorInfo reason (``UPSTREAM_UNAVAILABLE``, ...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Final

from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

from dbd_playerstats.upstream.events import BreakerState

METER_NAME: Final = "dbd_playerstats"
SECONDS_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BREAKER_STATE_VALUES: Final[dict[BreakerState, int]] = {"closed": 0, "half_open": 1, "open": 2}


class Metrics:
    """Every instrument of the service; each method records one measurement (never raises on bad labels)."""

    def __init__(self, meter_provider: MeterProvider) -> None:
        meter = meter_provider.get_meter(METER_NAME)
        self._tokens_source: Callable[[], float | None] | None = None
        self._last_tokens: float | None = None
        self._create_rpc_instruments(meter)
        self._create_steam_instruments(meter)
        self._create_state_instruments(meter)

    def _create_rpc_instruments(self, meter: Meter) -> None:
        self._rpc_duration = meter.create_histogram(
            "rpc.server.call.duration",
            unit="s",
            description="Duration of gRPC calls handled by the server, by method and status code.",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )
        self._rpc_first_message = meter.create_histogram(
            "playerstats.rpc.first_message.duration",
            unit="s",
            description="Time from the start of a streaming call to its first message (the stats), by method.",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )
        self._rpc_errors = meter.create_counter(
            "playerstats.rpc.errors", unit="{call}", description="Calls that ended with an error, by ErrorInfo reason."
        )

    def _create_steam_instruments(self, meter: Meter) -> None:
        self._steam_call_duration = meter.create_histogram(
            "playerstats.steam.call.duration",
            unit="s",
            description="Duration of logical Steam calls (all attempts and waits), by endpoint and outcome.",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )
        self._steam_attempts = meter.create_counter(
            "playerstats.steam.attempts", unit="{attempt}", description="HTTP attempts to Steam, by outcome."
        )
        self._steam_retries = meter.create_counter(
            "playerstats.steam.retries", unit="{retry}", description="Retries scheduled, by error class."
        )
        self._breaker_state = meter.create_gauge(
            "playerstats.breaker.state", unit="1", description="Circuit breaker state: 0 closed, 1 half-open, 2 open."
        )
        self._breaker_transitions = meter.create_counter(
            "playerstats.breaker.transitions", unit="{transition}", description="Breaker state changes."
        )
        self._breaker_rejections = meter.create_counter(
            "playerstats.breaker.rejections", unit="{call}", description="Calls failed fast by an open breaker."
        )
        self._ratelimit_wait = meter.create_histogram(
            "playerstats.ratelimit.wait.duration",
            unit="s",
            description="Time calls waited for a token of the shared Steam budget.",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )
        self._ratelimit_rejections = meter.create_counter(
            "playerstats.ratelimit.rejections", unit="{call}", description="Calls refused: no token in time."
        )
        self._ratelimit_slowdowns = meter.create_counter(
            "playerstats.ratelimit.slowdowns", unit="{event}", description="Budget pauses after a Steam 429."
        )
        meter.create_observable_gauge(
            "playerstats.ratelimit.tokens",
            callbacks=[self._observe_tokens],
            unit="{token}",
            description="Tokens left in the shared Steam budget (absent until the first Steam call).",
        )

    def _create_state_instruments(self, meter: Meter) -> None:
        self._shared_state_degraded = meter.create_gauge(
            "playerstats.shared_state.degraded",
            unit="1",
            description="1 while REDIS_URL is unreachable and this replica uses in-process breakers and its budget "
            "share, 0 while breakers and budget are shared in Redis (absent without REDIS_URL).",
        )
        # Counted in a dict and read at each collection (an observable counter): a cache hit makes five lookups,
        # and an instrument's add() per lookup was a tenth of a cache hit's cost (issue 12).
        self._lookups: Counter[tuple[str, str]] = Counter()
        self._hit_groups: Counter[tuple[str, ...]] = Counter()  # requests served whole from kept answers
        meter.create_observable_counter(
            "playerstats.cache.lookups",
            callbacks=[self._observe_lookups],
            unit="{lookup}",
            description="Cache lookups, by cache and hit or miss.",
        )
        self._coalesced_waits = meter.create_counter(
            "playerstats.coalesced.waits", unit="{call}", description="Calls that waited for an identical call."
        )
        self._merge_decisions = meter.create_counter(
            "playerstats.merge.decisions", unit="{decision}", description="Achievement snapshot merge decisions."
        )
        self._store_errors = meter.create_counter(
            "playerstats.store.errors", unit="{error}", description="Store calls that failed (served around)."
        )

    def rpc_finished(
        self, service: str, method: str, code: int, duration_secs: float, *, system: str = "grpc", reason: str = ""
    ) -> None:
        """One RPC ended with gRPC status `code` after `duration_secs`; a failed one (`reason`) is counted too."""
        attributes: dict[str, str | int] = {
            "rpc.system": system,
            "rpc.service": service,
            "rpc.method": method,
            "rpc.grpc.status_code": code,
        }
        self._rpc_duration.record(duration_secs, attributes)
        if code != 0:
            self._rpc_errors.add(1, {**attributes, "error.reason": reason})

    def rpc_first_message(self, service: str, method: str, secs: float, *, system: str = "grpc") -> None:
        """A streaming RPC yielded its first message `secs` after it started."""
        self._rpc_first_message.record(secs, {"rpc.system": system, "rpc.service": service, "rpc.method": method})

    def steam_call_finished(self, endpoint: str, outcome: str, duration_secs: float) -> None:
        """One logical Steam call ended (all its attempts and waits included)."""
        self._steam_call_duration.record(duration_secs, {"steam.endpoint": endpoint, "steam.outcome": outcome})

    def steam_attempt(self, endpoint: str, outcome: str) -> None:
        """One HTTP attempt to Steam ended with `outcome`."""
        self._steam_attempts.add(1, {"steam.endpoint": endpoint, "steam.outcome": outcome})

    def steam_retry(self, endpoint: str, error_class: str) -> None:
        """A retry was scheduled after an error of `error_class`."""
        self._steam_retries.add(1, {"steam.endpoint": endpoint, "error.class": error_class})

    def breaker_transition(self, breaker: str, new: BreakerState) -> None:
        """The breaker moved to `new`: the gauge takes its value and the transition is counted."""
        self._breaker_state.set(BREAKER_STATE_VALUES.get(new, -1), {"breaker": breaker})
        self._breaker_transitions.add(1, {"breaker": breaker, "breaker.state": new})

    def breaker_rejection(self, breaker: str) -> None:
        """A call failed fast on an open breaker."""
        self._breaker_rejections.add(1, {"breaker": breaker})

    def ratelimit_wait(self, endpoint: str, waited_secs: float) -> None:
        """A call waited `waited_secs` for a token."""
        self._ratelimit_wait.record(waited_secs, {"steam.endpoint": endpoint})

    def ratelimit_rejection(self, endpoint: str) -> None:
        """A call was refused a token within its deadline."""
        self._ratelimit_rejections.add(1, {"steam.endpoint": endpoint})

    def ratelimit_slowdown(self, endpoint: str) -> None:
        """Steam's 429 paused the shared budget."""
        self._ratelimit_slowdowns.add(1, {"steam.endpoint": endpoint})

    def ratelimit_tokens(self, tokens: float) -> None:
        """The shared budget now holds `tokens` tokens (used while no `observe_budget` source is set)."""
        self._last_tokens = tokens

    def observe_budget(self, source: Callable[[], float | None]) -> None:
        """Read the budget gauge from `source` at each collection (None: nothing known yet)."""
        self._tokens_source = source

    def _observe_tokens(self, _options: CallbackOptions) -> Iterable[Observation]:
        tokens = self._tokens_source() if self._tokens_source is not None else self._last_tokens
        return [] if tokens is None else [Observation(tokens)]

    def shared_state_degraded(self, degraded: bool) -> None:
        """Breakers and budget switched to in-process (`degraded`) or back to Redis."""
        self._shared_state_degraded.set(1 if degraded else 0)

    def cache_lookup(self, cache: str, *, hit: bool) -> None:
        """A lookup in `cache` (e.g. ``stats``, ``schema``) hit or missed."""
        self._lookups[(cache, "hit" if hit else "miss")] += 1

    def cache_hits(self, caches: tuple[str, ...]) -> None:
        """One hit in each of `caches` (one count for the group: expanded when the metric is collected)."""
        self._hit_groups[caches] += 1

    def _observe_lookups(self, _options: CallbackOptions) -> Iterable[Observation]:
        # Copies taken in one C call each: the event loop may add a key while the reader's thread collects.
        counts: Counter[tuple[str, str]] = Counter(dict(list(self._lookups.items())))
        for caches, n in list(self._hit_groups.items()):
            for cache in caches:
                counts[(cache, "hit")] += n
        return [Observation(n, {"cache": cache, "cache.result": result}) for (cache, result), n in counts.items()]

    def coalesced_wait(self, endpoint: str) -> None:
        """A call waited for an identical call in flight instead of calling Steam itself."""
        self._coalesced_waits.add(1, {"steam.endpoint": endpoint})

    def merge_decision(self, decision: str, reason: str = "") -> None:
        """A stored-vs-new achievements merge decided `decision` (e.g. ``accepted``, ``rejected``) for `reason`."""
        self._merge_decisions.add(1, {"merge.decision": decision, "merge.reason": reason})

    def store_error(self, operation: str) -> None:
        """A store call (``merge``, ``save_stats``, ``read``) failed; the request was served without it."""
        self._store_errors.add(1, {"store.operation": operation})


__all__ = ["BREAKER_STATE_VALUES", "METER_NAME", "SECONDS_BUCKETS", "Metrics"]
