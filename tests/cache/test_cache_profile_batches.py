"""ProfileBatches against the simulator: the profiles a batch holds come from one GetPlayerSummaries call,
through the profile cache, and nobody waits for a batch that is abandoned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from opentelemetry import trace

from dbd_playerstats.cache.shared_fetch import SharedFetch
from dbd_playerstats.errors import PlayerNotFoundError
from dbd_playerstats.service.summaries import ProfileBatches
from dbd_playerstats.sim import DEMO_STEAM_ID, PRIVATE_STEAM_ID, FaultKind, RunningSimulator
from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.steam.errors import SteamServerError
from dbd_playerstats.steam.models import PlayerSummary, Visibility
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats.upstream.protocol import DirectUpstream
from tests.support import until

UNKNOWN_STEAM_ID = "76561198999999999"


@pytest.fixture
async def batches(sim: RunningSimulator) -> AsyncIterator[ProfileBatches]:
    async with aiohttp.ClientSession() as session:
        steam = SteamClient(session, base_url=sim.base_url, api_key="sim-key")
        yield ProfileBatches(steam, DirectUpstream(api_timeout_secs=10))


def profiles(batches: ProfileBatches) -> SharedFetch[PlayerSummary, None]:
    return SharedFetch("profile", batches.fetch, ttl_secs=60, max_entries=10, tracer=trace.NoOpTracer())


def later() -> Deadline:
    return Deadline.after(30)


async def test_a_sent_batch_answers_every_profile_it_holds_with_one_call(
    batches: ProfileBatches, sim: RunningSimulator
) -> None:
    """Three players added, their fetches started before the batch is sent: one call; an id Steam leaves out
    of its answer is PlayerNotFoundError for that player only; the answers are kept by the profile cache."""
    cache = profiles(batches)
    batch = batches.open()
    assert all(batch.add(steam_id) for steam_id in (DEMO_STEAM_ID, PRIVATE_STEAM_ID, UNKNOWN_STEAM_ID))
    gets = [asyncio.ensure_future(cache.get(steam_id, later())) for steam_id in batch.steam_ids]
    await until(lambda: all(cache.in_flight(steam_id) for steam_id in batch.steam_ids))
    assert sim.state.count("profile") == 0
    await batch.send(later())
    demo, private, unknown = await asyncio.gather(*gets, return_exceptions=True)
    assert sim.state.count("profile") == 1
    assert not isinstance(demo, BaseException)
    assert not isinstance(private, BaseException)
    assert demo.answer.value.steam_id == DEMO_STEAM_ID
    assert private.answer.value.visibility is not Visibility.PUBLIC
    assert isinstance(unknown, PlayerNotFoundError)
    assert cache.kept(DEMO_STEAM_ID)
    assert not batches.batched(DEMO_STEAM_ID)


async def test_a_player_in_another_batch_is_not_added_twice(batches: ProfileBatches) -> None:
    """A player is answered by the first batch that holds it; a batch once sent takes nobody."""
    first, second = batches.open(), batches.open()
    assert first.add(DEMO_STEAM_ID)
    assert not second.add(DEMO_STEAM_ID)
    await first.send(later())
    assert not first.add(PRIVATE_STEAM_ID)
    assert second.add(DEMO_STEAM_ID)
    second.abandon()


async def test_an_abandoned_batch_lets_its_waiters_fetch_alone(batches: ProfileBatches, sim: RunningSimulator) -> None:
    """Abandoned before it is sent: each waiting fetch calls Steam for its own player."""
    cache = profiles(batches)
    batch = batches.open()
    batch.add(DEMO_STEAM_ID)
    batch.add(PRIVATE_STEAM_ID)
    gets = [asyncio.ensure_future(cache.get(steam_id, later())) for steam_id in batch.steam_ids]
    await until(lambda: all(cache.in_flight(steam_id) for steam_id in batch.steam_ids))
    batch.abandon()
    served = await asyncio.gather(*gets)
    assert [s.answer.value.steam_id for s in served] == [DEMO_STEAM_ID, PRIVATE_STEAM_ID]
    assert sim.state.count("profile") == 2
    await batch.send(later())  # too late: does nothing
    assert sim.state.count("profile") == 2


async def test_the_batch_calls_failure_is_every_waiters(batches: ProfileBatches, sim: RunningSimulator) -> None:
    """A failed GetPlayerSummaries call (one attempt here) fails every fetch that waited for it, and is not
    kept: the next fetch of each player asks again."""
    cache = profiles(batches)
    sim.state.script("profile", [FaultKind.HTTP_503])
    batch = batches.open()
    batch.add(DEMO_STEAM_ID)
    batch.add(PRIVATE_STEAM_ID)
    gets = [asyncio.ensure_future(cache.get(steam_id, later())) for steam_id in batch.steam_ids]
    await until(lambda: all(cache.in_flight(steam_id) for steam_id in batch.steam_ids))
    await batch.send(later())
    outcomes = await asyncio.gather(*gets, return_exceptions=True)
    assert all(isinstance(outcome, SteamServerError) for outcome in outcomes)
    assert (await cache.get(DEMO_STEAM_ID, later())).answer.value.steam_id == DEMO_STEAM_ID
    assert sim.state.count("profile") == 2
