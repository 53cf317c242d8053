"""Profiles of many players from one GetPlayerSummaries call (it takes up to 100 SteamIDs).

The profile cache (`SharedFetch` "profile") fetches one key at a time. A lobby knows it is about to ask for up to
ten profiles, so it opens a `ProfileBatch`, adds the players whose profile is neither kept nor in flight, and
sends the batch once every entry of the lobby is resolved. Until then, and while the call runs, a profile fetch
of any of those players (the lobby's own, another request's, the stats verdict's) waits for the batch instead of
calling Steam alone; the answer is then kept by the profile cache as any other. A batch abandoned before it is
sent (the lobby was cancelled) lets its waiters fetch alone, so nobody is left waiting for a call never made.

The batch is one logical Steam call: one token of the shared budget, one ``steam.profile`` span (in the lobby's
trace; the waiting fetches link to it), retried and broken like a single profile call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Final

from opentelemetry import trace
from opentelemetry.trace import SpanContext

from dbd_playerstats.cache.shared_fetch import Answer, Flight
from dbd_playerstats.domain.clock import UtcClock, utc_now
from dbd_playerstats.errors import PlayerNotFoundError
from dbd_playerstats.steam.client import MAX_SUMMARY_IDS, SteamClient
from dbd_playerstats.steam.errors import SteamNotFoundError
from dbd_playerstats.steam.models import PlayerSummary
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.protocol import Upstream

ENDPOINT: Final = "profile"

Summaries = dict[str, PlayerSummary]


class ProfileBatches:
    """The profile fetch of the profile cache, answering from an open batch when one holds the player."""

    def __init__(self, steam: SteamClient, upstream: Upstream, *, clock: UtcClock = utc_now) -> None:
        self._steam = steam
        self._upstream = upstream
        self._clock = clock
        self._waiting: dict[str, ProfileBatch] = {}

    def open(self) -> ProfileBatch:
        """A new batch, empty and not sent."""
        return ProfileBatch(self)

    def batched(self, steam_id: str) -> bool:
        """Whether an open or running batch will answer `steam_id`'s profile."""
        return steam_id in self._waiting

    async def fetch(self, steam_id: str, deadline: Deadline, flight: Flight) -> Answer[PlayerSummary, None]:
        """One player's profile (the profile cache's fetch): the batch's answer when a batch holds the player,
        else one call of its own. PlayerNotFoundError when Steam knows no such account."""
        batch = self._waiting.get(steam_id)
        if batch is not None:
            answer = await batch.answer_for(steam_id, flight)
            if answer is not None:
                return answer
        try:
            profile = await self._upstream.call(
                ENDPOINT,
                flight.noting(lambda t: self._steam.get_player_summary(steam_id, timeout=t)),
                deadline,
                steam_id=steam_id,
            )
        except SteamNotFoundError:
            raise _not_found(steam_id) from None
        return Answer(profile, self._clock())

    async def _call(self, steam_ids: list[str], deadline: Deadline) -> tuple[Summaries, datetime, SpanContext]:
        """One GetPlayerSummaries call for `steam_ids`, with when it answered and the span it ran in."""
        spans: list[SpanContext] = []

        async def attempt(timeout: float) -> Summaries:
            spans.append(trace.get_current_span().get_span_context())
            return await self._steam.get_player_summaries(steam_ids, timeout=timeout)

        only = steam_ids[0] if len(steam_ids) == 1 else None
        summaries = await self._upstream.call(ENDPOINT, attempt, deadline, steam_id=only)
        span = spans[-1] if spans else trace.get_current_span().get_span_context()
        return summaries, self._clock(), span

    def _release(self, batch: ProfileBatch, steam_ids: Iterable[str]) -> None:
        for steam_id in steam_ids:
            if self._waiting.get(steam_id) is batch:
                del self._waiting[steam_id]


class ProfileBatch:
    """Players whose profiles one GetPlayerSummaries call will answer; `send` makes the call, once."""

    def __init__(self, owner: ProfileBatches) -> None:
        self._owner = owner
        self._ids: list[str] = []
        self._sent = False
        self._done: asyncio.Future[tuple[Summaries, datetime, SpanContext] | None] = (
            asyncio.get_running_loop().create_future()
        )

    @property
    def steam_ids(self) -> tuple[str, ...]:
        """The players added so far, in order."""
        return tuple(self._ids)

    def add(self, steam_id: str) -> bool:
        """Let this batch answer `steam_id`'s profile; False (nothing done) once sent, when it is full, or when
        another batch already holds the player (its fetch waits for that one)."""
        if self._sent or len(self._ids) >= MAX_SUMMARY_IDS or self._owner.batched(steam_id):
            return False
        self._owner._waiting[steam_id] = self
        self._ids.append(steam_id)
        return True

    async def send(self, deadline: Deadline) -> None:
        """Make the one call (none for an empty batch) and hand its answer, or its failure, to every waiter."""
        if self._sent:
            return
        self._sent = True
        try:
            if self._ids:
                self._done.set_result(await self._owner._call(self._ids, deadline))
            else:
                self._done.set_result(None)
        except Exception as exc:
            self._done.set_exception(exc)
            self._done.exception()  # retrieved: its waiters, if any, re-raise it
        finally:
            if not self._done.done():  # cancelled: the waiters fetch alone
                self._done.set_result(None)
            self._owner._release(self, self._ids)

    def abandon(self) -> None:
        """Give up a batch not sent (or cancel a call in progress): its waiters fetch alone."""
        self._sent = True
        if not self._done.done():
            self._done.set_result(None)
        self._owner._release(self, self._ids)

    async def answer_for(self, steam_id: str, flight: Flight) -> Answer[PlayerSummary, None] | None:
        """`steam_id`'s profile from this batch's call (None: the batch was abandoned); PlayerNotFoundError when
        Steam left the player out of its answer; the call's failure when it failed."""
        outcome = await asyncio.shield(self._done)
        if outcome is None:
            return None
        summaries, fetched_at, span = outcome
        flight.span = span  # requests that joined this player's fetch link to the batch's steam.profile span
        profile = summaries.get(steam_id)
        if profile is None:
            raise _not_found(steam_id)
        return Answer(profile, fetched_at)


def _not_found(steam_id: str) -> PlayerNotFoundError:
    return PlayerNotFoundError(f"no Steam player has the SteamID64 {steam_id}", steam_id=steam_id)


__all__ = ["ProfileBatch", "ProfileBatches"]
