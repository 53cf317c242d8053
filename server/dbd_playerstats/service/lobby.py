"""StreamLobbyStats: the parts of up to ten players in one stream, each sent the moment it is ready.

Every entry is resolved at once (a SteamID64 without a call, a vanity name through the shared vanity cache) and
its player's parts are fetched as `StreamPlayerStats` fetches them (`PlayerParts`: stats first, coalesced with
every request in flight, under the shared Steam budget), all players concurrently. Their parts go into one
queue and out in the order they became ready, so a slow or failing player never holds back another's stats.

- Entries naming the same player (by SteamID64 once resolved) share one fetch: each part is sent under every
  such index, those already sent replayed to an entry resolved later.
- The profiles come from one GetPlayerSummaries call (`ProfileBatch`): each player whose profile is neither kept
  nor in flight is added to the lobby's batch before its fetch starts, and the batch is sent once every entry
  is resolved (and looked up in the store for a positive `max_age`). A player's stats call does not wait for
  it; the stats part waits for its profile, so for the slowest vanity resolution of the lobby at most.
- A player's failure is that player's `error` (the status `StreamPlayerStats` would have failed with); the
  others go on. The stream fails as a whole only for the request (0 or more than `MAX_LOBBY_PLAYERS` entries)
  or for its deadline: once it has passed with players unsettled, DEADLINE_EXCEEDED (their fetches are
  cancelled). The caller's RPC quota is taken before the handler, as for every RPC; its Steam-call quota pays
  for each Steam call the players need (api/quota.py): a caller out of it gets the kept players' parts and a
  CALLER_QUOTA_EXCEEDED `error` for each player who needs Steam.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Final

from dbd_playerstats.domain.model import AchievementsPart
from dbd_playerstats.errors import DeadlineExceededError, InvalidRequestError, ServiceError
from dbd_playerstats.service.fetcher import Part, PlayerFetcher
from dbd_playerstats.service.freshness import PlayerParts
from dbd_playerstats.service.summaries import ProfileBatch
from dbd_playerstats.steam.errors import SteamError
from dbd_playerstats.upstream.deadline import Deadline

log = logging.getLogger(__name__)

MAX_LOBBY_PLAYERS: Final = 10


@dataclass(frozen=True, slots=True)
class LobbyPart:
    """One message of a lobby stream: a part of the entry at `index`, or its error (exactly one of the two).

    `player` is the entry as given; `steam_id` its SteamID64, empty when the entry could not be resolved.
    """

    index: int
    player: str
    steam_id: str
    part: Part | None = None
    error: Exception | None = None

    @property
    def settles(self) -> bool:
        """Whether this is the entry's last message (its achievements, or its error)."""
        return self.error is not None or isinstance(self.part, AchievementsPart)


class Lobby:
    """Streams the parts of a lobby's players (see the module docstring)."""

    def __init__(self, fetcher: PlayerFetcher, parts: PlayerParts) -> None:
        self._fetcher = fetcher
        self._parts = parts

    async def stream(
        self, players: Sequence[str], deadline: Deadline, max_age: float | None
    ) -> AsyncIterator[LobbyPart]:
        """Every entry's parts as they become ready; InvalidRequestError for 0 or more than 10 entries."""
        if not 1 <= len(players) <= MAX_LOBBY_PLAYERS:
            raise InvalidRequestError(
                f"a lobby has 1 to {MAX_LOBBY_PLAYERS} players, this request names {len(players)}"
            )
        run = _LobbyRun(self._fetcher, self._parts, tuple(players), deadline, max_age)
        async for message in run.messages():
            yield message


class _Player:
    """One distinct player of a lobby: what was sent for it so far, and the entries it is sent under."""

    def __init__(self, steam_id: str, out: Callable[[LobbyPart], None]) -> None:
        self.steam_id = steam_id
        self._out = out
        self._sent: list[Part | Exception] = []
        self._entries: list[tuple[int, str]] = []

    def subscribe(self, index: int, player: str) -> None:
        """Answer entry `index` with this player's parts too, those already sent first."""
        self._entries.append((index, player))
        for item in self._sent:
            self._out(self._message(index, player, item))

    def send(self, item: Part | Exception) -> None:
        """Send a part (or the error) under every entry naming this player."""
        self._sent.append(item)
        for index, player in self._entries:
            self._out(self._message(index, player, item))

    def _message(self, index: int, player: str, item: Part | Exception) -> LobbyPart:
        if isinstance(item, Exception):
            return LobbyPart(index, player, self.steam_id, error=item)
        return LobbyPart(index, player, self.steam_id, part=item)


