"""Domain values -> protobuf messages (pure). The only module that knows both shapes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.domain.adepts import Role
from dbd_playerstats.domain.grades import grade_from_pips
from dbd_playerstats.domain.memo import Memo
from dbd_playerstats.domain.model import (
    AchievementsPart,
    AchievementsView,
    AchievementView,
    Provenance,
    StatsPart,
    Unavailable,
)
from dbd_playerstats.steam.models import PlayerSummary, StatValue, Visibility

# Integer proto field -> Steam stat id. Float fields are listed apart because proto3 types them differently.
INT_STATS: dict[str, str] = {
    "bloodpoints": "DBD_BloodwebPoints",
    "max_prestige_level": "DBD_BloodwebMaxPrestigeLevel",
    "max_character_level": "DBD_BloodwebMaxLevel",
    "survivors_killed": "DBD_KilledCampers",
    "survivors_sacrificed": "DBD_SacrificedCampers",
    "killer_full_loadout_matches": "DBD_SlasherFullLoadout",
    "survivor_full_loadout_matches": "DBD_CamperFullLoadout",
    "escapes": "DBD_Escape",
    "escapes_ko": "DBD_EscapeKO",
    "hatch_escapes": "DBD_EscapeThroughHatch",
    "skill_checks": "DBD_SkillCheckSuccess",
    "unhooks_or_heals": "DBD_UnhookOrHeal",
    "unhooks_or_heals_post_exit": "DBD_UnhookOrHeal_PostExit",
    "hooked_and_escaped": "DBD_HookedAndEscape",
    "escapes_with_new_item": "DBD_CamperNewItem",
    "chainsaw_hits": "DBD_ChainsawHit",
    "uncloak_attacks": "DBD_UncloakAttack",
    "trap_catches": "DBD_TrapPickup",
}
FLOAT_STATS: dict[str, str] = {
    "generators_repaired": "DBD_GeneratorPct_float",
    "survivors_healed": "DBD_HealPct_float",
}
T = TypeVar("T")
M = TypeVar("M", pb.PlayerStats, pb.Achievements)
KILLER_PIPS = "DBD_KillerSkulls"
SURVIVOR_PIPS = "DBD_CamperSkulls"

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)

_VISIBILITY = {
    Visibility.PUBLIC: pb.PROFILE_VISIBILITY_PUBLIC,
    Visibility.PRIVATE: pb.PROFILE_VISIBILITY_PRIVATE,
    Visibility.FRIENDS_ONLY: pb.PROFILE_VISIBILITY_PRIVATE,
}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(when: datetime) -> Timestamp:
    """`Timestamp.FromDatetime`'s value, computed with one subtraction (it is called for every achievement)."""
    ts = Timestamp()
    _set_timestamp(ts, when)
    return ts


def _set_timestamp(out: Timestamp, when: datetime) -> None:
    if when.tzinfo is None:  # naive: FromDatetime reads it as UTC
        out.FromDatetime(when)
        return
    delta = when - _EPOCH
    out.seconds = delta.days * 86_400 + delta.seconds
    out.nanos = delta.microseconds * 1000


def profile_to_pb(profile: PlayerSummary) -> pb.Profile:
    return pb.Profile(
        steam_id=profile.steam_id,
        persona_name=profile.persona_name,
        profile_url=profile.profile_url,
        avatar_url=profile.avatar_url,
        visibility=_VISIBILITY.get(profile.visibility, pb.PROFILE_VISIBILITY_UNSPECIFIED),
    )


def provenance_to_pb(provenance: Provenance) -> pb.Provenance:
    return pb.Provenance(
        source=int(provenance.source),  # type: ignore[arg-type]
        fetched_at=timestamp(provenance.fetched_at),
        stale=provenance.stale,
    )


def _clamp_int(value: int | float) -> int:
    return max(_INT64_MIN, min(_INT64_MAX, int(value)))


