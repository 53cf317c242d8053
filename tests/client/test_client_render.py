"""The CLI's pure rendering functions on hand-built messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped,unused-ignore]

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats_client import PlayerStatsError, render

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def _ts(at: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(at)
    return stamp


def _adept(character: str, role: pb.Role.ValueType, unlocked: bool) -> pb.Adept:
    return pb.Adept(character=character, role=role, achievement=pb.Achievement(unlocked=unlocked))


def _achievements() -> pb.Achievements:
    return pb.Achievements(
        adepts=[
            _adept("Nurse", pb.ROLE_KILLER, True),
            _adept("Trapper", pb.ROLE_KILLER, False),
            _adept("Wraith", pb.ROLE_KILLER, True),
            _adept("Meg Thomas", pb.ROLE_SURVIVOR, True),
        ],
        killer_adepts=pb.RoleTotals(unlocked=2, total=3),
        survivor_adepts=pb.RoleTotals(unlocked=1, total=1),
        unlocked=10,
        total=20,
    )


def _unavailable() -> pb.Unavailable:
    return pb.Unavailable(code=14, reason="UPSTREAM_UNAVAILABLE", message="Steam timed\nout", retry_after_ms=1500)


def test_full_stats_part() -> None:
    """A complete stats part renders profile, provenance, grades, main stats and the raw count."""
    part = pb.StatsPart(
        profile=pb.Profile(steam_id="76561198000000001", persona_name="Demo Survivor"),
        stats=pb.PlayerStats(
            killer_grade=pb.Grade(tier=pb.GRADE_TIER_IRIDESCENT, level=1, pips=85, display_name="Iridescent I"),
            survivor_grade=pb.Grade(tier=pb.GRADE_TIER_BRONZE, level=3, pips=20),
            bloodpoints=1_234_567,
            max_prestige_level=100,
            survivors_killed=12,
            escapes=345,
            hatch_escapes=6,
            generators_repaired=812.45,
            raw_stats=[pb.RawStat(name="A", int_value=1), pb.RawStat(name="B_float", float_value=2.5)],
        ),
        provenance=pb.Provenance(source=pb.DATA_SOURCE_CACHE, fetched_at=_ts(NOW), stale=True),
    )
    lines = render.render_stats_part(part, now=NOW)
    assert lines[0] == "stats  Demo Survivor (76561198000000001) source=CACHE fetched=2025-06-01T12:00:00Z stale"
    assert lines[1] == "  grades       killer Iridescent I (85 pips), survivor Bronze (20 pips)"
    assert lines[2] == "  bloodpoints  1,234,567  max prestige 100  max level 0"
    assert "killed 12" in lines[3]
    assert "escapes 345 (ko 0, hatch 6," in lines[5]
    assert "generators 812.5" in lines[5]
    assert lines[-1] == "  raw stats    2"
    assert all(not line.startswith(" ") or line.startswith("  ") for line in lines)


def test_stats_part_with_missing_parts() -> None:
    """A stats part without profile, provenance or stats says so instead of printing zeros."""
    assert render.render_stats_part(pb.StatsPart(), now=NOW) == ["stats  (no profile)", "  no statistics"]
    no_grades = render.render_stats_part(pb.StatsPart(stats=pb.PlayerStats()), now=NOW)
    assert no_grades[1] == "  grades       killer none, survivor none"


def test_stored_stats_show_their_age() -> None:
    """Stats served from the durable store show how old they are."""
    part = pb.StatsPart(provenance=pb.Provenance(source=pb.DATA_SOURCE_STORED, fetched_at=_ts(NOW - timedelta(days=2))))
    assert render.render_stats_part(part, now=NOW)[0].endswith("source=STORED fetched=2025-05-30T12:00:00Z (2 d old)")


def test_live_achievements() -> None:
    """Live achievements give the adept and overall counts, then the unlocked adepts per role."""
    part = pb.AchievementsPart(achievements=_achievements(), provenance=pb.Provenance(source=pb.DATA_SOURCE_LIVE))
    assert render.render_achievements_part(part, now=NOW) == [
        "achievements  killer adepts 2/3, survivor adepts 1/1, all 10/20 source=LIVE",
        "  killer adepts    Nurse, Wraith",
        "  survivor adepts  Meg Thomas",
    ]


def test_stored_copy_with_unavailable() -> None:
    """Achievements next to `unavailable` are a stored copy: its age, then the reason and retry hint."""
    part = pb.AchievementsPart(
        achievements=_achievements(),
        provenance=pb.Provenance(source=pb.DATA_SOURCE_STORED, fetched_at=_ts(NOW - timedelta(hours=3, minutes=12))),
        unavailable=_unavailable(),
    )
    lines = render.render_achievements_part(part, now=NOW)
    assert lines[0].endswith("all 10/20 source=STORED")
    assert lines[1] == "  stored copy from 2025-06-01T08:48:00Z, 3 h 12 min old"
    assert lines[2] == "  unavailable  UPSTREAM_UNAVAILABLE (UNAVAILABLE): Steam timed out (retry after 1.5 s)"


def test_stored_copy_without_a_fetch_time() -> None:
    """A stored copy whose fetch time is unknown says its age is unknown."""
    part = pb.AchievementsPart(achievements=_achievements(), unavailable=_unavailable())
    assert render.render_achievements_part(part, now=NOW)[1] == "  stored copy, age unknown"


def test_unavailable_without_stored_copy() -> None:
    """Unavailable achievements with nothing stored render as one line with the reason."""
    part = pb.AchievementsPart(unavailable=pb.Unavailable(code=8, reason="RATE_LIMITED"))
    assert render.render_achievements_part(part, now=NOW) == [
        "achievements  unavailable  RATE_LIMITED (RESOURCE_EXHAUSTED)"
    ]


def test_empty_achievements_part() -> None:
    """An achievements part with neither achievements nor a reason says 'none'."""
    assert render.render_achievements_part(pb.AchievementsPart(), now=NOW) == ["achievements  none"]


def test_long_adept_lists_wrap_under_their_label() -> None:
    """Many unlocked adepts wrap at 100 columns, continued under the first name."""
    adepts = [_adept(f"Survivor Number {i}", pb.ROLE_SURVIVOR, True) for i in range(12)]
    part = pb.AchievementsPart(achievements=pb.Achievements(adepts=adepts))
    lines = render.render_achievements_part(part, now=NOW)
    survivors = lines[2:]
    assert len(survivors) > 1
    assert all(len(line) <= 100 for line in survivors)
    assert all(line.startswith(" " * 19) for line in survivors[1:])
    assert ", ".join(f"Survivor Number {i}" for i in range(12)) == " ".join(
        line.strip() for line in survivors
    ).removeprefix("survivor adepts  ")


def test_stream_message_dispatch() -> None:
    """A stream message renders its stats or achievements part; an empty one says so."""
    stats = pb.StreamPlayerStatsResponse(stats=pb.StatsPart())
    achievements = pb.StreamPlayerStatsResponse(achievements=pb.AchievementsPart())
    assert render.render_stream_message(stats, now=NOW)[0].startswith("stats  ")
    assert render.render_stream_message(achievements, now=NOW) == ["achievements  none"]
    assert render.render_stream_message(pb.StreamPlayerStatsResponse(), now=NOW) == ["(empty message)"]


def test_get_response_with_missing_parts() -> None:
    """A GetPlayerStats response lacking a part names the missing part."""
    assert render.render_get_response(pb.GetPlayerStatsResponse(), now=NOW) == [
        "stats  missing",
        "achievements  missing",
    ]


def test_resolve_response() -> None:
    """A resolved player shows name, SteamID64, visibility and profile URL; no profile says missing."""
    response = pb.ResolvePlayerResponse(
        profile=pb.Profile(
            steam_id="7656",
            persona_name="x",
            profile_url="https://steamcommunity.com/id/x",
            visibility=pb.PROFILE_VISIBILITY_PRIVATE,
        )
    )
    assert render.render_resolve_response(response) == [
        "player  x (7656) visibility=PRIVATE",
        "  https://steamcommunity.com/id/x",
    ]
    assert render.render_resolve_response(pb.ResolvePlayerResponse()) == ["player  missing"]


def test_error_line() -> None:
    """The error line joins code, reason and one-line details, plus the retry hint when given."""
    err = PlayerStatsError(
        grpc.StatusCode.UNAVAILABLE, "Steam\nis down", reason="UPSTREAM_CIRCUIT_OPEN", retry_after=30.0
    )
    assert render.render_error(err) == "error: UNAVAILABLE UPSTREAM_CIRCUIT_OPEN: Steam is down (retry after 30 s)"
    assert render.render_error(PlayerStatsError(grpc.StatusCode.CANCELLED, "")) == "error: CANCELLED"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "just now"), (42, "42 s"), (300, "5 min"), (3 * 3600, "3 h"), (90_000, "1 d 1 h"), (-5, "just now")],
)
def test_format_age(seconds: float, text: str) -> None:
    """Ages are coarse: seconds, minutes, hours and minutes, days and hours; the future is 'just now'."""
    assert render.format_age(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(30.0, "30 s"), (1.5, "1.5 s"), (0.25, "0.25 s"), (120.4, "120 s")])
def test_format_seconds(seconds: float, text: str) -> None:
    """Retry hints show whole seconds plainly and fractions with up to three digits."""
    assert render.format_seconds(seconds) == text


def _lobby_error(
    index: int, player: str, steam_id: str, code: grpc.StatusCode, reason: str
) -> pb.StreamLobbyStatsResponse:
    status = status_pb2.Status(code=code.value[0], message="no\nway")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain="playerstats.dbd"))
    return pb.StreamLobbyStatsResponse(index=index, player=player, steam_id=steam_id, error=status)


def test_lobby_messages_carry_their_index() -> None:
    """A lobby part renders as the part does, its first line tagged #INDEX; a player's error is one line naming
    the entry as given (and its SteamID64 when that differs)."""
    stats = pb.StatsPart(profile=pb.Profile(steam_id="76561198000000001", persona_name="Demo Survivor"))
    lines = render.render_lobby_message(pb.StreamLobbyStatsResponse(index=3, stats=stats), now=NOW)
    assert lines == ["#3 " + render.render_stats_part(stats, now=NOW)[0], *render.render_stats_part(stats, now=NOW)[1:]]
    achievements = pb.AchievementsPart(unavailable=_unavailable())
    assert render.render_lobby_message(pb.StreamLobbyStatsResponse(index=0, achievements=achievements), now=NOW) == [
        "#0 achievements  unavailable  UPSTREAM_UNAVAILABLE (UNAVAILABLE): Steam timed out (retry after 1.5 s)"
    ]
    invalid = _lobby_error(2, "bad!", "", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PLAYER")
    assert render.render_lobby_message(invalid, now=NOW) == ["#2 error  'bad!' INVALID_ARGUMENT INVALID_PLAYER: no way"]
    private_id = "76561198000000002"
    private = _lobby_error(1, "private_player", private_id, grpc.StatusCode.FAILED_PRECONDITION, "PROFILE_PRIVATE")
    assert render.render_lobby_message(private, now=NOW) == [
        "#1 error  'private_player' (76561198000000002) FAILED_PRECONDITION PROFILE_PRIVATE: no way"
    ]
