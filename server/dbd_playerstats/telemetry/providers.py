"""Telemetry configuration and assembly: `TelemetrySettings` from the standard variables, `Telemetry` built
from them with explicit providers (nothing global; `main` alone may install them globally).

The variables are declared with every other setting, in `dbd_playerstats.config.telemetry` (the README's table
comes from there); `TelemetrySettings.from_env(environ)` is pure and a bad value raises `ConfigError` naming it.
The OTLP exporters read their remaining settings (headers, TLS certificate, timeout, compression, batch delays
``OTEL_BSP_*``, ``OTEL_METRIC_EXPORT_INTERVAL``) from the process environment themselves, as the SDK documents.

Cost when nothing is configured: the tracer provider samples nothing (spans are non-recording, but keep valid
ids, so log lines written inside a Steam call's span still carry a trace id) and has no processor, and the
OpenTelemetry gRPC server interceptor is not installed (so the caller's ``traceparent`` is not read and the RPC
log line carries no trace id); the meter provider is the API's no-op one. No thread, no socket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import aiohttp
import grpc
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import Tracer

from dbd_playerstats.config.declare import read_group
from dbd_playerstats.config.telemetry import TelemetryVariables
from dbd_playerstats.telemetry.grpc_server import server_interceptors
from dbd_playerstats.telemetry.metrics import Metrics
from dbd_playerstats.telemetry.observer import ResilienceTelemetry
from dbd_playerstats.telemetry.redact import RedactingSpanExporter, Redactor
from dbd_playerstats.telemetry.steam_http import steam_trace_config
from dbd_playerstats.telemetry.traced_upstream import TracedUpstream
from dbd_playerstats.upstream.protocol import Upstream

log = logging.getLogger(__name__)

_DECLARED: Final = TelemetryVariables()  # the defaults, as declared with the variables
DEFAULT_SERVICE_NAME: Final = _DECLARED.service_name
TRACER_NAME: Final = "dbd_playerstats"
METRICS_HOST: Final = "0.0.0.0"  # noqa: S104 - Prometheus scrapes from outside the container
_SAMPLERS: Final[dict[str, Sampler]] = {
    "always_on": ALWAYS_ON,
    "always_off": ALWAYS_OFF,
    "parentbased_always_on": DEFAULT_ON,
    "parentbased_always_off": DEFAULT_OFF,
}
_RATIO_SAMPLERS: Final = {"traceidratio": TraceIdRatioBased, "parentbased_traceidratio": ParentBasedTraceIdRatio}


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """Where telemetry goes. None endpoints / port mean "not there"; `sampler` is an SDK sampler name."""

    service_name: str = DEFAULT_SERVICE_NAME
    traces_endpoint: str | None = None
    metrics_endpoint: str | None = None
    metrics_port: int | None = None
    sampler: str = _DECLARED.sampler
    sampler_arg: float = _DECLARED.sampler_arg

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TelemetrySettings:
        """Read the `TelemetryVariables`; raise ConfigError on the first invalid one."""
        given = read_group(TelemetryVariables, environ)
        traces = given.traces_endpoint or given.endpoint
        metrics = given.metrics_endpoint or given.endpoint
        if given.sdk_disabled or given.traces_exporter == "none":
            traces = ""
        if given.sdk_disabled or given.metrics_exporter == "none":
            metrics = ""
        return cls(
            service_name=given.service_name,
            traces_endpoint=traces or None,
            metrics_endpoint=metrics or None,
            metrics_port=None if given.sdk_disabled else given.metrics_port,
            sampler=given.sampler,
            sampler_arg=given.sampler_arg,
        )

    def build_sampler(self) -> Sampler:
        """The SDK sampler named by `sampler` (ratio samplers take `sampler_arg`)."""
        ratio = _RATIO_SAMPLERS.get(self.sampler)
        return ratio(self.sampler_arg) if ratio is not None else _SAMPLERS[self.sampler]


class Telemetry:
    """Tracer and meter providers, the instruments, the redactor, and the parts `build_server` plugs in.

    Build with `from_env` (main), `create` (tests add in-memory exporters and readers) or `disabled`. It is not
    closed by the server it is given to: whoever built it calls `shutdown` (which flushes pending exports).
    """

    def __init__(
        self,
        *,
        tracer_provider: SdkTracerProvider,
        meter_provider: MeterProvider,
        redactor: Redactor,
        tracing: bool,
        metrics_port: int | None = None,
        closers: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.redactor = redactor
        self.tracing = tracing
        self.metrics = Metrics(meter_provider)
        self.metrics_port = metrics_port
        """The bound port of the Prometheus endpoint (None when there is none)."""
        self.resilience_observer = ResilienceTelemetry(self.metrics)
        self._closers = list(closers)
        self._shut_down = False

    @property
    def tracer(self) -> Tracer:
        """The service's own tracer."""
        return self.tracer_provider.get_tracer(TRACER_NAME)

    @classmethod
    def disabled(cls, redactor: Redactor | None = None) -> Telemetry:
        """No export at all: non-recording spans, no-op metrics."""
        return cls.create(TelemetrySettings(), redactor=redactor)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, redactor: Redactor | None = None) -> Telemetry:
        """`create` from `TelemetrySettings.from_env(environ)`."""
        return cls.create(TelemetrySettings.from_env(environ), redactor=redactor)

    @classmethod
    def create(
        cls,
        settings: TelemetrySettings,
        *,
        redactor: Redactor | None = None,
        span_exporters: Iterable[SpanExporter] = (),
        metric_readers: Iterable[MetricReader] = (),
    ) -> Telemetry:
        """Build the providers `settings` ask for, plus `span_exporters` (exported synchronously, redacted, as
        each span ends) and `metric_readers` (tests use in-memory ones)."""
        redactor = redactor if redactor is not None else Redactor()
        resource = Resource.create({SERVICE_NAME: settings.service_name})
        closers: list[Callable[[], None]] = []
        processors: list[SpanProcessor] = [
            SimpleSpanProcessor(RedactingSpanExporter(exporter, redactor)) for exporter in span_exporters
        ]
        if settings.traces_endpoint:
            # The exporters are imported only when configured (~6 MiB of a server's idle memory, issue 12).
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

            exporter = OTLPSpanExporter(endpoint=settings.traces_endpoint)
            processors.append(BatchSpanProcessor(RedactingSpanExporter(exporter, redactor)))
            log.info("exporting traces over OTLP/gRPC to %s", settings.traces_endpoint)
        tracing = bool(processors)
        tracer_provider = SdkTracerProvider(
            sampler=settings.build_sampler() if tracing else ALWAYS_OFF, resource=resource, shutdown_on_exit=False
        )
        for processor in processors:
            tracer_provider.add_span_processor(processor)

        readers = list(metric_readers)
        if settings.metrics_endpoint:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter  # noqa: PLC0415

            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=settings.metrics_endpoint)))
            log.info("exporting metrics over OTLP/gRPC to %s", settings.metrics_endpoint)
        metrics_port = None
        if settings.metrics_port is not None:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415
            from prometheus_client import CollectorRegistry, start_http_server  # noqa: PLC0415

            registry = CollectorRegistry()
            readers.append(PrometheusMetricReader(registry=registry))
            http_server, _thread = start_http_server(settings.metrics_port, addr=METRICS_HOST, registry=registry)
            metrics_port = int(http_server.server_port)
            closers += [http_server.shutdown, http_server.server_close]
            log.info("Prometheus metrics on port %d (/metrics)", metrics_port)
        meter_provider: MeterProvider = (
            SdkMeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False)
            if readers
            else NoOpMeterProvider()
        )
        return cls(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            redactor=redactor,
            tracing=tracing,
            metrics_port=metrics_port,
            closers=closers,
        )

    # -- the parts build_server plugs in ---------------------------------------------------------------------

    def server_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """For ``grpc.aio.server(interceptors=...)``: SERVER spans, only while tracing (health excluded); the RPC
        metrics and log lines are `MeteredRpc`'s, applied at registration (`api.handlers`)."""
        return server_interceptors(tracer_provider=self.tracer_provider, tracing=self.tracing)

    def aiohttp_trace_configs(self) -> list[aiohttp.TraceConfig]:
        """For the Steam ``aiohttp.ClientSession(trace_configs=...)``: a CLIENT span per HTTP attempt.

        Empty when neither traces nor metrics go anywhere: requests then carry no ``traceparent`` and cost nothing.
        """
        if not self.tracing and isinstance(self.meter_provider, NoOpMeterProvider):
            return []
        return [
            steam_trace_config(
                tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, redactor=self.redactor
            )
        ]

    def wrap_upstream(self, inner: Upstream) -> TracedUpstream:
        """`inner` inside a `TracedUpstream`; subscribes the resilience observer when `inner` takes observers, and
        reads the budget gauge from it when it knows its tokens."""
        add_observer = getattr(inner, "add_observer", None)
        if callable(add_observer):
            add_observer(self.resilience_observer)
        budget_tokens = getattr(inner, "budget_tokens", None)
        if callable(budget_tokens):
            self.metrics.observe_budget(budget_tokens)
        return TracedUpstream(inner, tracer=self.tracer, metrics=self.metrics)

    def protect(self, secret: str) -> None:
        """Redact `secret` (the Steam key) from every exported span and every log line from now on."""
        self.redactor.add_secret(secret)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 10_000) -> None:
        """Export everything pending now (spans, then metrics)."""
        self.tracer_provider.force_flush(timeout_millis)
        if isinstance(self.meter_provider, SdkMeterProvider):
            self.meter_provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and stop exporters and the Prometheus endpoint (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.tracer_provider.shutdown()
        if isinstance(self.meter_provider, SdkMeterProvider):
            self.meter_provider.shutdown()
        for close in self._closers:
            close()


__all__ = ["DEFAULT_SERVICE_NAME", "Telemetry", "TelemetrySettings"]
