"""The service's own errors, and `ErrorKind`: the one table of every way a request can fail.

Caller-facing errors (the player's fault, or a limit of ours)::

    ServiceError                    message, steam_id, retry_after (seconds or None)
    ├── InvalidPlayerError          the `player` field is not a SteamID64, vanity name or profile URL
    ├── InvalidRequestError         another field is out of range (a negative max_age, a lobby of 0 or 11+)
    ├── PlayerNotFoundError         no such vanity name or SteamID64
    ├── NoGameStatsError            the account exists, is public, and has no Dead by Daylight stats
    ├── ProfilePrivateError         the profile or its game details are private
    ├── CircuitOpenError            Steam is failing; we stopped calling it for a while (retry_after, cause,
    │                               opened_at set)
    ├── RateLimitExceededError      no Steam budget left within the call's deadline (retry_after set)
    ├── CallerQuotaExceededError    this caller spent its own quota (caller, retry_after set)
    ├── HistoryUnavailableError     the store cannot answer GetPlayerHistory now (history is kept only there)
    ├── WatchLimitExceededError     this caller holds as many open watches as it may
    ├── ShuttingDownError           the server is stopping; a watch ends with it (retry on another replica)
    └── DeadlineExceededError       the caller's deadline or OVERALL_TIMEOUT_SECS left no time for Steam

Upstream failures stay `dbd_playerstats.steam.errors.SteamError` subclasses. `kind_of(exc)` is the `ErrorKind` of
any exception: it walks the exception's MRO through `KIND_OF_CLASS`, so a subclass without its own entry inherits
its parent's, and anything unmapped (a bug) is INTERNAL; a test asserts that every public error class has an entry.

Each kind's row declares everything the layers decide about that failure, so adding or changing one is an edit
here and nowhere else. Who reads which column:

    column      read by                         meaning
    (name)      api/status.py, telemetry        the ErrorInfo reason (a public contract: the README lists them)
    code        api/status.py, api/mapping.py   the gRPC status code as a google.rpc.Code value; this module does
                                                not import grpc (`api.status.grpc_code` converts)
    retry       upstream/policy.py `classify`   retry class, with its own multiplier and limit; "other": never
    breaker     upstream/breaker.py             "failure" counts towards opening the endpoint's breaker;
                                                "healthy" (Steam answered properly) resets the count; "neutral"
                                                (nothing learnt about Steam) is not reported at all
    blame       the service layer               "steam": Steam cannot answer now, or our limits keep us from asking
                                                (`steam_down`: a stored copy may stand in); "player": the answer
                                                is about the player (`players_fault`: stored data is never shown
                                                in its place); "ours": neither (our key, a bug, a cancellation)
    span_error  telemetry/traced_upstream.py    whether the ``steam.<endpoint>`` span's status is ERROR
    outcome     telemetry                       the ``steam.outcome`` and metric label (default: the reason)
"""

# ErrorKind rows may hold equal cells (PLAYER_NOT_FOUND, NO_GAME_STATS): members are distinct by identity (_Row).
# ruff: noqa: PIE796

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Final, Literal

from google.rpc.code_pb2 import Code

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


class InvalidRequestError(ServiceError):
    """A request field other than `player` is out of its documented range; the message names the field."""


class PlayerNotFoundError(ServiceError):
    """No Steam account answers to this name or id."""


class NoGameStatsError(ServiceError):
    """The account is public but has no Dead by Daylight stats (never played)."""


class ProfilePrivateError(ServiceError):
    """The player's profile or game details are private: only the player can change that."""


class CircuitOpenError(ServiceError):
    """Steam failed repeatedly; calls fail fast until the breaker half-opens in `retry_after` seconds.

    `cause` is the reason (an ErrorKind name, e.g. UPSTREAM_TIMEOUT) of the failure that opened the breaker, and
    `opened_at` when it opened (Unix seconds): operators tell a Steam outage from a slow Steam by them.
    """

    def __init__(
        self,
        message: str,
        *,
        steam_id: str | None = None,
        retry_after: float | None = None,
        cause: str | None = None,
        opened_at: float | None = None,
    ) -> None:
        super().__init__(message, steam_id=steam_id, retry_after=retry_after)
        self.cause = cause
        self.opened_at = opened_at


class RateLimitExceededError(ServiceError):
    """The shared Steam budget has no token for this call within its deadline."""


class CallerQuotaExceededError(ServiceError):
    """This caller has no token left in its own bucket; the next one comes in `retry_after` seconds.

    `caller` is the identity the quota is kept under (`cert:<subject>`, `id:<x-caller-id>` or `peer:<host>`);
    `quota` which of its quotas ran out: "steam_calls" (the Steam calls its requests trigger) or "rpcs".
    """

    def __init__(self, message: str, *, caller: str, retry_after: float, quota: str = "steam_calls") -> None:
        super().__init__(message, retry_after=retry_after)
        self.caller = caller
        self.quota = quota


