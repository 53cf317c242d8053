"""Who pays for a Steam call: the request that triggers it (quotas charge Steam spend, not RPCs).

The gRPC and Connect faces (`api/quota.py`) put a `Payer` for the caller in the request's context; every logical
Steam call (`ResilientUpstream.call`) charges the payer of the context it runs in, before its first attempt. A
cache hit, a request that joins a fetch in flight (the fetch runs in its starter's context) and a request refused
before any Steam call cost nothing. Work that belongs to no request (the catalog's background refresh, runs
with an empty context) has no payer and is charged to nobody. Retries are not charged: they are the service's
decision, bounded by the shared budget, not the caller's.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar, Token
from typing import Protocol


class Payer(Protocol):
    """Charged once per logical Steam call; raises a ServiceError (e.g. CallerQuotaExceededError) to refuse it."""

    def charge(self, endpoint: str) -> None: ...


_payer: ContextVar[Payer | None] = ContextVar("playerstats_payer", default=None)


def current_payer() -> Payer | None:
    """The payer of the running request, None outside one."""
    return _payer.get()


def charge(endpoint: str) -> None:
    """Charge one Steam call on `endpoint` to the running request's payer (nothing outside a request)."""
    payer = _payer.get()
    if payer is not None:
        payer.charge(endpoint)


def pay_with(payer: Payer | None) -> Token[Payer | None]:
    """Make `payer` the payer of this context (and of the tasks it starts from now); `reset_payer` undoes it."""
    return _payer.set(payer)


def reset_payer(token: Token[Payer | None]) -> None:
    """Undo `pay_with` (a no-op when the token belongs to another context, as after a generator moved tasks)."""
    with contextlib.suppress(ValueError):
        _payer.reset(token)


__all__ = ["Payer", "charge", "current_payer", "pay_with", "reset_payer"]
