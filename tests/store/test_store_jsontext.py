"""The store's JSON text: what the standard library would accept, refused where it would refuse."""

from __future__ import annotations

import json
import math

import pytest

from dbd_playerstats.store.jsontext import dumps


def test_text_reads_back_as_the_same_values() -> None:
    value = [["DBD_Escape", 3], ["DBD_HealPct_float", 12.5], ["Ünïcode ✓", -(2**63)], {"k": [True, None, "x"]}]
    assert json.loads(dumps(value)) == value


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_refused_wherever_they_are(bad: float) -> None:
    for value in (bad, [["a", bad]], {"x": {"y": (1, bad)}}):
        with pytest.raises(ValueError, match="not JSON compliant"):
            dumps(value)
        with pytest.raises(ValueError, match="not JSON compliant"):
            json.dumps(value, allow_nan=False)  # the standard library agrees


def test_an_integer_beyond_64_bits_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="64-bit"):
        dumps([["DBD_Huge", 2**70]])
