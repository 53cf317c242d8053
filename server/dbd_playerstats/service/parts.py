"""The two parts of a stream, from Steam's answers, the store's results and stored stand-ins.

With a store (`dbd_playerstats.store`, through `StoreGuard`), what Steam says is checked against what is known,
once per upstream answer:

- achievements go through the safe merge and the caller receives the merged truth: LIVE (or CACHE) with Steam's
  fetch time when the snapshot is accepted (stored unlocks a rollback hid included); when it is rejected, the
  stored truth as STORED with the time of the last accepted snapshot (stale when that is older than
  MERGE_MAX_SNAPSHOT_AGE_SECS), plus `unavailable` (UPSTREAM_BAD_RESPONSE) unless the rejection is only "out of
  order" (the stored copy is then newer than Steam's answer); with nothing stored, only `unavailable`;
- when Steam's achievements fail for any reason but the player's (private, not found, invalid), the part
  carries the stored copy (STORED, its fetch time, stale as above) and `unavailable` says why Steam failed;
- a stats answer is saved, with its profile, as the player's last good stats snapshot; when the stats fail
  because Steam is unavailable (UNAVAILABLE, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED, never a player error) and
  that snapshot is younger than STALE_STATS_MAX_AGE_SECS, it is served as STORED and stale, with the live profile
  if it came (unless it turned private) else the stored one.

Without a store, achievements are served as Steam sent them and failures are not covered. Schema and global
percentages are best effort: the view is built without them when they fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Final, TypeVar

from dbd_playerstats.cache.catalog import Cached
from dbd_playerstats.cache.shared_fetch import Served
from dbd_playerstats.domain.achievements import UnlockState, build_view, unlock_states
from dbd_playerstats.domain.adepts import AdeptDef, adepts_from_schema, fallback_adepts
from dbd_playerstats.domain.clock import UtcClock
from dbd_playerstats.domain.memo import LastOf
from dbd_playerstats.domain.model import AchievementsPart, AchievementsView, Provenance, Source, StatsPart, Unavailable
from dbd_playerstats.errors import ErrorKind, PlayerNotFoundError, ServiceError, kind_of, public_message, retry_after_of
from dbd_playerstats.service.store_guard import StoreGuard
from dbd_playerstats.steam.errors import SteamError
from dbd_playerstats.steam.models import (
    GameSchema,
    GlobalPercentages,
    PlayerAchievements,
    PlayerSummary,
    UserStats,
    Visibility,
)
from dbd_playerstats.store import Decision, MergeResult, Snapshot, StatsSnapshot, StoredAchievements

log = logging.getLogger(__name__)

T = TypeVar("T")

# Which failures a stored copy may stand in for (`ErrorKind.steam_down`) and which never (`players_fault`: a profile
# gone private stays so) is the error table's `blame` column. A snapshot the merge refuses is reported as:
_REJECTED: Final = ErrorKind.UPSTREAM_BAD_RESPONSE

ProfileTask = Callable[[], asyncio.Future[Served[PlayerSummary, None]]]


class PartBuilder:
    """Builds the StatsPart and the AchievementsPart of one request.

    `guard` None keeps no memory; `max_snapshot_age_secs` is the merge policy's (a stored copy older than that is
    stale); `stale_stats_max_age_secs` bounds the age of stored stats served when Steam is down; `clock` gives
    the wall-clock UTC time the ages are measured at.
    """

    def __init__(
        self,
        guard: StoreGuard | None,
        *,
        max_snapshot_age_secs: float,
        stale_stats_max_age_secs: float,
        clock: UtcClock,
    ) -> None:
        self._guard = guard
        self._max_snapshot_age_secs = max_snapshot_age_secs
        self._stale_stats_max_age_secs = stale_stats_max_age_secs
        self._clock = clock

    async def stats_part(
        self,
        steam_id: str,
        stats_task: asyncio.Future[Served[UserStats, bool]],
        profile_task: ProfileTask,
        *,
        stand_in: bool = True,
    ) -> tuple[StatsPart, asyncio.Future[bool] | None]:
        """The first part, and the task saving its answer when there is a store (once per answer). `stand_in`
        False (a watch's look) raises a failure instead of serving stored stats in its place."""
        try:
            served = await stats_task
        except (ServiceError, SteamError) as exc:
            if not stand_in:
                raise
            return await self._stored_stats_part(steam_id, exc, profile_task), None
        profile = (await profile_task()).answer.value
        answer = served.answer
        saving: asyncio.Future[bool] | None = None
        if (guard := self._guard) is not None:
            stats = answer.value.stats
            saving = guard.write_once(
                answer, lambda: guard.save_stats(steam_id, StatsSnapshot(profile, stats, answer.fetched_at))
            )
        provenance = Provenance(served.source, answer.fetched_at)
        part = StatsPart(profile=profile, stats=answer.value.stats, provenance=provenance, memo=answer.memo)
        return part, saving

    async def saved(self, steam_id: str, saving: asyncio.Future[bool]) -> None:
        """Wait for the stats save `stats_part` started, at most the store timeout."""
        if self._guard is not None:
            await self._guard.settled(saving, f"saving the stats of {steam_id}")

    async def _stored_stats_part(
        self, steam_id: str, failure: ServiceError | SteamError, profile_task: ProfileTask
    ) -> StatsPart:
        """The stored stats standing in for a failed stats call; re-raise `failure` when none may."""
        if self._guard is None or not kind_of(failure).steam_down:
            raise failure
        stored = await self._guard.load_stats(steam_id)
        if stored is None:
            raise failure
        age_secs = (self._clock() - stored.fetched_at).total_seconds()
        if age_secs > self._stale_stats_max_age_secs:
            log.info("stored stats of %s are %.0fs old: too old to serve", steam_id, age_secs)
            raise failure
        profile: PlayerSummary | None
        try:
            profile = (await profile_task()).answer.value
        except PlayerNotFoundError:
            raise
        except (ServiceError, SteamError):
            profile = None
        if profile is not None and profile.visibility is not Visibility.PUBLIC:
            raise failure
        log.warning(
            "stats of %s unavailable (%s): serving the stored snapshot from %s",
            steam_id,
            kind_of(failure).reason,
            stored.fetched_at.isoformat(),
        )
        return StatsPart(
            profile=profile if profile is not None else stored.profile,
            stats=stored.stats,
            provenance=Provenance(Source.STORED, stored.fetched_at, stale=True),
        )

    async def achievements_part(
        self,
        steam_id: str,
        achievements_task: asyncio.Future[Served[PlayerAchievements, MergeResult | None]],
        schema_task: asyncio.Future[Cached[GameSchema]],
        percents_task: asyncio.Future[Cached[GlobalPercentages]],
    ) -> AchievementsPart:
        """The second part: Steam's answer (merged when there is a store), or why it failed."""
        try:
            served = await achievements_task
        except (ServiceError, SteamError) as exc:
            return await self._failed_achievements_part(steam_id, exc, schema_task, percents_task)
        schema = await _optional(schema_task)
        percents = await _optional(percents_task)
        answer = served.answer
        memo = answer.memo
        steam_states = memo.get("states", (), lambda: unlock_states(answer.value.achievements))

        def view_of(owner: object, states: Mapping[str, UnlockState]) -> AchievementsView:
            """The view of `states` (those of `owner`: the answer or a merge result), built once per answer."""
            return memo.get("view", (owner, schema, percents), lambda: _view(states, schema, percents))

        fresh = Provenance(served.source, answer.fetched_at)
        if (guard := self._guard) is None:
            return AchievementsPart(achievements=view_of(answer, steam_states), provenance=fresh, memo=memo)
        merging = guard.write_once(
            answer, lambda: guard.merge(steam_id, Snapshot(steam_states, answer.fetched_at, _adept_defs(schema)))
        )
        result = await guard.settled(merging, f"merging the achievements of {steam_id}")
        if result is None:  # the store failed or hangs (logged): serve Steam's answer as if there were no store
            return AchievementsPart(achievements=view_of(answer, steam_states), provenance=fresh, memo=memo)
        if result.decision.accepted and result.state is not None:
            view = view_of(result.state, result.state.states)
            return AchievementsPart(achievements=view, provenance=fresh, memo=memo)
        rejected = Unavailable(
            _REJECTED.code,
            _REJECTED.reason,
            f"Steam's achievements for {steam_id} were not accepted ({result.reason})",
            None,
        )
        if result.state is None:
            return AchievementsPart(achievements=None, provenance=None, unavailable=rejected)
        return AchievementsPart(
            achievements=view_of(result.state, result.state.states),
            provenance=self._stored_provenance(result.state),
            unavailable=None if result.decision is Decision.REJECTED_OUT_OF_ORDER else rejected,
            memo=memo,
        )

    async def _failed_achievements_part(
        self,
        steam_id: str,
        failure: ServiceError | SteamError,
        schema_task: asyncio.Future[Cached[GameSchema]],
        percents_task: asyncio.Future[Cached[GlobalPercentages]],
    ) -> AchievementsPart:
        """Why Steam failed, with the stored copy when there is one and the failure is not the player's."""
        kind = kind_of(failure)
        log.info("achievements unavailable: %s %s", kind.reason, type(failure).__name__)
        unavailable = Unavailable(kind.code, kind.reason, public_message(failure), retry_after_of(failure))
        stored = None
        if self._guard is not None and not kind.players_fault:
            stored = await self._guard.load_achievements(steam_id)
        if stored is None:
            return AchievementsPart(achievements=None, provenance=None, unavailable=unavailable)
        schema = await _optional(schema_task)
        percents = await _optional(percents_task)
        return AchievementsPart(
            achievements=_view(stored.states, schema, percents),
            provenance=self._stored_provenance(stored),
            unavailable=unavailable,
        )

    def _stored_provenance(self, stored: StoredAchievements) -> Provenance:
        """STORED at the last accepted snapshot's fetch time; stale once older than a snapshot may be."""
        age_secs = (self._clock() - stored.last_snapshot_at).total_seconds()
        stale = age_secs > self._max_snapshot_age_secs
        return Provenance(Source.STORED, stored.last_snapshot_at, stale=stale)


_ADEPTS = LastOf[tuple[AdeptDef, ...]]()


def _adept_defs(schema: Cached[GameSchema] | None) -> tuple[AdeptDef, ...]:
    """The adepts in force: from the schema (once per schema object), or the built-in list when there is none
    (as `build_view` does)."""
    if schema is not None and schema.value.achievements:
        achievements = schema.value.achievements
        return _ADEPTS.get(achievements, lambda: adepts_from_schema(achievements))
    return fallback_adepts()


def _view(
    states: Mapping[str, UnlockState],
    schema: Cached[GameSchema] | None,
    percents: Cached[GlobalPercentages] | None,
) -> AchievementsView:
    return build_view(
        states,
        schema.value if schema is not None else None,
        percents.value.percents if percents is not None else {},
    )


async def _optional(task: asyncio.Future[T]) -> T | None:
    """The task's result, or None when it failed: schema and percentages are best effort."""
    try:
        return await task
    except (ServiceError, SteamError) as exc:
        log.info("optional Steam data unavailable: %s", type(exc).__name__)
        return None


__all__ = ["PartBuilder", "ProfileTask"]