class HistoryUnavailableError(ServiceError):
    """The store cannot answer a history request now (failed or too slow): history has no other source."""


class WatchLimitExceededError(ServiceError):
    """This caller already holds PLAYERSTATS_WATCH_MAX_PER_CALLER open watches."""


class ShuttingDownError(ServiceError):
    """The server is stopping: long-lived calls (watches) end so the caller can reconnect elsewhere."""


class DeadlineExceededError(ServiceError):
    """The time left (caller's deadline or OVERALL_TIMEOUT_SECS) cannot cover another Steam attempt."""


RetryClass = Literal["rate_limited", "timeout", "network", "server", "bad_response", "other"]
"""How a failed attempt is retried (upstream/policy.py holds each class's multiplier and limit); "other": never."""
BreakerCount = Literal["failure", "healthy", "neutral"]
"""How an attempt's result counts for its endpoint's circuit breaker (see upstream/breaker.py)."""
Blame = Literal["steam", "player", "ours"]
"""Whose failure it is, for what may be served instead: see the module docstring."""


@dataclass(frozen=True, slots=True, eq=False)
class _Row:
    """One kind's cells. Compared by identity, so two kinds with equal cells stay two kinds (not Enum aliases)."""

    code: int
    retry: RetryClass
    breaker: BreakerCount
    blame: Blame
    span_error: bool
    outcome: str = ""


class ErrorKind(Enum):
    """Every way a request can fail, one row each; the member's name is its ErrorInfo reason.

    Columns are explained in the module docstring. Each cell is one decision. Only Steam being unhealthy (5xx,
    timeouts, resets, bad bodies; and bugs, INTERNAL, so that a parser broken by a new answer stops hammering Steam)
    counts towards the breaker: a 429 says "wait" (it pauses the shared budget instead), a refused key and other
    4xx are about our request (the key gate of upstream/resilient.py answers those), our own limits say nothing.
    """

    # fmt: off
    #                                code                      retry           breaker    blame     span_error
    INVALID_PLAYER =            _Row(Code.INVALID_ARGUMENT,    "other",        "healthy", "player", False)
    INVALID_REQUEST =           _Row(Code.INVALID_ARGUMENT,    "other",        "healthy", "player", False)
    PLAYER_NOT_FOUND =          _Row(Code.NOT_FOUND,           "other",        "healthy", "player", False)
    NO_GAME_STATS =             _Row(Code.NOT_FOUND,           "other",        "healthy", "player", False)
    PROFILE_PRIVATE =           _Row(Code.FAILED_PRECONDITION, "other",        "healthy", "player", False)
    UPSTREAM_CIRCUIT_OPEN =     _Row(Code.UNAVAILABLE,         "other",        "neutral", "steam",  True)
    RATE_LIMITED =              _Row(Code.RESOURCE_EXHAUSTED,  "other",        "neutral", "steam",  True)
    CALLER_QUOTA_EXCEEDED =     _Row(Code.RESOURCE_EXHAUSTED,  "other",        "neutral", "steam",  True)
    DEADLINE_EXCEEDED =         _Row(Code.DEADLINE_EXCEEDED,   "other",        "neutral", "steam",  True)
    HISTORY_UNAVAILABLE =       _Row(Code.UNAVAILABLE,         "other",        "neutral", "ours",   True)
    WATCH_LIMIT_EXCEEDED =      _Row(Code.RESOURCE_EXHAUSTED,  "other",        "neutral", "ours",   False)
    SHUTTING_DOWN =             _Row(Code.UNAVAILABLE,         "other",        "neutral", "ours",   False)
    UPSTREAM_UNAVAILABLE =      _Row(Code.UNAVAILABLE,         "server",       "failure", "steam",  True)
    UPSTREAM_UNREACHABLE =      _Row(Code.UNAVAILABLE,         "network",      "failure", "steam",  True)
    UPSTREAM_TIMEOUT =          _Row(Code.UNAVAILABLE,         "timeout",      "failure", "steam",  True)
    UPSTREAM_RATE_LIMITED =     _Row(Code.UNAVAILABLE,         "rate_limited", "neutral", "steam",  True)
    UPSTREAM_BAD_RESPONSE =     _Row(Code.UNAVAILABLE,         "bad_response", "failure", "steam",  True)
    STEAM_KEY_REJECTED =        _Row(Code.INTERNAL,            "other",        "neutral", "ours",   True)
    UPSTREAM_REJECTED_REQUEST = _Row(Code.INTERNAL,            "other",        "neutral", "ours",   True)
    CANCELLED =                 _Row(Code.CANCELLED,           "other",        "neutral", "ours",   False, "cancelled")
    INTERNAL =                  _Row(Code.INTERNAL,            "other",        "failure", "ours",   True)
    # fmt: on

    def __init__(self, row: _Row) -> None:
        self.code: int = row.code
        self.retry: RetryClass = row.retry
        self.breaker: BreakerCount = row.breaker
        self.blame: Blame = row.blame
        self.span_error: bool = row.span_error
        self.outcome: str = row.outcome or self.name

    @property
    def reason(self) -> str:
        """The ErrorInfo reason callers see (and `Unavailable.reason`)."""
        return self.name

    @property
    def code_name(self) -> str:
        """The status code's name ("UNAVAILABLE"), the same in google.rpc.Code and grpc.StatusCode."""
        name: str = Code.Name(self.code)
        return name

    @property
    def steam_down(self) -> bool:
        """Steam cannot answer now (or we may not ask it): a stored copy may stand in for the answer."""
        return self.blame == "steam"

    @property
    def players_fault(self) -> bool:
        """The answer is about the player: stored data is never shown in its place."""
        return self.blame == "player"


