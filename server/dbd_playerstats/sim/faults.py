"""Fault injection values: what can go wrong with a Steam answer, and the bytes each fault sends.

A `Fault` is an immutable description; `SimState` queues them (scripted, FIFO per endpoint, optionally
restricted to one player) or draws them at random (`ErrorRate`, seeded). Most kinds replace the answer with
a body built by `fault_answer`; two act on the connection instead and are carried out by the app:

- `timeout`: sleep `stall_seconds`, then answer normally (the client's own timeout should fire first);
- `reset`: close the TCP connection without writing a byte.

Note for tests: aiohttp's client silently retries an idempotent request once after a disconnect, so a GET
surfaces `reset` as an error only when two resets are queued in a row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from dbd_playerstats.sim.answers import HTML_TYPE, JSON_TYPE, Answer, forbidden_key, html_answer


class FaultKind(StrEnum):
    """The fault kinds; the values are the names used by the admin API and the command line."""

    HTTP_500 = "http_500"
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    HTML_200 = "html_200"
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    TRUNCATED_JSON = "truncated_json"
    MALFORMED_JSON = "malformed_json"
    WRONG_SHAPE = "wrong_shape"
    RESET = "reset"
    BAD_KEY = "bad_key"


DEFAULT_STALL_SECONDS: Final = 30.0


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure.

    `retry_after` (rate_limit only) is sent verbatim as the Retry-After header, e.g. "2" or an HTTP date;
    None sends no header, as Steam usually does. `stall_seconds` (timeout only) is how long the answer is
    held back. `steam_id`, when set, restricts a scripted fault to requests about that player (for
    GetPlayerSummaries: requests whose `steamids` list contains it); None matches every request.
    """

    kind: FaultKind
    retry_after: str | None = None
    stall_seconds: float = DEFAULT_STALL_SECONDS
    steam_id: str | None = None

    def __post_init__(self) -> None:
        # Coerce plain strings so Fault("http_503") works from scripts and JSON alike.
        object.__setattr__(self, "kind", FaultKind(self.kind))
        if self.retry_after is not None and self.kind is not FaultKind.RATE_LIMIT:
            raise ValueError("retry_after applies only to rate_limit faults")
        if not (math.isfinite(self.stall_seconds) and self.stall_seconds >= 0):
            raise ValueError(f"stall_seconds must be a finite number >= 0, got {self.stall_seconds!r}")

    def matches(self, steam_ids: tuple[str, ...]) -> bool:
        """Whether this fault applies to a request about `steam_ids` (empty for schema, rarity, vanity)."""
        return self.steam_id is None or self.steam_id in steam_ids

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """Build from the admin API's `{"kind": ..., "retry_after"?, "stall_seconds"?, "steam_id"?}`."""
        unknown = set(data) - {"kind", "retry_after", "stall_seconds", "steam_id"}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        if "kind" not in data:
            raise ValueError("a fault needs a 'kind'")
        retry_after = data.get("retry_after")
        steam_id = data.get("steam_id")
        stall = data.get("stall_seconds", DEFAULT_STALL_SECONDS)
        if retry_after is not None and not isinstance(retry_after, str):
            raise TypeError("retry_after must be a string (sent verbatim as the header)")
        if steam_id is not None and not isinstance(steam_id, str):
            raise TypeError("steam_id must be a string")
        if isinstance(stall, bool) or not isinstance(stall, int | float):
            raise TypeError("stall_seconds must be a number")
        return cls(FaultKind(data["kind"]), retry_after, float(stall), steam_id)


@dataclass(frozen=True, slots=True)
class ErrorRate:
    """Answer with `fault` with probability `probability` (0-1) per request, drawn from an RNG seeded with
    `seed`, so the n-th request of a run gets the same outcome every time."""

    fault: Fault
    probability: float
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {self.probability!r}")


# The top-level key each endpoint's body is read through, for shape-breaking faults.
_TOP_KEYS: Final[dict[str, str]] = {
    "stats": "playerstats",
    "achievements": "playerstats",
    "schema": "game",
    "rarity": "achievementpercentages",
    "profile": "response",
    "vanity": "response",
}

_MAINTENANCE_PAGE: Final = (
    "<!DOCTYPE html><html><head><title>Steam Maintenance</title></head><body>"
    "<h1>Steam is currently down for maintenance</h1>"
    "<p>Please try again later.</p></body></html>"
)


def _wrong_shape(endpoint: str) -> bytes:
    """Valid JSON whose top-level member has the wrong type: a list where an object belongs, or a string."""
    key = _TOP_KEYS[endpoint]
    value: object = "x" if key == "response" else []
    return json.dumps({key: value}).encode()


def fault_answer(fault: Fault, endpoint: str, real: Answer | None = None) -> Answer:
    """The answer `fault` sends instead of the real one.

    `real` is needed only by `truncated_json` (its body is cut in half, whatever its status was).
    `timeout` and `reset` have no answer of their own: they raise ValueError here.
    """
    kind = fault.kind
    if kind is FaultKind.HTTP_500:
        return html_answer(500, "Internal Server Error")
    if kind is FaultKind.HTTP_502:
        return html_answer(502, "Bad Gateway")
    if kind is FaultKind.HTTP_503:
        return html_answer(503, "Service Unavailable")
    if kind is FaultKind.HTML_200:
        return Answer(200, HTML_TYPE, _MAINTENANCE_PAGE.encode())
    if kind is FaultKind.RATE_LIMIT:
        limited = html_answer(429, "Too Many Requests")
        headers = () if fault.retry_after is None else (("Retry-After", fault.retry_after),)
        return Answer(limited.status, limited.content_type, limited.body, headers)
    if kind is FaultKind.BAD_KEY:
        return forbidden_key()
    if kind is FaultKind.TRUNCATED_JSON:
        if real is None:
            raise ValueError("truncated_json needs the real answer")
        return Answer(200, JSON_TYPE, real.body[: len(real.body) // 2])
    if kind is FaultKind.MALFORMED_JSON:
        return Answer(200, JSON_TYPE, f'{{"{_TOP_KEYS[endpoint]}": {{"success": true,, }}'.encode())
    if kind is FaultKind.WRONG_SHAPE:
        return Answer(200, JSON_TYPE, _wrong_shape(endpoint))
    raise ValueError(f"{kind} acts on the connection, not on the answer")


__all__ = ["DEFAULT_STALL_SECONDS", "ErrorRate", "Fault", "FaultKind", "fault_answer"]
