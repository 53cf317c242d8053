"""What a cache hit reuses: values derived once per kept answer, keyed on their inputs' identity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.api.mapping import (
    achievements_part_to_pb,
    get_response,
    stats_part_to_pb,
    stream_response,
    timestamp,
)
from dbd_playerstats.domain.achievements import build_view
from dbd_playerstats.domain.memo import LastOf, Memo
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


def test_second_use_notes_the_first_and_answers_the_second() -> None:
    memo = Memo()
    data, other = object(), object()
    assert memo.second_use("x", (data,)) is False
    assert memo.second_use("x", (data,)) is True
    assert memo.peek("x", (data,)) is None, "a note is not a value"
    assert memo.get("x", (data,), lambda: 7) == 7, "nor is it served by get"
    assert memo.second_use("y", (other,)) is False


def test_the_live_request_messages_are_let_go_and_the_first_hit_keeps_them() -> None:
    """Most answers are asked for once: the live request's messages are not kept (a message in memory is three
    times its encoded size); the first cache hit builds them again and keeps them for the hits after it."""
    stats = (StatValue("DBD_BloodwebPoints", 123),)
    memo = Memo()
    live = StatsPart(PROFILE, stats, Provenance(Source.LIVE, FETCHED), memo=memo)
    live_message = stream_response(live)
    assert memo.peek("stats_pb", (stats,)) is None
    assert stream_response(live) is not live_message, "asked for again with the same provenance: built again"
    hit = StatsPart(PROFILE, stats, Provenance(Source.CACHE, FETCHED), memo=memo)
    first_hit = stream_response(hit)
    assert memo.peek("stats_pb", (stats,)) is first_hit.stats.stats
    assert stream_response(StatsPart(PROFILE, stats, Provenance(Source.CACHE, FETCHED), memo=memo)) is not None
    assert stream_response(hit) is first_hit
    assert first_hit.stats.stats == live_message.stats.stats


def test_stats_part_reuses_the_stats_message_but_not_the_provenance() -> None:
    """The first (LIVE) request and the hits (CACHE) of one answer share the stats message; each provenance gets
    its part message, and every hit after the first is served that very message, equal to the plain mapping."""
    stats = (StatValue("DBD_BloodwebPoints", 123), StatValue("DBD_GeneratorPct_float", 4.5))
    memo = Memo()
    live = StatsPart(PROFILE, stats, Provenance(Source.LIVE, FETCHED), memo=memo)
    hit = StatsPart(PROFILE, stats, Provenance(Source.CACHE, FETCHED), memo=memo)
    live_pb, hit_pb = stats_part_to_pb(live), stats_part_to_pb(hit)
    assert live_pb.stats == hit_pb.stats == stats_part_to_pb(StatsPart(PROFILE, stats, live.provenance)).stats
    assert live_pb.provenance.source == pb.DATA_SOURCE_LIVE
    assert hit_pb.provenance.source == pb.DATA_SOURCE_CACHE
    assert hit_pb.provenance.fetched_at.ToDatetime(tzinfo=UTC) == FETCHED
    again = StatsPart(PROFILE, stats, Provenance(Source.CACHE, FETCHED), memo=memo)
    assert stats_part_to_pb(again) is hit_pb
    assert stream_response(again) is stream_response(hit)


def test_achievements_part_reuses_the_message_of_the_same_view() -> None:
    view = build_view({"ACH_A": (True, FETCHED)}, None, {"ACH_A": 12.5})
    memo = Memo()
    live = achievements_part_to_pb(AchievementsPart(view, Provenance(Source.LIVE, FETCHED), memo=memo))
    hit_part = AchievementsPart(view, Provenance(Source.CACHE, FETCHED), memo=memo)
    hit = achievements_part_to_pb(hit_part)
    assert live.achievements == hit.achievements
    assert live.achievements == achievements_part_to_pb(AchievementsPart(view, None)).achievements
    assert hit.provenance.source == pb.DATA_SOURCE_CACHE
    assert achievements_part_to_pb(AchievementsPart(view, Provenance(Source.CACHE, FETCHED), memo=memo)) is hit


def test_the_kept_messages_are_byte_identical_to_the_plain_mapping() -> None:
    """Issue 12's contract check: the fast path (kept messages) serializes to the very bytes the plain mapping
    (no memo) gives for the same data, for the stream messages and the unary answer, first request and hits."""
    stats = (StatValue("DBD_KillerSkulls", 40), StatValue("DBD_BloodwebPoints", 99), StatValue("DBD_Escape", 7))
    view = build_view({"ACH_A": (True, FETCHED), "ACH_B": (False, None)}, None, {"ACH_A": 12.5})
    memo_stats, memo_achievements = Memo(), Memo()
    for source in (Source.LIVE, Source.CACHE, Source.CACHE):
        fast_stats = StatsPart(PROFILE, stats, Provenance(source, FETCHED), memo=memo_stats)
        fast_achievements = AchievementsPart(view, Provenance(source, FETCHED), memo=memo_achievements)
        plain_stats = StatsPart(PROFILE, stats, Provenance(source, FETCHED))
        plain_achievements = AchievementsPart(view, Provenance(source, FETCHED))
        for fast, plain in ((fast_stats, plain_stats), (fast_achievements, plain_achievements)):
            assert stream_response(fast).SerializeToString(deterministic=True) == stream_response(
                plain
            ).SerializeToString(deterministic=True)
        fast_unary = get_response(fast_stats, fast_achievements).SerializeToString(deterministic=True)
        plain_unary = get_response(plain_stats, plain_achievements).SerializeToString(deterministic=True)
        assert fast_unary == plain_unary


def test_timestamps_are_those_of_from_datetime() -> None:
    """The fast `timestamp` gives FromDatetime's seconds and nanos, aware (any zone, before 1970) or naive."""
    zone = timezone(timedelta(hours=-7, minutes=-30))
    for when in (
        FETCHED,
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2038, 1, 19, 3, 14, 8, 123_456, tzinfo=zone),
        datetime(2026, 5, 6, 7, 8, 9, 1),
    ):
        expected = Timestamp()
        expected.FromDatetime(when)
        assert (timestamp(when).seconds, timestamp(when).nanos) == (expected.seconds, expected.nanos), when


def test_last_of_builds_once_per_input_object() -> None:
    """`LastOf` keeps the value of the latest input, by identity: an equal but other object builds again."""
    kept = LastOf[list[int]]()
    first, equal = [1, 2], [1, 2]
    value = kept.get(first, lambda: [1])
    assert kept.get(first, lambda: [2]) is value
    assert kept.get(equal, lambda: [3]) == [3]
