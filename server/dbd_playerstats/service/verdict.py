"""Whose fault a failed stats call is: the player's (private, unknown, never played) or Steam's.

Steam answers a private or never-played player's stats ambiguously (500 HTML, 400 `{}` or 200 without stats), so
a stats attempt that fails that way asks the profile's visibility and the achievements call's answer before the
failure goes back to the resilience layer: a private player becomes ProfilePrivateError (never retried, never
counted by the breaker), a public player without stats NoGameStatsError, and only a public player with a real
Steam failure is retried. A server error that is never Steam's answer about a player (502, 503, 504, a
maintenance page, a "busy" EResult) goes back at once, without waiting for either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from dbd_playerstats.errors import NoGameStatsError, PlayerNotFoundError, ProfilePrivateError, ServiceError
from dbd_playerstats.steam.errors import SteamError, SteamNoStatsError, SteamProfilePrivateError, SteamServerError
from dbd_playerstats.steam.models import PlayerSummary, Visibility

# Steam refuses the stats of a player it will not show (private, hidden game details, unknown id) with a 500 HTML
# page; no other server error (502, 503, 504, a 200 maintenance page, a "busy" EResult) is an answer about a player.
_AMBIGUOUS_SERVER_STATUS: Final = 500
# The stats failures that may be the player's; any other goes back to the resilience layer as it is.
ASKS_A_VERDICT: Final = (SteamNoStatsError, SteamServerError, SteamProfilePrivateError)


async def player_verdict(
    steam_id: str,
    exc: SteamError,
    profile: Callable[[], Awaitable[PlayerSummary]],
    achievements: Callable[[], Awaitable[object]],
) -> ServiceError | None:
    """Why a stats call failed, if the failure is the player's: private, unknown or never played.

    None means Steam itself failed (a public player's stats answered with a 5xx): retrying may help. `profile`
    and `achievements` wait for those calls (shared with the request's own); only what can change the verdict
    is waited for: a server error other than Steam's ambiguous 500 is Steam's at once, and the achievements are
    asked only when the profile does not already decide.
    """
    private = ProfilePrivateError(
        f"the Steam profile {steam_id} is private: its game details cannot be read", steam_id=steam_id
    )
    if isinstance(exc, SteamProfilePrivateError):
        return private
    if isinstance(exc, SteamServerError) and exc.status != _AMBIGUOUS_SERVER_STATUS:
        return None
    summary: PlayerSummary | None
    try:
        summary = await profile()
    except PlayerNotFoundError as not_found:
        return not_found
    except (ServiceError, SteamError):
        summary = None
    if summary is not None and summary.visibility is not Visibility.PUBLIC:
        return private
    achievements_error = await _failure_of(achievements)
    if isinstance(achievements_error, SteamProfilePrivateError):
        return private  # public profile, private game details
    no_stats = NoGameStatsError(f"the Steam player {steam_id} has no Dead by Daylight stats", steam_id=steam_id)
    if isinstance(achievements_error, SteamNoStatsError):
        return no_stats
    if isinstance(exc, SteamNoStatsError) and summary is not None:
        return no_stats  # Steam answered definitively (400 {} or 200 without stats) for a public profile
    return None


async def _failure_of(call: Callable[[], Awaitable[object]]) -> Exception | None:
    """The exception `call()` ended with (None on success); a cancellation of ours propagates."""
    try:
        await call()
    except Exception as exc:
        return exc
    return None


__all__ = ["ASKS_A_VERDICT", "player_verdict"]
