"""Keeping the Steam key out of telemetry: one `Redactor` applied to URLs, span data and log records.

The key travels in the query string of every keyed Steam request (``...?key=SECRET&steamid=...``), so any URL
attribute, exception message or stack trace that quotes a request URL would carry it. Three layers, each cheap:

- `Redactor.url` is the aiohttp instrumentation's ``url_filter``: ``url.full`` never holds the key;
- `RedactingSpanExporter` wraps every span exporter: names, attributes, event attributes (exception messages and
  stack traces included) and status descriptions of every exported span go through `Redactor.text`;
- `dbd_playerstats.telemetry.logs` runs every log record through the same `Redactor.text`.

`Redactor.text` replaces the value of any ``key=`` query parameter (and a ``'key': '...'`` mapping entry), and
every literal occurrence of a registered secret (plain and percent-encoded), with ``REDACTED``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Final
from urllib.parse import quote

import yarl
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status
from opentelemetry.util.types import AttributeValue

PLACEHOLDER: Final = "REDACTED"
MIN_SECRET_LENGTH: Final = 4
"""Shorter registered secrets are ignored: replacing every occurrence of "ab" would shred all telemetry."""

_QUERY_KEY: Final = re.compile(r"(?i)([?&;]key=)[^&#\s\"'<>]*")
_MAPPING_KEY: Final = re.compile(r"(?i)(['\"]key['\"]\s*:\s*['\"])[^'\"]*")
_ANY_KEY: Final = re.compile(r"(?i)key")
"""Both patterns above need the word: text without it (most log fields) skips them."""
_ABORT_EXCEPTION: Final = "AbortError"


class Redactor:
    """Removes the Steam key from text; secrets may be added at any time (thread-safe, idempotent)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: str) -> None:
        """Redact every occurrence of `secret` (and its percent-encoding) from now on; short ones are ignored."""
        if len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            variants = {secret, quote(secret, safe="")}
            # Longest first, so a secret that contains another is replaced whole.
            self._secrets = tuple(sorted(set(self._secrets) | variants, key=len, reverse=True))

    def text(self, value: str) -> str:
        """`value` without any registered secret and without the value of any ``key=`` parameter."""
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, PLACEHOLDER)
        if _ANY_KEY.search(value) is None:
            return value
        value = _QUERY_KEY.sub(rf"\g<1>{PLACEHOLDER}", value)
        return _MAPPING_KEY.sub(rf"\g<1>{PLACEHOLDER}", value)

    def url(self, url: yarl.URL) -> str:
        """The URL as text with its ``key`` query parameter redacted (the aiohttp instrumentation's url_filter)."""
        if "key" in url.query:
            url = url.update_query(key=PLACEHOLDER)
        return self.text(str(url))

    def value(self, value: AttributeValue) -> AttributeValue:
        """An attribute value with every string in it redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
            return tuple(self.text(v) if isinstance(v, str) else v for v in value)
        return value

    def attributes(self, attributes: Mapping[str, AttributeValue] | None) -> dict[str, AttributeValue]:
        """A redacted copy of span or event attributes."""
        return {self.text(k): self.value(v) for k, v in (attributes or {}).items()}


class RedactingSpanExporter(SpanExporter):
    """A span exporter that hands `inner` redacted copies of the spans.

    It also drops the ``exception`` events of gRPC's ``AbortError``: `status.abort` raises it to end an RPC with
    a rich status, so it says nothing beyond ``rpc.grpc.status_code`` and the span status, which carry the code.
    """

    def __init__(self, inner: SpanExporter, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export the redacted copies."""
        return self._inner.export([self._redacted(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the inner exporter down."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the inner exporter."""
        return self._inner.force_flush(timeout_millis)

    def _redacted(self, span: ReadableSpan) -> ReadableSpan:
        r = self._redactor
        events = [
            Event(r.text(event.name), r.attributes(event.attributes), event.timestamp)
            for event in span.events
            if not _is_abort_event(event)
        ]
        status = span.status
        if status.description:
            status = Status(status.status_code, r.text(status.description))
        return ReadableSpan(
            name=r.text(span.name),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=r.attributes(span.attributes),
            events=events,
            links=span.links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )


def _is_abort_event(event: Event) -> bool:
    if event.name != "exception" or event.attributes is None:
        return False
    kind = event.attributes.get("exception.type")
    return isinstance(kind, str) and kind.rsplit(".", 1)[-1] == _ABORT_EXCEPTION


__all__ = ["PLACEHOLDER", "RedactingSpanExporter", "Redactor"]
