"""A real OTLP/gRPC receiver running in this process, for the demo and the tests.

It implements the collector's ``TraceService/Export`` and ``MetricsService/Export`` (from
``opentelemetry-proto``) on a thread-pool gRPC server, so a service pointed at it with
``OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:<port>`` exports to it over the wire exactly as it would to an
OpenTelemetry Collector. Received spans are decoded into plain `ReceivedSpan` values; metric export requests are
kept as they came.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

AttributeMap = dict[str, Any]
_SPAN_KINDS: Final = {
    trace_pb2.Span.SPAN_KIND_INTERNAL: "INTERNAL",
    trace_pb2.Span.SPAN_KIND_SERVER: "SERVER",
    trace_pb2.Span.SPAN_KIND_CLIENT: "CLIENT",
    trace_pb2.Span.SPAN_KIND_PRODUCER: "PRODUCER",
    trace_pb2.Span.SPAN_KIND_CONSUMER: "CONSUMER",
}
_STATUS_CODES: Final = {
    trace_pb2.Status.STATUS_CODE_UNSET: "UNSET",
    trace_pb2.Status.STATUS_CODE_OK: "OK",
    trace_pb2.Status.STATUS_CODE_ERROR: "ERROR",
}


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """A span event as received: name, time (ns since the epoch), attributes."""

    name: str
    time_ns: int
    attributes: AttributeMap


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """A span as received over OTLP; ids are lowercase hex, `parent_span_id` is "" for a root span."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: AttributeMap
    events: tuple[ReceivedEvent, ...]
    status: str
    status_message: str
    service_name: str

    @property
    def duration_ms(self) -> float:
        """End minus start, in milliseconds."""
        return (self.end_ns - self.start_ns) / 1e6


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> AttributeMap:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


def decode(request: trace_service_pb2.ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """The spans of one export request."""
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=_SPAN_KINDS.get(span.kind, "UNSPECIFIED"),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=_attributes(span.attributes),
                        events=tuple(
                            ReceivedEvent(event.name, event.time_unix_nano, _attributes(event.attributes))
                            for event in span.events
                        ),
                        status=_STATUS_CODES.get(span.status.code, "UNSET"),
                        status_message=span.status.message,
                        service_name=service,
                    )
                )
    return spans


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpTraceReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        del context
        self._receiver._add(decode(request))
        return trace_service_pb2.ExportTraceServiceResponse()


class _MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, receiver: OtlpTraceReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: grpc.ServicerContext
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        del context
        with self._receiver._lock:
            self._receiver._metric_requests.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class OtlpTraceReceiver:
    """Collects spans (and metric exports) sent to ``endpoint`` until stopped; safe to read from any thread."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._lock = threading.Condition()
        self._spans: list[ReceivedSpan] = []
        self._metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self._server: grpc.Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        """The value for ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
        return f"http://{self._host}:{self.port}"

    def start(self) -> OtlpTraceReceiver:
        """Listen on a free port (see `port`)."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), server)  # type: ignore[no-untyped-call]
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsService(self), server)  # type: ignore[no-untyped-call]
        self.port = server.add_insecure_port(f"{self._host}:0")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self._server is not None:
            self._server.stop(None)
            self._server = None

    def _add(self, spans: list[ReceivedSpan]) -> None:
        with self._lock:
            self._spans.extend(spans)
            self._lock.notify_all()

    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far, in arrival order."""
        with self._lock:
            return list(self._spans)

    def metric_requests(self) -> list[metrics_service_pb2.ExportMetricsServiceRequest]:
        """Every metrics export request received so far."""
        with self._lock:
            return list(self._metric_requests)

    def metric_names(self) -> set[str]:
        """The names of every metric received so far."""
        return {
            metric.name
            for request in self.metric_requests()
            for resource_metrics in request.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        }

    def wait_for(self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float) -> bool:
        """Block until `predicate(spans)` holds or `timeout` seconds pass; return whether it holds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(list(self._spans)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True


@contextmanager
def running_receiver(host: str = "127.0.0.1") -> Iterator[OtlpTraceReceiver]:
    """A started receiver, stopped on exit."""
    receiver = OtlpTraceReceiver(host).start()
    try:
        yield receiver
    finally:
        receiver.stop()


__all__ = ["OtlpTraceReceiver", "ReceivedEvent", "ReceivedSpan", "decode", "running_receiver"]