def _fill_stats(out: pb.PlayerStats, stats: Iterable[StatValue]) -> None:
    """Typed fields for the stats we know, every raw stat sorted by name for the rest.

    Field by field on messages added in place (not keyword construction, not a clamp call per stat): the ~280
    raw stats of every cache miss are the largest share of its mapping (issue 12)."""
    by_name = {s.name: s.value for s in stats}
    for field, stat_id in INT_STATS.items():
        if stat_id in by_name:
            setattr(out, field, _clamp_int(by_name[stat_id]))
    for field, stat_id in FLOAT_STATS.items():
        if stat_id in by_name:
            setattr(out, field, float(by_name[stat_id]))
    for pips_id, target in ((KILLER_PIPS, out.killer_grade), (SURVIVOR_PIPS, out.survivor_grade)):
        if pips_id in by_name:
            grade = grade_from_pips(_clamp_int(by_name[pips_id]))
            target.tier = int(grade.tier)  # type: ignore[assignment]
            target.level = grade.level
            target.pips = grade.pips
            target.display_name = grade.display_name
    add = out.raw_stats.add
    for name in sorted(by_name):
        value = by_name[name]
        raw = add()
        raw.name = name
        if isinstance(value, float):
            raw.float_value = value
        else:
            raw.int_value = value if _INT64_MIN <= value <= _INT64_MAX else _clamp_int(value)


def _set_achievement(out: pb.Achievement, view: AchievementView) -> None:
    out.api_name = view.api_name
    out.display_name = view.display_name
    out.unlocked = view.unlocked
    if view.unlock_time is not None:
        unlock_time = out.unlock_time
        unlock_time.SetInParent()  # present even when every field is zero (the epoch itself)
        _set_timestamp(unlock_time, view.unlock_time)
    if view.global_percent is not None:
        out.global_percent = view.global_percent


def achievement_to_pb(view: AchievementView) -> pb.Achievement:
    out = pb.Achievement()
    _set_achievement(out, view)
    return out


def _fill_achievements(out: pb.Achievements, view: AchievementsView) -> None:
    """Field by field on messages added in place (keyword construction and a Timestamp per achievement, copied
    in, cost three times as much, issue 12)."""
    out.unlocked = view.unlocked
    out.total = len(view.achievements)
    add = out.achievements.add
    for achievement in view.achievements:
        _set_achievement(add(), achievement)
    add_adept = out.adepts.add
    for adept in view.adepts:
        adept_pb = add_adept()
        adept_pb.character = adept.character
        adept_pb.role = int(adept.role)  # type: ignore[assignment]
        _set_achievement(adept_pb.achievement, adept.achievement)
    k_unlocked, k_total = view.adept_totals(Role.KILLER)
    s_unlocked, s_total = view.adept_totals(Role.SURVIVOR)
    out.killer_adepts.CopyFrom(pb.RoleTotals(unlocked=k_unlocked, total=k_total))
    out.survivor_adepts.CopyFrom(pb.RoleTotals(unlocked=s_unlocked, total=s_total))


def unavailable_to_pb(unavailable: Unavailable) -> pb.Unavailable:
    retry_ms = round(unavailable.retry_after * 1000) if unavailable.retry_after is not None else 0
    return pb.Unavailable(
        code=unavailable.code,  # a google.rpc.Code value: the numbers the proto's code field carries
        reason=unavailable.reason,
        message=unavailable.message,
        retry_after_ms=max(retry_ms, 0),
    )


# A kept answer holds one copy of its heavy messages (the ~280 stats, the ~280 achievements): the stream message
# of its latest provenance. Every other message of it refers into that one (`stats_part_to_pb` is the stream
# message's own `stats` field); a new provenance copies the heavy field from the previous stream message in C
# and takes over as the one kept (issue 12: three copies per answer were a third of the memory of a held
# stream). Messages are kept from their second use on: the live request builds its messages and lets them go,
# the first cache hit builds them again and keeps them (most answers are asked for once; a message in memory is
# three times its encoded size).


def stream_response(part: StatsPart | AchievementsPart) -> pb.StreamPlayerStatsResponse:
    """The stream message of `part`: on a cache hit the same message object as the answer's earlier requests."""
    if isinstance(part, StatsPart):
        provenance = part.provenance
        inputs = (part.stats, part.profile, provenance.source, provenance.fetched_at, provenance.stale)
        return _kept(part.memo, "stream_stats", inputs, (part.stats,), lambda keep: _stream_stats(part, keep))
    kept = part.provenance
    keys = (
        part.achievements,
        None if kept is None else kept.source,
        None if kept is None else kept.fetched_at,
        None if kept is None else kept.stale,
        part.unavailable,
    )
    uses = (part.achievements,)
    return _kept(part.memo, "stream_achievements", keys, uses, lambda keep: _stream_achievements(part, keep))


