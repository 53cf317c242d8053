"""The small API other code calls: span events on the current span, metrics of the RPC being served."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbd_playerstats.telemetry import record_cache_lookup, record_coalesced_wait, record_event, record_merge_decision
from dbd_playerstats.telemetry.recording import active_metrics, metrics_scope
from dbd_playerstats_dev.captured_telemetry import CapturedTelemetry


@pytest.fixture
def captured() -> Iterator[CapturedTelemetry]:
    running = CapturedTelemetry.create()
    yield running
    running.telemetry.shutdown()


def test_helpers_annotate_the_current_span_and_count(captured: CapturedTelemetry) -> None:
    """Inside a span and a metrics scope, each helper adds its event and records its metric."""
    with captured.telemetry.tracer.start_as_current_span("rpc"), metrics_scope(captured.telemetry.metrics):
        record_event("store.stale_served", age_s=40.0)
        record_cache_lookup("stats", hit=True)
        record_cache_lookup("stats", hit=False)
        record_coalesced_wait("achievements", waited_secs=0.2)
        record_merge_decision("rejected", reason="too_few_adepts", survivor_adepts=3)
    span = captured.span("rpc")
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        ("store.stale_served", {"age_s": 40.0}),
        ("cache.hit", {"cache": "stats"}),
        ("cache.miss", {"cache": "stats"}),
        ("coalesced.wait", {"endpoint": "achievements", "waited_s": 0.2}),
        ("merge.decision", {"decision": "rejected", "reason": "too_few_adepts", "survivor_adepts": 3}),
    ]
    assert sorted(captured.points("playerstats.cache.lookups"), key=str) == [
        ({"cache": "stats", "cache.result": "hit"}, 1),
        ({"cache": "stats", "cache.result": "miss"}, 1),
    ]
    assert captured.points("playerstats.coalesced.waits") == [({"steam.endpoint": "achievements"}, 1)]
    assert captured.points("playerstats.merge.decisions") == [
        ({"merge.decision": "rejected", "merge.reason": "too_few_adepts"}, 1)
    ]


def test_helpers_do_nothing_outside_a_span_and_an_rpc(captured: CapturedTelemetry) -> None:
    """Without a current span or active metrics the helpers are silent no-ops."""
    assert active_metrics() is None
    record_event("nothing")
    record_cache_lookup("stats", hit=True)
    record_merge_decision("accepted")
    assert captured.spans() == []
    assert captured.points("playerstats.cache.lookups") == []
