"""`playerstats-server`: read settings once, start, serve until SIGTERM/SIGINT, stop gracefully."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from opentelemetry import metrics, trace

from dbd_playerstats.app import build_server
from dbd_playerstats.config import ConfigError, Settings
from dbd_playerstats.telemetry import Redactor, Telemetry, TelemetrySettings, configure_logging

log = logging.getLogger("dbd_playerstats")


async def serve(settings: Settings, telemetry: Telemetry | None = None) -> None:
    """Run until a termination signal, then drain in-flight RPCs for PLAYERSTATS_GRACE_SECS."""
    running = await build_server(settings, telemetry=telemetry)
    _freeze_startup_objects()
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"playerstats-server listening on port {running.port}", flush=True)
        if running.http is not None:
            print(f"playerstats-server Connect (JSON/HTTP) on port {running.http.port}", flush=True)
        await stop.wait()
        log.info(
            "shutting down: health NOT_SERVING, port open %.1fs more, then draining for up to %.1fs",
            settings.server.drain_delay_secs,
            settings.server.grace_secs,
        )
        await running.health.enter_graceful_shutdown()
        if settings.server.drain_delay_secs > 0:
            await asyncio.sleep(settings.server.drain_delay_secs)  # pollers read NOT_SERVING while the port is open
    finally:
        await running.stop(settings.server.grace_secs)  # also when waiting ended otherwise (cancelled, an error)
    log.info("stopped")


def _freeze_startup_objects() -> None:
    """Leave what start-up made (modules, classes, settings: ~70,000 objects that live as long as the process)
    out of every later garbage collection (`gc.freeze`): a full collection walked them all, a pause of up to
    ~90 ms of the event loop under load, a third of that without them (issue 12, measured with gc.callbacks)."""
    gc.collect()
    gc.freeze()


def run(main_coroutine: Coroutine[Any, Any, None]) -> None:
    """Run the server on uvloop where it is installed (a faster event loop: issue 12), else asyncio's own."""
    try:
        import uvloop  # noqa: PLC0415 - optional: not on every platform
    except ImportError:
        asyncio.run(main_coroutine)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main_coroutine)


def _fail(message: str) -> None:
    """The one line a failed start ends with: after every log line still queued (the log is written by a thread)."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    print(f"playerstats-server: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; configuration errors print one line naming the setting and exit 2."""
    del argv  # configuration comes from the environment only
    try:
        settings = Settings.from_env(os.environ)
        telemetry_settings = TelemetrySettings.from_env(os.environ)
    except ConfigError as exc:
        print(f"playerstats-server: {exc}", file=sys.stderr)
        return 2
    redactor = Redactor([settings.steam.api_key.get()])
    # JSON lines with trace ids, Steam key redacted, written by a thread off the event loop.
    log_handler = configure_logging(settings.server.log_level, redactor, background=True)
    try:
        return _run_server(settings, telemetry_settings, redactor)
    finally:
        log_handler.close()  # writes what is still queued


def _run_server(settings: Settings, telemetry_settings: TelemetrySettings, redactor: Redactor) -> int:
    if not settings.steam.api_key:
        log.warning("STEAM_API_KEY is not set: Steam will refuse every keyed call")
    log.info("effective configuration: %s", json.dumps(settings.redacted(), sort_keys=True))
    try:
        telemetry = Telemetry.create(telemetry_settings, redactor=redactor)
    except OSError as exc:  # the Prometheus port is taken
        _fail(f"cannot serve PLAYERSTATS_METRICS_PORT: {exc}")
        return 1
    trace.set_tracer_provider(telemetry.tracer_provider)
    metrics.set_meter_provider(telemetry.meter_provider)
    try:
        run(serve(settings, telemetry))
    except OSError as exc:
        _fail(str(exc))
        return 1
    finally:
        telemetry.shutdown()  # flushes spans and metrics still waiting for export
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
