"""Plain-text rendering of the service's messages for the ``playerstats`` CLI.

Pure functions from a message to lines, with no I/O and no clock of their own (``now`` is passed in),
so that every case is unit-testable. The first line of a part names it (``stats``, ``achievements``,
``player``; in a lobby, ``#INDEX`` before that); the lines after it are indented by two spaces.
Optional parts a message lacks are said to be missing rather than shown as zeros.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import grpc
from google.protobuf import timestamp_pb2

from dbd.playerstats.v1 import playerstats_pb2
from dbd_playerstats_client.errors import PlayerStatsError, from_status

__all__ = [
    "format_age",
    "format_seconds",
    "render_achievements_part",
    "render_error",
    "render_get_response",
    "render_lobby_message",
    "render_resolve_response",
    "render_stats_part",
    "render_stream_message",
]

_WIDTH = 100
_INDENT = "  "
_CODES = {status.value[0]: status for status in grpc.StatusCode}


def render_stream_message(message: playerstats_pb2.StreamPlayerStatsResponse, *, now: datetime) -> list[str]:
    """The lines of one stream message: its stats or its achievements part."""
    part = message.WhichOneof("part")
    if part == "stats":
        return render_stats_part(message.stats, now=now)
    if part == "achievements":
        return render_achievements_part(message.achievements, now=now)
    return ["(empty message)"]


def render_lobby_message(message: playerstats_pb2.StreamLobbyStatsResponse, *, now: datetime) -> list[str]:
    """One lobby message: its part's lines, the first prefixed by ``#INDEX``, or the player's error line.

    ``#2 error  'not a player!' INVALID_ARGUMENT INVALID_PLAYER: ...``: an error names the entry as
    given (and its SteamID64 once resolved), since it has no profile to show.
    """
    tag = f"#{message.index}"
    part = message.WhichOneof("part")
    if part == "error":
        who = repr(message.player)
        if message.steam_id and message.steam_id != message.player:
            who += f" ({message.steam_id})"
        return [f"{tag} error  {who} " + render_error(from_status(message.error)).removeprefix("error: ")]
    if part == "stats":
        lines = render_stats_part(message.stats, now=now)
    elif part == "achievements":
        lines = render_achievements_part(message.achievements, now=now)
    else:
        lines = ["(empty message)"]
    return [f"{tag} {lines[0]}", *lines[1:]]


def render_get_response(response: playerstats_pb2.GetPlayerStatsResponse, *, now: datetime) -> list[str]:
    """The stats lines, then the achievements lines, of a GetPlayerStats response."""
    stats = render_stats_part(response.stats, now=now) if response.HasField("stats") else ["stats  missing"]
    achievements = (
        render_achievements_part(response.achievements, now=now)
        if response.HasField("achievements")
        else ["achievements  missing"]
    )
    return stats + achievements


def render_watch_message(message: playerstats_pb2.WatchPlayerResponse, *, now: datetime) -> list[str]:
    """A watch event: the snapshot as `get` prints it, a change as ``changed  NAME before -> after``, an unlock,
    or a problem's status line."""
    event = message.WhichOneof("event")
    if event == "snapshot":
        return render_get_response(message.snapshot, now=now)
    if event == "stats_changed":
        deltas = message.stats_changed.deltas
        return [f"changed  {d.name} {_number(d.before)} -> {_number(d.after)}" for d in deltas] or ["changed"]
    if event == "unlocked":
        unlock = message.unlocked
        adept = ""
        if unlock.character:
            role = playerstats_pb2.Role.Name(unlock.role).removeprefix("ROLE_").lower()
            adept = f" (adept: {unlock.character}, {role})"
        return [f"unlocked  {unlock.achievement.display_name or unlock.achievement.api_name}{adept}"]
    if event == "problem":
        return [f"problem  {render_error(from_status(message.problem))}"]
    return ["(empty message)"]


