"""Policies built from settings: the per-class retry table, the backoff formula, the replica share."""

from __future__ import annotations

import pytest

from dbd_playerstats.config.settings import ResilienceSettings
from dbd_playerstats.errors import CircuitOpenError, ProfilePrivateError, RateLimitExceededError
from dbd_playerstats.steam.errors import (
    SteamBadResponseError,
    SteamClientError,
    SteamKeyRejectedError,
    SteamNoStatsError,
    SteamNotFoundError,
    SteamProfilePrivateError,
    SteamRateLimitedError,
    SteamServerError,
    SteamTimeoutError,
    SteamTransportError,
)
from dbd_playerstats.upstream.policy import ClassPolicy, RateLimitPolicy, ResiliencePolicy, RetryPolicy, classify


def steam(cls: type[Exception]) -> Exception:
    return cls("x", endpoint="stats")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (steam(SteamRateLimitedError), "rate_limited"),
        (steam(SteamTimeoutError), "timeout"),
        (steam(SteamTransportError), "network"),
        (steam(SteamServerError), "server"),
        (steam(SteamBadResponseError), "bad_response"),
        (steam(SteamKeyRejectedError), "other"),
        (steam(SteamClientError), "other"),
        (steam(SteamNotFoundError), "other"),
        (steam(SteamNoStatsError), "other"),
        (steam(SteamProfilePrivateError), "other"),
        (ProfilePrivateError("x"), "other"),
        (CircuitOpenError("x"), "other"),
        (RateLimitExceededError("x"), "other"),
        (ValueError("bug"), "other"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_every_error_has_its_retry_class(exc: Exception, expected: str) -> None:
    """Steam's failures map to their class; the player's errors, 4xx, our own limits and bugs are "other"."""
    assert classify(exc) == expected


def test_class_table_matches_the_issue() -> None:
    """Multipliers and limits: 429 x2.0 (3), timeout x1.5 (2), network x1.2 (4), server and bad answer x1.0 (MAX)."""
    policy = RetryPolicy.from_settings(ResilienceSettings(max_retries=7))
    assert policy.rate_limited == ClassPolicy(2.0, 3)
    assert policy.timeout == ClassPolicy(1.5, 2)
    assert policy.network == ClassPolicy(1.2, 4)
    assert policy.server == ClassPolicy(1.0, 7)
    assert policy.bad_response == ClassPolicy(1.0, 7)
    assert policy.for_class("other") is None
    assert policy.max_attempts == 1 + 3 + 2 + 4 + 7 + 7


def test_backoff_cap_is_exponential_per_class_and_capped() -> None:
    """Cap before retry n = min(MAX_BACKOFF, BASE * multiplier^(n-1)), in seconds."""
    policy = RetryPolicy.from_settings(ResilienceSettings(base_backoff_ms=250, max_backoff_ms=8000))
    assert [policy.backoff_cap(n, "rate_limited") for n in range(1, 8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert [policy.backoff_cap(n, "timeout") for n in (1, 2, 3)] == pytest.approx([0.25, 0.375, 0.5625])
    assert [policy.backoff_cap(n, "network") for n in (1, 2, 3)] == pytest.approx([0.25, 0.3, 0.36])
    assert [policy.backoff_cap(n, "server") for n in (1, 5, 50)] == [0.25, 0.25, 0.25]
    assert policy.backoff_cap(10_000, "rate_limited") == 8.0
    with pytest.raises(ValueError, match="never retried"):
        policy.backoff_cap(1, "other")


def test_zero_base_backoff_means_immediate_retries() -> None:
    """BASE_BACKOFF_MS=0 caps every jittered wait at zero."""
    policy = RetryPolicy.from_settings(ResilienceSettings(base_backoff_ms=0, max_backoff_ms=0))
    assert policy.backoff_cap(3, "rate_limited") == 0.0


def test_policy_values_come_from_settings() -> None:
    """Breaker, budget and timeouts are read from the settings with their units converted."""
    settings = ResilienceSettings(
        cb_max_fails=4, cb_reset_timeout_secs=9, cb_half_open_requests=2, api_timeout_secs=3, rate_limit_per_min=120
    )
    policy = ResiliencePolicy.from_settings(settings)
    assert (policy.breaker.max_fails, policy.breaker.reset_timeout_secs) == (4, 9)
    assert (policy.breaker.half_open_requests, policy.breaker.trial_timeout_secs) == (2, 3)
    assert policy.api_timeout_secs == 3
    assert policy.rate_limit == RateLimitPolicy(per_min=120, burst=10)
    assert policy.rate_limit.interval_secs == 0.5


@pytest.mark.parametrize(
    ("replicas", "per_min", "burst"), [(1, 100.0, 10), (3, 100 / 3, 3), (4, 25.0, 2), (20, 5.0, 1)]
)
def test_a_replica_share_of_the_budget_never_adds_up_to_more(replicas: int, per_min: float, burst: int) -> None:
    """100/min burst 10 split N ways: 100/N a minute and floor(10/N) at once (at least 1) per replica."""
    share = RateLimitPolicy(per_min=100, burst=10).share(replicas)
    assert share.per_min == pytest.approx(per_min)
    assert share.burst == burst
