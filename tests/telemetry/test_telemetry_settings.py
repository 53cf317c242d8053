"""TelemetrySettings from the standard variables, and what Telemetry builds from them."""

from __future__ import annotations

import pytest
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, DEFAULT_ON, ParentBasedTraceIdRatio, TraceIdRatioBased

from dbd_playerstats.config.settings import ConfigError
from dbd_playerstats.telemetry import Telemetry, TelemetrySettings


def test_defaults_export_nothing() -> None:
    """With no variable set there is no endpoint, no Prometheus port, and the service name is dbd-playerstats."""
    settings = TelemetrySettings.from_env({})
    assert settings == TelemetrySettings()
    assert settings.service_name == "dbd-playerstats"
    assert settings.traces_endpoint is None
    assert settings.metrics_endpoint is None
    assert settings.metrics_port is None
    assert settings.build_sampler() is DEFAULT_ON


def test_standard_variables_are_read() -> None:
    """OTEL_* endpoints (signal-specific ones win), service name, sampler and the metrics port are read."""
    settings = TelemetrySettings.from_env(
        {
            "OTEL_SERVICE_NAME": "stats-eu",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://jaeger:4317",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
            "PLAYERSTATS_METRICS_PORT": "9464",
        }
    )
    assert settings.service_name == "stats-eu"
    assert settings.traces_endpoint == "http://jaeger:4317"
    assert settings.metrics_endpoint == "http://collector:4317"
    assert settings.metrics_port == 9464
    sampler = settings.build_sampler()
    assert isinstance(sampler, ParentBasedTraceIdRatio)
    assert isinstance(TelemetrySettings(sampler="traceidratio", sampler_arg=0.5).build_sampler(), TraceIdRatioBased)


@pytest.mark.parametrize(
    "environ",
    [{"OTEL_SDK_DISABLED": "true"}, {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}],
)
def test_exporters_can_be_switched_off(environ: dict[str, str]) -> None:
    """OTEL_SDK_DISABLED=true, or `none` exporters, turn the OTLP export off despite an endpoint."""
    settings = TelemetrySettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", **environ})
    assert settings.traces_endpoint is None
    assert settings.metrics_endpoint is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PLAYERSTATS_METRICS_PORT", "http"),
        ("PLAYERSTATS_METRICS_PORT", "70000"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    """A bad value raises ConfigError whose one-line message names the variable and the value."""
    with pytest.raises(ConfigError) as info:
        TelemetrySettings.from_env({name: value})
    assert name in str(info.value)
    assert repr(value) in str(info.value)


def test_disabled_telemetry_records_nothing_but_keeps_trace_ids() -> None:
    """Without exporters spans do not record (ids stay valid for logs) and metrics are the no-op provider's."""
    telemetry = Telemetry.disabled()
    assert telemetry.tracer_provider.sampler is ALWAYS_OFF
    assert isinstance(telemetry.meter_provider, NoOpMeterProvider)
    with telemetry.tracer.start_as_current_span("x") as span:
        assert not span.is_recording()
        assert span.get_span_context().is_valid
    assert telemetry.metrics_port is None
    telemetry.shutdown()


def test_create_with_test_exporters_records_and_redacts() -> None:
    """Exporters and readers given to create receive redacted spans and the service's metrics."""
    spans = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    telemetry = Telemetry.create(TelemetrySettings(), span_exporters=[spans], metric_readers=[reader])
    telemetry.protect("the-steam-key")
    assert isinstance(telemetry.meter_provider, MeterProvider)
    with telemetry.tracer.start_as_current_span("call") as span:
        span.set_attribute("note", "the-steam-key")
    telemetry.metrics.steam_attempt("stats", "ok")
    (exported,) = spans.get_finished_spans()
    assert exported.attributes == {"note": "REDACTED"}
    data = reader.get_metrics_data()
    assert data is not None
    assert "playerstats.steam.attempts" in data.to_json()
    telemetry.shutdown()
    telemetry.shutdown()  # idempotent
