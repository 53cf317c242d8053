"""The one error the clients raise: a failed RPC with the server's rich status decoded.

Every ``grpc.RpcError`` (sync or ``grpc.aio``) leaving a client method is turned into a
:class:`PlayerStatsError` by :func:`translate_rpc_errors`, chained with ``from`` so that the original
gRPC error stays reachable as ``__cause__``.

The server puts a ``google.rpc.Status`` into the ``grpc-status-details-bin`` trailer. From it this
module reads a ``google.rpc.ErrorInfo`` (``reason``, ``domain``, ``metadata``) and a
``google.rpc.RetryInfo`` (``retry_after``). Both are optional: a failure raised by gRPC itself
(connection refused, deadline exceeded) has neither, and a missing, garbled or inconsistent trailer
leaves ``reason``/``domain``/``retry_after`` as ``None`` while ``code`` and ``details`` stay exact.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped,unused-ignore]
from grpc_status import rpc_status

__all__ = ["ERROR_DOMAIN", "PlayerStatsError", "from_rpc_error", "from_status", "translate_rpc_errors"]

#: The ErrorInfo domain of every error the dbd-playerstats server raises on purpose.
ERROR_DOMAIN = "playerstats.dbd"

_CODES = {code.value[0]: code for code in grpc.StatusCode}


class PlayerStatsError(Exception):
    """A failed dbd-playerstats RPC.

    Attributes:
        code: The gRPC status code (``grpc.StatusCode.UNKNOWN`` when the error carried none).
        details: The status message, ``""`` when the server sent none.
        reason: ErrorInfo's stable reason (``"PLAYER_NOT_FOUND"``, ``"UPSTREAM_UNAVAILABLE"``, ...);
            ``None`` when the status carried no readable ErrorInfo, e.g. for transport failures.
        domain: ErrorInfo's domain, ``"playerstats.dbd"`` for the server's own errors; ``None`` as above.
        metadata: ErrorInfo's metadata map; empty when there is none.
        retry_after: Seconds to wait before asking again, from RetryInfo's ``retry_delay``; ``None``
            when the server gave no hint (which does not mean that retrying is pointless).
    """

    code: grpc.StatusCode
    details: str
    reason: str | None
    domain: str | None
    metadata: dict[str, str]
    retry_after: float | None

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        *,
        reason: str | None = None,
        domain: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})
        self.retry_after = retry_after

    def __str__(self) -> str:
        head = f"{self.code.name} {self.reason}" if self.reason else self.code.name
        return f"{head}: {self.details}" if self.details else head

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code.name}, details={self.details!r}, "
            f"reason={self.reason!r}, domain={self.domain!r}, metadata={self.metadata!r}, "
            f"retry_after={self.retry_after!r})"
        )


def from_rpc_error(err: grpc.RpcError) -> PlayerStatsError:
    """Decode a failed call (sync ``grpc.RpcError``/``grpc.Call`` or ``grpc.aio.AioRpcError``).

    Never raises: whatever part of the error cannot be read is left at its "unknown" value.
    """
    code = _read(err, "code")
    details = _read(err, "details")
    error = PlayerStatsError(
        code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN,
        details if isinstance(details, str) else "",
    )
    for detail in _status_details(err):
        _apply_detail(error, detail)
    return error


def from_status(status: status_pb2.Status) -> PlayerStatsError:
    """Decode a ``google.rpc.Status`` carried in a message, such as a lobby player's ``error``.

    Never raises: an unknown code becomes ``UNKNOWN``, undecodable details are skipped.
    """
    error = PlayerStatsError(_CODES.get(status.code, grpc.StatusCode.UNKNOWN), str(status.message))
    for detail in status.details:
        _apply_detail(error, detail)
    return error


@contextlib.contextmanager
def translate_rpc_errors() -> Iterator[None]:
    """Re-raise any ``grpc.RpcError`` inside the block as a chained :class:`PlayerStatsError`."""
    try:
        yield
    except grpc.RpcError as err:
        raise from_rpc_error(err) from err


def _read(err: grpc.RpcError, name: str) -> object:
    # A bare grpc.RpcError() has no code()/details(), and grpc-testing's calls raise
    # NotImplementedError for what they do not model: neither may hide the error itself.
    method = getattr(err, name, None)
    if not callable(method):
        return None
    try:
        return method()
    except Exception:
        return None


def _status_details(err: grpc.RpcError) -> list[any_pb2.Any]:
    """The ``google.protobuf.Any`` details of the call's rich status; ``[]`` when unreadable."""
    try:
        status = rpc_status.from_call(err)
    except Exception:
        # Garbled bytes, a non-bytes value, or a status whose code/message disagree with the call's
        # (from_call's ValueError): the rich details are advisory, the call's own status is not.
        return []
    if status is None:
        return []
    return [detail for detail in status.details if isinstance(detail, any_pb2.Any)]


def _apply_detail(error: PlayerStatsError, detail: any_pb2.Any) -> None:
    # Unpack() is False when the Any holds another type; details of unknown types are skipped.
    info = error_details_pb2.ErrorInfo()
    retry = error_details_pb2.RetryInfo()
    try:
        if detail.Unpack(info):
            error.reason = str(info.reason) or None
            error.domain = str(info.domain) or None
            error.metadata = {str(key): str(value) for key, value in info.metadata.items()}
        elif detail.Unpack(retry) and retry.HasField("retry_delay"):
            delay = retry.retry_delay
            error.retry_after = max(0.0, int(delay.seconds) + int(delay.nanos) / 1e9)
    except Exception:
        # One undecodable detail must not cost the others (or the error itself).
        return
