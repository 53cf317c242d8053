"""The one exception -> gRPC status table, and the rich status built from it."""

import inspect

import grpc
import pytest
from google.rpc import error_details_pb2

from dbd_playerstats import errors
from dbd_playerstats.api.status import to_rpc_status
from dbd_playerstats.errors import STATUS_TABLE, status_for
from dbd_playerstats.steam import errors as steam_errors


def public_error_classes() -> list[type[BaseException]]:
    classes = []
    for module in (errors, steam_errors):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                classes.append(obj)
    return classes


@pytest.mark.parametrize("cls", public_error_classes(), ids=lambda c: c.__name__)
def test_every_public_error_class_has_its_own_row(cls: type[BaseException]) -> None:
    """No public error class is left to inherit a row by accident (except the two abstract bases)."""
    if cls in {errors.ServiceError, steam_errors.SteamPlayerError}:
        return
    assert cls in STATUS_TABLE


@pytest.mark.parametrize(
    ("exc", "code", "reason"),
    [
        (errors.InvalidPlayerError("x"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PLAYER"),
        (errors.PlayerNotFoundError("x"), grpc.StatusCode.NOT_FOUND, "PLAYER_NOT_FOUND"),
        (errors.NoGameStatsError("x"), grpc.StatusCode.NOT_FOUND, "NO_GAME_STATS"),
        (errors.ProfilePrivateError("x"), grpc.StatusCode.FAILED_PRECONDITION, "PROFILE_PRIVATE"),
        (errors.CircuitOpenError("x", retry_after=3), grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CIRCUIT_OPEN"),
        (errors.RateLimitExceededError("x"), grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"),
        (
            errors.CallerQuotaExceededError("x", caller="id:a", retry_after=1),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "CALLER_QUOTA_EXCEEDED",
        ),
        (errors.DeadlineExceededError("x"), grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
        (steam_errors.SteamServerError("x", endpoint="stats"), grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
        (steam_errors.SteamTimeoutError("x", endpoint="stats"), grpc.StatusCode.UNAVAILABLE, "UPSTREAM_TIMEOUT"),
        (
            steam_errors.SteamTransportError("x", endpoint="stats"),
            grpc.StatusCode.UNAVAILABLE,
            "UPSTREAM_UNREACHABLE",
        ),
        (
            steam_errors.SteamRateLimitedError("x", endpoint="stats"),
            grpc.StatusCode.UNAVAILABLE,
            "UPSTREAM_RATE_LIMITED",
        ),
        (
            steam_errors.SteamBadResponseError("x", endpoint="stats"),
            grpc.StatusCode.UNAVAILABLE,
            "UPSTREAM_BAD_RESPONSE",
        ),
        (steam_errors.SteamKeyRejectedError("x", endpoint="stats"), grpc.StatusCode.INTERNAL, "STEAM_KEY_REJECTED"),
        (ValueError("boom"), grpc.StatusCode.INTERNAL, "INTERNAL"),
    ],
)
def test_rows(exc: BaseException, code: grpc.StatusCode, reason: str) -> None:
    """Each error class maps to its documented code and ErrorInfo reason."""
    entry = status_for(exc)
    assert (entry.code, entry.reason) == (code, reason)


def test_rich_status_carries_error_info_and_retry_info() -> None:
    """The status holds ErrorInfo with domain, reason and metadata, and RetryInfo when retry_after is known."""
    exc = errors.CircuitOpenError("Steam is failing", steam_id="76561198000000001", retry_after=2.5)
    status = to_rpc_status(exc)
    assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert status.message == "Steam is failing"
    info = error_details_pb2.ErrorInfo()
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert status.details[1].Unpack(retry)
    assert (info.domain, info.reason) == ("playerstats.dbd", "UPSTREAM_CIRCUIT_OPEN")
    assert dict(info.metadata) == {"steam_id": "76561198000000001"}
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (2, 500_000_000)


def test_caller_quota_status_names_the_caller_and_the_wait() -> None:
    """A caller over its quota gets ErrorInfo metadata `caller` and RetryInfo with the time to its next token."""
    status = to_rpc_status(errors.CallerQuotaExceededError("slow down", caller="cert:CN=alice", retry_after=0.25))
    info = error_details_pb2.ErrorInfo()
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert status.details[1].Unpack(retry)
    assert (info.reason, dict(info.metadata)) == ("CALLER_QUOTA_EXCEEDED", {"caller": "cert:CN=alice"})
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (0, 250_000_000)


def test_unexpected_errors_hide_their_text() -> None:
    """An unmapped exception reaches the caller as "internal error", never its own message."""
    status = to_rpc_status(RuntimeError("secret internals key=abc"))
    assert status.message == "internal error"
    assert len(status.details) == 1
