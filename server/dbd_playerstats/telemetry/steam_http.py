"""OpenTelemetry for the Steam HTTP session: one CLIENT span per HTTP attempt, key redacted.

`steam_trace_config` is opentelemetry-instrumentation-aiohttp-client's trace config, given to the
`aiohttp.ClientSession` that `app.build_server` creates, with the stable HTTP semantic conventions
(``http.request.method``, ``url.full``, ``server.address``, ``server.port``, ``http.response.status_code``,
``error.type``; a 4xx/5xx answer or a failed exchange makes the span ERROR) and:

- ``url.full`` through `Redactor.url`: ``key=REDACTED``;
- ``http.request.resend_count`` = attempt number - 1 on the second and later attempts of a logical call (read
  from the `CallState` that `TracedUpstream` keeps current), as the conventions ask for retries.

It also records ``http.client.request.duration`` when metrics are on. The span ends when the response headers
arrive: a body Steam sends malformed fails the attempt after its span ended, so that error shows on the logical
call's span (its status or its ``steam.retry`` event), not on the attempt's.
"""

from __future__ import annotations

import aiohttp
from opentelemetry.instrumentation._semconv import _StabilityMode
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, TracerProvider

from dbd_playerstats.telemetry.recording import current_call
from dbd_playerstats.telemetry.redact import Redactor

RESEND_COUNT = "http.request.resend_count"


def _mark_resend(span: Span, params: aiohttp.TraceRequestStartParams) -> None:
    """Request hook: the attempt's resend count, from the logical call in progress."""
    del params
    state = current_call()
    if state is not None and state.attempts > 1 and span.is_recording():
        span.set_attribute(RESEND_COUNT, state.attempts - 1)


def steam_trace_config(
    *, tracer_provider: TracerProvider, meter_provider: MeterProvider, redactor: Redactor
) -> aiohttp.TraceConfig:
    """The aiohttp trace config for the Steam session (create the session with ``trace_configs=[it]``)."""
    return create_trace_config(
        url_filter=redactor.url,
        request_hook=_mark_resend,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        sem_conv_opt_in_mode=_StabilityMode.HTTP,
    )


__all__ = ["RESEND_COUNT", "steam_trace_config"]
