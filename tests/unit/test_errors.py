"""The one error table (`ErrorKind`): exception -> kind, what each layer reads from it, and the rich status."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from pathlib import Path
from typing import NamedTuple

import grpc
import pytest
from google.rpc import error_details_pb2

from dbd_playerstats import errors
from dbd_playerstats.api.status import _is_abort, grpc_code, to_rpc_status
from dbd_playerstats.errors import KIND_OF_CLASS, ErrorKind, kind_of
from dbd_playerstats.steam import errors as steam_errors
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
from dbd_playerstats.telemetry import traced_upstream
from dbd_playerstats.upstream import breaker, policy

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PACKAGE = ROOT / "server" / "dbd_playerstats"
GRPC_FACE = {
    "api/handlers.py",
    "api/healthcheck.py",
    "api/listener.py",
    "api/quota.py",
    "api/servicer.py",
    "api/status.py",
    "app.py",
    "telemetry/grpc_server.py",
    "telemetry/providers.py",
}
"""The modules that may import grpc (or grpc_status, grpc_health, ...): the gRPC face, the wiring, and telemetry's
gRPC instrumentation and exporter."""


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
    """No public error class is left to inherit a kind by accident (except the two abstract bases, and
    RpcAborted, which is no failure: the call already has its status)."""
    if cls in {errors.ServiceError, steam_errors.SteamPlayerError, errors.RpcAborted}:
        return
    assert cls in KIND_OF_CLASS


def test_every_kind_but_the_fallback_has_a_class() -> None:
    """No row is dead: each kind is some class's, except INTERNAL (whatever no class maps to)."""
    assert set(ErrorKind) - set(KIND_OF_CLASS.values()) == {ErrorKind.INTERNAL}


