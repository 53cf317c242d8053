"""The servicer's view of a Connect call: the few `grpc.aio.ServicerContext` methods it uses, over connectrpc's
`RequestContext`, so that `PlayerStatsServicer`, `status.abort` and the caller quota serve HTTP unchanged.

What each method gives the code that calls it:

- ``time_remaining()``: the ``connect-timeout-ms`` deadline (None without one), which the servicer turns into its
  Steam deadline exactly as it does a gRPC deadline;
- ``invocation_metadata()``: the request headers (so ``x-caller-id`` names the caller's quota bucket);
- ``peer()``: ``ipv4:HOST:PORT`` / ``ipv6:[HOST]:PORT`` like gRPC, so `quota.peer_host` files a host's HTTP and
  gRPC calls under one bucket;
- ``auth_context()``: always empty. The ASGI server does not hand over the client certificate, so under mutual
  TLS the quota cannot key on it; there ``x-caller-id`` is ignored (``trust_caller_id=False``), so that a caller
  still cannot pick its own bucket, and the bucket is the peer host's;
- ``abort(code, details, trailing_metadata)``: raises `AbortError`, a `ConnectError` carrying the same code,
  message and google.rpc.Status details (ErrorInfo, RetryInfo) as the gRPC status that `status.abort` built;
  it also sets ``Retry-After`` (whole seconds, rounded up) from RetryInfo for plain HTTP clients.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, NoReturn, Protocol

from connectrpc.code import Code
from connectrpc.errors import ConnectError, ErrorDetail
from connectrpc.request import RequestContext
from google.rpc import error_details_pb2, status_pb2
from protobuf.wkt import Any as AnyDetail

from dbd_playerstats.errors import RpcAborted

STATUS_DETAILS_KEY: Final = "grpc-status-details-bin"
"""Where grpc_status.rpc_status puts the serialized google.rpc.Status in the trailing metadata."""


class GrpcCode(Protocol):
    """A `grpc.StatusCode`, seen by its name and value only: this module speaks Connect, not gRPC."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> tuple[int, str]: ...


CONNECT_CODES: Final[dict[str, Code]] = {
    "CANCELLED": Code.CANCELED,
    **{code.name: code for code in Code if code.name != "CANCELED"},
}
"""gRPC code name -> Connect code: the same codes, but for the spelling of CANCELLED."""


class AbortError(ConnectError, RpcAborted):
    """The call was aborted with a rich status. An `RpcAborted`, so the error boundary (`status._is_abort`) and
    the RPC telemetry (`grpc_server._settle`) let it pass as already decided, as they do grpc.aio's own."""

    def __init__(self, grpc_code: GrpcCode, message: str, details: Sequence[ErrorDetail]) -> None:
        super().__init__(CONNECT_CODES.get(grpc_code.name, Code.UNKNOWN), message, details)
        self.grpc_code = grpc_code


def status_details(trailing_metadata: Sequence[tuple[str, str | bytes]]) -> status_pb2.Status | None:
    """The google.rpc.Status in gRPC trailing metadata (None when there is none)."""
    for key, value in trailing_metadata:
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def retry_after_secs(status: status_pb2.Status) -> float | None:
    """The RetryInfo delay of `status` in seconds (None without RetryInfo)."""
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToTimedelta().total_seconds())
    return None


class ConnectServicerContext:
    """A Connect call seen as the `grpc.aio.ServicerContext` subset of the module docstring."""

    def __init__(self, ctx: RequestContext[Any, Any], *, trust_caller_id: bool) -> None:
        self._ctx = ctx
        self._trust_caller_id = trust_caller_id
        self._code: GrpcCode | None = None

    def time_remaining(self) -> float | None:
        """Seconds left before the caller's ``connect-timeout-ms`` passes (None: no deadline)."""
        remaining_ms = self._ctx.timeout_ms
        return None if remaining_ms is None else remaining_ms / 1000

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        """The request headers, lower-case names (``x-caller-id`` left out when not trusted)."""
        return tuple(
            (key, value)
            for key, value in self._ctx.request_headers.allitems()
            if self._trust_caller_id or key != "x-caller-id"
        )

    def peer(self) -> str:
        """The client address in gRPC's peer notation."""
        address = self._ctx.client_address
        if not address:
            return "unknown"
        host, _, port = address.rpartition(":")
        return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"

    def auth_context(self) -> dict[str, list[bytes]]:
        """No client certificate reaches an ASGI application (see the module docstring)."""
        return {}

    def code(self) -> GrpcCode | None:
        """The code the call was aborted with (None while it was not)."""
        return self._code

    async def abort(
        self, code: GrpcCode, details: str = "", trailing_metadata: Sequence[tuple[str, str | bytes]] = ()
    ) -> NoReturn:
        """End the call with `code`, raising `AbortError` with the google.rpc.Status details of the metadata."""
        self._code = code
        status = status_details(trailing_metadata)
        if status is None:
            raise AbortError(code, details, ())
        wait = retry_after_secs(status)
        if wait is not None:
            self._ctx.response_headers["retry-after"] = str(max(1, math.ceil(wait)))
        anys = [ErrorDetail(AnyDetail(type_url=d.type_url, value=d.value)) for d in status.details]
        raise AbortError(code, status.message or details, anys)


__all__ = ["CONNECT_CODES", "AbortError", "ConnectServicerContext", "GrpcCode", "retry_after_secs", "status_details"]
