"""Per-caller quotas: one busy caller cannot spend the whole Steam budget.

Who the caller is, first found:

1. `cert:<subject>`: the verified client certificate's subject (`x509_subject`, else `x509_common_name`), only
   present under mutual TLS. A caller cannot choose another identity than its certificate's, whatever metadata
   it sends.
2. `id:<x-caller-id>`: the `x-caller-id` metadata the client package sends when given `caller_id`. Without mutual
   TLS this is the caller's word: it keeps cooperating services apart, it does not stop a hostile one.
3. `peer:<host>`: the peer address without its port, so that one host's connections share a bucket.

The prefixes keep the three namespaces apart (an `x-caller-id` of `10.0.0.7` cannot drain host 10.0.0.7's bucket).
Identities longer than `MAX_CALLER_CHARS` are shortened with a digest, so memory per caller stays bounded.

Each caller has a token bucket of `burst` tokens refilled at `per_min / 60` tokens per second: the same exact GCRA
as the Steam budget (`upstream.ratelimit.InMemoryTokenBucket`, one per caller), asked never to wait. Every RPC of
the guarded service takes one token before its handler runs, so a rejected call costs Steam nothing (nor the
caller: a refusal does not push its next token further); without a token the call fails RESOURCE_EXHAUSTED
`CALLER_QUOTA_EXCEEDED` with RetryInfo = the time until the caller's next token. At most `max_callers` buckets
are kept, least recently used evicted first; an evicted caller starts again with a full bucket.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias
from urllib.parse import unquote

import grpc

from dbd_playerstats.api.status import abort
from dbd_playerstats.errors import CallerQuotaExceededError
from dbd_playerstats.upstream.policy import RateLimitPolicy
from dbd_playerstats.upstream.ratelimit import InMemoryTokenBucket, TokenUnavailable

log = logging.getLogger(__name__)

CALLER_ID_METADATA_KEY = "x-caller-id"
MAX_TRACKED_CALLERS = 10_000
MAX_CALLER_CHARS = 128
# A token due within a microsecond is due now: the rounding of float clock readings and emission intervals must
# not refuse a call whose token is exactly due. The shortest wait a refusal reports is a millisecond.
_DUE_NOW_SECS = 1e-6
_MIN_RETRY_AFTER_SECS = 0.001

Context = grpc.aio.ServicerContext[Any, Any]
Clock = Callable[[], float]


def caller_of(context: Context) -> str:
    """The identity a call's quota is kept under (see the module docstring for the order)."""
    auth = context.auth_context()
    for key in ("x509_subject", "x509_common_name"):
        values = list(auth.get(key) or ())
        if values and values[0]:
            return _bounded("cert:" + values[0].decode("utf-8", "replace"))
    for key, value in context.invocation_metadata() or ():
        if key == CALLER_ID_METADATA_KEY and isinstance(value, str) and value.strip():
            return _bounded("id:" + value.strip())
    return _bounded("peer:" + peer_host(context.peer()))


def peer_host(peer: str) -> str:
    """The host of a gRPC peer string: `ipv4:10.0.0.7:5123` -> `10.0.0.7`, `ipv6:[::1]:5123` -> `::1`.

    Other kinds (`unix:/run/x.sock`) are returned whole: they carry no port.
    """
    kind, _, address = peer.partition(":")
    address = unquote(address)  # some gRPC versions percent-encode the brackets of IPv6 peers
    if kind == "ipv4":
        return address.rpartition(":")[0] or address
    if kind == "ipv6":
        host = address.rpartition(":")[0] if address.startswith("[") else address
        return host.strip("[]") or address
    return peer


