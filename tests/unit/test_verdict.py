"""The player verdict as a decision table: every stats failure x profile outcome x achievements outcome.

Each row names the combinations it covers (a set per column); every combination is covered by exactly one row.
Besides the verdict, each row says which of the two calls the verdict awaited: only those that can change it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from dbd_playerstats.errors import NoGameStatsError, PlayerNotFoundError, ProfilePrivateError, ServiceError
from dbd_playerstats.service.verdict import player_verdict
from dbd_playerstats.steam.errors import SteamError, SteamNoStatsError, SteamProfilePrivateError, SteamServerError
from dbd_playerstats.steam.models import PlayerSummary, Visibility

STEAM_ID = "76561198000000042"

# The stats attempt's failure.
STATS: dict[str, SteamError] = {
    "403 private": SteamProfilePrivateError("private", endpoint="stats", status=403, steam_id=STEAM_ID),
    "500 ambiguous": SteamServerError("500 html", endpoint="stats", status=500, steam_id=STEAM_ID),
    "502": SteamServerError("bad gateway", endpoint="stats", status=502, steam_id=STEAM_ID),
    "503": SteamServerError("unavailable", endpoint="stats", status=503, steam_id=STEAM_ID),
    "504": SteamServerError("gateway timeout", endpoint="stats", status=504, steam_id=STEAM_ID),
    "400 {} no stats": SteamNoStatsError("no stats", endpoint="stats", status=400, steam_id=STEAM_ID),
}
# The profile call's outcome: a visibility, or the exception it raises.
PROFILES: dict[str, Visibility | Exception] = {
    "public": Visibility.PUBLIC,
    "private": Visibility.PRIVATE,
    "friends-only": Visibility.FRIENDS_ONLY,
    "not found": PlayerNotFoundError(f"no Steam player has the SteamID64 {STEAM_ID}", steam_id=STEAM_ID),
    "failed": SteamServerError("unavailable", endpoint="profile", status=503, steam_id=STEAM_ID),
}
# The achievements call's outcome: None for an answer, else the exception it raises.
ACHIEVEMENTS: dict[str, Exception | None] = {
    "ok": None,
    "private": SteamProfilePrivateError("private", endpoint="achievements", status=403, steam_id=STEAM_ID),
    "no stats": SteamNoStatsError("no stats", endpoint="achievements", status=400, steam_id=STEAM_ID),
    "failed": SteamServerError("unavailable", endpoint="achievements", status=503, steam_id=STEAM_ID),
}

ANY_PROFILE = frozenset(PROFILES)
ANY_ACHIEVEMENTS = frozenset(ACHIEVEMENTS)
AMBIGUOUS = frozenset({"500 ambiguous", "400 {} no stats"})
READABLE = frozenset({"public", "failed"})  # the profile does not decide: the achievements are asked
BOTH = ("profile", "achievements")


@dataclass(frozen=True)
class Row:
    stats: frozenset[str]
    profiles: frozenset[str]
    achievements: frozenset[str]
    verdict: type[ServiceError] | None
    awaited: tuple[str, ...]


def row(
    stats: set[str] | frozenset[str],
    profiles: set[str] | frozenset[str],
    achievements: set[str] | frozenset[str],
    verdict: type[ServiceError] | None,
    awaited: tuple[str, ...],
) -> Row:
    return Row(frozenset(stats), frozenset(profiles), frozenset(achievements), verdict, awaited)


TABLE = [
    # Steam said private outright: nothing else is asked.
    row({"403 private"}, ANY_PROFILE, ANY_ACHIEVEMENTS, ProfilePrivateError, ()),
    # A server error that is never an answer about a player is Steam's, at once.
    row({"502", "503", "504"}, ANY_PROFILE, ANY_ACHIEVEMENTS, None, ()),
    # An ambiguous answer: the profile decides when it can...
    row(AMBIGUOUS, {"not found"}, ANY_ACHIEVEMENTS, PlayerNotFoundError, ("profile",)),
    row(AMBIGUOUS, {"private", "friends-only"}, ANY_ACHIEVEMENTS, ProfilePrivateError, ("profile",)),
    # ...else the achievements call does...
    row(AMBIGUOUS, READABLE, {"private"}, ProfilePrivateError, BOTH),
    row(AMBIGUOUS, READABLE, {"no stats"}, NoGameStatsError, BOTH),
    # ...else a 500 stays Steam's failure (retried), and 400 {} means "no stats" only for a profile seen public.
    row({"500 ambiguous"}, READABLE, {"ok", "failed"}, None, BOTH),
    row({"400 {} no stats"}, {"public"}, {"ok", "failed"}, NoGameStatsError, BOTH),
    row({"400 {} no stats"}, {"failed"}, {"ok", "failed"}, None, BOTH),
]

COMBINATIONS = list(itertools.product(STATS, PROFILES, ACHIEVEMENTS))


def matching(stats: str, profile: str, achievements: str) -> list[Row]:
    return [r for r in TABLE if stats in r.stats and profile in r.profiles and achievements in r.achievements]


def test_the_table_covers_every_combination_exactly_once() -> None:
    assert [c for c in COMBINATIONS if len(matching(*c)) != 1] == []


@pytest.mark.parametrize(("stats", "profile", "achievements"), COMBINATIONS, ids=" / ".join)
async def test_verdict(stats: str, profile: str, achievements: str) -> None:
    (expected,) = matching(stats, profile, achievements)
    awaited: list[str] = []

    async def profile_call() -> PlayerSummary:
        awaited.append("profile")
        outcome = PROFILES[profile]
        if isinstance(outcome, Exception):
            raise outcome
        return PlayerSummary(STEAM_ID, "Somebody", "https://x/", "https://y.jpg", outcome)

    async def achievements_call() -> object:
        awaited.append("achievements")
        failure = ACHIEVEMENTS[achievements]
        if failure is not None:
            raise failure
        return object()

    verdict = await player_verdict(STEAM_ID, STATS[stats], profile_call, achievements_call)

    assert tuple(awaited) == expected.awaited
    if expected.verdict is None:
        assert verdict is None
        return
    assert type(verdict) is expected.verdict
    assert verdict is not None
    assert verdict.steam_id == STEAM_ID
    if expected.verdict is PlayerNotFoundError:
        assert verdict is PROFILES["not found"]  # the profile call's own error, as it was raised