def render_history_response(response: playerstats_pb2.GetPlayerHistoryResponse) -> list[str]:
    """One line per stat (``STAT  value@time -> value@time ...``), then one per unlock, oldest first."""
    lines = []
    for series in response.series:
        points = " -> ".join(
            f"{_number(p.value)}@{p.at.ToDatetime(tzinfo=UTC).isoformat(timespec='seconds')}" for p in series.points
        )
        lines.append(f"{series.name}  {points or '(no change recorded)'}")
    for unlock in response.unlocks:
        achievement = unlock.achievement
        when = (
            achievement.unlock_time.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds")
            if achievement.HasField("unlock_time")
            else "time unknown"
        )
        adept = ""
        if unlock.character:
            role = playerstats_pb2.Role.Name(unlock.role).removeprefix("ROLE_").lower()
            adept = f" (adept: {unlock.character}, {role})"
        lines.append(f"unlocked  {achievement.display_name or achievement.api_name}{adept} at {when}")
    return lines or ["no history recorded"]


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def render_resolve_response(response: playerstats_pb2.ResolvePlayerResponse) -> list[str]:
    """``player  Name (SteamID64) visibility=PUBLIC`` and the profile URL."""
    if not response.HasField("profile"):
        return ["player  missing"]
    profile = response.profile
    visibility = playerstats_pb2.ProfileVisibility.Name(profile.visibility).removeprefix("PROFILE_VISIBILITY_")
    lines = [f"player  {_who(profile)} visibility={visibility}"]
    if profile.profile_url:
        lines.append(_INDENT + profile.profile_url)
    return lines


def render_stats_part(part: playerstats_pb2.StatsPart, *, now: datetime) -> list[str]:
    """The profile, provenance, grades, main statistics and raw stat count of a stats part.

    ``stats  Demo Survivor (76561198000000001) source=LIVE fetched=2025-01-02T03:04:05Z``, then the
    indented grade, bloodpoint, killer, survivor and raw-stat lines.
    """
    who = _who(part.profile) if part.HasField("profile") else "(no profile)"
    head = f"stats  {who}"
    if part.HasField("provenance"):
        head += " " + _provenance(part.provenance, now=now, with_fetched=True)
    if not part.HasField("stats"):
        return [head, _INDENT + "no statistics"]
    s = part.stats
    return [
        head,
        f"{_INDENT}grades       killer {_grade(s.killer_grade if s.HasField('killer_grade') else None)},"
        f" survivor {_grade(s.survivor_grade if s.HasField('survivor_grade') else None)}",
        f"{_INDENT}bloodpoints  {s.bloodpoints:,}  max prestige {s.max_prestige_level}"
        f"  max level {s.max_character_level}",
        f"{_INDENT}killer       killed {s.survivors_killed:,}  sacrificed {s.survivors_sacrificed:,}"
        f"  full loadouts {s.killer_full_loadout_matches:,}",
        f"{_INDENT}             chainsaw hits {s.chainsaw_hits:,}  uncloak attacks {s.uncloak_attacks:,}"
        f"  trap catches {s.trap_catches:,}",
        f"{_INDENT}survivor     escapes {s.escapes:,} (ko {s.escapes_ko:,}, hatch {s.hatch_escapes:,},"
        f" after hook {s.hooked_and_escaped:,}, new item {s.escapes_with_new_item:,})"
        f"  generators {s.generators_repaired:,.1f}  heals {s.survivors_healed:,.1f}",
        f"{_INDENT}             skill checks {s.skill_checks:,}  unhooks/heals {s.unhooks_or_heals:,}"
        f" (after exit {s.unhooks_or_heals_post_exit:,})  full loadouts {s.survivor_full_loadout_matches:,}",
        f"{_INDENT}raw stats    {len(s.raw_stats)}",
    ]


def render_achievements_part(part: playerstats_pb2.AchievementsPart, *, now: datetime) -> list[str]:
    """Adept and overall counts, the unlocked adepts, and why fresh data is missing if it is.

    With achievements: ``achievements  killer adepts 14/38, survivor adepts 16/46, all 120/282
    source=LIVE`` then the unlocked adepts per role. When ``unavailable`` is set the reason follows;
    achievements present alongside it are a stored copy, and its age is given.
    """
    has_achievements = part.HasField("achievements")
    has_unavailable = part.HasField("unavailable")
    if not has_achievements:
        if has_unavailable:
            return [f"achievements  unavailable  {_unavailable(part.unavailable)}"]
        return ["achievements  none"]
    a = part.achievements
    head = (
        f"achievements  killer adepts {a.killer_adepts.unlocked}/{a.killer_adepts.total},"
        f" survivor adepts {a.survivor_adepts.unlocked}/{a.survivor_adepts.total},"
        f" all {a.unlocked}/{a.total}"
    )
    if part.HasField("provenance"):
        head += " " + _provenance(part.provenance, now=now, with_fetched=False)
    lines = [head]
    if has_unavailable:
        lines.append(_INDENT + _stored_copy(part, now=now))
        lines.append(f"{_INDENT}unavailable  {_unavailable(part.unavailable)}")
    for role, label in ((playerstats_pb2.ROLE_KILLER, "killer"), (playerstats_pb2.ROLE_SURVIVOR, "survivor")):
        names = [adept.character for adept in a.adepts if adept.role == role and adept.achievement.unlocked]
        lines.extend(_wrapped(f"{label + ' adepts':<17}", ", ".join(names) or "none"))
    return lines


