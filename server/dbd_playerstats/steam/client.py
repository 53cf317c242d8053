"""The Steam Web API client: one method per endpoint over one shared `aiohttp.ClientSession`.

Data path of a call: ``SteamClient.get_*`` (builds the query) -> ``_get`` (one HTTP attempt, body read with a
size cap, aiohttp exceptions translated once by `translate_transport_errors`) -> ``_Reply`` (status, content
type, body, headers: the transport seam) -> a pure parser of `dbd_playerstats.steam.parse` (status and body
classified into a model value or a `SteamError`). No retries here: one call is one attempt; retry, breaker and
rate-limit policies live above.

The API key travels only in the query string built by aiohttp from ``params=``: our messages are made from the
endpoint name (and status), ``repr(client)`` omits the key, and an aiohttp exception whose text holds the request
URL (a connection-pool timeout, a malformed response) is not chained, so a logged traceback cannot show it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

import aiohttp
import yarl

from dbd_playerstats.steam.errors import (
    SteamBadResponseError,
    SteamError,
    SteamNotFoundError,
    SteamTimeoutError,
    SteamTransportError,
)
from dbd_playerstats.steam.models import (
    GameSchema,
    GlobalPercentages,
    PlayerAchievements,
    PlayerSummary,
    UserStats,
)
from dbd_playerstats.steam.parse import (
    ACHIEVEMENTS,
    PROFILE,
    RARITY,
    SCHEMA,
    STATS,
    VANITY,
    parse_global_percentages,
    parse_player_achievements,
    parse_player_summaries,
    parse_schema,
    parse_user_stats,
    parse_vanity,
)

DEFAULT_BASE_URL: Final = "https://api.steampowered.com"
DBD_APP_ID: Final = 381210
DEFAULT_LANGUAGE: Final = "english"
DEFAULT_MAX_BODY_BYTES: Final = 8 * 1024 * 1024
"""Largest body read (after decompression), in bytes: DBD's schema is about 100 KiB, 8 MiB is far beyond it."""
DEFAULT_SESSION_TIMEOUT: Final = 30.0
"""Total seconds per request for a session created by `SteamClient.create`, used when a call passes no timeout."""
MAX_SUMMARY_IDS: Final = 100
"""GetPlayerSummaries accepts at most this many ids per call."""

_READ_CHUNK: Final = 64 * 1024

_TRANSPORT_ERRORS: Final[tuple[tuple[type[BaseException], type[SteamTransportError], str], ...]] = (
    # TimeoutError is asyncio.TimeoutError on 3.11+; aiohttp's ServerTimeoutError, ConnectionTimeoutError and
    # SocketTimeoutError derive from it, so this row must come before the connection-error row.
    (TimeoutError, SteamTimeoutError, "timed out"),
    (aiohttp.ClientConnectionError, SteamTransportError, "connection failed"),
    (aiohttp.ClientPayloadError, SteamTransportError, "response body cut short"),
    (aiohttp.ClientResponseError, SteamTransportError, "malformed HTTP response"),
    (aiohttp.ClientError, SteamTransportError, "HTTP client error"),
    (OSError, SteamTransportError, "socket error"),
)
"""aiohttp / asyncio exception -> SteamError class and reason, most specific first; first match wins."""


@contextmanager
def translate_transport_errors(endpoint: str, *, steam_id: str | None = None, secret: str = "") -> Iterator[None]:
    """Re-raise the exceptions of `_TRANSPORT_ERRORS` as their SteamError, chained with ``from``.

    `SteamError`s and `BaseException`s (``asyncio.CancelledError`` above all) pass through untouched; an
    exception with no row propagates as it is (a bug to fix by adding a row). When ``secret`` (the API key) occurs
    in the text of the original exception or of its own cause/context, the new error is raised ``from None`` so
    the secret cannot reach a traceback; its message still names the original exception type.
    """
    try:
        yield
    except SteamError:
        raise
    except Exception as exc:
        for source, target, reason in _TRANSPORT_ERRORS:
            if isinstance(exc, source):
                error = target(f"{endpoint}: {reason} ({type(exc).__name__})", endpoint=endpoint, steam_id=steam_id)
                if secret and _mentions(exc, secret):
                    raise error from None
                raise error from exc
        raise


