"""A trace as an indented text tree: what the demo prints so a newcomer sees the retries without a dashboard.

    /dbd.playerstats.v1.PlayerStatsService/StreamPlayerStats  462.3 ms  OK
      steam.vanity  +1.0 ms  12.1 ms  attempts=1 ok
        GET 200  +1.2 ms  11.5 ms
      steam.stats  +14.0 ms  70.4 ms  attempts=3 ok
        GET 503  +14.2 ms  5.1 ms  ERROR
        . retry after attempt 1: server (SteamServerError), waiting 3.0 ms
        ...
      . sent stats  +85.2 ms

Children are ordered by start time; ``+x ms`` is the start relative to the root span; events are lines
starting with ``.`` at the time they happened.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Final

import grpc

from dbd_playerstats_dev.otlp_receiver import ReceivedEvent, ReceivedSpan

INDENT: Final = "  "
_GRPC_CODES: Final = {code.value[0]: code.name for code in grpc.StatusCode}


def _details(span: ReceivedSpan) -> list[str]:
    attrs = span.attributes
    parts: list[str] = []
    code = attrs.get("rpc.grpc.status_code")
    if span.kind == "SERVER" and isinstance(code, int):
        parts.append(_GRPC_CODES.get(code, str(code)))
    if "steam.attempts" in attrs:
        parts.append(f"attempts={attrs['steam.attempts']} {attrs.get('steam.outcome', '')}".rstrip())
    resend = attrs.get("http.request.resend_count")
    if resend:
        parts.append(f"resend={resend}")
    if span.status == "ERROR":
        parts.append("ERROR")
    return parts


def _label(span: ReceivedSpan) -> str:
    status = span.attributes.get("http.response.status_code")
    if span.kind == "CLIENT" and status is not None:
        return f"{span.name} {status}"
    error = span.attributes.get("error.type")
    if span.kind == "CLIENT" and error is not None:
        return f"{span.name} {error}"
    return span.name


def _event_line(event: ReceivedEvent, root_start: int) -> str | None:
    at = f"+{(event.time_ns - root_start) / 1e6:.1f} ms"
    attrs = event.attributes
    if event.name == "rpc.message":
        return f". sent {attrs.get('playerstats.part', 'message')}  {at}"
    if event.name == "steam.retry":
        wait_ms = float(attrs.get("wait_s", 0.0)) * 1000
        after = f", Retry-After {attrs['retry_after_s']} s" if "retry_after_s" in attrs else ""
        return (
            f". retry after attempt {attrs.get('attempt')}: {attrs.get('error.class')} ({attrs.get('error.type')})"
            f"{after}, waiting {wait_ms:.1f} ms  {at}"
        )
    if event.name == "exception":
        return None  # the span's status and error.type already say it
    details = " ".join(f"{key}={value}" for key, value in attrs.items())
    return f". {event.name} {details}  {at}"


def render_trace(spans: Iterable[ReceivedSpan], trace_id: str | None = None) -> list[str]:
    """The lines of the tree of `trace_id` (default: the trace of the first root span among `spans`)."""
    spans = list(spans)
    if trace_id is None:
        roots = [s for s in spans if not s.parent_span_id]
        if not roots:
            return []
        trace_id = roots[0].trace_id
    members = [s for s in spans if s.trace_id == trace_id]
    ids = {s.span_id for s in members}
    children: dict[str, list[ReceivedSpan]] = defaultdict(list)
    tops: list[ReceivedSpan] = []
    for span in members:
        if span.parent_span_id in ids:
            children[span.parent_span_id].append(span)
        else:
            tops.append(span)  # the root, or a span whose parent is in the caller's process
    if not tops:
        return []
    root_start = min(s.start_ns for s in tops)
    lines: list[str] = []

    def walk(span: ReceivedSpan, depth: int) -> None:
        offset = f"+{(span.start_ns - root_start) / 1e6:.1f} ms  " if depth else ""
        head = f"{INDENT * depth}{_label(span)}  {offset}{span.duration_ms:.1f} ms"
        lines.append("  ".join([head, *_details(span)]))
        entries: list[tuple[int, ReceivedSpan | ReceivedEvent]] = [(c.start_ns, c) for c in children[span.span_id]]
        entries += [(e.time_ns, e) for e in span.events]
        for _, entry in sorted(entries, key=lambda pair: pair[0]):
            if isinstance(entry, ReceivedSpan):
                walk(entry, depth + 1)
            else:
                line = _event_line(entry, root_start)
                if line is not None:
                    lines.append(f"{INDENT * (depth + 1)}{line}")

    for top in sorted(tops, key=lambda s: s.start_ns):
        walk(top, 0)
    return lines


def find_trace(spans: Sequence[ReceivedSpan], root_name_suffix: str) -> str | None:
    """The trace id of the first root span whose name ends with `root_name_suffix`, if any arrived."""
    for span in spans:
        if not span.parent_span_id and span.name.endswith(root_name_suffix):
            return span.trace_id
    return None


__all__ = ["find_trace", "render_trace"]
