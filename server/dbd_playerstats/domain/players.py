"""Turning the `player` field into a Steam identity, before any Steam call is spent on it.

Accepted forms: a SteamID64 (any instance bits; normalised to the individual-account instance 1 because the Web
API ignores the instance, so caches and the store see one id per account), a vanity name, or a
steamcommunity.com `/profiles/<id>` or `/id/<vanity>` URL (scheme and `www.` optional, trailing path ignored).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from dbd_playerstats.errors import InvalidPlayerError

STEAM_ID64_BASE = 76561197960265728
_UNIVERSE_PUBLIC = 1
_TYPE_INDIVIDUAL = 1
_INSTANCE_DESKTOP = 1
_MAX_ACCOUNT_ID = 2**32 - 1
_MAX_INPUT_CHARS = 256

# Vanity names seen in practice are 2-32 letters, digits, '_' and '-'; Steam does not publish the rule.
_VANITY_RE = re.compile(r"[A-Za-z0-9_-]{2,32}")
_DIGITS_RE = re.compile(r"[0-9]{1,20}")
_COMMUNITY_HOSTS = frozenset({"steamcommunity.com", "www.steamcommunity.com"})


@dataclass(frozen=True, slots=True)
class SteamId:
    """A normalised SteamID64 of an individual account, as a decimal string."""

    value: str


@dataclass(frozen=True, slots=True)
class Vanity:
    """A vanity name still to be resolved through ResolveVanityURL."""

    name: str


PlayerRef = SteamId | Vanity


def normalise_steam_id(raw: str) -> SteamId:
    """Validate a decimal SteamID64 and set its instance to 1; raise InvalidPlayerError otherwise."""
    if not _DIGITS_RE.fullmatch(raw):
        raise InvalidPlayerError(f"{_shown(raw)} is not a SteamID64 (17 decimal digits)")
    value = int(raw)
    universe = value >> 56
    account_type = (value >> 52) & 0xF
    account_id = value & 0xFFFFFFFF
    if value >= 2**64 or universe != _UNIVERSE_PUBLIC or account_type != _TYPE_INDIVIDUAL or account_id == 0:
        raise InvalidPlayerError(
            f"{_shown(raw)} is not the SteamID64 of an individual account "
            f"({STEAM_ID64_BASE + 1}..{STEAM_ID64_BASE + _MAX_ACCOUNT_ID})"
        )
    normalised = (universe << 56) | (account_type << 52) | (_INSTANCE_DESKTOP << 32) | account_id
    return SteamId(str(normalised))


@functools.lru_cache(maxsize=4096)
def parse_player(raw: str) -> PlayerRef:
    """Classify the `player` field; raise InvalidPlayerError with a message fit for the caller.

    Pure, so its answers are kept for the players asked most (a request parses its field twice, and a cache
    hit costs little else); errors are not kept, so invalid input cannot fill the cache.
    """
    text = raw.strip()
    if not text:
        raise InvalidPlayerError("player is empty: give a SteamID64, a vanity name or a profile URL")
    if len(text) > _MAX_INPUT_CHARS:
        raise InvalidPlayerError(f"player is {len(text)} characters long; at most {_MAX_INPUT_CHARS} are accepted")
    if "/" in text or text.lower().startswith(("http:", "https:", "steamcommunity.com")):
        return _parse_url(text)
    if text.isascii() and text.isdigit() and len(text) >= 16:
        return normalise_steam_id(text)
    if _VANITY_RE.fullmatch(text):
        return Vanity(text)
    raise InvalidPlayerError(
        f"{_shown(text)} is neither a SteamID64, a vanity name (2-32 letters, digits, '_' or '-') nor a "
        "steamcommunity.com profile URL"
    )


def _parse_url(text: str) -> PlayerRef:
    url = text if "://" in text else f"https://{text}"
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise InvalidPlayerError(f"{_shown(text)} is not a valid URL") from None
    if parts.scheme.lower() not in {"http", "https"} or host not in _COMMUNITY_HOSTS or port not in {None, 80, 443}:
        raise InvalidPlayerError(f"{_shown(text)} is not a steamcommunity.com profile URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidPlayerError(f"{_shown(text)} is not a steamcommunity.com profile URL")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) >= 2 and segments[0] == "profiles":
        return normalise_steam_id(segments[1])
    if len(segments) >= 2 and segments[0] == "id":
        if _VANITY_RE.fullmatch(segments[1]):
            return Vanity(segments[1])
        raise InvalidPlayerError(f"{_shown(segments[1])} is not a valid vanity name (2-32 letters, digits, '_' or '-')")
    raise InvalidPlayerError(
        f"{_shown(text)} is not a profile URL: expected steamcommunity.com/profiles/<SteamID64> or /id/<vanity>"
    )


def _shown(text: str) -> str:
    """Quote caller input for an error message, shortened so a huge field cannot bloat the status."""
    return repr(text if len(text) <= 64 else text[:61] + "...")


__all__ = ["STEAM_ID64_BASE", "PlayerRef", "SteamId", "Vanity", "normalise_steam_id", "parse_player"]
