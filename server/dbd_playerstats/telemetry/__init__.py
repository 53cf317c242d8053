"""OpenTelemetry for the service: traces, metrics and logs that join them, with the Steam key redacted.

Span tree of one RPC (``build_server(settings, telemetry=...)`` wires every part)::

    SERVER  /dbd.playerstats.v1.PlayerStatsService/StreamPlayerStats   grpc_server (+ rpc.message events)
      INTERNAL  steam.<endpoint>     one logical Steam call          upstream.TracedUpstream (+ observer events)
        CLIENT  GET                  one HTTP attempt                steam_http (aiohttp instrumentation)

Modules: `providers` (settings and providers), `grpc_server`, `upstream`, `observer`, `steam_http`, `metrics`,
`recording` (the small API for other code), `logs`, `redact`; `receiver` and `tree` serve the demo and tests,
`testing` gives tests a Telemetry that keeps its spans and metrics in memory.
"""

from dbd_playerstats.telemetry.logs import JsonFormatter, RedactingFilter, configure_logging
from dbd_playerstats.telemetry.metrics import Metrics
from dbd_playerstats.telemetry.observer import ResilienceTelemetry
from dbd_playerstats.telemetry.providers import DEFAULT_SERVICE_NAME, Telemetry, TelemetrySettings
from dbd_playerstats.telemetry.recording import (
    record_cache_lookup,
    record_coalesced_wait,
    record_event,
    record_merge_decision,
)
from dbd_playerstats.telemetry.redact import RedactingSpanExporter, Redactor
from dbd_playerstats.telemetry.traced_upstream import TracedUpstream

__all__ = [
    "DEFAULT_SERVICE_NAME",
    "JsonFormatter",
    "Metrics",
    "RedactingFilter",
    "RedactingSpanExporter",
    "Redactor",
    "ResilienceTelemetry",
    "Telemetry",
    "TelemetrySettings",
    "TracedUpstream",
    "configure_logging",
    "record_cache_lookup",
    "record_coalesced_wait",
    "record_event",
    "record_merge_decision",
]
