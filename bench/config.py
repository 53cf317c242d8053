"""How much load each row gets: one frozen `Config`, the defaults of a full run and the tiny `--smoke` one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Config:
    """How much load each row gets; `--smoke` shrinks everything to a few calls."""

    stats_latency: float = 0.05
    achievements_latency: float = 0.15
    miss_streams: int = 150
    hit_streams: int = 300
    latency_concurrency: int = 1
    # Rows 1-2 again with this many distinct cold players in flight at once (the second column).
    busy_concurrency: int = 32
    busy_miss_streams: int = 640
    sim_baseline_calls: int = 40
    busy_baseline_calls: int = 320
    duration: float = 5.0
    warmup: float = 1.0
    h2load_clients: int = 4
    h2load_streams: int = 16
    stream_concurrency: int = 32
    stream_channels: int = 4
    zipf_players: int = 10_000
    zipf_rpcs: int = 2_000
    zipf_s: float = 1.0
    zipf_concurrency: int = 32
    fail_fast_rpcs: int = 500
    fail_fast_concurrency: int = 1
    open_streams: int = 1_000
    streams_per_channel: int = 50
    hold_latency: float = 40.0
    hold_max_wait: float = 20.0
    profile: str = "unmet"
    profile_secs: int = 6
    traced_streams: int = 40
    seed: int = 6
    server_env: tuple[tuple[str, str], ...] = ()
    output: Path | None = REPO / "BENCHMARKS.md"

    @classmethod
    def smoke(cls, **changes: Any) -> Config:
        tiny = cls(
            miss_streams=6,
            hit_streams=4,
            latency_concurrency=1,
            busy_concurrency=2,
            busy_miss_streams=6,
            sim_baseline_calls=3,
            busy_baseline_calls=4,
            duration=0.5,
            warmup=0.2,
            h2load_clients=1,
            h2load_streams=2,
            stream_concurrency=2,
            stream_channels=1,
            zipf_players=50,
            zipf_rpcs=12,
            zipf_concurrency=4,
            fail_fast_rpcs=5,
            open_streams=20,
            streams_per_channel=10,
            hold_latency=10.0,
            hold_max_wait=2.0,
            profile="never",
            output=None,
        )
        return replace(tiny, **changes)


__all__ = ["REPO", "Config"]