def render_error(error: PlayerStatsError) -> str:
    """One line: ``error: NOT_FOUND PLAYER_NOT_FOUND: no Steam player named 'x' (retry after 30 s)``."""
    line = "error: " + " ".join(str(error).split())
    if error.retry_after is not None:
        line += f" (retry after {format_seconds(error.retry_after)})"
    return line


def format_seconds(seconds: float) -> str:
    """``"30 s"``, ``"1.5 s"``, ``"0.25 s"``: whole seconds without decimals, else up to 3 digits."""
    return f"{seconds:.3g} s" if seconds < 100 else f"{round(seconds)} s"


def format_age(seconds: float) -> str:
    """A coarse age: ``"just now"``, ``"42 s"``, ``"5 min"``, ``"3 h 12 min"``, ``"2 d 4 h"``."""
    total = int(max(0.0, seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s" if secs else "just now"


def _who(profile: playerstats_pb2.Profile) -> str:
    return f"{profile.persona_name or '(no name)'} ({profile.steam_id or 'no SteamID'})"


def _grade(grade: playerstats_pb2.Grade | None) -> str:
    if grade is None or (grade.tier == playerstats_pb2.GRADE_TIER_UNSPECIFIED and not grade.display_name):
        return "none"
    name = grade.display_name or playerstats_pb2.GradeTier.Name(grade.tier).removeprefix("GRADE_TIER_").title()
    return f"{name} ({grade.pips:,} pips)"


def _provenance(provenance: playerstats_pb2.Provenance, *, now: datetime, with_fetched: bool) -> str:
    source = playerstats_pb2.DataSource.Name(provenance.source).removeprefix("DATA_SOURCE_")
    text = f"source={source}"
    if with_fetched and provenance.HasField("fetched_at"):
        text += f" fetched={_iso(provenance.fetched_at)}"
        if provenance.source == playerstats_pb2.DATA_SOURCE_STORED:
            text += f" ({format_age(_age(provenance.fetched_at, now))} old)"
    if provenance.stale:
        text += " stale"
    return text


def _stored_copy(part: playerstats_pb2.AchievementsPart, *, now: datetime) -> str:
    if part.HasField("provenance") and part.provenance.HasField("fetched_at"):
        fetched = part.provenance.fetched_at
        return f"stored copy from {_iso(fetched)}, {format_age(_age(fetched, now))} old"
    return "stored copy, age unknown"


def _unavailable(unavailable: playerstats_pb2.Unavailable) -> str:
    code = _CODES.get(unavailable.code)
    text = unavailable.reason or "no reason given"
    if code is not None and code is not grpc.StatusCode.OK:
        text += f" ({code.name})"
    if unavailable.message:
        text += f": {' '.join(unavailable.message.split())}"
    if unavailable.retry_after_ms > 0:
        text += f" (retry after {format_seconds(unavailable.retry_after_ms / 1000)})"
    return text


def _wrapped(label: str, text: str) -> list[str]:
    return textwrap.wrap(
        text,
        width=_WIDTH,
        initial_indent=_INDENT + label,
        subsequent_indent=_INDENT + " " * len(label),
        break_on_hyphens=False,
    )


def _iso(timestamp: timestamp_pb2.Timestamp) -> str:
    return timestamp.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _age(timestamp: timestamp_pb2.Timestamp, now: datetime) -> float:
    return (now - timestamp.ToDatetime(tzinfo=UTC)).total_seconds()