class _LobbyRun:
    """One lobby request: its entries' tasks, its profile batch, and the queue its messages go out through."""

    def __init__(
        self,
        fetcher: PlayerFetcher,
        parts: PlayerParts,
        players: tuple[str, ...],
        deadline: Deadline,
        max_age: float | None,
    ) -> None:
        self._fetcher = fetcher
        self._parts = parts
        self._entries = players
        self._deadline = deadline
        self._max_age = max_age
        self._queue: asyncio.Queue[LobbyPart] = asyncio.Queue()
        self._players: dict[str, _Player] = {}
        self._batch: ProfileBatch = fetcher.summaries.open()
        self._unready = set(range(len(players)))  # entries not yet resolved (and looked up in the store)
        self._tasks: list[asyncio.Future[None]] = []

    async def messages(self) -> AsyncIterator[LobbyPart]:
        unsettled = len(self._entries)
        try:
            for index, player in enumerate(self._entries):
                self._start(self._entry(index, player))
            while unsettled:
                message = await self._next(unsettled)
                unsettled -= message.settles
                yield message
        finally:
            self._batch.abandon()
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(BaseException):
                    await task  # retrieve every outcome

    async def _next(self, unsettled: int) -> LobbyPart:
        """The next message ready; DeadlineExceededError once the lobby's deadline has passed (players whose
        time ran out would otherwise each fail on their own, some as UPSTREAM_TIMEOUT: it is the lobby's)."""
        message: LobbyPart | None = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._deadline.remaining()):
                message = await self._queue.get()
        if message is None or self._deadline.expired():
            raise DeadlineExceededError(f"the lobby's deadline passed with {unsettled} of its players unsettled")
        return message

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.ensure_future(coro))

    def _ready(self, index: int) -> None:
        """Entry `index` will add nothing more to the batch; the last one sends it."""
        if index in self._unready:
            self._unready.discard(index)
            if not self._unready:
                self._start(self._batch.send(self._deadline))

    async def _entry(self, index: int, player: str) -> None:
        try:
            steam_id = await self._fetcher.resolve_id(player, self._deadline)
        except Exception as exc:
            self._ready(index)
            self._queue.put_nowait(LobbyPart(index, player, "", error=_reported(index, exc)))
            return
        known = self._players.get(steam_id)
        if known is not None:  # fetched once, answered under each index
            self._ready(index)
            known.subscribe(index, player)
            return
        one = self._players[steam_id] = _Player(steam_id, self._queue.put_nowait)
        one.subscribe(index, player)
        try:
            await self._serve(index, one)
        except Exception as exc:
            self._ready(index)
            one.send(_reported(index, exc))

    async def _serve(self, index: int, one: _Player) -> None:
        """Send `one`'s parts: the store's young copies, else fetched, its profile added to the batch first."""
        steam_id = one.steam_id
        stored = await self._parts.stored(steam_id, self._deadline, self._max_age)
        profiles = self._fetcher.profiles
        if stored is None and not profiles.kept(steam_id, self._max_age) and not profiles.in_flight(steam_id):
            self._batch.add(steam_id)
        self._ready(index)
        async for part in self._parts.stream_resolved(steam_id, self._deadline, self._max_age, stored):
            one.send(part)


def _reported(index: int, exc: Exception) -> Exception:
    """`exc` as the entry's error; one that is neither ours nor Steam's is a bug: logged with its traceback
    (the caller sees INTERNAL "internal error", as from the single-player RPCs)."""
    if not isinstance(exc, ServiceError | SteamError):
        log.exception("lobby entry %d failed with an unexpected error", index, exc_info=exc)
    return exc


__all__ = ["MAX_LOBBY_PLAYERS", "Lobby", "LobbyPart"]
