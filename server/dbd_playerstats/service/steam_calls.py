"""The per-player Steam calls of a request, each shared and cached: vanity, profile, stats, achievements.

Coalescing and caching (one replica; `PLAYERSTATS_CACHE_*`): each call goes through a
`dbd_playerstats.cache.shared_fetch.SharedFetch`, one per endpoint (concurrent identical calls share one upstream
fetch; answers are kept for the endpoint's TTL and served as CACHE with their original fetched_at), whose fetch
is one logical call through the `Upstream` (deadline, retries, breaker, rate budget). A stats attempt that fails
in a way that may be the player's asks `verdict.player_verdict` before the failure goes back to the upstream
policy, through the same shared profile and achievements calls the request makes itself. The profile fetch
answers from a lobby's batch (`summaries`: one GetPlayerSummaries call for many players) when one holds the
player.
"""

from __future__ import annotations

from typing import TypeVar

from opentelemetry.trace import Tracer

from dbd_playerstats.cache.shared_fetch import Answer, Fetch, Flight, SharedFetch
from dbd_playerstats.config.settings import CacheSettings
from dbd_playerstats.domain.clock import UtcClock
from dbd_playerstats.domain.players import SteamId, normalise_steam_id, parse_player
from dbd_playerstats.errors import InvalidPlayerError, PlayerNotFoundError
from dbd_playerstats.service.summaries import ProfileBatches
from dbd_playerstats.service.verdict import ASKS_A_VERDICT, player_verdict
from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.steam.errors import SteamNotFoundError
from dbd_playerstats.steam.models import PlayerAchievements, PlayerSummary, UserStats
from dbd_playerstats.store import MergeResult
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.protocol import Upstream

V = TypeVar("V")
W = TypeVar("W")


class SteamCalls:
    """One `SharedFetch` per per-player endpoint, fetching from `steam` through `upstream`.

    The stats and achievements answers carry the store write they lead to (`Answer.write`: the stats save, the
    achievements merge), started by the first request serving them. `cache` sets the TTLs and bounds; `tracer`
    makes the ``coalesced.wait`` spans; `clock` stamps each answer's fetch time (wall-clock UTC).
    """

    def __init__(
        self, steam: SteamClient, upstream: Upstream, *, cache: CacheSettings, tracer: Tracer, clock: UtcClock
    ) -> None:
        self._steam = steam
        self._upstream = upstream
        self._clock = clock

        def shared(endpoint: str, fetch: Fetch[V, W], ttl_secs: float) -> SharedFetch[V, W]:
            return SharedFetch(
                endpoint,
                fetch,
                ttl_secs=ttl_secs,
                max_entries=cache.max_players,
                tracer=tracer,
                clock=clock,
                error_ttl_secs=cache.player_error_ttl_secs,
            )

        self.vanities = shared("vanity", self._fetch_vanity, cache.vanity_ttl_secs)
        self.summaries = ProfileBatches(steam, upstream, clock=clock)
        self.profiles = shared("profile", self.summaries.fetch, cache.profile_ttl_secs)
        self.stats = shared("stats", self._fetch_stats, cache.stats_ttl_secs)
        self.achievements = shared("achievements", self._fetch_achievements, cache.achievements_ttl_secs)

    async def resolve_id(self, player: str, deadline: Deadline) -> str:
        """The normalised SteamID64 the `player` field names (one vanity call when it is a name not kept).

        Vanity names are resolved and kept lower-cased: Steam treats them case-insensitively ("Demo" is "demo").
        """
        ref = parse_player(player)
        if isinstance(ref, SteamId):
            return ref.value
        return (await self.vanities.get(ref.name.lower(), deadline)).answer.value

    async def aclose(self) -> None:
        """Cancel the fetches in flight and refuse new ones (at shutdown)."""
        for shared in (self.vanities, self.profiles, self.stats, self.achievements):
            await shared.aclose()

    # -- the upstream fetches (run once per key by SharedFetch) ------------------------------------------------

    async def _fetch_vanity(self, name: str, deadline: Deadline, flight: Flight) -> Answer[str, None]:
        try:
            raw = await self._upstream.call(
                "vanity", flight.noting(lambda t: self._steam.resolve_vanity(name, timeout=t)), deadline
            )
        except SteamNotFoundError:
            raise PlayerNotFoundError(f"no Steam player has the vanity name {name!r}") from None
        return Answer(_normalised(raw), self._clock())

    async def _fetch_achievements(
        self, steam_id: str, deadline: Deadline, flight: Flight
    ) -> Answer[PlayerAchievements, MergeResult | None]:
        achievements = await self._upstream.call(
            "achievements",
            flight.noting(lambda t: self._steam.get_player_achievements(steam_id, timeout=t)),
            deadline,
            steam_id=steam_id,
        )
        return Answer(achievements, self._clock())

    async def _fetch_stats(self, steam_id: str, deadline: Deadline, flight: Flight) -> Answer[UserStats, bool]:
        async def profile() -> PlayerSummary:
            return (await self.profiles.get(steam_id, deadline, observe=False)).answer.value

        async def achievements() -> object:
            return await self.achievements.get(steam_id, deadline, observe=False)

        async def attempt(timeout: float) -> UserStats:
            try:
                return await self._steam.get_user_stats(steam_id, timeout=timeout)
            except ASKS_A_VERDICT as exc:
                verdict = await player_verdict(steam_id, exc, profile, achievements)
                if verdict is None:
                    raise
                raise verdict from exc

        stats = await self._upstream.call("stats", flight.noting(attempt), deadline, steam_id=steam_id)
        return Answer(stats, self._clock())


def _normalised(steam_id: str) -> str:
    """A SteamID64 from Steam in the normalised form the caches and the store key on (as is if it is odd)."""
    try:
        return normalise_steam_id(steam_id).value
    except InvalidPlayerError:
        return steam_id


__all__ = ["SteamCalls"]
