"""Fetch orchestration: which Steam calls one request makes, in what order, and what their failures mean.

For a stream, after the player is resolved, five logical calls start at once: profile, stats, achievements,
schema and global percentages (the last two usually served by the catalog cache). The first part is sent as soon
as profile and stats are in; the second when achievements (plus schema and percentages, best effort) are.

Steam answers a private or never-played player's stats ambiguously (500 HTML, 400 `{}` or 200 without stats), so
a stats attempt that fails that way asks the profile's visibility and the achievements call's answer before the
failure goes back to the resilience layer: a private player becomes ProfilePrivateError (never retried, never
counted by the breaker), a public player without stats NoGameStatsError, and only a public player with a real
Steam failure is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from dbd_playerstats.achievements import build_view, unlock_states
from dbd_playerstats.catalog import Cached, Catalog
from dbd_playerstats.deadline import Deadline
from dbd_playerstats.errors import (
    NoGameStatsError,
    PlayerNotFoundError,
    ProfilePrivateError,
    ServiceError,
    public_message,
    retry_after_of,
    status_for,
)
from dbd_playerstats.model import AchievementsPart, Provenance, Source, StatsPart, Unavailable
from dbd_playerstats.players import SteamId, Vanity, parse_player
from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.steam.errors import (
    SteamError,
    SteamNoStatsError,
    SteamNotFoundError,
    SteamProfilePrivateError,
    SteamServerError,
)
from dbd_playerstats.steam.models import (
    GameSchema,
    GlobalPercentages,
    PlayerAchievements,
    PlayerSummary,
    UserStats,
    Visibility,
)
from dbd_playerstats.upstream import Upstream

log = logging.getLogger(__name__)

T = TypeVar("T")
Part = StatsPart | AchievementsPart


class PlayerFetcher:
    """Answers one player request from Steam through the upstream policy."""

    def __init__(self, steam: SteamClient, upstream: Upstream, catalog: Catalog) -> None:
        self._steam = steam
        self._upstream = upstream
        self._catalog = catalog

    async def resolve_id(self, player: str, deadline: Deadline) -> str:
        """The normalised SteamID64 the `player` field names (one vanity call when it is a name)."""
        ref = parse_player(player)
        if isinstance(ref, SteamId):
            return ref.value
        return await self._resolve_vanity(ref, deadline)

    async def resolve(self, player: str, deadline: Deadline) -> PlayerSummary:
        """The player's public profile; PlayerNotFoundError when Steam knows no such account."""
        steam_id = await self.resolve_id(player, deadline)
        return await self._profile(steam_id, deadline)

    async def stream(self, player: str, deadline: Deadline) -> AsyncIterator[Part]:
        """Yield the StatsPart, then the AchievementsPart; raise when the stats cannot be served."""
        steam_id = await self.resolve_id(player, deadline)
        tasks: list[asyncio.Future[object]] = []

        def start(coro: Awaitable[T]) -> asyncio.Future[T]:
            task = asyncio.ensure_future(coro)
            tasks.append(task)  # type: ignore[arg-type]
            return task

        try:
            profile_task = start(self._profile(steam_id, deadline))
            achievements_task = start(self._achievements(steam_id, deadline))
            schema_task = start(self._catalog.schema.get(deadline))
            percents_task = start(self._catalog.percentages.get(deadline))
            stats_task = start(self._stats(steam_id, deadline, profile_task, achievements_task))
            stats = await stats_task
            profile = await profile_task
            yield StatsPart(
                profile=profile,
                stats=stats.stats,
                provenance=Provenance(Source.LIVE, datetime.now(UTC)),
            )
            yield await self._achievements_part(achievements_task, schema_task, percents_task)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    # Retrieve every outcome so none is logged as "exception was never retrieved".
                    await task

    async def _resolve_vanity(self, ref: Vanity, deadline: Deadline) -> str:
        try:
            return await self._upstream.call(
                "vanity", lambda t: self._steam.resolve_vanity(ref.name, timeout=t), deadline
            )
        except SteamNotFoundError:
            raise PlayerNotFoundError(f"no Steam player has the vanity name {ref.name!r}") from None

    async def _profile(self, steam_id: str, deadline: Deadline) -> PlayerSummary:
        try:
            return await self._upstream.call(
                "profile",
                lambda t: self._steam.get_player_summary(steam_id, timeout=t),
                deadline,
                steam_id=steam_id,
            )
        except SteamNotFoundError:
            raise PlayerNotFoundError(f"no Steam player has the SteamID64 {steam_id}", steam_id=steam_id) from None

    async def _achievements(self, steam_id: str, deadline: Deadline) -> PlayerAchievements:
        return await self._upstream.call(
            "achievements",
            lambda t: self._steam.get_player_achievements(steam_id, timeout=t),
            deadline,
            steam_id=steam_id,
        )

    async def _stats(
        self,
        steam_id: str,
        deadline: Deadline,
        profile_task: asyncio.Future[PlayerSummary],
        achievements_task: asyncio.Future[PlayerAchievements],
    ) -> UserStats:
        async def attempt(timeout: float) -> UserStats:
            try:
                return await self._steam.get_user_stats(steam_id, timeout=timeout)
            except (SteamNoStatsError, SteamServerError, SteamProfilePrivateError) as exc:
                verdict = await _player_verdict(steam_id, exc, profile_task, achievements_task)
                if verdict is None:
                    raise
                raise verdict from exc

        return await self._upstream.call("stats", attempt, deadline, steam_id=steam_id)

    async def _achievements_part(
        self,
        achievements_task: asyncio.Future[PlayerAchievements],
        schema_task: asyncio.Future[Cached[GameSchema]],
        percents_task: asyncio.Future[Cached[GlobalPercentages]],
    ) -> AchievementsPart:
        try:
            achievements = await achievements_task
        except (ServiceError, SteamError) as exc:
            entry = status_for(exc)
            log.info("achievements unavailable: %s %s", entry.reason, type(exc).__name__)
            return AchievementsPart(
                achievements=None,
                provenance=None,
                unavailable=Unavailable(entry.code, entry.reason, public_message(exc), retry_after_of(exc)),
            )
        fetched_at = datetime.now(UTC)
        schema = await _optional(schema_task)
        percents = await _optional(percents_task)
        view = build_view(
            unlock_states(achievements.achievements),
            schema.value if schema is not None else None,
            percents.value.percents if percents is not None else {},
        )
        return AchievementsPart(achievements=view, provenance=Provenance(Source.LIVE, fetched_at))


