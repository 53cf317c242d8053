"""What the simulator sends back, as plain values, and the exact pages Steam answers errors with.

Handlers and faults build an `Answer` (status, content type, body bytes, extra headers) instead of an aiohttp
response, so a fault such as `truncated_json` can take the real answer's body and cut it, and tests of the
pure parts need no server. The HTML texts below are byte-for-byte what api.steampowered.com sends (checked
against clients that compare them literally), not paraphrases: a client must classify Steam's real pages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

JSON_TYPE = "application/json"
HTML_TYPE = "text/html"


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer: `body` is sent verbatim with `Content-Type: <content_type>; charset=utf-8`."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    def to_response(self) -> web.Response:
        """Build the aiohttp response; extra headers are copied as given (Retry-After is sent verbatim)."""
        response = web.Response(status=self.status, body=self.body, content_type=self.content_type, charset="utf-8")
        for name, value in self.headers:
            response.headers[name] = value
        return response


def json_answer(payload: Any, status: int = 200) -> Answer:
    """A JSON answer; non-ASCII characters (Onryō, Élodie) are sent as UTF-8, as Steam does."""
    return Answer(status, JSON_TYPE, json.dumps(payload, ensure_ascii=False).encode())


def html_answer(status: int, title: str, message: str = "") -> Answer:
    """Steam's bare error page: `<h1>` repeats the title, the message follows it unwrapped."""
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{message}</body></html>"
    return Answer(status, HTML_TYPE, page.encode())


def bad_request(message: str) -> Answer:
    """400 HTML page, e.g. for a missing required parameter."""
    return html_answer(400, "Bad Request", message)


def missing_parameter(name: str) -> Answer:
    """What Steam sends when a required query parameter is absent or empty."""
    return bad_request(f"Required parameter '{name}' is missing")


def forbidden_key() -> Answer:
    """403 for a key Steam does not know; the `<pre>` around `key=` is part of Steam's real page."""
    return html_answer(
        403,
        "Forbidden",
        "Access is denied. Retrying will not help. Please verify your <pre>key=</pre> parameter.",
    )


def not_found() -> Answer:
    """404 HTML page for a path Steam does not serve."""
    return html_answer(404, "Not Found")


__all__ = [
    "HTML_TYPE",
    "JSON_TYPE",
    "Answer",
    "bad_request",
    "forbidden_key",
    "html_answer",
    "json_answer",
    "missing_parameter",
    "not_found",
]
