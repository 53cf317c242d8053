"""Test support: a `Telemetry` whose spans and metrics are kept in memory, for this project's tests and others'.

    captured = CapturedTelemetry.create()
    running = await build_server(settings, listen="127.0.0.1:0", telemetry=captured.telemetry)
    ...
    captured.span("steam.stats").attributes["steam.attempts"] == 3
    captured.points("playerstats.merge.decisions") == [({"merge.decision": "accepted", "merge.reason": ""}, 1)]
    captured.telemetry.shutdown()

Spans are exported synchronously (``SimpleSpanProcessor``) as they end, through the same redaction as in
production.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dbd_playerstats.telemetry.providers import Telemetry, TelemetrySettings
from dbd_playerstats.telemetry.redact import Redactor


@dataclass(frozen=True)
class CapturedTelemetry:
    """A Telemetry and the in-memory exporter and reader it feeds."""

    telemetry: Telemetry
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    @classmethod
    def create(cls, settings: TelemetrySettings | None = None, redactor: Redactor | None = None) -> CapturedTelemetry:
        """In-memory capture, plus whatever `settings` configure (default: nothing else)."""
        exporter = InMemorySpanExporter()
        reader = InMemoryMetricReader()
        telemetry = Telemetry.create(
            settings or TelemetrySettings(), redactor=redactor, span_exporters=[exporter], metric_readers=[reader]
        )
        return cls(telemetry, exporter, reader)

    def spans(self) -> list[ReadableSpan]:
        """Every span that has ended, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        """The one ended span called `name` (AssertionError when there are none or several)."""
        found = [s for s in self.spans() if s.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one span {name!r}, got {len(found)} among {[s.name for s in self.spans()]}")
        return found[0]

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, value) of each data point of the metric `name`: a sum's or gauge's value, a histogram's
        count; [] when nothing was recorded."""
        data = self.reader.get_metrics_data()
        found: list[tuple[dict[str, Any], Any]] = []
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        value = getattr(point, "count", None)
                        found.append((dict(point.attributes or {}), getattr(point, "value", value)))
        return found


__all__ = ["CapturedTelemetry"]
