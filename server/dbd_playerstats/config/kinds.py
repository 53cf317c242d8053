"""The kinds of value a variable may hold: how its text is parsed and, in the same place, what is allowed.

A kind's `convert` gets the stripped text and raises ValueError (its message is not used) for text it refuses;
`allowed` is the phrase the error ("expected ...") and the README's table show.
"""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import urlsplit

from dbd_playerstats.config.declare import Kind
from dbd_playerstats.config.secrets import Secret, SecretUrl


def number(*, minimum: float, maximum: float | None = None) -> Kind[float]:
    """A finite float >= `minimum` (and <= `maximum` when given)."""

    def convert(raw: str) -> float:
        value = float(raw)
        if not math.isfinite(value) or value < minimum or (maximum is not None and value > maximum):
            raise ValueError(raw)
        return value

    low = _decimal(minimum)
    allowed = f"a number >= {low}" if maximum is None else f"a number from {low} to {_decimal(maximum)}"
    return Kind(allowed, convert)


def _decimal(value: float) -> str:
    """`value` as written by hand (`2147483`, `0.05`), never in exponent notation."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def whole(*, minimum: int, maximum: int | None = None) -> Kind[int]:
    """An int >= `minimum` (and <= `maximum` when given)."""

    def convert(raw: str) -> int:
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(raw)
        return value

    allowed = f"a whole number >= {minimum}" if maximum is None else f"a whole number from {minimum} to {maximum}"
    return Kind(allowed, convert)


def _boolean(raw: str) -> bool:
    value = raw.lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


BOOLEAN = Kind("true or false (also 1/0, yes/no, on/off)", _boolean)


def one_of(*choices: str, upper: bool = False) -> Kind[str]:
    """One of `choices`, compared (and returned) upper- or lower-cased."""

    def convert(raw: str) -> str:
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            raise ValueError(raw)
        return value

    return Kind(f"one of {', '.join(choices)}" if len(choices) > 1 else choices[0], convert)


def _listen(raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if raw.startswith("unix:"):
        return raw
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(raw)
    return raw


LISTEN = Kind("HOST:PORT such as [::]:50051 or 127.0.0.1:50051, or unix:PATH", _listen)
OPTIONAL_LISTEN = Kind(
    "empty (off), or HOST:PORT such as 127.0.0.1:8080, or unix:PATH", lambda raw: _listen(raw) if raw else ""
)


def _http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")) or len(raw) <= len("https://"):
        raise ValueError(raw)
    return raw.rstrip("/")


HTTP_URL = Kind("an http:// or https:// URL", _http_url)


def _database_url(raw: str) -> Secret:
    if raw and not raw.startswith(("postgresql://", "postgres://")):
        raise ValueError("not postgresql://")
    return Secret(raw)


DATABASE_URL = Kind("empty (embedded SQLite) or a postgresql:// URL", _database_url)


def _redis_url(raw: str) -> SecretUrl:
    if not raw:
        return SecretUrl(raw)
    try:
        parts = urlsplit(raw)
        _ = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        parts = None
    valid = parts is not None and (
        bool(parts.path) if parts.scheme == "unix" else parts.scheme in {"redis", "rediss"} and bool(parts.hostname)
    )
    if not valid:
        raise ValueError("not a Redis URL")
    return SecretUrl(raw)


REDIS_URL = Kind("empty (in-process state) or a redis://, rediss:// or unix:// URL", _redis_url)


def _key_prefix(raw: str) -> str:
    if not raw or len(raw) > 100 or not raw.isprintable() or " " in raw:
        raise ValueError(raw)
    return raw


KEY_PREFIX = Kind("1 to 100 printable characters without spaces", _key_prefix)


def _directory(raw: str) -> Path:
    if not raw:
        raise ValueError(raw)
    return Path(raw)


DIRECTORY = Kind("a directory path", _directory)
OPTIONAL_FILE = Kind("empty or a file path", lambda raw: Path(raw) if raw else None)
SECRET = Kind("any text (never logged)", Secret)
TEXT = Kind("any text", str)
LOWERCASE = Kind("any text (compared in lower case)", str.lower)


def _optional_port(raw: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ValueError(raw)
    return int(raw)


OPTIONAL_PORT = Kind("empty (none) or a port 0-65535 (0 = any free port)", _optional_port)


__all__ = [
    "BOOLEAN",
    "DATABASE_URL",
    "DIRECTORY",
    "HTTP_URL",
    "KEY_PREFIX",
    "LISTEN",
    "LOWERCASE",
    "OPTIONAL_FILE",
    "OPTIONAL_LISTEN",
    "OPTIONAL_PORT",
    "REDIS_URL",
    "SECRET",
    "TEXT",
    "number",
    "one_of",
    "whole",
]