def stats_part_to_pb(part: StatsPart) -> pb.StatsPart:
    """The part's message: the `stats` field of its kept stream message (never mutated: copied into, or sent
    as, each response)."""
    return stream_response(part).stats


def achievements_part_to_pb(part: AchievementsPart) -> pb.AchievementsPart:
    """The part's message: the `achievements` field of its kept stream message."""
    return stream_response(part).achievements


def _stream_stats(part: StatsPart, keep: bool) -> pb.StreamPlayerStatsResponse:
    message = pb.StreamPlayerStatsResponse()
    out = message.stats
    out.SetInParent()
    out.profile.CopyFrom(profile_to_pb(part.profile))
    _heavy(part.memo, "stats_pb", part.stats, out.stats, lambda target: _fill_stats(target, part.stats), keep=keep)
    out.provenance.CopyFrom(provenance_to_pb(part.provenance))
    return message


def _stream_achievements(part: AchievementsPart, keep: bool) -> pb.StreamPlayerStatsResponse:
    message = pb.StreamPlayerStatsResponse()
    out = message.achievements
    out.SetInParent()
    view = part.achievements
    if view is not None:
        fill = functools.partial(_fill_achievements, view=view)
        _heavy(part.memo, "achievements_pb", view, out.achievements, fill, keep=keep)
    if part.provenance is not None:
        out.provenance.CopyFrom(provenance_to_pb(part.provenance))
    if part.unavailable is not None:
        out.unavailable.CopyFrom(unavailable_to_pb(part.unavailable))
    return message


def _heavy(memo: Memo | None, name: str, source: object, target: M, fill: Callable[[M], None], *, keep: bool) -> None:
    """Fill `target` from `source`: a copy of the message kept as `name` for that very source, else `fill`;
    then, with `keep`, `target` is the one kept (the message it was copied from can go)."""
    kept = memo.peek(name, (source,)) if memo is not None else None
    if kept is not None:
        target.CopyFrom(kept)  # type: ignore[arg-type]
    else:
        fill(target)
    if memo is not None and keep:
        memo.put(name, (source,), target)


def _kept(
    memo: Memo | None, name: str, inputs: tuple[object, ...], uses: tuple[object, ...], build: Callable[[bool], T]
) -> T:
    """`build(keep)`, kept in `memo` under `name` for these very `inputs` once the data it shows (`uses`, e.g.
    the answer's stats whatever their provenance) is asked for the second time (`Memo.second_use`): a message
    only the live request asks for is built and let go. Built each time without a memo."""
    if memo is None:
        return build(False)
    kept = memo.peek(name, inputs)
    if kept is not None:
        return kept  # type: ignore[return-value]
    if not memo.second_use(f"{name}:uses", uses):
        return build(False)
    value = build(True)
    memo.put(name, inputs, value)
    return value


def get_response(stats: StatsPart | None, achievements: AchievementsPart | None) -> pb.GetPlayerStatsResponse:
    """The unary answer of both parts, kept with the achievements answer for the pair of stream messages."""
    stats_message = None if stats is None else stream_response(stats)
    achievements_message = None if achievements is None else stream_response(achievements)

    def build() -> pb.GetPlayerStatsResponse:
        return pb.GetPlayerStatsResponse(
            stats=None if stats_message is None else stats_message.stats,
            achievements=None if achievements_message is None else achievements_message.achievements,
        )

    memo = None if achievements is None or stats is None else achievements.memo
    messages = (stats_message, achievements_message)
    uses = (None if stats is None else stats.stats, None if achievements is None else achievements.achievements)
    return _kept(memo, "get_response", messages, uses, lambda _keep: build())


__all__ = [
    "FLOAT_STATS",
    "INT_STATS",
    "achievement_to_pb",
    "achievements_part_to_pb",
    "get_response",
    "profile_to_pb",
    "stats_part_to_pb",
    "stream_response",
]
