"""Helpers for the tests of the Connect (JSON/HTTP) face: a plain aiohttp client, no Connect library.

Connect wire format, as the tests read it: a unary error is HTTP 4xx/5xx with a JSON body
``{"code": "unavailable", "message": ..., "details": [{"type": "google.rpc.ErrorInfo", "value": <base64>}]}``; a
stream is a sequence of envelopes (1 flag byte, 4-byte big-endian length, message), the last one flagged 0x02
and holding ``{}`` or ``{"error": {...}}``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from typing import Any

from google.rpc import error_details_pb2

from dbd_playerstats.config.settings import Settings

SERVICE_PATH = "/dbd.playerstats.v1.PlayerStatsService"
END_STREAM_FLAG = 0x02


def with_http(settings: Settings, listen: str = "127.0.0.1:0") -> Settings:
    """`settings` with the HTTP face on `listen`."""
    return replace(settings, server=replace(settings.server, http_listen=listen))


@dataclass(frozen=True)
class ConnectFailure:
    """What a Connect error says: the code, the ErrorInfo reason and domain, the RetryInfo delay (or None)."""

    code: str
    message: str
    reason: str
    domain: str
    retry_secs: float | None


def connect_failure(error: dict[str, Any]) -> ConnectFailure:
    """Decode the `details` of a Connect error JSON with google.protobuf (the types are google.rpc's)."""
    reason, domain, retry = "", "", None
    for detail in error.get("details", []):
        raw = base64.b64decode(detail["value"] + "=" * (-len(detail["value"]) % 4))
        if detail["type"] == "google.rpc.ErrorInfo":
            info = error_details_pb2.ErrorInfo.FromString(raw)
            reason, domain = info.reason, info.domain
        elif detail["type"] == "google.rpc.RetryInfo":
            retry = error_details_pb2.RetryInfo.FromString(raw).retry_delay.ToTimedelta().total_seconds()
    return ConnectFailure(error["code"], error.get("message", ""), reason, domain, retry)


def envelope(message: dict[str, Any]) -> bytes:
    """One Connect streaming request envelope holding `message` as JSON."""
    body = json.dumps(message).encode()
    return b"\x00" + len(body).to_bytes(4, "big") + body


def split_envelopes(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(flags, JSON message) of every envelope in a Connect streaming response body."""
    frames: list[tuple[int, dict[str, Any]]] = []
    at = 0
    while at < len(data):
        assert len(data) - at >= 5, "a truncated envelope header"
        flags, size = data[at], int.from_bytes(data[at + 1 : at + 5], "big")
        frames.append((flags, json.loads(data[at + 5 : at + 5 + size])))
        at += 5 + size
    return frames


__all__ = [
    "END_STREAM_FLAG",
    "SERVICE_PATH",
    "ConnectFailure",
    "connect_failure",
    "envelope",
    "split_envelopes",
    "with_http",
]
