"""The key gate: once Steam refuses the service's key, stop asking Steam with it for a while.

A refused key (HTTP 403 "verify your key=", or 400 "key is missing") is the operator's to fix, and every request
would be refused the same way: calling Steam again only spends the budget and Steam's patience. So for
`pause_secs` after a refusal every attempt fails at once with `SteamKeyRejectedError`, as the refusal itself did,
without an HTTP request; the first attempt after the pause asks Steam again (a fixed key is seen then). A refused
key is not a breaker failure (errors.py): the breaker's UPSTREAM_CIRCUIT_OPEN would hide the cause from callers.

The gate is per process (each replica learns of a refused key with one call of its own). `KeyRefused` and
`KeyAccepted` events mark its changes: a WARNING log line, and the `dbd.playerstats.v1.SteamKey` health status
(app.py) NOT_SERVING until Steam accepts the key again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from dbd_playerstats.steam.errors import SteamKeyRejectedError
from dbd_playerstats.upstream.deadline import Clock
from dbd_playerstats.upstream.events import KeyAccepted, KeyRefused, ResilienceEvent

log = logging.getLogger(__name__)


class KeyGate:
    """Refuses attempts for `pause_secs` after Steam refused the key (0: never refuses, only reports)."""

    def __init__(
        self, pause_secs: float, *, emit: Callable[[ResilienceEvent], None], clock: Clock = time.monotonic
    ) -> None:
        self._pause_secs = pause_secs
        self._emit = emit
        self._clock = clock
        self._refused_until: float | None = None  # set while the last word about the key was a refusal

    @property
    def refused(self) -> bool:
        """Whether Steam's last word about the key was a refusal (until an attempt succeeds)."""
        return self._refused_until is not None

    def check(self, endpoint: str, *, steam_id: str | None = None) -> None:
        """Raise SteamKeyRejectedError, without asking Steam, while the pause after a refusal lasts."""
        if self._refused_until is None:
            return
        left = self._refused_until - self._clock()
        if left > 0:
            raise SteamKeyRejectedError(
                f"Steam refused the API key; not asking Steam again for {left:.1f}s",
                endpoint=endpoint,
                steam_id=steam_id,
            )

    def observe(self, endpoint: str, exc: BaseException | None) -> None:
        """Note how an attempt that reached Steam ended: a refused key starts a pause, a success ends the state."""
        if isinstance(exc, SteamKeyRejectedError):
            first = self._refused_until is None
            self._refused_until = self._clock() + self._pause_secs
            if first:
                log.warning(
                    "Steam refused the API key (%s call); not calling Steam for %.0fs at a time until it accepts "
                    "it: replace STEAM_API_KEY",
                    endpoint,
                    self._pause_secs,
                )
            self._emit(KeyRefused(endpoint, self._pause_secs))
        elif exc is None and self._refused_until is not None:
            self._refused_until = None
            log.warning("Steam accepts the API key again (%s call)", endpoint)
            self._emit(KeyAccepted(endpoint))


__all__ = ["KeyGate"]
