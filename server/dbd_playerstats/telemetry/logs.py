"""Structured logs: one JSON object per line, joined to traces, with the Steam key removed from every record.

Each line has ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``trace_id`` and ``span_id`` (hex,
of the span current when the record was made; absent outside any span), ``exception`` when there is one, and
every ``extra=`` field of the call (the RPC line: ``rpc_method``, ``grpc_code``, ``duration_ms``, ``player``).

`RedactingFilter` sits on the handler, so it sees every record that reaches it, whichever logger made it (our
own, aiohttp's, the simulator's access log): message, arguments, exception text, stack and string extras go
through `Redactor.text`. The formatter redacts its final line once more, so nothing it adds can leak either.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import sys
from datetime import UTC, datetime
from typing import IO, Any, Final

from opentelemetry import trace

from dbd_playerstats.telemetry.redact import Redactor

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_FIELDS: Final = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_TRACE_FIELDS: Final = ("trace_id", "span_id")


class RedactingFilter(logging.Filter):
    """Rewrites each record without the Steam key and stamps the current span's ids on it; never drops one."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor
        self._exception_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact `record` in place (message rendered with its arguments) and add trace_id / span_id."""
        redact = self._redactor.text
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exception_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, name, redact(value))
        _stamp_trace(record)
        return True


def _stamp_trace(record: logging.LogRecord) -> None:
    """trace_id / span_id of the span current where the record is made (unless the record has them)."""
    if not hasattr(record, "trace_id"):
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = trace.format_trace_id(context.trace_id)
            record.span_id = trace.format_span_id(context.span_id)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (see the module docstring for the fields)."""
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _TRACE_FIELDS:
            value = getattr(record, name, None)
            if value:
                payload[name] = value
        for name, value in record.__dict__.items():
            if name not in _RECORD_FIELDS and name not in _TRACE_FIELDS and value is not None:
                payload[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        line = json.dumps(payload, default=str, ensure_ascii=False)
        return self._redactor.text(line) if self._redactor is not None else line


class TraceStampFilter(logging.Filter):
    """Stamps the current span's ids on a record: done where the record is made, the span is known there only."""

    def filter(self, record: logging.LogRecord) -> bool:
        _stamp_trace(record)
        return True


class BackgroundHandler(logging.handlers.QueueHandler):
    """Hands each record to a thread that redacts, formats and writes it (`logging.handlers.QueueListener`), so
    the event loop only makes the record: the per-RPC log line and the stderr write leave the hot path.

    The record goes as it is (stdlib's `prepare` would render and copy it here, on the loop); `close` stops the
    thread after writing what is queued."""

    def __init__(self, target: logging.Handler) -> None:
        super().__init__(queue.SimpleQueue())
        self.addFilter(TraceStampFilter())
        self._listener = logging.handlers.QueueListener(self.queue, target, respect_handler_level=True)
        self._stopped = False
        self._listener.start()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.exc_info and not record.exc_text:  # the traceback is rendered while its frames are current
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        return record

    def close(self) -> None:
        """Stop the thread once it wrote what is queued; again (logging's own shutdown at exit) is a no-op."""
        if not self._stopped:  # QueueListener.stop itself fails when called twice
            self._stopped = True
            self._listener.stop()
        super().close()


def configure_logging(
    level: str | int, redactor: Redactor, *, stream: IO[str] | None = None, background: bool = False
) -> logging.Handler:
    """Send every log record to `stream` (stderr) as JSON lines at `level`, redacted; replaces root handlers.

    `background` (the server) writes from a thread (`BackgroundHandler`; close the returned handler at exit to
    flush it). Returns the handler, so a caller (a test) can remove it again.
    """
    handler: logging.Handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter(redactor))
    if background:
        handler = BackgroundHandler(handler)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


__all__ = ["BackgroundHandler", "JsonFormatter", "RedactingFilter", "TraceStampFilter", "configure_logging"]
