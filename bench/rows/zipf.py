"""Row 4: Steam calls per 1,000 RPCs for a Zipf mix of players (what the cache and the coalescing save)."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

from bench import load
from bench.report import Row, outcomes
from bench.run import ZIPF_FIRST_INDEX, Run
from bench.stats import Zipf
from dbd_playerstats.sim import synthetic_steam_id

if TYPE_CHECKING:
    from dbd.playerstats.v1.playerstats_pb2_grpc import PlayerStatsServiceAsyncStub as Stub


async def row_zipf(run: Run, stubs: list[Stub]) -> Row:
    config = run.config
    ranks = Zipf(config.zipf_players, config.zipf_s, config.seed).sample(config.zipf_rpcs)
    players = [synthetic_steam_id(ZIPF_FIRST_INDEX + rank) for rank in ranks]
    distinct = len(set(players))
    run.log(f"row 4: {len(players)} streams, Zipf s={config.zipf_s:g} over {config.zipf_players} players")
    before = await run.sim.counts()
    started = time.perf_counter()
    result = await load.mixed_streams(stubs, players, config.zipf_concurrency)
    seconds = time.perf_counter() - started
    after = await run.sim.counts()
    delta = {key: after[key] - before[key] for key in after}
    per_k = delta.get("total", 0) / len(players) * 1000
    perfect = distinct * 3 / len(players) * 1000
    by_endpoint = ", ".join(f"{key} {delta[key] / len(players) * 1000:,.0f}" for key in sorted(delta) if key != "total")
    top_share = Counter(ranks).most_common(1)[0][1] / len(ranks)
    return Row(
        4,
        f"Steam calls per 1,000 RPCs, Zipf mix of {config.zipf_players:,} players",
        f"{per_k:,.0f} ({by_endpoint})",
        f"no cache: 3,000; every distinct player once: {perfect:,.0f}",
        "— (reported)",
        None,
        [
            f"{len(players):,} StreamPlayerStats, {config.zipf_concurrency} concurrent, Zipf s={config.zipf_s:g} "
            f"(seed {config.seed}) over synthetic players: {distinct:,} distinct, the most popular "
            f"{top_share:.1%} of the calls; done in {seconds:.1f} s",
            f"errors: {outcomes(result.errors)}; stats provenance {dict(result.sources)}",
            f"simulator counts (/_sim/counts) before/after: {delta.get('total', 0):,} Steam calls in all",
        ],
    )


__all__ = ["row_zipf"]
