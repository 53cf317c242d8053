"""A loopback HTTP server standing in for Steam, with the paths, canned bodies and key the client tests share."""

from __future__ import annotations

import json
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

KEY = "F00DBABE0123456789ABCDEFDEADBEEF"
SID = "76561197960265729"
SID2 = "76561197960265730"

STATS_PATH = "/ISteamUserStats/GetUserStatsForGame/v2/"
ACHIEVEMENTS_PATH = "/ISteamUserStats/GetPlayerAchievements/v1/"
SCHEMA_PATH = "/ISteamUserStats/GetSchemaForGame/v2/"
RARITY_PATH = "/ISteamUserStats/GetGlobalAchievementPercentagesForApp/v2/"
PROFILE_PATH = "/ISteamUser/GetPlayerSummaries/v2/"
VANITY_PATH = "/ISteamUser/ResolveVanityURL/v1/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FakeSteam:
    """A loopback HTTP server: one handler per path, every request's path and query recorded."""

    server: TestServer
    handlers: dict[str, Handler] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def answer(
        self,
        path: str,
        body: bytes | object,
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve a fixed answer on ``path`` (objects are sent as JSON)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, body=data, content_type=content_type, headers=headers)

        self.handlers[path] = handler

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.query)))
        handler = self.handlers.get(request.path)
        if handler is None:
            return web.Response(status=404, text="<html>Not Found</html>", content_type="text/html")
        return await handler(request)


def assert_key_hidden(error: BaseException) -> None:
    """The key is absent from the error's str, repr and full formatted traceback."""
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert KEY not in "".join(traceback.format_exception(error))


STATS_BODY = {
    "playerstats": {
        "steamID": SID,
        "gameName": "DeadByDaylight",
        "stats": [{"name": "DBD_BloodwebPoints", "value": 100}, {"name": "DBD_MaxBloodwebPoints_float", "value": 1.5}],
    }
}
ACHIEVEMENTS_BODY = {
    "playerstats": {
        "steamID": SID,
        "gameName": "DeadByDaylight",
        "achievements": [{"apiname": "ACH_A", "achieved": 1, "unlocktime": 1600000000}],
        "success": True,
    }
}
SCHEMA_BODY = {
    "game": {
        "gameName": "DeadByDaylight",
        "availableGameStats": {
            "stats": [{"name": "DBD_BloodwebPoints", "defaultvalue": 0, "displayName": ""}],
            "achievements": [{"name": "ACH_A", "displayName": "A", "hidden": 0, "description": "d"}],
        },
    }
}
RARITY_BODY = {"achievementpercentages": {"achievements": [{"name": "ACH_A", "percent": "12.5"}]}}
PROFILE_BODY = {
    "response": {
        "players": [
            {
                "steamid": SID,
                "communityvisibilitystate": 3,
                "personaname": "Dwight",
                "profileurl": "u",
                "avatarfull": "a",
            }
        ]
    }
}
VANITY_BODY = {"response": {"steamid": SID, "success": 1}}
