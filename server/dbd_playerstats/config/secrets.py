"""Values that must never show themselves: the Steam key, and URLs that may carry a password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


class Secret:
    """A string that never shows itself in repr, str or logs (the Steam key)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SecretUrl(Secret):
    """A URL that may carry a password: hidden like a `Secret`, but `redacted()` shows it with `***` instead."""

    __slots__ = ()

    def password(self) -> str:
        """The password the URL carries (user info, else a `password=` query parameter); empty when none."""
        try:
            parts = urlsplit(self._value)
        except ValueError:
            return ""
        if parts.password:
            return parts.password
        for item in parts.query.split("&"):
            if item.startswith("password="):
                return item.removeprefix("password=")
        return ""

    def redacted(self) -> str:
        """The URL with its password (user info, or a `password=` query parameter) replaced by `***`."""
        try:
            parts = urlsplit(self._value)
            netloc = parts.netloc
            if parts.password is not None:
                host = parts.hostname or ""
                host = f"[{host}]" if ":" in host else host
                port = f":{parts.port}" if parts.port is not None else ""
                netloc = f"{parts.username or ''}:***@{host}{port}"
            query = "&".join(
                "password=***" if item.startswith("password=") else item for item in parts.query.split("&")
            )
            if (netloc, query) == (parts.netloc, parts.query):
                return self._value
            return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
        except ValueError:
            return "<unparseable URL>"


__all__ = ["Secret", "SecretUrl"]