@pytest.mark.parametrize(
    ("exc", "code", "reason"),
    [
        (errors.InvalidPlayerError("x"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PLAYER"),
        (errors.InvalidRequestError("x"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST"),
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
        (errors.HistoryUnavailableError("x"), grpc.StatusCode.UNAVAILABLE, "HISTORY_UNAVAILABLE"),
        (errors.WatchLimitExceededError("x"), grpc.StatusCode.RESOURCE_EXHAUSTED, "WATCH_LIMIT_EXCEEDED"),
        (errors.ShuttingDownError("x"), grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN"),
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
    kind = kind_of(exc)
    assert (grpc_code(kind), kind.reason) == (code, reason)
    status = to_rpc_status(exc)
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (status.code, info.reason) == (code.value[0], reason)


def steam(cls: type[SteamError]) -> SteamError:
    return cls("x", endpoint="stats")


# What every layer decides for each way of failing, written out once more by hand: the table must reproduce what
# the five places that used to decide it said (retry classes, breaker lists, the service's "Steam is down" and
# "the player's fault" code sets, telemetry's error spans and outcome labels: the reason, or "cancelled").
class Row(NamedTuple):
    exc: BaseException
    kind: str  # the kind's name, its ErrorInfo reason
    retry: str
    counts_as: str  # for the breaker
    blame: str
    span_error: bool


EXPECTED = [
    Row(*row)
    for row in [
        (errors.InvalidPlayerError("x"), "INVALID_PLAYER", "other", "healthy", "player", False),
        (errors.InvalidRequestError("x"), "INVALID_REQUEST", "other", "healthy", "player", False),
        (errors.PlayerNotFoundError("x"), "PLAYER_NOT_FOUND", "other", "healthy", "player", False),
        (steam(SteamNotFoundError), "PLAYER_NOT_FOUND", "other", "healthy", "player", False),
        (errors.NoGameStatsError("x"), "NO_GAME_STATS", "other", "healthy", "player", False),
        (steam(SteamNoStatsError), "NO_GAME_STATS", "other", "healthy", "player", False),
        (errors.ProfilePrivateError("x"), "PROFILE_PRIVATE", "other", "healthy", "player", False),
        (steam(SteamProfilePrivateError), "PROFILE_PRIVATE", "other", "healthy", "player", False),
        (errors.CircuitOpenError("x"), "UPSTREAM_CIRCUIT_OPEN", "other", "neutral", "steam", True),
        (errors.RateLimitExceededError("x"), "RATE_LIMITED", "other", "neutral", "steam", True),
        (
            errors.CallerQuotaExceededError("x", caller="id:a", retry_after=1),
            "CALLER_QUOTA_EXCEEDED",
            "other",
            "neutral",
            "steam",
            True,
        ),
        (errors.DeadlineExceededError("x"), "DEADLINE_EXCEEDED", "other", "neutral", "steam", True),
        (errors.HistoryUnavailableError("x"), "HISTORY_UNAVAILABLE", "other", "neutral", "ours", True),
        (errors.WatchLimitExceededError("x"), "WATCH_LIMIT_EXCEEDED", "other", "neutral", "ours", False),
        (errors.ShuttingDownError("x"), "SHUTTING_DOWN", "other", "neutral", "ours", False),
        (steam(SteamServerError), "UPSTREAM_UNAVAILABLE", "server", "failure", "steam", True),
        (steam(SteamTransportError), "UPSTREAM_UNREACHABLE", "network", "failure", "steam", True),
        (steam(SteamTimeoutError), "UPSTREAM_TIMEOUT", "timeout", "failure", "steam", True),
        (steam(SteamRateLimitedError), "UPSTREAM_RATE_LIMITED", "rate_limited", "neutral", "steam", True),
        (steam(SteamBadResponseError), "UPSTREAM_BAD_RESPONSE", "bad_response", "failure", "steam", True),
        (steam(SteamKeyRejectedError), "STEAM_KEY_REJECTED", "other", "neutral", "ours", True),
        (steam(SteamClientError), "UPSTREAM_REJECTED_REQUEST", "other", "neutral", "ours", True),
        (asyncio.CancelledError(), "CANCELLED", "other", "neutral", "ours", False),
        (ValueError("bug"), "INTERNAL", "other", "failure", "ours", True),
    ]
]


@pytest.mark.parametrize("row", EXPECTED, ids=lambda row: type(row.exc).__name__)
def test_every_layer_reads_its_decision_from_the_table(row: Row) -> None:
    """Exception -> kind -> the retry class, the breaker's count, what stored data may do, the span and its label."""
    exc, blame = row.exc, row.blame
    kind = kind_of(exc)
    assert kind is ErrorKind[row.kind]
    assert policy.classify(exc) == row.retry
    assert breaker.outcome_of(exc) == row.counts_as
    assert isinstance(exc, breaker.EXCLUDE) == (row.counts_as != "failure")
    assert isinstance(exc, breaker.NEUTRAL) == (row.counts_as == "neutral")
    assert (kind.blame, kind.steam_down, kind.players_fault) == (blame, blame == "steam", blame == "player")
    assert traced_upstream.is_failure(exc) is row.span_error
    assert traced_upstream.outcome_of(exc) == ("cancelled" if row.kind == "CANCELLED" else row.kind)


def test_the_expectations_cover_every_kind() -> None:
    assert {ErrorKind[row.kind] for row in EXPECTED} == set(ErrorKind)


def test_stored_data_rules_are_the_service_layers_code_sets() -> None:
    """steam_down / players_fault say what the service's grpc code sets said: a stored copy may stand in for
    UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED; never for INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION."""
    down = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED}
    player = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION}
    for kind in ErrorKind:
        if kind in {ErrorKind.HISTORY_UNAVAILABLE, ErrorKind.WATCH_LIMIT_EXCEEDED, ErrorKind.SHUTTING_DOWN}:
            # Not an answer to a Steam call: the store failing, a watch refused or ended; nothing could stand in.
            assert (kind.steam_down, kind.players_fault) == (False, False)
            continue
        assert (kind.steam_down, kind.players_fault) == (grpc_code(kind) in down, grpc_code(kind) in player), kind


@pytest.mark.parametrize("kind", list(ErrorKind), ids=lambda k: k.name)
def test_codes_convert_to_grpc_by_number_and_name(kind: ErrorKind) -> None:
    """The table's google.rpc.Code and grpc.StatusCode agree."""
    assert grpc_code(kind).name == kind.code_name
    assert grpc_code(kind).value[0] == kind.code


def readme_error_rows() -> set[tuple[str, str]]:
    """(code, reason) of every row of the README's "## Errors" table."""
    section = README.read_text(encoding="utf-8").split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[2].startswith("`"):
            code = re.match(r"`([A-Z_]+)`", cells[1])
            reason = re.fullmatch(r"`([A-Z_]+)`", cells[2])
            assert code, line
            assert reason, line
            rows.add((code.group(1), reason.group(1)))
    return rows


def test_readme_error_table_matches_the_kinds() -> None:
    """Every kind a caller can see is one README row with its code and reason (a cancelled caller sees none)."""
    visible = {(kind.code_name, kind.reason) for kind in ErrorKind if kind is not ErrorKind.CANCELLED}
    assert readme_error_rows() == visible


def imports_grpc(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        if any(name.split(".")[0].startswith("grpc") for name in names):
            return True
    return False


def test_only_the_grpc_face_imports_grpc() -> None:
    """The table carries google.rpc codes, so errors, the domain, the service, the upstream and telemetry's Steam
    spans decide about failures without grpc; only `GRPC_FACE` turns them into grpc codes (imports anywhere in
    a module count, function-level ones too)."""
    modules = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py") if "_pb2" not in path.name}
    assert {module for module in modules if imports_grpc(PACKAGE / module)} == GRPC_FACE


def test_abort_is_recognised_by_type_not_name() -> None:
    """grpc's own AbortError passes through the error translation; another class of that name does not."""

    class AbortError(Exception):
        pass

    assert _is_abort(grpc.aio.AbortError())
    assert not _is_abort(AbortError())


def test_rich_status_carries_error_info_and_retry_info() -> None:
    """The status holds ErrorInfo with domain, reason and metadata, and RetryInfo when retry_after is known."""
    exc = errors.CircuitOpenError(
        "Steam is failing", steam_id="76561198000000001", retry_after=2.5, cause="UPSTREAM_TIMEOUT", opened_at=0.25
    )
    status = to_rpc_status(exc)
    assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert status.message == "Steam is failing"
    info = error_details_pb2.ErrorInfo()
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert status.details[1].Unpack(retry)
    assert (info.domain, info.reason) == ("playerstats.dbd", "UPSTREAM_CIRCUIT_OPEN")
    assert dict(info.metadata) == {
        "steam_id": "76561198000000001",
        "cause": "UPSTREAM_TIMEOUT",
        "opened_at": "1970-01-01T00:00:00.250Z",
    }
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (2, 500_000_000)


def test_caller_quota_status_names_the_caller_and_the_wait() -> None:
    """A caller over its quota gets ErrorInfo metadata `caller` and RetryInfo with the time to its next token."""
    status = to_rpc_status(errors.CallerQuotaExceededError("slow down", caller="cert:CN=alice", retry_after=0.25))
    info = error_details_pb2.ErrorInfo()
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert status.details[1].Unpack(retry)
    assert (info.reason, dict(info.metadata)) == (
        "CALLER_QUOTA_EXCEEDED",
        {"caller": "cert:CN=alice", "quota": "steam_calls"},
    )
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (0, 250_000_000)


def test_unexpected_errors_hide_their_text() -> None:
    """An unmapped exception reaches the caller as "internal error", never its own message."""
    status = to_rpc_status(RuntimeError("secret internals key=abc"))
    assert status.message == "internal error"
    assert len(status.details) == 1
