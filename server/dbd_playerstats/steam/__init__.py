"""Steam Web API access: `SteamClient`, the `SteamError` tree it raises and the frozen values it returns.

Parsers live in `dbd_playerstats.steam.parse` (pure, one per endpoint); import them from there.
"""

from __future__ import annotations

from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.steam.errors import (
    SteamBadResponseError,
    SteamClientError,
    SteamError,
    SteamKeyRejectedError,
    SteamNoStatsError,
    SteamNotFoundError,
    SteamPlayerError,
    SteamProfilePrivateError,
    SteamRateLimitedError,
    SteamServerError,
    SteamTimeoutError,
    SteamTransportError,
)
from dbd_playerstats.steam.models import (
    GameSchema,
    GlobalPercentages,
    PlayerAchievement,
    PlayerAchievements,
    PlayerSummary,
    SchemaAchievement,
    StatValue,
    UserStats,
    Visibility,
)

__all__ = [
    "GameSchema",
    "GlobalPercentages",
    "PlayerAchievement",
    "PlayerAchievements",
    "PlayerSummary",
    "SchemaAchievement",
    "StatValue",
    "SteamBadResponseError",
    "SteamClient",
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
    "UserStats",
    "Visibility",
]
