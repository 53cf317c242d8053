"""The Steam key is removed from text, URLs and exported spans."""

from __future__ import annotations

import yarl
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from dbd_playerstats.telemetry import RedactingSpanExporter, Redactor

SECRET = "ABCDEF0123456789ABCDEF0123456789"


def test_text_loses_registered_secret_and_any_key_parameter() -> None:
    """A registered secret anywhere and the value of any key= query parameter become REDACTED."""
    redactor = Redactor([SECRET])
    assert redactor.text(f"token {SECRET} here") == "token REDACTED here"
    assert redactor.text("GET /x?key=other-key&steamid=1") == "GET /x?key=REDACTED&steamid=1"
    assert redactor.text("GET /x?appid=1&KEY=zzz") == "GET /x?appid=1&KEY=REDACTED"
    assert redactor.text("params {'key': 'zzz', 'steamid': '1'}") == "params {'key': 'REDACTED', 'steamid': '1'}"
    assert redactor.text("monkey=1 donkey") == "monkey=1 donkey"


def test_percent_encoded_secret_is_redacted_and_short_secrets_ignored() -> None:
    """The percent-encoded form of a secret is redacted too; a secret too short to be safe is ignored."""
    redactor = Redactor(["a+b/c=d", "ab"])
    assert redactor.text("x=a%2Bb%2Fc%3Dd a+b/c=d ab") == "x=REDACTED REDACTED ab"


def test_url_filter_redacts_the_key_parameter_only() -> None:
    """The aiohttp url_filter keeps the URL readable and replaces only the key's value."""
    url = yarl.URL("http://127.0.0.1:1/ISteamUser/ResolveVanityURL/v1/").with_query(key=SECRET, vanityurl="demo")
    assert Redactor().url(url) == "http://127.0.0.1:1/ISteamUser/ResolveVanityURL/v1/?key=REDACTED&vanityurl=demo"


def test_exporter_redacts_names_attributes_events_and_status_and_drops_abort_events() -> None:
    """Every string of an exported span is redacted, and gRPC AbortError exception events are dropped."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(memory, Redactor([SECRET]))))
    with provider.get_tracer("t").start_as_current_span(f"call {SECRET}", record_exception=False) as span:
        span.set_attribute("url.full", f"http://h/p?key={SECRET}")
        span.set_attribute("list", [f"x{SECRET}", "y"])
        span.set_attribute("count", 3)
        span.record_exception(ValueError(f"failed at http://h/p?key={SECRET}"))
        span.add_event("exception", {"exception.type": "grpc._cython.cygrpc.AbortError", "exception.message": "x"})
        span.set_status(Status(StatusCode.ERROR, f"boom {SECRET}"))
    (exported,) = memory.get_finished_spans()
    assert SECRET not in exported.to_json()
    assert exported.name == "call REDACTED"
    assert exported.attributes == {"url.full": "http://h/p?key=REDACTED", "list": ("xREDACTED", "y"), "count": 3}
    assert [e.attributes["exception.type"] for e in exported.events if e.attributes] == ["ValueError"]
    assert exported.status.description == "boom REDACTED"
    assert exported.context == span.get_span_context()
