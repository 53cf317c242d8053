"""Per-caller quotas: one busy caller cannot spend the Steam key's budget, nor the server's CPU.

Who the caller is, first found:

1. `cert:<subject>`: the verified client certificate's subject (`x509_subject`, else `x509_common_name`), only
   present under mutual TLS. A caller cannot choose another identity than its certificate's, whatever metadata
   it sends.
2. `id:<x-caller-id>`: the `x-caller-id` metadata the client package sends when given `caller_id`. Without mutual
   TLS this is the caller's word: it keeps cooperating services apart, it does not stop a hostile one (the
   Connect face ignores it under TLS with client certificates it cannot see, see `connect_context`).
3. `peer:<host>`: the peer address without its port, so that one host's connections share a bucket.

The prefixes keep the three namespaces apart (an `x-caller-id` of `10.0.0.7` cannot drain host 10.0.0.7's bucket).
Identities longer than `MAX_CALLER_CHARS` are shortened with a digest, so memory per caller stays bounded.

Two buckets per caller, the same exact GCRA as the Steam budget (`upstream.ratelimit.InMemoryTokenBucket`):

- **Steam calls** (`PLAYERSTATS_CALLER_QUOTA_PER_MIN` / `PLAYERSTATS_CALLER_BURST`): charged one token per
  logical Steam call the caller's request triggers (`upstream/spend.py`: a cache hit, joining a fetch in flight
  and an invalid request cost nothing; retries are not charged). A request's first Steam call needs a token
  (else CALLER_QUOTA_EXCEEDED before Steam is asked); its later calls are charged without refusal, possibly
  into debt, so that a stream admitted to Steam is never cut between its parts: the debt delays the caller's
  next request that needs Steam.
- **RPCs** (`PLAYERSTATS_CALLER_RPC_PER_MIN` / `PLAYERSTATS_CALLER_RPC_BURST`, much larger): one token per RPC,
  before its handler runs; it protects the server's CPU from a caller looping on cache hits.

A refusal is RESOURCE_EXHAUSTED `CALLER_QUOTA_EXCEEDED` with RetryInfo = the time until the caller's next token
and ErrorInfo metadata `caller` and `quota` (`steam_calls` or `rpcs`); it does not push the caller's next token
further. At most `max_callers` buckets of each kind are kept, least recently used evicted first; an evicted caller
starts again with a full bucket. Health and reflection are not metered.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import Token
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

import grpc

from dbd_playerstats.api.status import abort
from dbd_playerstats.config.settings import LimitsSettings
from dbd_playerstats.errors import CallerQuotaExceededError
from dbd_playerstats.upstream.policy import RateLimitPolicy
from dbd_playerstats.upstream.ratelimit import InMemoryTokenBucket, TokenUnavailable
from dbd_playerstats.upstream.spend import Payer, pay_with, reset_payer

log = logging.getLogger(__name__)

CALLER_ID_METADATA_KEY = "x-caller-id"
MAX_TRACKED_CALLERS = 10_000
MAX_CALLER_CHARS = 128
# A token due within a microsecond is due now: the rounding of float clock readings and emission intervals must
# not refuse a call whose token is exactly due. The shortest wait a refusal reports is a millisecond.
_DUE_NOW_SECS = 1e-6
_MIN_RETRY_AFTER_SECS = 0.001

Context = grpc.aio.ServicerContext[Any, Any]
QuotaKind = Literal["steam_calls", "rpcs"]
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
        try:
            self._bucket(caller).try_reserve(_DUE_NOW_SECS)
        except TokenUnavailable as exc:
            return max(exc.retry_after_secs, _MIN_RETRY_AFTER_SECS)
        return None

    def _bucket(self, caller: str) -> InMemoryTokenBucket:
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = self._buckets[caller] = InMemoryTokenBucket(self._policy, clock=self._clock)
        self._buckets.move_to_end(caller)
        while len(self._buckets) > self.max_callers:
            self._buckets.popitem(last=False)
        return bucket

    def force(self, caller: str) -> None:
        """Take one token of `caller` even if none is due (into debt): the next one comes that much later."""
        bucket = self._bucket(caller)
        bucket.try_reserve(math.inf)

    def check(self, caller: str, *, what: QuotaKind = "steam_calls") -> None:
        """Take one token of `caller` or raise CallerQuotaExceededError with the time to the next one."""
        wait = self.try_acquire(caller)
        if wait is None:
            return
        unit = "Steam calls" if what == "steam_calls" else "requests"
        raise CallerQuotaExceededError(
            f"caller {caller} exceeded its quota of {self.per_min} {unit} per minute (burst {self.burst}); "
            f"next allowed in {wait:.3g} s",
            caller=caller,
            retry_after=wait,
            quota=what,
        )


@dataclass(frozen=True, slots=True)
class CallerQuotas:
    """The two quotas every caller has (either None when disabled); `admit` is called once per RPC."""

    steam_calls: CallerQuota | None
    rpcs: CallerQuota | None

    @classmethod
    def from_settings(cls, limits: LimitsSettings) -> CallerQuotas | None:
        """The settings' quotas; None when both are disabled (`0`)."""
        steam = CallerQuota(limits.caller_quota_per_min, limits.caller_burst) if limits.caller_quota_per_min else None
        rpcs = CallerQuota(limits.caller_rpc_per_min, limits.caller_rpc_burst) if limits.caller_rpc_per_min else None
        return None if steam is None and rpcs is None else cls(steam, rpcs)

    def admit(self, caller: str) -> Payer | None:
        """Charge the RPC (CallerQuotaExceededError when the caller has no RPC token) and return the payer of its
        Steam calls (None: they are not metered)."""
        if self.rpcs is not None:
            self.rpcs.check(caller, what="rpcs")
        return None if self.steam_calls is None else CallerAccount(self.steam_calls, caller)