def _mentions(exc: BaseException, secret: str) -> bool:
    """Whether ``secret`` appears in the str or repr of ``exc`` or of any exception chained to it."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        try:
            text = f"{current!s} {current!r}"
        except Exception:
            # An exception whose str() fails cannot be checked: treat it as unsafe to chain.
            return True
        if secret in text:
            return True
        pending.extend((current.__cause__, current.__context__))
    return False


@dataclass(frozen=True, slots=True)
class _Reply:
    """What one HTTP attempt received: the whole input of a parser."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str]

    @property
    def args(self) -> tuple[int, str, bytes, Mapping[str, str]]:
        """The positional arguments of every parser."""
        return self.status, self.content_type, self.body, self.headers


class SteamClient:
    """Typed calls to the six Steam Web API endpoints the service uses, one HTTP attempt each.

    The client borrows ``session`` (it never closes a session it was given) unless built by `create`, which
    makes and owns one that `aclose` (or leaving ``async with``) closes. Every method takes ``timeout``: the
    total seconds for this attempt (connection, headers and body), or None for the session's own timeout; a
    timeout <= 0 raises SteamTimeoutError at once without sending anything (aiohttp would read it as "none").
    Every failure is a `SteamError` (see `dbd_playerstats.steam.errors`); invalid arguments raise ValueError.
    """

    __slots__ = ("_api_key", "_app_id", "_base_url", "_language", "_max_body_bytes", "_owns_session", "_session")

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        app_id: int = DBD_APP_ID,
        language: str = DEFAULT_LANGUAGE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        """Wrap ``session``; ``base_url`` is absolute http(s), without query, e.g. https://api.steampowered.com."""
        url = yarl.URL(base_url)
        if not url.absolute or url.scheme not in {"http", "https"} or url.query_string or url.fragment:
            raise ValueError("base_url must be an absolute http(s) URL without query or fragment")
        if app_id <= 0:
            raise ValueError("app_id must be positive")
        if max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        self._session = session
        self._base_url = str(url).rstrip("/")
        self._api_key = api_key
        self._app_id = app_id
        self._language = language
        self._max_body_bytes = max_body_bytes
        self._owns_session = False

    @classmethod
    async def create(
        cls,
        base_url: str,
        api_key: str,
        *,
        app_id: int = DBD_APP_ID,
        language: str = DEFAULT_LANGUAGE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        default_timeout: float | None = DEFAULT_SESSION_TIMEOUT,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> Self:
        """A client owning a new session (``default_timeout`` total seconds per request, None for none).

        Must run inside the event loop that will use it; close it with `aclose` or ``async with``.
        ``trace_configs`` lets telemetry instrument the session (e.g. OpenTelemetry's aiohttp trace config).
        """
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=default_timeout), trace_configs=list(trace_configs) or None
        )
        try:
            client = cls(
                session,
                base_url=base_url,
                api_key=api_key,
                app_id=app_id,
                language=language,
                max_body_bytes=max_body_bytes,
            )
        except BaseException:
            await session.close()
            raise
        client._owns_session = True
        return client

    async def aclose(self) -> None:
        """Close the session if this client created it (idempotent); a borrowed session is left open."""
        if self._owns_session and not self._session.closed:
            await self._session.close()

    async def __aenter__(self) -> Self:
        """Enter ``async with``; the client is usable as it is."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Leave ``async with``: `aclose`."""
        await self.aclose()

    def __repr__(self) -> str:
        """Everything but the key."""
        return (
            f"{type(self).__name__}(base_url={self._base_url!r}, app_id={self._app_id!r}, "
            f"language={self._language!r}, owns_session={self._owns_session!r})"
        )

    @property
    def base_url(self) -> str:
        """The base URL calls are made against, without a trailing slash."""
        return self._base_url

    @property
    def app_id(self) -> int:
        """The Steam app id queried (381210 for Dead by Daylight)."""
        return self._app_id

    @property
    def language(self) -> str:
        """The language of schema display names and descriptions (Steam's ``l`` parameter)."""
        return self._language

    # ----------------------------------------------------------------------------------------------------------
    # Endpoints
    # ----------------------------------------------------------------------------------------------------------

    async def get_user_stats(self, steam_id: str, *, timeout: float | None = None) -> UserStats:
        """GetUserStatsForGame: every DBD stat of the player (SteamNoStatsError when Steam has none)."""
        _check_steam_id(steam_id)
        reply = await self._get(
            STATS,
            "/ISteamUserStats/GetUserStatsForGame/v2/",
            {"key": self._api_key, "steamid": steam_id, "appid": str(self._app_id)},
            timeout=timeout,
            steam_id=steam_id,
        )
        return parse_user_stats(*reply.args, steam_id=steam_id)

    async def get_player_achievements(self, steam_id: str, *, timeout: float | None = None) -> PlayerAchievements:
        """GetPlayerAchievements: achieved flags and unlock times (SteamProfilePrivateError when private)."""
        _check_steam_id(steam_id)
        reply = await self._get(
            ACHIEVEMENTS,
            "/ISteamUserStats/GetPlayerAchievements/v1/",
            {"key": self._api_key, "steamid": steam_id, "appid": str(self._app_id)},
            timeout=timeout,
            steam_id=steam_id,
        )
        return parse_player_achievements(*reply.args, steam_id=steam_id)

    async def get_schema(self, *, timeout: float | None = None) -> GameSchema:
        """GetSchemaForGame in the client's language: achievement names, descriptions, hidden flags, stat names."""
        reply = await self._get(
            SCHEMA,
            "/ISteamUserStats/GetSchemaForGame/v2/",
            {"key": self._api_key, "appid": str(self._app_id), "l": self._language},
            timeout=timeout,
        )
        return parse_schema(*reply.args)

    async def get_global_percentages(self, *, timeout: float | None = None) -> GlobalPercentages:
        """GetGlobalAchievementPercentagesForApp: percent of players per achievement (no key is sent)."""
        reply = await self._get(
            RARITY,
            "/ISteamUserStats/GetGlobalAchievementPercentagesForApp/v2/",
            {"gameid": str(self._app_id)},
            timeout=timeout,
        )
        return parse_global_percentages(*reply.args)

    async def get_player_summaries(
        self, steam_ids: Sequence[str], *, timeout: float | None = None
    ) -> dict[str, PlayerSummary]:
        """GetPlayerSummaries for up to 100 distinct ids: steam id -> summary; unknown ids are absent.

        Duplicates are sent once; more than 100 distinct ids raise ValueError; no ids return {} without a call.
        """
        _, summaries = await self._summaries(steam_ids, timeout=timeout)
        return summaries

    async def get_player_summary(self, steam_id: str, *, timeout: float | None = None) -> PlayerSummary:
        """GetPlayerSummaries for one id; SteamNotFoundError when Steam does not know it."""
        status, summaries = await self._summaries([steam_id], timeout=timeout)
        summary = summaries.get(steam_id)
        if summary is None:
            raise SteamNotFoundError(
                f"{PROFILE}: HTTP {status}: no such player", endpoint=PROFILE, status=status, steam_id=steam_id
            )
        return summary

    async def resolve_vanity(self, vanity: str, *, timeout: float | None = None) -> str:
        """ResolveVanityURL: the SteamID64 of a vanity name (the name only, not the profile URL).

        SteamNotFoundError when no profile has that name.
        """
        if not vanity or not vanity.strip():
            raise ValueError("vanity must be a non-empty name")
        reply = await self._get(
            VANITY, "/ISteamUser/ResolveVanityURL/v1/", {"key": self._api_key, "vanityurl": vanity}, timeout=timeout
        )
        return parse_vanity(*reply.args)

    # ----------------------------------------------------------------------------------------------------------
    # One attempt
    # ----------------------------------------------------------------------------------------------------------

    async def _summaries(
        self, steam_ids: Sequence[str], *, timeout: float | None
    ) -> tuple[int, dict[str, PlayerSummary]]:
        """The status and parsed answer of one GetPlayerSummaries call (status 200, {} for no ids)."""
        if isinstance(steam_ids, str):
            raise TypeError("steam_ids must be a sequence of ids, not one string")
        ids = list(dict.fromkeys(steam_ids))
        for steam_id in ids:
            _check_steam_id(steam_id)
        if len(ids) > MAX_SUMMARY_IDS:
            raise ValueError(f"at most {MAX_SUMMARY_IDS} distinct steam ids per call, got {len(ids)}")
        if not ids:
            return 200, {}
        only = ids[0] if len(ids) == 1 else None
        reply = await self._get(
            PROFILE,
            "/ISteamUser/GetPlayerSummaries/v2/",
            {"key": self._api_key, "steamids": ",".join(ids)},
            timeout=timeout,
            steam_id=only,
        )
        return reply.status, parse_player_summaries(*reply.args, steam_id=only)

    async def _get(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str],
        *,
        timeout: float | None,
        steam_id: str | None = None,
    ) -> _Reply:
        """One GET: the reply whatever its status, or a SteamError for a failed exchange or an oversized body."""
        if timeout is not None and timeout <= 0:
            raise SteamTimeoutError(f"{endpoint}: no time left for the attempt", endpoint=endpoint, steam_id=steam_id)
        client_timeout = self._session.timeout if timeout is None else aiohttp.ClientTimeout(total=timeout)
        with translate_transport_errors(endpoint, steam_id=steam_id, secret=self._api_key):
            async with self._session.get(
                self._base_url + path,
                params=params,
                timeout=client_timeout,
                allow_redirects=False,
                # Statuses are classified by the parser; override a session that would raise on them.
                raise_for_status=False,
            ) as response:
                status = response.status
                if 200 <= status <= 299 and (response.content_length or 0) > self._max_body_bytes:
                    raise self._too_large(endpoint, status, steam_id)
                body, truncated = await _read_capped(response, self._max_body_bytes)
                if truncated and 200 <= status <= 299:
                    raise self._too_large(endpoint, status, steam_id)
                # A truncated error page still classifies by its status (and the prefix we kept).
                content_type = response.headers.get(aiohttp.hdrs.CONTENT_TYPE, "")
                return _Reply(status, content_type, body, response.headers)

    def _too_large(self, endpoint: str, status: int, steam_id: str | None) -> SteamBadResponseError:
        """The error for a successful answer whose body exceeds the cap."""
        return SteamBadResponseError(
            f"{endpoint}: HTTP {status}: body larger than {self._max_body_bytes} bytes",
            endpoint=endpoint,
            status=status,
            steam_id=steam_id,
        )


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the (decompressed) body, and whether more was there."""
    buffer = bytearray()
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        buffer += chunk
        if len(buffer) > limit:
            return bytes(buffer[:limit]), True
    return bytes(buffer), False


def _check_steam_id(steam_id: str) -> None:
    """Refuse what cannot be a SteamID64 (it would also corrupt GetPlayerSummaries' comma list)."""
    if not (isinstance(steam_id, str) and 0 < len(steam_id) <= 20 and steam_id.isascii() and steam_id.isdigit()):
        raise ValueError("steam_id must be a SteamID64 as a string of decimal digits")


__all__ = [
    "DBD_APP_ID",
    "DEFAULT_BASE_URL",
    "DEFAULT_LANGUAGE",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_SESSION_TIMEOUT",
    "MAX_SUMMARY_IDS",
    "SteamClient",
    "translate_transport_errors",
]
