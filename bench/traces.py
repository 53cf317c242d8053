"""Where a cache-miss stream's time goes, from the server's own traces (rows 1 and 2, when not met).

A CPU profile of a server waiting on Steam mostly shows an idle event loop; the critical path is in the traces.
A separate server process exports its spans over OTLP to a receiver in this process (the one the demo uses);
each stream of a new player then yields: the SERVER span, the `steam.<endpoint>` spans, their `GET` attempt
spans and the `rpc.message` events of the two parts. Tracing costs a little itself, so the segments are
indicative; the table's rows are measured with telemetry off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.stats import percentile
from dbd_playerstats_dev.otlp_receiver import ReceivedSpan

SEGMENTS = (
    ("rpc_to_stats_get", "RPC start -> stats GET sent (tasks started, upstream layers)"),
    ("stats_get", "stats GET (the simulator's latency and work)"),
    ("stats_get_to_done", "stats GET answered -> steam.stats done (parse, resilience bookkeeping)"),
    ("ready_to_first", "stats and profile done -> first message sent (mapping, store write started)"),
    ("rpc_to_first", "RPC start -> first message sent"),
    ("achievements_get", "achievements GET"),
    ("achievements_get_to_second", "achievements GET answered -> second message sent (store merge, view, mapping)"),
    ("rpc_total", "RPC start -> end (server side)"),
)


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Milliseconds per segment, one list entry per traced stream."""

    segments: dict[str, list[float]]

    def render(self, client_first: Sequence[float], client_total: Sequence[float]) -> str:
        count = min((len(values) for values in self.segments.values()), default=0)
        lines = [f"critical path of {count} cache-miss streams from the server's traces (ms, p50 / p90):"]
        for key, label in SEGMENTS:
            values = self.segments.get(key, [])
            if values:
                lines.append(f"  {percentile(values, 50):7.2f} / {percentile(values, 90):7.2f}  {label}")
        if client_first and client_total:
            lines.append(
                f"  the driver saw: first message p50 {percentile(client_first, 50):.2f}, "
                f"end p50 {percentile(client_total, 50):.2f}"
            )
        return "\n".join(lines)


def breakdown(spans: Sequence[ReceivedSpan]) -> Breakdown:
    """The segments of every StreamPlayerStats trace that has its stats, profile and achievements calls."""
    by_trace: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    out: dict[str, list[float]] = {key: [] for key, _ in SEGMENTS}
    for trace in by_trace.values():
        roots = [s for s in trace if not s.parent_span_id and s.name.endswith("/StreamPlayerStats")]
        if not roots:
            continue
        root = roots[0]
        calls = {s.name: s for s in trace if s.name.startswith("steam.")}
        stats, profile, achievements = (calls.get(f"steam.{n}") for n in ("stats", "profile", "achievements"))
        sent = {e.attributes.get("playerstats.part"): e.time_ns for e in root.events if e.name == "rpc.message"}
        if stats is None or profile is None or achievements is None or not {"stats", "achievements"} <= set(sent):
            continue
        stats_get = _answering_get(trace, stats)
        achievements_get = _answering_get(trace, achievements)
        if stats_get is None or achievements_get is None:
            continue

        def ms(start_ns: int, end_ns: int) -> float:
            return (end_ns - start_ns) / 1e6

        values = {
            "rpc_to_stats_get": ms(root.start_ns, stats_get.start_ns),
            "stats_get": stats_get.duration_ms,
            "stats_get_to_done": ms(stats_get.end_ns, stats.end_ns),
            "ready_to_first": ms(max(stats.end_ns, profile.end_ns), int(sent["stats"])),
            "rpc_to_first": ms(root.start_ns, int(sent["stats"])),
            "achievements_get": achievements_get.duration_ms,
            "achievements_get_to_second": ms(achievements_get.end_ns, int(sent["achievements"])),
            "rpc_total": root.duration_ms,
        }
        for key, value in values.items():
            out[key].append(value)
    return Breakdown(out)


def _answering_get(trace: Sequence[ReceivedSpan], parent: ReceivedSpan) -> ReceivedSpan | None:
    gets = sorted(
        (s for s in trace if s.name == "GET" and s.parent_span_id == parent.span_id), key=lambda s: s.start_ns
    )
    return gets[-1] if gets else None  # the attempt that answered: the last one


__all__ = ["SEGMENTS", "Breakdown", "breakdown"]
