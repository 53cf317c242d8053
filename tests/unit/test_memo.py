"""What a cache hit reuses: values derived once per kept answer, keyed on their inputs' identity."""

from __future__ import annotations

from datetime import UTC, datetime

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.api.mapping import achievements_part_to_pb, stats_part_to_pb
from dbd_playerstats.domain.achievements import build_view
from dbd_playerstats.domain.memo import Memo
from dbd_playerstats.domain.model import AchievementsPart, Provenance, Source, StatsPart
from dbd_playerstats.steam.models import PlayerSummary, StatValue, Visibility

FETCHED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
PROFILE = PlayerSummary("76561197960287930", "demo", "https://example/p", "https://example/a", Visibility.PUBLIC)


def test_memo_derives_once_per_identical_inputs() -> None:
    memo = Memo()
    calls: list[int] = []
    first, second = object(), object()

    def derive() -> list[int]:
        calls.append(1)
        return [len(calls)]

    one = memo.get("x", (first,), derive)
    assert memo.get("x", (first,), derive) is one
    assert len(calls) == 1
    other = memo.get("x", (second,), derive)  # another input (by identity): derived again, replacing the entry
    assert other is not one
    assert memo.get("x", (second,), derive) is other
    assert len(calls) == 2
    assert len(memo) == 1


def test_stats_part_reuses_the_stats_message_but_not_the_provenance() -> None:
    stats = (StatValue("DBD_BloodwebPoints", 123), StatValue("DBD_GeneratorPct_float", 4.5))
    memo = Memo()
    live = StatsPart(PROFILE, stats, Provenance(Source.LIVE, FETCHED), memo=memo)
    hit = StatsPart(PROFILE, stats, Provenance(Source.CACHE, FETCHED), memo=memo)
    live_pb, hit_pb = stats_part_to_pb(live), stats_part_to_pb(hit)
    assert len(memo) == 1
    assert live_pb.stats == hit_pb.stats == stats_part_to_pb(StatsPart(PROFILE, stats, live.provenance)).stats
    assert live_pb.provenance.source == pb.DATA_SOURCE_LIVE
    assert hit_pb.provenance.source == pb.DATA_SOURCE_CACHE
    assert hit_pb.provenance.fetched_at.ToDatetime(tzinfo=UTC) == FETCHED
    hit_pb.stats.bloodpoints = 1  # a response is its own copy: the kept message is untouched
    assert stats_part_to_pb(hit).stats.bloodpoints == 123


def test_achievements_part_reuses_the_message_of_the_same_view() -> None:
    view = build_view({"ACH_A": (True, FETCHED)}, None, {"ACH_A": 12.5})
    memo = Memo()
    live = achievements_part_to_pb(AchievementsPart(view, Provenance(Source.LIVE, FETCHED), memo=memo))
    hit = achievements_part_to_pb(AchievementsPart(view, Provenance(Source.CACHE, FETCHED), memo=memo))
    assert len(memo) == 1
    assert live.achievements == hit.achievements
    assert live.achievements == achievements_part_to_pb(AchievementsPart(view, None)).achievements
    assert hit.provenance.source == pb.DATA_SOURCE_CACHE
