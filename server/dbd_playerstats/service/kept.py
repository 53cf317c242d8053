"""A request served whole from what is kept: its response, built once, served again while nothing it came from
has changed.

A cache hit of every call (stats, profile, achievements, schema, percentages; the vanity name too when the
player is given by one) is served from kept answers only, and the parts built from them are themselves kept
(`domain.memo`), so the response is the very same message object each time. Finding that out the long way
(five lookups, the parts, their memos, a dozen coroutines) was most of what a cache hit cost (issue 12's row 3).
`KeptRequest` finds it out in a few dictionary lookups: `kept_request` collects, by identity, what the request
would be served from right now, and the response a request built from exactly those objects is kept in the
achievements answer's memo (so it lives as long as that answer, and goes with it).

Only a request the long way would serve from kept answers alone qualifies: no `max_age`, every call kept with no
fetch in flight and no kept failure, every store write of those answers finished, and an accepted (or absent)
merge, whose part does not depend on the time of day (a rejected merge's stored copy turns stale with time).
Not while the request's span records: a traced request takes the long way and gets its ``cache.hit`` events.
A request served here counts its cache hits as the long way would; it does not move the answers' LRU positions.
"""

from __future__ import annotations

from typing import Any, Final

from opentelemetry import trace

from dbd_playerstats.cache.catalog import Catalog
from dbd_playerstats.cache.shared_fetch import Answer
from dbd_playerstats.domain.memo import same_objects
from dbd_playerstats.domain.players import SteamId, parse_player
from dbd_playerstats.errors import InvalidPlayerError
from dbd_playerstats.service.steam_calls import SteamCalls
from dbd_playerstats.store import MergeResult
from dbd_playerstats.telemetry.recording import record_cache_hits

_LOOKUPS: Final = ("stats", "profile", "achievements", "schema", "rarity")
_VANITY_LOOKUPS: Final = ("vanity", *_LOOKUPS)
_NAMES: Final = {"get": "kept_response:get", "stream": "kept_response:stream"}


class KeptRequest:
    """What one request would be served from now (`sources`, by identity), and where its response is kept.

    The store writes of those answers are checked only when a response is kept: a response kept for these very
    sources was built after the writes finished (a finished write stays finished, its result the same)."""

    __slots__ = ("achievements", "lookups", "sources", "stats", "with_store")

    def __init__(
        self,
        stats: Answer[Any, Any],
        achievements: Answer[Any, Any],
        others: tuple[object, ...],
        lookups: tuple[str, ...],
        with_store: bool,
    ) -> None:
        self.stats = stats
        self.achievements = achievements
        self.sources = (stats, *others)  # the achievements answer holds the response: not among its own inputs
        self.lookups = lookups
        self.with_store = with_store

    def response(self, kind: str) -> Any | None:
        """The response of `kind` built from exactly these sources, its cache hits counted; else None."""
        response = self.achievements.memo.peek(_NAMES[kind], self.sources)
        if response is not None:
            record_cache_hits(self.lookups)
        return response

    def same_as(self, other: KeptRequest | None) -> bool:
        return (
            other is not None and other.achievements is self.achievements and same_objects(other.sources, self.sources)
        )

    def keep(self, kind: str, response: object) -> None:
        """Keep `response`, built the long way from these sources, to be served by `response(kind)`; not kept
        while a store write of the answers is unfinished or failed, or the merge was not accepted."""
        if self.with_store and not (
            _written(self.stats) and _written(self.achievements) and _accepted(self.achievements)
        ):
            return
        self.achievements.memo.put(_NAMES[kind], self.sources, response)


def kept_request(
    player: str, calls: SteamCalls, catalog: Catalog, *, with_store: bool, traced: bool
) -> KeptRequest | None:
    """What a request for `player` without `max_age` would be served from now, if only kept answers (module
    docstring); else None. `with_store`: the answers' store writes must have finished; `traced`: spans may be
    exported (then a request whose span records takes the long way)."""
    if traced and trace.get_current_span().is_recording():
        return None
    try:
        ref = parse_player(player)
    except InvalidPlayerError:
        return None
    vanity: Answer[Any, Any] | None = None
    if isinstance(ref, SteamId):
        steam_id = ref.value
    else:
        vanity = calls.vanities.kept_answer(ref.name.lower())
        if vanity is None:
            return None
        steam_id = vanity.value
    stats = calls.stats.kept_answer(steam_id)
    profile = calls.profiles.kept_answer(steam_id)
    achievements = calls.achievements.kept_answer(steam_id)
    schema, percents = catalog.schema.held(), catalog.percentages.held()
    if stats is None or profile is None or achievements is None or schema is None or percents is None:
        return None
    lookups = _LOOKUPS if vanity is None else _VANITY_LOOKUPS
    return KeptRequest(stats, achievements, (profile, schema, percents), lookups, with_store)


def _written(answer: Answer[Any, Any]) -> bool:
    write = answer.write
    return write is not None and write.done() and not write.cancelled() and write.exception() is None


def _accepted(answer: Answer[Any, Any]) -> bool:
    assert answer.write is not None  # checked by _written
    result = answer.write.result()
    return result is None or (isinstance(result, MergeResult) and result.decision.accepted)


__all__ = ["KeptRequest", "kept_request"]
