"""The demo's trace tree: parentage, order, durations, attempts, retries and send events."""

from __future__ import annotations

from dataclasses import replace

from dbd_playerstats_dev.otlp_receiver import ReceivedEvent, ReceivedSpan
from dbd_playerstats_dev.trace_tree import find_trace, render_trace

MS = 1_000_000
TRACE = "ab" * 16


def span(ids: str, name: str, kind: str, times: tuple[int, int], **attrs: object) -> ReceivedSpan:
    """A received span; `ids` is "SPAN/PARENT" ("01/" for a root), `times` (start, end) in ms."""
    span_id, parent = ids.split("/")
    start, end = times
    return ReceivedSpan(TRACE, span_id, parent, name, kind, start * MS, end * MS, dict(attrs), (), "UNSET", "", "s")


def test_tree_shows_nesting_timing_attempts_retries_and_sends() -> None:
    """Spans nest under their parents by start time, with retries and sends as timed event lines."""
    sent = ReceivedEvent("rpc.message", 60 * MS, {"playerstats.part": "stats"})
    retry = ReceivedEvent(
        "steam.retry", 20 * MS, {"attempt": 1, "wait_s": 0.01, "error.class": "server", "error.type": "E"}
    )
    root = span("01/", "/svc/StreamPlayerStats", "SERVER", (0, 100), **{"rpc.grpc.status_code": 0})
    stats = span("02/01", "steam.stats", "INTERNAL", (5, 55), **{"steam.attempts": 2, "steam.outcome": "ok"})
    first = span("03/02", "GET", "CLIENT", (6, 19), **{"http.response.status_code": 503})
    second = span(
        "04/02", "GET", "CLIENT", (30, 54), **{"http.response.status_code": 200, "http.request.resend_count": 1}
    )
    spans = [second, replace(first, status="ERROR"), replace(stats, events=(retry,)), replace(root, events=(sent,))]
    assert render_trace(spans) == [
        "/svc/StreamPlayerStats  100.0 ms  OK",
        "  steam.stats  +5.0 ms  50.0 ms  attempts=2 ok",
        "    GET 503  +6.0 ms  13.0 ms  ERROR",
        "    . retry after attempt 1: server (E), waiting 10.0 ms  +20.0 ms",
        "    GET 200  +30.0 ms  24.0 ms  resend=1",
        "  . sent stats  +60.0 ms",
    ]


def test_find_trace_picks_the_root_by_name() -> None:
    """find_trace returns the trace of a root span with the given name suffix, None before it arrived."""
    root = span("01/", "/svc/StreamPlayerStats", "SERVER", (0, 100))
    child = span("02/01", "steam.stats", "INTERNAL", (5, 55))
    assert find_trace([child, root], "/StreamPlayerStats") == TRACE
    assert find_trace([child], "/StreamPlayerStats") is None
