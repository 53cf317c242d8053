"""Errors -> rich gRPC statuses (ErrorInfo + RetryInfo), applied once around every handler.

Handlers raise; `unary_errors` / `stream_errors` catch at the boundary, look the exception's kind up with
`errors.kind_of` and abort with `context.abort(...)` (the OpenTelemetry interceptor sees that, unlike
`abort_with_status`). Unknown exceptions are logged with their traceback here and reach the caller only as
INTERNAL "internal error". `grpc_code` is where the table's google.rpc codes become grpc.StatusCode.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final, NoReturn, TypeVar

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from dbd_playerstats.errors import (
    ERROR_DOMAIN,
    CallerQuotaExceededError,
    CircuitOpenError,
    ErrorKind,
    RpcAborted,
    kind_of,
    public_message,
    retry_after_of,
)
from dbd_playerstats.telemetry.recording import record_rpc_error

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")

_GRPC_CODES: Final[dict[int, grpc.StatusCode]] = {code.value[0]: code for code in grpc.StatusCode}


def grpc_code(kind: ErrorKind) -> grpc.StatusCode:
    """The grpc.StatusCode of a kind (its google.rpc.Code value has the same number and name)."""
    return _GRPC_CODES[kind.code]


def to_rpc_status(exc: BaseException) -> status_pb2.Status:
    """The google.rpc.Status for an exception, with ErrorInfo always and RetryInfo when waiting helps."""
    kind = kind_of(exc)
    metadata: dict[str, str] = {}
    steam_id = getattr(exc, "steam_id", None)
    if steam_id:
        metadata["steam_id"] = str(steam_id)
    endpoint = getattr(exc, "endpoint", None)
    if endpoint:
        metadata["upstream_endpoint"] = str(endpoint)
    upstream_status = getattr(exc, "status", None)
    if isinstance(upstream_status, int):
        metadata["upstream_status"] = str(upstream_status)
    if isinstance(exc, CallerQuotaExceededError):
        metadata["caller"] = exc.caller
        metadata["quota"] = exc.quota
    if isinstance(exc, CircuitOpenError):
        metadata.update(_breaker_metadata(exc))
    info = error_details_pb2.ErrorInfo(reason=kind.reason, domain=ERROR_DOMAIN, metadata=metadata)
    status = status_pb2.Status(code=kind.code, message=public_message(exc))
    status.details.add().Pack(info)
    retry_after = retry_after_of(exc)
    if retry_after is not None and math.isfinite(retry_after):
        seconds = max(retry_after, 0.0)
        delay = duration_pb2.Duration(seconds=int(seconds), nanos=int((seconds % 1) * 1e9))
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status


def _breaker_metadata(exc: CircuitOpenError) -> dict[str, str]:
    """Why the breaker is open: `cause` (the failure's reason) and `opened_at` (RFC 3339 UTC), when known."""
    metadata = {"cause": exc.cause or "UNKNOWN"}
    if exc.opened_at is not None:
        opened_at = datetime.fromtimestamp(exc.opened_at, UTC)
        metadata["opened_at"] = opened_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return metadata


async def abort(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> NoReturn:
    """Abort the RPC with the rich status of `exc` (its reason goes to the ``playerstats.rpc.errors`` metric)."""
    record_rpc_error(kind_of(exc).reason)
    status = rpc_status.to_status(to_rpc_status(exc))
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises


def _log(method: str, exc: BaseException) -> None:
    kind = kind_of(exc)
    if kind is ErrorKind.INTERNAL:
        log.exception("%s failed with an unexpected error", method, exc_info=exc)
    elif kind is ErrorKind.STEAM_KEY_REJECTED:
        log.error("%s: Steam refused the API key; replace STEAM_API_KEY", method)
    else:
        # Expected outcomes: the telemetry interceptor already writes the one log line per RPC with its code.
        log.debug("%s -> %s %s", method, kind.code_name, kind.reason)


def _is_abort(exc: BaseException) -> bool:
    # context.abort raises grpc.aio.AbortError (the Connect face's context an RpcAborted): it must pass untouched.
    return isinstance(exc, grpc.aio.AbortError | RpcAborted)


UnaryHandler = Callable[[Any, Req, grpc.aio.ServicerContext[Any, Any]], Awaitable[Resp]]
StreamHandler = Callable[[Any, Req, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Resp]]


async def _translate(method: str, context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> NoReturn:
    """Abort with the rich status of `exc`, logged once; an abort already under way passes untouched."""
    if _is_abort(exc):
        raise exc
    _log(method, exc)
    await abort(context, exc)


def unary_errors(handler: UnaryHandler[Req, Resp]) -> UnaryHandler[Req, Resp]:
    """Translate any exception of a unary handler into its rich status."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext[Any, Any]) -> Resp:
        try:
            return await handler(self, request, context)
        except Exception as exc:
            await _translate(handler.__name__, context, exc)

    return wrapper


def stream_errors(handler: StreamHandler[Req, Resp]) -> StreamHandler[Req, Resp]:
    """Translate any exception of a server-streaming handler (an async generator) into its rich status."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Resp]:
        try:
            async for message in handler(self, request, context):
                yield message
                del message  # not held while the stream waits for its next one (api.handlers)
        except Exception as exc:
            await _translate(handler.__name__, context, exc)

    return wrapper


__all__ = ["abort", "grpc_code", "stream_errors", "to_rpc_status", "unary_errors"]
