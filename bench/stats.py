"""Percentiles of latency samples and the Zipf mix of players."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (`pct` in 0-100) of a non-empty sample."""
    if not values:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Summary:
    """p50 / p99 / max of a sample, in the sample's unit."""

    n: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(len(values), percentile(values, 50), percentile(values, 99), max(values))


class Zipf:
    """Ranks 0..n-1 drawn with probability proportional to 1 / (rank + 1) ** s, from a seeded RNG."""

    def __init__(self, n: int, s: float, seed: int) -> None:
        if n < 1:
            raise ValueError("a Zipf mix needs at least one player")
        self._ranks = range(n)
        self._cum = list(itertools.accumulate(1.0 / (rank + 1) ** s for rank in self._ranks))
        self._rng = random.Random(seed)

    def sample(self, count: int) -> list[int]:
        return self._rng.choices(self._ranks, cum_weights=self._cum, k=count)


__all__ = ["Summary", "Zipf", "percentile"]
