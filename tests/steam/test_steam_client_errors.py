"""The Steam client against a real aiohttp server on loopback: each status and body raises its SteamError."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.steam.errors import (
    SteamBadResponseError,
    SteamClientError,
    SteamError,
    SteamKeyRejectedError,
    SteamNoStatsError,
    SteamNotFoundError,
    SteamProfilePrivateError,
    SteamRateLimitedError,
    SteamServerError,
)
from tests.steam.steam_fake import (
    PROFILE_PATH,
    RARITY_PATH,
    SCHEMA_PATH,
    SID,
    STATS_PATH,
    VANITY_PATH,
    FakeSteam,
    assert_key_hidden,
)


class StatusCase(NamedTuple):
    """A canned answer and the class it must raise."""

    status: int
    content_type: str
    body: bytes
    expected: type[SteamError]


FORBIDDEN = b"<html><body>Forbidden. Access is denied. Please verify your key= parameter.</body></html>"


@pytest.mark.parametrize(
    "case",
    [
        StatusCase(*row)
        for row in [
        (429, "text/html", b"<html>Too Many Requests</html>", SteamRateLimitedError),
        (500, "text/html", b"<html>Internal Server Error</html>", SteamServerError),
        (502, "text/html", b"<html>Bad Gateway</html>", SteamServerError),
        (503, "text/html", b"<html>Service Unavailable</html>", SteamServerError),
        (200, "text/html", b"<html>Steam is under maintenance</html>", SteamServerError),
        (403, "text/html", FORBIDDEN, SteamKeyRejectedError),
        (400, "text/html", b"<html>Bad Request. Parameter 'key' is missing</html>", SteamKeyRejectedError),
        (403, "application/json", b'{"playerstats":{"error":"Profile is not public","success":false}}',
         SteamProfilePrivateError),
        (400, "application/json", b'{"playerstats":{"error":"Requested app has no stats","success":false}}',
         SteamNoStatsError),
        (400, "application/json", b"{}", SteamNoStatsError),
        (200, "application/json", b'{"playerstats":{"steamID":"76561197960265729","gameName":"x"}}',
         SteamNoStatsError),
        (404, "text/html", b"<html>Not Found</html>", SteamClientError),
        (200, "application/json", b'{"playerstats":{"stats":', SteamBadResponseError),
        (200, "application/json", b"", SteamBadResponseError),
        (302, "text/html", b"", SteamBadResponseError),
        ]
    ],
    ids=lambda case: f"{case.status}-{case.expected.__name__}",
)  # fmt: skip
async def test_error_class_per_status(fake: FakeSteam, client: SteamClient, case: StatusCase) -> None:
    """Each status and body Steam can send raises its SteamError class with endpoint, status and player."""
    fake.answer(STATS_PATH, case.body, status=case.status, content_type=case.content_type, headers={"Location": "/x"})
    with pytest.raises(SteamError) as caught:
        await client.get_user_stats(SID)
    assert type(caught.value) is case.expected
    assert (caught.value.endpoint, caught.value.status, caught.value.steam_id) == ("stats", case.status, SID)
    assert len(fake.requests) == 1  # a redirect is not followed
    assert_key_hidden(caught.value)


@pytest.mark.parametrize(
    ("method", "path", "endpoint"),
    [
        ("get_schema", SCHEMA_PATH, "schema"),
        ("get_global_percentages", RARITY_PATH, "rarity"),
    ],
)
async def test_app_endpoints_label_errors(
    fake: FakeSteam, client: SteamClient, method: str, path: str, endpoint: str
) -> None:
    """Schema and rarity failures carry their own endpoint name and no player."""
    fake.answer(path, b"{}", status=403)
    with pytest.raises(SteamClientError) as caught:
        await getattr(client, method)()
    assert (caught.value.endpoint, caught.value.status, caught.value.steam_id) == (endpoint, 403, None)


async def test_rate_limit_retry_after_reaches_the_error(fake: FakeSteam, client: SteamClient) -> None:
    """A 429's Retry-After header becomes retry_after in seconds."""
    fake.answer(PROFILE_PATH, b"Too Many Requests", status=429, content_type="text/html", headers={"Retry-After": "7"})
    with pytest.raises(SteamRateLimitedError) as caught:
        await client.get_player_summaries([SID])
    assert caught.value.retry_after == 7.0
    assert caught.value.endpoint == "profile"


async def test_eresult_header_on_200_is_read(fake: FakeSteam, client: SteamClient) -> None:
    """A 200 carrying X-eresult 42 raises SteamNotFoundError."""
    fake.answer(VANITY_PATH, {"response": {}}, headers={"X-eresult": "42", "X-error_message": "No match"})
    with pytest.raises(SteamNotFoundError):
        await client.resolve_vanity("nobody")
