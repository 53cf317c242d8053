"""The time an RPC may still spend, handed down to every Steam attempt.

gRPC Python does not propagate deadlines, so the servicer builds one `Deadline` per RPC from
min(caller's remaining time, OVERALL_TIMEOUT_SECS), and each attempt gets min(API_TIMEOUT_SECS, time left).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute point on `clock` (monotonic seconds) after which no more upstream work may start."""

    expires_at: float
    clock: Clock = time.monotonic

    @classmethod
    def after(cls, seconds: float, clock: Clock = time.monotonic) -> Deadline:
        return cls(clock() + max(seconds, 0.0), clock)

    @classmethod
    def for_rpc(cls, caller_remaining: float | None, overall_secs: float, clock: Clock = time.monotonic) -> Deadline:
        """The tighter of the caller's remaining time (None: no deadline) and our overall budget."""
        budget = overall_secs if caller_remaining is None else min(caller_remaining, overall_secs)
        return cls.after(budget, clock)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(self.expires_at - self.clock(), 0.0)

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def attempt_timeout(self, api_timeout_secs: float) -> float:
        """Time budget of one attempt started now."""
        return min(api_timeout_secs, self.remaining())


__all__ = ["Clock", "Deadline"]
