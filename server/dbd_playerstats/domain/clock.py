"""The wall clock in UTC: when Steam produced an answer, when a merge happened, how old a stored copy is.

Named `UtcClock` apart from `dbd_playerstats.upstream.deadline.Clock` (monotonic seconds, for deadlines, waits
and budgets): fetch times are stored and shown to callers, so they are aware UTC datetimes, and tests pass a
`UtcClock` of their own to age what is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

UtcClock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the production `UtcClock`)."""
    return datetime.now(UTC)


__all__ = ["UtcClock", "utc_now"]
