"""JSON text for the store's columns: orjson (the stats of every cache miss are written twice, and the standard
library's encoder was a twentieth of a miss's CPU, issue 12), refusing what JSON cannot hold as the standard
library's ``allow_nan=False`` does (orjson would write NaN and infinities as ``null``)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import orjson


def dumps(value: object) -> str:
    """`value` as compact JSON text; ValueError for a NaN or an infinity anywhere in it."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits
        raise ValueError(str(exc)) from exc
    if b"null" in text:  # orjson writes NaN and infinities as null: only then is there anything to look for
        _check_finite(value)
    return text.decode()


def _check_finite(value: object) -> None:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"out of range float values are not JSON compliant: {value!r}")
    elif isinstance(value, dict):
        _check_all(value.values())
    elif isinstance(value, list | tuple):
        _check_all(value)


def _check_all(values: Iterable[object]) -> None:
    for item in values:
        _check_finite(item)


__all__ = ["dumps"]
