"""Joining a player's unlock states with the schema, the adept list and the global rarity (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from dbd_playerstats.domain.adepts import AdeptDef, adepts_from_schema, fallback_adepts
from dbd_playerstats.domain.memo import LastOf
from dbd_playerstats.domain.model import AchievementsView, AchievementView, AdeptView
from dbd_playerstats.steam.models import GameSchema, PlayerAchievement

UnlockState = tuple[bool, datetime | None]


def unlock_states(achievements: tuple[PlayerAchievement, ...]) -> dict[str, UnlockState]:
    """api name -> (unlocked, unlock time) from GetPlayerAchievements."""
    return {a.api_name: (a.achieved, a.unlock_time if a.achieved else None) for a in achievements}


_LOCKED: UnlockState = (False, None)
_SKELETON = LastOf[tuple[Mapping[str, str], tuple[AdeptDef, ...], tuple[str, ...]]]()


def _skeleton(schema: GameSchema | None) -> tuple[Mapping[str, str], tuple[AdeptDef, ...], tuple[str, ...]]:
    """Display names, adepts and the sorted api names of the schema in force: built once per schema (the
    catalog keeps one schema object until its refresh), not once per answer."""
    if schema is not None and schema.achievements:
        achievements = schema.achievements

        def from_schema() -> tuple[Mapping[str, str], tuple[AdeptDef, ...], tuple[str, ...]]:
            names = {a.api_name: a.display_name or a.api_name for a in achievements}
            return names, adepts_from_schema(achievements), tuple(sorted(names))

        return _SKELETON.get(achievements, from_schema)
    adept_defs = fallback_adepts()
    names = {d.api_name: d.display_name for d in adept_defs}
    return names, adept_defs, tuple(sorted(names))


def build_view(
    states: Mapping[str, UnlockState],
    schema: GameSchema | None,
    percents: Mapping[str, float],
) -> AchievementsView:
    """Every achievement of the schema (plus any the player has that the schema lacks), adepts singled out.

    Without a schema (Steam failed and nothing is cached) the adepts come from the built-in fallback list and
    display names fall back to api names.
    """
    names, adept_defs, ordered = _skeleton(schema)
    api_names = ordered if states.keys() <= names.keys() else sorted(names.keys() | states.keys())
    views: dict[str, AchievementView] = {}
    for api_name in api_names:
        unlocked, when = states.get(api_name, _LOCKED)
        display_name = names.get(api_name, api_name)
        views[api_name] = AchievementView(api_name, display_name, unlocked, when, percents.get(api_name))
    adepts = tuple(AdeptView(d.character, d.role, views[d.api_name]) for d in adept_defs)
    return AchievementsView(adepts=adepts, achievements=tuple(views.values()))


__all__ = ["UnlockState", "build_view", "unlock_states"]
