"""JSON log lines joined to traces, with the Steam key removed from every record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from dbd_playerstats.telemetry import Redactor, Telemetry, configure_logging
from dbd_playerstats.telemetry.logs import access_line

SECRET = "LogLeakCanary9876543210"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """The root logger sends JSON lines to a buffer for the test; its previous handlers come back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("DEBUG", Redactor([SECRET]), stream=buffer)
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_extras(output: io.StringIO) -> None:
    """A record is one JSON line with time, level, logger, message and its extra fields; none outside a span."""
    logging.getLogger("dbd_playerstats.rpc").info("%s done", "GetPlayerStats", extra={"grpc_code": "OK"})
    (line,) = lines(output)
    assert line["level"] == "INFO"
    assert line["logger"] == "dbd_playerstats.rpc"
    assert line["message"] == "GetPlayerStats done"
    assert line["grpc_code"] == "OK"
    assert "trace_id" not in line
    assert str(line["time"]).endswith("+00:00")


def test_records_carry_the_current_trace_and_span_ids(output: io.StringIO) -> None:
    """Inside a span, a line carries that span's trace_id and span_id in hex."""
    telemetry = Telemetry.disabled()  # non-recording spans still have ids
    with telemetry.tracer.start_as_current_span("rpc") as span:
        logging.getLogger("dbd_playerstats").warning("inside")
    (line,) = lines(output)
    context = span.get_span_context()
    assert line["trace_id"] == trace.format_trace_id(context.trace_id)
    assert line["span_id"] == trace.format_span_id(context.span_id)


def test_key_is_redacted_from_message_arguments_extras_and_tracebacks(output: io.StringIO) -> None:
    """The key and any key= value vanish from messages, arguments, extras and exception text, from any logger."""
    url = f"http://steam/x?key={SECRET}&steamid=1"
    logging.getLogger("aiohttp.access").info("GET %s", url)
    logging.getLogger("dbd_playerstats").info("params", extra={"params": f"{{'key': '{SECRET}'}}"})
    error = RuntimeError(f"failed calling {url}")
    logging.getLogger("dbd_playerstats").error("call failed", exc_info=error)
    text = output.getvalue()
    assert SECRET not in text
    parsed = lines(output)
    assert parsed[0]["message"] == "GET http://steam/x?key=REDACTED&steamid=1"
    assert "key=REDACTED" in str(parsed[2]["exception"])
    assert "RuntimeError" in str(parsed[2]["exception"])


def test_background_logging_writes_the_same_lines_from_a_thread_and_flushes_on_close() -> None:
    """The server's handler (background=True): the same redacted JSON line, trace ids stamped where the record
    was made, everything queued written by `close`, and a second close (logging's at exit) harmless."""
    buffer = io.StringIO()
    handler = configure_logging("INFO", Redactor([SECRET]), stream=buffer, background=True)
    try:
        tracer = TracerProvider().get_tracer("test")
        with tracer.start_as_current_span("rpc") as span:
            logging.getLogger("dbd_playerstats.test").info("key=%s in a span", SECRET)
            trace_id = format(span.get_span_context().trace_id, "032x")
        handler.close()
        handler.close()
    finally:
        logging.getLogger().removeHandler(handler)
    (line,) = buffer.getvalue().splitlines()
    record = json.loads(line)
    assert SECRET not in line
    assert record["message"].endswith("in a span")
    assert record["trace_id"] == trace_id


def rpc_lines(*, background: bool) -> list[dict[str, object]]:
    """The JSON lines of two RPCs' log lines (one inside a span, one with the secret as its player), written
    through the server's handler (`background`: the access-line fast path) or a plain one (a log record)."""
    buffer = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    handler = configure_logging("INFO", Redactor([SECRET]), stream=buffer, background=background)
    rpc = logging.getLogger("dbd_playerstats.rpc")
    try:
        with TracerProvider().get_tracer("test").start_as_current_span("rpc"):
            access_line(rpc, "GetPlayerStats", "OK", 0.0123456, "demo")
        access_line(rpc, "StreamPlayerStats", "NOT_FOUND", 1.5, f"https://x/?key={SECRET}")
        access_line(rpc, "ResolvePlayer", "OK", 0.001, None)
        handler.close()
    finally:
        root.removeHandler(handler)
        for saved in saved_handlers:
            root.addHandler(saved)
        root.setLevel(saved_level)
    assert SECRET not in buffer.getvalue()
    parsed = [json.loads(line) for line in buffer.getvalue().splitlines()]
    for line in parsed:
        del line["time"]  # made a few microseconds apart
        line.pop("trace_id", None)  # of different spans
        line.pop("span_id", None)
    return parsed


def test_the_rpc_line_of_the_fast_path_is_the_records_line() -> None:
    """The server's RPC lines skip the log record (issue 12) but not one field of its JSON line."""
    fast, plain = rpc_lines(background=True), rpc_lines(background=False)
    assert fast == plain
    assert plain[0] == {
        "level": "INFO",
        "logger": "dbd_playerstats.rpc",
        "message": "GetPlayerStats OK 12.3ms",
        "rpc_method": "GetPlayerStats",
        "grpc_code": "OK",
        "duration_ms": 12.346,
        "player": "demo",
    }
    assert plain[1]["player"] == "https://x/?key=REDACTED"
    assert "player" not in plain[2]


def test_the_rpc_line_carries_the_ids_of_its_span_and_respects_the_level() -> None:
    buffer = io.StringIO()
    handler = configure_logging("WARNING", Redactor([SECRET]), stream=buffer, background=True)
    rpc = logging.getLogger("dbd_playerstats.rpc")
    try:
        access_line(rpc, "GetPlayerStats", "OK", 0.01, "quiet")
        logging.getLogger().setLevel(logging.INFO)
        with TracerProvider().get_tracer("test").start_as_current_span("rpc") as span:
            access_line(rpc, "GetPlayerStats", "OK", 0.01, "heard")
            context = span.get_span_context()
        handler.close()
    finally:
        logging.getLogger().removeHandler(handler)
    (line,) = [json.loads(text) for text in buffer.getvalue().splitlines()]
    assert line["player"] == "heard"
    assert (line["trace_id"], line["span_id"]) == (format(context.trace_id, "032x"), format(context.span_id, "016x"))
