"""Structured logs: one JSON object per line, joined to traces, with the Steam key removed from every record.

Each line has ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``trace_id`` and ``span_id`` (hex,
of the span current when the record was made; absent outside any span), ``exception`` when there is one, and
every ``extra=`` field of the call (the RPC line: ``rpc_method``, ``grpc_code``, ``duration_ms``, ``player``).

`RedactingFilter` sits on the handler, so it sees every record that reaches it, whichever logger made it (our
own, aiohttp's, the simulator's access log): message, arguments, exception text, stack and string extras go
through `Redactor.text`. The formatter redacts its final line once more, so nothing it adds can leak either.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import sys
import threading
import time
from datetime import UTC, datetime
from typing import IO, Any, Final, NamedTuple

import orjson
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
        line = _dumps(payload)
        return self._redactor.text(line) if self._redactor is not None else line


def _dumps(payload: dict[str, Any]) -> str:
    """One JSON line: orjson (a few times faster: this runs for every log line), the standard library for what
    orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(payload, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(payload, default=str, ensure_ascii=False, separators=(",", ":"))


class TraceStampFilter(logging.Filter):
    """Stamps the current span's ids on a record: done where the record is made, the span is known there only."""

    def filter(self, record: logging.LogRecord) -> bool:
        _stamp_trace(record)
        return True


class AccessLine(NamedTuple):
    """One RPC's log line as its fields (`MeteredRpc`), made into the record's JSON line by the log thread (a
    tuple: made on the event loop once per RPC, and a tuple is the cheapest thing to make)."""

    logger: str
    created: float
    method: str
    code: str
    duration_secs: float
    player: str | None
    trace_id: str | None = None
    span_id: str | None = None

    def payload(self) -> dict[str, Any]:
        """What `JsonFormatter` makes of ``log.info("%s %s %.1fms", ..., extra=...)`` for the same RPC."""
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(self.created, UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": self.logger,
            "message": f"{self.method} {self.code} {self.duration_secs * 1000:.1f}ms",
        }
        if self.trace_id:
            payload["trace_id"] = self.trace_id
            payload["span_id"] = self.span_id
        payload["rpc_method"] = self.method
        payload["grpc_code"] = self.code
        payload["duration_ms"] = round(self.duration_secs * 1000, 3)
        if self.player is not None:
            payload["player"] = self.player
        return payload


def access_line(logger: logging.Logger, method: str, code: str, duration_secs: float, player: str | None) -> None:
    """Log one RPC's line: as an `AccessLine` for the log thread when the server's `BackgroundHandler` is the only
    handler, else as a record (``extra``: rpc_method, grpc_code, duration_ms, player) for whatever handlers there
    are. Both give the same JSON line; the first costs the event loop a small fraction of a record (issue 12:
    the record was the largest cost of a cache hit)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    writer = _ACCESS_WRITER
    handlers = _ROOT.handlers
    if writer is not None and len(handlers) == 1 and handlers[0] is writer and not logger.handlers:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            trace_id, span_id = trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)
            writer.access(AccessLine(logger.name, time.time(), method, code, duration_secs, player, trace_id, span_id))
        else:
            writer.access(AccessLine(logger.name, time.time(), method, code, duration_secs, player))
        return
    duration_ms = round(duration_secs * 1000, 3)
    logger.info(
        "%s %s %.1fms",
        method,
        code,
        duration_secs * 1000,
        extra={"rpc_method": method, "grpc_code": code, "duration_ms": duration_ms, "player": player},
    )


class BackgroundHandler(logging.Handler):
    """Hands each record to a thread that redacts, formats and writes it, so the event loop only makes the record:
    the per-RPC log line and the stderr write leave the hot path.

    The thread takes every record queued by the time it wakes and writes their lines with one write and one
    flush: under load, one wake-up and one system call per batch rather than per line. The record goes as it
    is (only a traceback is rendered here, while its frames are current); `close` stops the thread after writing
    what is queued.
    """

    def __init__(self, target: logging.StreamHandler[IO[str]], redactor: Redactor | None = None) -> None:
        super().__init__()
        self.addFilter(TraceStampFilter())
        self._target = target
        self._redactor = redactor
        self._queue: queue.SimpleQueue[logging.LogRecord | AccessLine | threading.Event | None] = queue.SimpleQueue()
        self._stopped = False
        self._thread = threading.Thread(target=self._write_batches, name="playerstats-log", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        self._queue.put(record)

    def access(self, line: AccessLine) -> None:
        """Queue an RPC's line (`access_line`): formatted and redacted by the thread, like a record."""
        self._queue.put(line)

    def flush(self) -> None:
        """Return once every line queued before this call is written (or after a second, if the thread is stuck)."""
        if self._stopped or not self._thread.is_alive():
            return
        written = threading.Event()
        self._queue.put(written)
        written.wait(_FLUSH_WAIT_SECS)

    def _write_batches(self) -> None:
        while True:
            batch = [self._queue.get()]
            if isinstance(batch[0], logging.LogRecord | AccessLine):
                time.sleep(_BATCH_SECS)  # let a batch gather: one wake-up (and GIL hand-over) per batch, not per line
            with contextlib.suppress(queue.Empty):
                while len(batch) < _MAX_BATCH:
                    batch.append(self._queue.get_nowait())
            self._write([item for item in batch if isinstance(item, logging.LogRecord | AccessLine)])
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()  # flush(): what was queued before it is written
            if None in batch:
                return  # close() queued None: everything before it is written

    def _write(self, records: list[logging.LogRecord | AccessLine]) -> None:
        target = self._target
        lines = []
        for record in records:
            if isinstance(record, AccessLine):
                if target.level <= logging.INFO:
                    line = _dumps(record.payload())
                    lines.append((self._redactor.text(line) if self._redactor else line) + target.terminator)
                continue
            try:
                if record.levelno >= target.level and target.filter(record):
                    lines.append(target.format(record) + target.terminator)
            except Exception:
                target.handleError(record)
        if not lines:
            return
        try:
            target.stream.write("".join(lines))
            target.flush()
        except Exception:
            last = records[-1]
            target.handleError(last if isinstance(last, logging.LogRecord) else logging.makeLogRecord({}))

    def close(self) -> None:
        """Stop the thread once it wrote what is queued; again (logging's own shutdown at exit) is a no-op."""
        global _ACCESS_WRITER  # noqa: PLW0603 - the one handler the RPC lines may go to directly
        if _ACCESS_WRITER is self:
            _ACCESS_WRITER = None
        if not self._stopped:
            self._stopped = True
            self._queue.put(None)
            self._thread.join()
        super().close()


_TRACEBACKS: Final = logging.Formatter()
_MAX_BATCH: Final = 512
_BATCH_SECS: Final = 0.02
_FLUSH_WAIT_SECS: Final = 1.0
_ACCESS_WRITER: BackgroundHandler | None = None
_ROOT: Final = logging.getLogger()


def configure_logging(
    level: str | int, redactor: Redactor, *, stream: IO[str] | None = None, background: bool = False
) -> logging.Handler:
    """Send every log record to `stream` (stderr) as JSON lines at `level`, redacted; replaces root handlers.

    `background` (the server) writes from a thread (`BackgroundHandler`; close the returned handler at exit to
    flush it). Returns the handler, so a caller (a test) can remove it again.
    """
    target = logging.StreamHandler(stream if stream is not None else sys.stderr)
    target.addFilter(RedactingFilter(redactor))
    target.setFormatter(JsonFormatter(redactor))
    handler: logging.Handler = target
    if background:
        global _ACCESS_WRITER  # noqa: PLW0603 - the one handler the RPC lines may go to directly
        handler = _ACCESS_WRITER = BackgroundHandler(target, redactor)
        # The logging HOWTO's "Optimization": what a record would gather and no line of ours shows (the caller's
        # file and line, thread, process names) is not collected: a third of making the per-RPC record.
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
        logging._srcfile = None  # the documented switch for findCaller
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


__all__ = [
    "AccessLine",
    "BackgroundHandler",
    "JsonFormatter",
    "RedactingFilter",
    "TraceStampFilter",
    "access_line",
    "configure_logging",
]
