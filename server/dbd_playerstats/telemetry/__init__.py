"""OpenTelemetry for the service: traces, metrics and logs that join them, with the Steam key redacted.

Span tree of one RPC (``build_server(settings, telemetry=...)`` wires every part)::

    SERVER  /dbd.playerstats.v1.PlayerStatsService/StreamPlayerStats   grpc_server (+ rpc.message events)
      INTERNAL  steam.<endpoint>     one logical Steam call          traced_upstream.TracedUpstream (+ observer)
        CLIENT  GET                  one HTTP attempt                steam_http (aiohttp instrumentation)

Modules: `providers` (settings and providers), `grpc_server`, `traced_upstream`, `observer`, `steam_http`,
`metrics`, `recording` (the small API for other code), `logs`, `redact`. The OTLP receiver, the trace-tree printer
and the in-memory Telemetry of the tests live in the dev-only package `dbd_playerstats_dev`.

The package exports what the entry points wire (`Telemetry`, its settings, logging and redaction), the traced
upstream and the recording functions other code calls; the rest is imported from its module.
"""

from dbd_playerstats.telemetry.logs import JsonFormatter, RedactingFilter, configure_logging
from dbd_playerstats.telemetry.providers import Telemetry, TelemetrySettings
from dbd_playerstats.telemetry.recording import (
    record_cache_lookup,
    record_coalesced_wait,
    record_event,
    record_merge_decision,
)
from dbd_playerstats.telemetry.redact import RedactingSpanExporter, Redactor
from dbd_playerstats.telemetry.traced_upstream import TracedUpstream

__all__ = [
    "JsonFormatter",
    "RedactingFilter",
    "RedactingSpanExporter",
    "Redactor",
    "Telemetry",
    "TelemetrySettings",
    "TracedUpstream",
    "configure_logging",
    "record_cache_lookup",
    "record_coalesced_wait",
    "record_event",
    "record_merge_decision",
]