KIND_OF_CLASS: Final[Mapping[type[BaseException], ErrorKind]] = MappingProxyType(
    {
        InvalidPlayerError: ErrorKind.INVALID_PLAYER,
        InvalidRequestError: ErrorKind.INVALID_REQUEST,
        PlayerNotFoundError: ErrorKind.PLAYER_NOT_FOUND,
        NoGameStatsError: ErrorKind.NO_GAME_STATS,
        ProfilePrivateError: ErrorKind.PROFILE_PRIVATE,
        CircuitOpenError: ErrorKind.UPSTREAM_CIRCUIT_OPEN,
        RateLimitExceededError: ErrorKind.RATE_LIMITED,
        CallerQuotaExceededError: ErrorKind.CALLER_QUOTA_EXCEEDED,
        DeadlineExceededError: ErrorKind.DEADLINE_EXCEEDED,
        HistoryUnavailableError: ErrorKind.HISTORY_UNAVAILABLE,
        WatchLimitExceededError: ErrorKind.WATCH_LIMIT_EXCEEDED,
        ShuttingDownError: ErrorKind.SHUTTING_DOWN,
        # Steam's answers that are about the player (normally converted to the rows above by the service layer).
        SteamProfilePrivateError: ErrorKind.PROFILE_PRIVATE,
        SteamNotFoundError: ErrorKind.PLAYER_NOT_FOUND,
        SteamNoStatsError: ErrorKind.NO_GAME_STATS,
        # Steam failing: the caller may retry later.
        SteamError: ErrorKind.UPSTREAM_UNAVAILABLE,
        SteamServerError: ErrorKind.UPSTREAM_UNAVAILABLE,
        SteamTransportError: ErrorKind.UPSTREAM_UNREACHABLE,
        SteamTimeoutError: ErrorKind.UPSTREAM_TIMEOUT,
        SteamRateLimitedError: ErrorKind.UPSTREAM_RATE_LIMITED,
        SteamBadResponseError: ErrorKind.UPSTREAM_BAD_RESPONSE,
        # Our side is misconfigured: not the caller's fault, and retrying will not help until an operator acts.
        SteamKeyRejectedError: ErrorKind.STEAM_KEY_REJECTED,
        SteamClientError: ErrorKind.UPSTREAM_REJECTED_REQUEST,
        # gRPC cancels a handler's task when its caller cancels or its deadline passes.
        asyncio.CancelledError: ErrorKind.CANCELLED,
    }
)
"""Exception class -> kind; `kind_of` walks an exception's MRO through it."""


def kind_of(exc: BaseException) -> ErrorKind:
    """The kind of `exc`, by its most specific mapped class; INTERNAL when none is."""
    for cls in type(exc).__mro__:
        kind = KIND_OF_CLASS.get(cls)
        if kind is not None:
            return kind
    return ErrorKind.INTERNAL


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


class RpcAborted(Exception):
    """Raised by a non-gRPC face's `abort`: the call already ended with its rich status, so error boundaries
    and telemetry let it pass as they let grpc.aio's own AbortError pass (that one cannot be subclassed here
    without importing grpc)."""


__all__ = [
    "ERROR_DOMAIN",
    "KIND_OF_CLASS",
    "Blame",
    "BreakerCount",
    "CallerQuotaExceededError",
    "CircuitOpenError",
    "DeadlineExceededError",
    "ErrorKind",
    "HistoryUnavailableError",
    "InvalidPlayerError",
    "InvalidRequestError",
    "NoGameStatsError",
    "PlayerNotFoundError",
    "ProfilePrivateError",
    "RateLimitExceededError",
    "RetryClass",
    "RpcAborted",
    "ServiceError",
    "ShuttingDownError",
    "WatchLimitExceededError",
    "kind_of",
    "public_message",
    "retry_after_of",
]
