"""The proto mapping of the heavy parts, filled field by field in place (issue 12), against messages built the
plain way (keyword construction, one Timestamp each): the same bytes, edge values included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.api import mapping
from dbd_playerstats.domain.adepts import Role
from dbd_playerstats.domain.model import AchievementsView, AchievementView, AdeptView
from dbd_playerstats.steam.models import StatValue

T0 = datetime(2021, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def plain_achievement(view: AchievementView) -> pb.Achievement:
    out = pb.Achievement(api_name=view.api_name, display_name=view.display_name, unlocked=view.unlocked)
    if view.unlock_time is not None:
        ts = Timestamp()
        ts.FromDatetime(view.unlock_time)
        out.unlock_time.CopyFrom(ts)
    if view.global_percent is not None:
        out.global_percent = view.global_percent
    return out


def test_achievements_are_the_plain_messages() -> None:
    views = (
        AchievementView("ACH_A", "A", True, T0, 12.5),
        AchievementView("ACH_B", "B", False, None, None),
        AchievementView("ACH_C", "C", True, None, 0.0),  # unlocked, time unknown; a percent of zero is still set
        AchievementView("ACH_D", "D", True, datetime(2020, 1, 1), 100.0),  # naive: read as UTC
        AchievementView("ACH_E", "E", True, T0 + timedelta(days=9000), None),
    )
    view = AchievementsView(
        adepts=(AdeptView("Nurse", Role.KILLER, views[0]), AdeptView("Meg", Role.SURVIVOR, views[1])),
        achievements=views,
    )
    out = pb.Achievements()
    mapping._fill_achievements(out, view)

    expected = pb.Achievements(unlocked=4, total=5)
    expected.adepts.add(character="Nurse", role=pb.ROLE_KILLER, achievement=plain_achievement(views[0]))
    expected.adepts.add(character="Meg", role=pb.ROLE_SURVIVOR, achievement=plain_achievement(views[1]))
    expected.killer_adepts.CopyFrom(pb.RoleTotals(unlocked=1, total=1))
    expected.survivor_adepts.CopyFrom(pb.RoleTotals(unlocked=0, total=1))
    expected.achievements.extend(plain_achievement(v) for v in views)
    assert out.SerializeToString() == expected.SerializeToString()
    assert out.achievements[0].unlock_time.nanos == 890_123_000
    assert not out.achievements[1].HasField("unlock_time")
    assert out.achievements[2].HasField("global_percent")


def test_raw_stats_are_sorted_typed_and_clamped() -> None:
    stats = (
        StatValue("DBD_Zeta", 3),
        StatValue("DBD_Alpha_float", 1.5),
        StatValue("DBD_Big", 2**70),  # not from Steam's parser (it drops these), but the mapping must not fail
        StatValue("DBD_Zero", 0),
        StatValue("DBD_Neg", -(2**70)),
    )
    out = pb.PlayerStats()
    mapping._fill_stats(out, stats)
    assert [(r.name, r.WhichOneof("value")) for r in out.raw_stats] == [
        ("DBD_Alpha_float", "float_value"),
        ("DBD_Big", "int_value"),
        ("DBD_Neg", "int_value"),
        ("DBD_Zero", "int_value"),  # zero is still the int case of the oneof
        ("DBD_Zeta", "int_value"),
    ]
    assert [out.raw_stats[1].int_value, out.raw_stats[2].int_value] == [2**63 - 1, -(2**63)]
    expected = pb.PlayerStats()
    for name, kwargs in [
        ("DBD_Alpha_float", {"float_value": 1.5}),
        ("DBD_Big", {"int_value": 2**63 - 1}),
        ("DBD_Neg", {"int_value": -(2**63)}),
        ("DBD_Zero", {"int_value": 0}),
        ("DBD_Zeta", {"int_value": 3}),
    ]:
        expected.raw_stats.add(name=name, **kwargs)  # type: ignore[arg-type]
    assert out.SerializeToString() == expected.SerializeToString()