async def _optional(task: asyncio.Future[T]) -> T | None:
    """The task's result, or None when it failed: schema and percentages are best effort."""
    try:
        return await task
    except (ServiceError, SteamError) as exc:
        log.info("optional Steam data unavailable: %s", type(exc).__name__)
        return None


async def _player_verdict(
    steam_id: str,
    exc: SteamError,
    profile_task: asyncio.Future[PlayerSummary],
    achievements_task: asyncio.Future[PlayerAchievements],
) -> ServiceError | None:
    """Why a stats call failed, if the failure is the player's: private, unknown or never played.

    None means Steam itself failed (a public player's stats answered with a 5xx): retrying may help.
    """
    private = ProfilePrivateError(
        f"the Steam profile {steam_id} is private: its game details cannot be read", steam_id=steam_id
    )
    if isinstance(exc, SteamProfilePrivateError):
        return private
    try:
        profile = await asyncio.shield(profile_task)
    except PlayerNotFoundError as not_found:
        return not_found
    except (ServiceError, SteamError):
        profile = None
    if profile is not None and profile.visibility is not Visibility.PUBLIC:
        return private
    achievements_error = await _failure_of(achievements_task)
    if isinstance(achievements_error, SteamProfilePrivateError):
        return private  # public profile, private game details
    no_stats = NoGameStatsError(f"the Steam player {steam_id} has no Dead by Daylight stats", steam_id=steam_id)
    if isinstance(achievements_error, SteamNoStatsError):
        return no_stats
    if isinstance(exc, SteamNoStatsError) and profile is not None:
        return no_stats  # Steam answered definitively (400 {} or 200 without stats) for a public profile
    return None


async def _failure_of(task: asyncio.Future[T]) -> BaseException | None:
    """The exception the task ended with (None on success), without consuming a cancellation of ours."""
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if task.cancelled():
            return None
        raise
    except BaseException as exc:
        return exc
    return None


Fetch = Callable[[str, Deadline], AsyncIterator[Part]]

__all__ = ["Part", "PlayerFetcher"]
