"""The service's own errors and the one table that turns any error into a gRPC status.

Caller-facing errors (the player's fault, or a limit of ours)::

    ServiceError                    message, steam_id, retry_after (seconds or None)
    ├── InvalidPlayerError          the `player` field is not a SteamID64, vanity name or profile URL
    ├── PlayerNotFoundError         no such vanity name or SteamID64
    ├── NoGameStatsError            the account exists, is public, and has no Dead by Daylight stats
    ├── ProfilePrivateError         the profile or its game details are private
    ├── CircuitOpenError            Steam is failing; we stopped calling it for a while (retry_after set)
    ├── RateLimitExceededError      no Steam budget left within the call's deadline (retry_after set)
    ├── CallerQuotaExceededError    this caller spent its own quota (caller, retry_after set)
    └── DeadlineExceededError       the caller's deadline or OVERALL_TIMEOUT_SECS left no time for Steam

Upstream failures stay `dbd_playerstats.steam.errors.SteamError` subclasses until this table maps them. Lookup
walks the exception's MRO, so a subclass without its own row inherits its parent's; `status_for` returns
INTERNAL for anything unmapped, and a test asserts that every public error class has a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from dbd_playerstats.steam.errors import (
    SteamBadResponseError,
    SteamClientError,
    SteamError,
    SteamKeyRejectedError,
    SteamNoStatsError,
    SteamNotFoundError,
    SteamProfilePrivateError,
    SteamRateLimitedError,
    SteamServerError,
    SteamTimeoutError,
    SteamTransportError,
)

ERROR_DOMAIN = "playerstats.dbd"


class ServiceError(Exception):
    """Base of the errors this service raises for callers; `str()` is safe to send to the caller."""

    def __init__(self, message: str, *, steam_id: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.steam_id = steam_id
        self.retry_after = retry_after


class InvalidPlayerError(ServiceError):
    """The `player` field cannot name a Steam account."""


class PlayerNotFoundError(ServiceError):
    """No Steam account answers to this name or id."""


class NoGameStatsError(ServiceError):
    """The account is public but has no Dead by Daylight stats (never played)."""


class ProfilePrivateError(ServiceError):
    """The player's profile or game details are private: only the player can change that."""


class CircuitOpenError(ServiceError):
    """Steam failed repeatedly; calls fail fast until the breaker half-opens in `retry_after` seconds."""


class RateLimitExceededError(ServiceError):
    """The shared Steam budget has no token for this call within its deadline."""


class CallerQuotaExceededError(ServiceError):
    """This caller has no token left in its own bucket; the next one comes in `retry_after` seconds.

    `caller` is the identity the quota is kept under (`cert:<subject>`, `id:<x-caller-id>` or `peer:<host>`).
    """

    def __init__(self, message: str, *, caller: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.caller = caller


class DeadlineExceededError(ServiceError):
    """The time left (caller's deadline or OVERALL_TIMEOUT_SECS) cannot cover another Steam attempt."""


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """How one error class is reported: gRPC code, ErrorInfo reason, and whether the caller is at fault."""

    code: grpc.StatusCode
    reason: str


# The one exception -> status table (the README's error table mirrors it; tests check both).
STATUS_TABLE: dict[type[BaseException], StatusEntry] = {
    InvalidPlayerError: StatusEntry(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PLAYER"),
    PlayerNotFoundError: StatusEntry(grpc.StatusCode.NOT_FOUND, "PLAYER_NOT_FOUND"),
    NoGameStatsError: StatusEntry(grpc.StatusCode.NOT_FOUND, "NO_GAME_STATS"),
    ProfilePrivateError: StatusEntry(grpc.StatusCode.FAILED_PRECONDITION, "PROFILE_PRIVATE"),
    CircuitOpenError: StatusEntry(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CIRCUIT_OPEN"),
    RateLimitExceededError: StatusEntry(grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"),
    CallerQuotaExceededError: StatusEntry(grpc.StatusCode.RESOURCE_EXHAUSTED, "CALLER_QUOTA_EXCEEDED"),
    DeadlineExceededError: StatusEntry(grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
    # Steam's answers that are about the player (normally converted to the rows above by fetch.py).
    SteamProfilePrivateError: StatusEntry(grpc.StatusCode.FAILED_PRECONDITION, "PROFILE_PRIVATE"),
    SteamNotFoundError: StatusEntry(grpc.StatusCode.NOT_FOUND, "PLAYER_NOT_FOUND"),
    SteamNoStatsError: StatusEntry(grpc.StatusCode.NOT_FOUND, "NO_GAME_STATS"),
    # Steam failing: the caller may retry later.
    SteamError: StatusEntry(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
    SteamServerError: StatusEntry(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
    SteamTransportError: StatusEntry(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNREACHABLE"),
    SteamTimeoutError: StatusEntry(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_TIMEOUT"),
    SteamRateLimitedError: StatusEntry(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_RATE_LIMITED"),
    SteamBadResponseError: StatusEntry(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_BAD_RESPONSE"),
    # Our side is misconfigured: not the caller's fault, and retrying will not help until an operator acts.
    SteamKeyRejectedError: StatusEntry(grpc.StatusCode.INTERNAL, "STEAM_KEY_REJECTED"),
    SteamClientError: StatusEntry(grpc.StatusCode.INTERNAL, "UPSTREAM_REJECTED_REQUEST"),
}

INTERNAL_ENTRY = StatusEntry(grpc.StatusCode.INTERNAL, "INTERNAL")


def status_for(exc: BaseException) -> StatusEntry:
    """The table row for `exc`, by its most specific mapped class; INTERNAL when none is."""
    for cls in type(exc).__mro__:
        entry = STATUS_TABLE.get(cls)
        if entry is not None:
            return entry
    return INTERNAL_ENTRY


def public_message(exc: BaseException) -> str:
    """The text a caller may see: ours verbatim, Steam's summarised, anything else hidden."""
    if isinstance(exc, ServiceError):
        return exc.message
    if isinstance(exc, SteamKeyRejectedError):
        return "the service's Steam Web API key was refused by Steam; the operator must fix the key"
    if isinstance(exc, SteamError):
        return f"Steam Web API {exc.endpoint} call failed: {exc.message}"
    return "internal error"


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds the caller should wait before asking again, when we know."""
    if isinstance(exc, ServiceError | SteamError):
        return exc.retry_after
    return None


__all__ = [
    "ERROR_DOMAIN",
    "STATUS_TABLE",
    "CallerQuotaExceededError",
    "CircuitOpenError",
    "DeadlineExceededError",
    "InvalidPlayerError",
    "NoGameStatsError",
    "PlayerNotFoundError",
    "ProfilePrivateError",
    "RateLimitExceededError",
    "ServiceError",
    "StatusEntry",
    "public_message",
    "retry_after_of",
    "status_for",
]
