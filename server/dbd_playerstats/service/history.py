"""A player's history (GetPlayerHistory): the store's stats snapshots as series of changes, and the unlocks.

Recorded by the store itself from every observation (`store/history.py`); here it is shaped for the caller: one
series per stat asked for, with a point only where the value changed (the first observation included), and the
unlock timeline with each achievement's display name and, for adepts, the character and role of the schema in
force (the catalog's, best effort: the built-in adept list and api names when the schema is not available). No
Steam call is made for the data itself (a vanity name costs its one resolution, as for every RPC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dbd_playerstats.domain.adepts import AdeptDef, Role, adepts_from_schema, fallback_adepts
from dbd_playerstats.errors import HistoryUnavailableError, ServiceError
from dbd_playerstats.service.fetcher import PlayerFetcher
from dbd_playerstats.steam.errors import SteamError
from dbd_playerstats.steam.models import GameSchema
from dbd_playerstats.store import History, StoreError
from dbd_playerstats.store.sql import from_us
from dbd_playerstats.upstream.deadline import Deadline


@dataclass(frozen=True, slots=True)
class Series:
    """One stat's changes: (when Steam produced the snapshot, the value), oldest first."""

    name: str
    points: tuple[tuple[datetime, float], ...]


@dataclass(frozen=True, slots=True)
class Unlock:
    """One unlock of the timeline; `character` and `role` for adepts (else "" and UNSPECIFIED)."""

    api_name: str
    display_name: str
    unlock_time: datetime | None
    character: str
    role: Role


@dataclass(frozen=True, slots=True)
class PlayerHistory:
    series: tuple[Series, ...]
    unlocks: tuple[Unlock, ...]


def series_of(history: History, names: Sequence[str]) -> tuple[Series, ...]:
    """Per name (in the order given, duplicates once), the points where the value changed (pure)."""
    out: list[Series] = []
    for name in dict.fromkeys(names):
        points: list[tuple[datetime, float]] = []
        for snapshot in history.stats:
            value = snapshot.stats.get(name)
            if value is None or isinstance(value, bool):
                continue
            if not points or points[-1][1] != value:
                points.append((from_us(snapshot.fetched_at_us), float(value)))
        out.append(Series(name, tuple(points)))
    return tuple(out)


def unlocks_of(history: History, schema: GameSchema | None) -> tuple[Unlock, ...]:
    """The timeline with names and adepts from `schema` (the built-in adepts without one) (pure)."""
    adepts: tuple[AdeptDef, ...]
    if schema is not None and schema.achievements:
        names = {a.api_name: a.display_name or a.api_name for a in schema.achievements}
        adepts = adepts_from_schema(schema.achievements)
    else:
        adepts = fallback_adepts()
        names = {d.api_name: d.display_name for d in adepts}
    by_name = {d.api_name: d for d in adepts}
    out = []
    for point in history.unlocks:
        adept = by_name.get(point.api_name)
        out.append(
            Unlock(
                api_name=point.api_name,
                display_name=names.get(point.api_name, point.api_name),
                unlock_time=None if point.unlock_time_us is None else from_us(point.unlock_time_us),
                character=adept.character if adept is not None else "",
                role=adept.role if adept is not None else Role.UNSPECIFIED,
            )
        )
    return tuple(out)


async def player_history(
    fetcher: PlayerFetcher, player: str, names: Sequence[str], since: datetime | None, deadline: Deadline
) -> PlayerHistory:
    """The history of `player` for the raw stat `names` from `since` (None: all retained)."""
    steam_id = await fetcher.resolve_id(player, deadline)
    store = fetcher.store
    if store is None:
        raise HistoryUnavailableError("this server keeps no store, so no history", steam_id=steam_id)
    try:
        history = await store.load_history(steam_id, since)
    except StoreError:
        raise HistoryUnavailableError(
            "the store cannot be read now; history is kept only there", steam_id=steam_id, retry_after=1.0
        ) from None
    try:
        schema: GameSchema | None = (await fetcher.catalog.schema.get(deadline)).value
    except (ServiceError, SteamError):
        schema = None
    return PlayerHistory(series_of(history, names), unlocks_of(history, schema))


__all__ = ["PlayerHistory", "Series", "Unlock", "player_history", "series_of", "unlocks_of"]