class CallerAccount:
    """One request's payer (`upstream.spend.Payer`): its first Steam call needs a token, the later ones are
    charged regardless (see the module docstring)."""

    __slots__ = ("_admitted", "caller", "quota")

    def __init__(self, quota: CallerQuota, caller: str) -> None:
        self.quota = quota
        self.caller = caller
        self._admitted = False

    def charge(self, endpoint: str) -> None:
        if self._admitted:
            self.quota.force(self.caller)
            return
        self.quota.check(self.caller)
        self._admitted = True


async def _admit(quotas: CallerQuotas, context: Context) -> Token[Payer | None]:
    """Charge the RPC and make its caller the payer of its Steam calls; abort when the caller has no RPC token."""
    try:
        payer = quotas.admit(caller_of(context))
    except CallerQuotaExceededError as exc:
        log.debug("%s", exc.message)
        await abort(context, exc)
    return pay_with(payer)


def guard_unary(quotas: CallerQuotas, behavior: Callable[..., Any]) -> Callable[[Any, Context], Awaitable[Any]]:
    """`behavior` behind the quotas (`api.handlers` applies it to each method, for gRPC and the Connect face)."""

    async def guarded(request: Any, context: Context) -> Any:
        token = await _admit(quotas, context)
        try:
            return await behavior(request, context)
        finally:
            reset_payer(token)

    return guarded


def guard_stream(quotas: CallerQuotas, behavior: Callable[..., Any]) -> Callable[[Any, Context], AsyncIterator[Any]]:
    """`guard_unary` for a server-streaming `behavior`."""

    async def guarded(request: Any, context: Context) -> AsyncIterator[Any]:
        token = await _admit(quotas, context)
        try:
            async for message in behavior(request, context):
                yield message
                del message  # not held while the stream waits for its next one (api.handlers)
        finally:
            reset_payer(token)

    return guarded


__all__ = [
    "CALLER_ID_METADATA_KEY",
    "MAX_CALLER_CHARS",
    "MAX_TRACKED_CALLERS",
    "CallerAccount",
    "CallerQuota",
    "CallerQuotas",
    "caller_of",
    "guard_stream",
    "guard_unary",
    "peer_host",
]
