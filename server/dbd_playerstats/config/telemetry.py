"""The OpenTelemetry variables the service reads itself, declared like every other setting.

These are the SDK's standard names, so an empty value means unset (the OpenTelemetry convention). What they
combine into (which endpoint a signal uses, whether export is off) is `dbd_playerstats.telemetry.TelemetrySettings`;
the OTLP exporters read their remaining variables (headers, certificate, timeout, `OTEL_BSP_*`) themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeVar

from dbd_playerstats.config import kinds
from dbd_playerstats.config.declare import Kind, var
from dbd_playerstats.config.kinds import number

SAMPLERS: Final = (
    "always_off",
    "always_on",
    "parentbased_always_off",
    "parentbased_always_on",
    "parentbased_traceidratio",
    "traceidratio",
)
"""The SDK sampler names `OTEL_TRACES_SAMPLER` accepts (the `traceidratio` ones take `OTEL_TRACES_SAMPLER_ARG`)."""


T = TypeVar("T")


def _otel(name: str, default: str, kind: Kind[T], doc: str) -> T:
    return var(name, default, kind, doc, blank_is_default=True)


@dataclass(frozen=True, slots=True)
class TelemetryVariables:
    """The variables as given; `TelemetrySettings.from_env` turns them into what is exported where."""

    service_name: str = _otel(
        "OTEL_SERVICE_NAME", "dbd-playerstats", kinds.TEXT, "`service.name` of every span and metric"
    )
    endpoint: str = _otel(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "",
        kinds.TEXT,
        "OTLP/gRPC collector for traces and metrics, e.g. `http://localhost:4317`; empty = no export (see "
        "[Observability](#observability))",
    )
    traces_endpoint: str = _otel(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", kinds.TEXT, "overrides `OTEL_EXPORTER_OTLP_ENDPOINT` for traces"
    )
    metrics_endpoint: str = _otel(
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "", kinds.TEXT, "overrides `OTEL_EXPORTER_OTLP_ENDPOINT` for metrics"
    )
    protocol: str = _otel(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", kinds.one_of("grpc"), "OTLP transport; only gRPC is supported"
    )
    sampler: str = _otel(
        "OTEL_TRACES_SAMPLER", "parentbased_always_on", kinds.one_of(*SAMPLERS), "the SDK's sampler name"
    )
    sampler_arg: float = _otel(
        "OTEL_TRACES_SAMPLER_ARG",
        "1",
        number(minimum=0, maximum=1),
        "the ratio of the `traceidratio` samplers",
    )
    traces_exporter: str = _otel(
        "OTEL_TRACES_EXPORTER", "", kinds.LOWERCASE, "`none` switches the OTLP export of traces off"
    )
    metrics_exporter: str = _otel(
        "OTEL_METRICS_EXPORTER", "", kinds.LOWERCASE, "`none` switches the OTLP export of metrics off"
    )
    sdk_disabled: bool = _otel(
        "OTEL_SDK_DISABLED",
        "",
        Kind("`true`, or anything else (false)", lambda raw: raw.lower() == "true"),
        "`true` switches every export off, the Prometheus endpoint included",
    )
    metrics_port: int | None = _otel(
        "PLAYERSTATS_METRICS_PORT",
        "",
        kinds.OPTIONAL_PORT,
        "Prometheus scrape endpoint `http://HOST:PORT/metrics`",
    )


__all__ = ["SAMPLERS", "TelemetryVariables"]
