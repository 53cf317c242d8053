"""Resilience policies as frozen values built from `ResilienceSettings`, and the error classification they use.

Per retry class, a multiplier and a retry limit (the issue's table; `bad_response` is our choice). Which class an
error belongs to is its kind's `retry` cell in `dbd_playerstats.errors.ErrorKind`; `classify` reads it::

    class          kind (raised as)                                       multiplier  retries
    rate_limited   UPSTREAM_RATE_LIMITED (SteamRateLimitedError, 429)     x2.0        3
    timeout        UPSTREAM_TIMEOUT (SteamTimeoutError)                   x1.5        2
    network        UPSTREAM_UNREACHABLE (SteamTransportError: refused...) x1.2        4
    server         UPSTREAM_UNAVAILABLE (SteamServerError: 5xx, HTML)     x1.0        MAX_RETRIES
    bad_response   UPSTREAM_BAD_RESPONSE (200 with garbage)               x1.0        MAX_RETRIES  (like a server
                                                                                       error: a broken answer is
                                                                                       Steam failing, and rare)
    other          every other kind: the player's errors, a refused key, other 4xx, our own limits, bugs
                                                                                       never retried

Wait before retry number n (n = 1 for the first retry of a logical call, counting retries of every class)::

    wait_n = uniform(0, min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * multiplier ** (n - 1))) / 1000   seconds

("full jitter"; `multiplier` is the class of the error that caused this retry). A 429 that carries Retry-After
(seconds or an HTTP date) waits exactly that many seconds instead: no jitter, no cap. The limits are counted per
class, so one logical call makes at most 1 + sum(limits) attempts; the deadline usually stops it long before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dbd_playerstats.config.settings import ResilienceSettings
from dbd_playerstats.errors import kind_of
from dbd_playerstats.steam.errors import SteamRateLimitedError
from dbd_playerstats.upstream.events import ErrorClass

RATE_LIMITED_MULTIPLIER: Final = 2.0
RATE_LIMITED_RETRIES: Final = 3
TIMEOUT_MULTIPLIER: Final = 1.5
TIMEOUT_RETRIES: Final = 2
NETWORK_MULTIPLIER: Final = 1.2
NETWORK_RETRIES: Final = 4
SERVER_MULTIPLIER: Final = 1.0


def classify(exc: BaseException) -> ErrorClass:
    """The retry class of an exception (its kind's `retry` cell); "other" is never retried."""
    return kind_of(exc).retry


def steam_retry_after(exc: BaseException) -> float | None:
    """Seconds Steam asked us to wait (a 429's Retry-After), None when it did not say."""
    if isinstance(exc, SteamRateLimitedError):
        return exc.retry_after
    return None


@dataclass(frozen=True, slots=True)
class ClassPolicy:
    """How one error class is retried: backoff growth factor and how many retries it may cause."""

    multiplier: float
    max_retries: int


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, per error class (see the module docstring for the formula)."""

    base_backoff_secs: float
    max_backoff_secs: float
    rate_limited: ClassPolicy
    timeout: ClassPolicy
    network: ClassPolicy
    server: ClassPolicy
    bad_response: ClassPolicy

    @classmethod
    def from_settings(cls, settings: ResilienceSettings) -> RetryPolicy:
        server = ClassPolicy(SERVER_MULTIPLIER, settings.max_retries)
        return cls(
            base_backoff_secs=settings.base_backoff_ms / 1000.0,
            max_backoff_secs=settings.max_backoff_ms / 1000.0,
            rate_limited=ClassPolicy(RATE_LIMITED_MULTIPLIER, RATE_LIMITED_RETRIES),
            timeout=ClassPolicy(TIMEOUT_MULTIPLIER, TIMEOUT_RETRIES),
            network=ClassPolicy(NETWORK_MULTIPLIER, NETWORK_RETRIES),
            server=server,
            bad_response=server,
        )

    def for_class(self, error_class: ErrorClass) -> ClassPolicy | None:
        """The policy of a retryable class; None for "other" (never retried)."""
        if error_class == "other":
            return None
        policy: ClassPolicy = getattr(self, error_class)
        return policy

    def backoff_cap(self, retry: int, error_class: ErrorClass) -> float:
        """Upper bound of the jittered wait before retry number `retry` (>= 1), in seconds."""
        policy = self.for_class(error_class)
        if policy is None:
            raise ValueError(f"{error_class!r} errors are never retried")
        if self.base_backoff_secs <= 0:
            return 0.0
        # The cap is reached long before 64 retries; bounding the exponent keeps the power finite.
        grown = self.base_backoff_secs * policy.multiplier ** min(retry - 1, 64)
        return min(self.max_backoff_secs, grown)

    @property
    def max_attempts(self) -> int:
        """The most attempts one logical call can make: the first one plus every class's retries."""
        return 1 + sum(
            p.max_retries for p in (self.rate_limited, self.timeout, self.network, self.server, self.bad_response)
        )


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """One circuit breaker per Steam endpoint.

    `max_fails` consecutive failures open it for `reset_timeout_secs`; then at most `half_open_requests` trial
    calls are admitted and it closes when that many have succeeded. `trial_timeout_secs` (API_TIMEOUT_SECS) bounds
    one trial, so it is the retry hint given to calls turned away while the trials are in flight.
    """

    max_fails: int
    reset_timeout_secs: float
    half_open_requests: int
    trial_timeout_secs: float

    @classmethod
    def from_settings(cls, settings: ResilienceSettings) -> BreakerPolicy:
        return cls(
            max_fails=settings.cb_max_fails,
            reset_timeout_secs=settings.cb_reset_timeout_secs,
            half_open_requests=settings.cb_half_open_requests,
            trial_timeout_secs=settings.api_timeout_secs,
        )


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """The Steam key's budget shared by every call: `per_min` tokens a minute (> 0), `burst` at once (>= 1)."""

    per_min: float
    burst: int

    @classmethod
    def from_settings(cls, settings: ResilienceSettings) -> RateLimitPolicy:
        return cls(per_min=settings.rate_limit_per_min, burst=settings.burst_limit)

    def share(self, replicas: int) -> RateLimitPolicy:
        """One replica's share of the budget when `replicas` split it without coordination.

        ``per_min / replicas`` tokens a minute and ``max(1, burst // replicas)`` at once, so `replicas` shares
        together never exceed the whole (except that each keeps a burst of at least 1 when burst < replicas).
        """
        if replicas < 1:
            raise ValueError(f"replicas must be >= 1, not {replicas}")
        return RateLimitPolicy(per_min=self.per_min / replicas, burst=max(1, self.burst // replicas))

    @property
    def interval_secs(self) -> float:
        """Seconds between two tokens at the sustained rate (the GCRA emission interval)."""
        return 60.0 / self.per_min


@dataclass(frozen=True, slots=True)
class ResiliencePolicy:
    """Everything the resilient upstream is configured with."""

    retry: RetryPolicy
    breaker: BreakerPolicy
    rate_limit: RateLimitPolicy
    api_timeout_secs: float
    key_rejected_pause_secs: float = 30.0

    @classmethod
    def from_settings(cls, settings: ResilienceSettings) -> ResiliencePolicy:
        return cls(
            retry=RetryPolicy.from_settings(settings),
            breaker=BreakerPolicy.from_settings(settings),
            rate_limit=RateLimitPolicy.from_settings(settings),
            api_timeout_secs=settings.api_timeout_secs,
            key_rejected_pause_secs=settings.key_rejected_pause_secs,
        )


__all__ = [
    "BreakerPolicy",
    "ClassPolicy",
    "RateLimitPolicy",
    "ResiliencePolicy",
    "RetryPolicy",
    "classify",
    "steam_retry_after",
]