def _bounded(caller: str) -> str:
    if len(caller) <= MAX_CALLER_CHARS:
        return caller
    digest = hashlib.sha256(caller.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{caller[: MAX_CALLER_CHARS - 17]}~{digest}"


class CallerQuota:
    """Token buckets per caller, bounded to `max_callers` (LRU). Single event loop: no locks.

    Args:
        per_min: Tokens added to each caller's bucket per minute (> 0).
        burst: Bucket capacity, i.e. calls a rested caller may make at once (>= 1).
        max_callers: Buckets kept at most; the least recently used is forgotten first.
        clock: Monotonic seconds (injected by tests).
    """

    def __init__(
        self,
        per_min: int,
        burst: int,
        *,
        max_callers: int = MAX_TRACKED_CALLERS,
        clock: Clock = time.monotonic,
    ) -> None:
        if per_min <= 0 or burst < 1 or max_callers < 1:
            raise ValueError(f"invalid quota: per_min={per_min}, burst={burst}, max_callers={max_callers}")
        self.per_min = per_min
        self.burst = burst
        self.max_callers = max_callers
        self._policy = RateLimitPolicy(per_min=per_min, burst=burst)
        self._clock = clock
        self._buckets: OrderedDict[str, InMemoryTokenBucket] = OrderedDict()

    def __repr__(self) -> str:
        return f"CallerQuota(per_min={self.per_min}, burst={self.burst}, max_callers={self.max_callers})"

    def __len__(self) -> int:
        return len(self._buckets)

    def try_acquire(self, caller: str) -> float | None:
        """Take one token of `caller`: None when granted, else the seconds until its next token (> 0)."""
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = self._buckets[caller] = InMemoryTokenBucket(self._policy, clock=self._clock)
        self._buckets.move_to_end(caller)
        while len(self._buckets) > self.max_callers:
            self._buckets.popitem(last=False)
        try:
            bucket.try_reserve(_DUE_NOW_SECS)
        except TokenUnavailable as exc:
            return max(exc.retry_after_secs, _MIN_RETRY_AFTER_SECS)
        return None

    def check(self, caller: str) -> None:
        """Take one token of `caller` or raise CallerQuotaExceededError with the time to the next one."""
        wait = self.try_acquire(caller)
        if wait is None:
            return
        raise CallerQuotaExceededError(
            f"caller {caller} exceeded its quota of {self.per_min} calls per minute (burst {self.burst}); "
            f"next call allowed in {wait:.3g} s",
            caller=caller,
            retry_after=wait,
        )


Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"  # generic only in the stubs


class CallerQuotaInterceptor(grpc.aio.ServerInterceptor):
    """Applies a CallerQuota to every unary-request method under `service` (health and reflection are exempt).

    It wraps the method's handler because only the ServicerContext knows the peer and its certificate; the
    rejection is a rich status via `status.abort`, like every other error of the service. Append it after the
    telemetry interceptor so that rejected calls still get their span.
    """

    def __init__(self, quota: CallerQuota | None, *, service: str) -> None:
        self.quota = quota
        self._prefix = f"/{service}/"

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if self.quota is None or handler is None or not handler_call_details.method.startswith(self._prefix):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._guard_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._guard_stream(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # client-streaming methods: none in this service

    async def _admit(self, context: Context) -> None:
        assert self.quota is not None
        caller = caller_of(context)
        try:
            self.quota.check(caller)
        except CallerQuotaExceededError as exc:
            log.debug("%s", exc.message)
            await abort(context, exc)

    def _guard_unary(self, behavior: Callable[..., Any]) -> Callable[[Any, Context], Awaitable[Any]]:
        async def guarded(request: Any, context: Context) -> Any:
            await self._admit(context)
            return await behavior(request, context)

        return guarded

    def _guard_stream(self, behavior: Callable[..., Any]) -> Callable[[Any, Context], AsyncIterator[Any]]:
        async def guarded(request: Any, context: Context) -> AsyncIterator[Any]:
            await self._admit(context)
            async for message in behavior(request, context):
                yield message

        return guarded


def quota_interceptor(per_min: int, burst: int, *, service: str) -> CallerQuotaInterceptor:
    """The interceptor for the settings' quota: a pass-through when `per_min` is 0 (quota disabled)."""
    quota = CallerQuota(per_min, burst) if per_min > 0 else None
    return CallerQuotaInterceptor(quota, service=service)


__all__ = [
    "CALLER_ID_METADATA_KEY",
    "MAX_CALLER_CHARS",
    "MAX_TRACKED_CALLERS",
    "CallerQuota",
    "CallerQuotaInterceptor",
    "caller_of",
    "peer_host",
    "quota_interceptor",
]
