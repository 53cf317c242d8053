"""Every way a Steam Web API call can fail, as one exception tree.

The Steam client translates aiohttp exceptions, HTTP statuses and body shapes into these classes in one place
(`dbd_playerstats.steam.client`), so the layers above never see aiohttp or raw JSON::

    SteamError                      endpoint, status, retry_after, steam_id on every instance
    ├── SteamTransportError         the request did not complete (connection refused/reset, DNS, TLS)
    │   └── SteamTimeoutError       no (complete) answer within the attempt's time budget
    ├── SteamRateLimitedError       HTTP 429; retry_after in seconds when Steam sent Retry-After
    ├── SteamServerError            HTTP 5xx, or a 200 carrying an HTML maintenance page
    ├── SteamKeyRejectedError       403 HTML "verify your key=" or 400 "Parameter 'key' is missing": operator fault
    ├── SteamClientError            any other 4xx that does not describe the player
    ├── SteamBadResponseError       a 2xx body that is not JSON of the documented shape
    └── SteamPlayerError            the answer is about the player, not about Steam's health (never retried)
        ├── SteamProfilePrivateError    403 {"playerstats":{"error":"Profile is not public"}}
        ├── SteamNoStatsError           no DBD stats: 400 "Requested app has no stats", 400 {}, or 200 without
        │                               "stats" (ambiguous: private, never played or unknown; see fetch.py)
        └── SteamNotFoundError          vanity "No match" (success 42), or an id missing from GetPlayerSummaries

Messages never contain the key: the client builds them from the endpoint name, never from the request URL.
"""

from __future__ import annotations


class SteamError(Exception):
    """Base of every Steam failure.

    `endpoint` is the short endpoint name ("stats", "achievements", "schema", "rarity", "profile", "vanity");
    `status` the HTTP status when one was received (else None); `retry_after` seconds Steam asked us to wait
    (None when it did not say); `steam_id` the player concerned, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status: int | None = None,
        retry_after: float | None = None,
        steam_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.status = status
        self.retry_after = retry_after
        self.steam_id = steam_id

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, endpoint={self.endpoint!r}, status={self.status!r}, "
            f"retry_after={self.retry_after!r}, steam_id={self.steam_id!r})"
        )


class SteamTransportError(SteamError):
    """The request did not complete: connection refused or reset, DNS or TLS failure, payload cut short."""


class SteamTimeoutError(SteamTransportError):
    """No complete answer within the attempt's time budget."""


class SteamRateLimitedError(SteamError):
    """HTTP 429. `retry_after` is the parsed Retry-After (seconds or HTTP date) or None."""


class SteamServerError(SteamError):
    """HTTP 5xx, or a 200 whose body is an HTML maintenance page."""


class SteamKeyRejectedError(SteamError):
    """Steam refused our API key (403 HTML page, or 400 "key is missing"): the operator must act."""


class SteamClientError(SteamError):
    """Any other 4xx that says nothing about the player."""


class SteamBadResponseError(SteamError):
    """A successful status whose body is not JSON of the documented shape."""


class SteamPlayerError(SteamError):
    """The answer is about the player: retrying or tripping the breaker would be wrong."""


class SteamProfilePrivateError(SteamPlayerError):
    """The player's profile or game details are private."""


class SteamNoStatsError(SteamPlayerError):
    """Steam has no DBD stats for this id: private, never played, or unknown (Steam does not say which)."""


class SteamNotFoundError(SteamPlayerError):
    """The vanity name or SteamID64 does not exist."""


__all__ = [
    "SteamBadResponseError",
    "SteamClientError",
    "SteamError",
    "SteamKeyRejectedError",
    "SteamNoStatsError",
    "SteamNotFoundError",
    "SteamPlayerError",
    "SteamProfilePrivateError",
    "SteamRateLimitedError",
    "SteamServerError",
    "SteamTimeoutError",
    "SteamTransportError",
]
