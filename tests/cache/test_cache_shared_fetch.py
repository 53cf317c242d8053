"""SharedFetch: concurrent identical calls share one fetch, answers are kept for their TTL, failures never are."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from opentelemetry import trace

from dbd_playerstats.cache.shared_fetch import Answer, Flight, Origin, SharedFetch
from dbd_playerstats.errors import DeadlineExceededError, ProfilePrivateError
from dbd_playerstats.telemetry.recording import metrics_scope
from dbd_playerstats.upstream.deadline import Deadline
from dbd_playerstats_dev.captured_telemetry import CapturedTelemetry
from tests.support import until


class FakeEndpoint:
    """A fetch function that counts its calls, holds them at `gate` and then fails or answers `<key>#<call>`."""

    def __init__(self) -> None:
        self.calls = 0
        self.cancelled = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures: list[Exception] = []
        self.min_secs_left = 0.0

    async def __call__(self, key: str, deadline: Deadline, flight: Flight) -> Answer[str, None]:
        self.calls += 1
        call = self.calls
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if deadline.remaining() < self.min_secs_left:
            raise DeadlineExceededError("no time left to call Steam x")
        if self.failures:
            raise self.failures.pop(0)
        return Answer(f"{key}#{call}", datetime.now(UTC))


def shared(endpoint: FakeEndpoint, *, ttl_secs: float = 30.0, max_entries: int = 100) -> SharedFetch[str, None]:
    return SharedFetch("x", endpoint, ttl_secs=ttl_secs, max_entries=max_entries, tracer=trace.NoOpTracer())


def later() -> Deadline:
    return Deadline.after(30)


async def test_concurrent_gets_share_one_fetch() -> None:
    """Ten concurrent gets of one key: one fetch; the first started it, nine joined; all get the same answer."""
    endpoint = FakeEndpoint()
    endpoint.gate.clear()
    cache = shared(endpoint)
    tasks = [asyncio.create_task(cache.get("a", later())) for _ in range(10)]
    await until(lambda: endpoint.calls == 1)
    assert cache.in_flight("a")
    endpoint.gate.set()
    served = await asyncio.gather(*tasks)
    assert endpoint.calls == 1
    assert [s.origin for s in served] == [Origin.STARTED] + [Origin.JOINED] * 9
    assert {id(s.answer) for s in served} == {id(served[0].answer)}
    assert not cache.in_flight("a")
    assert cache.kept("a")


async def test_a_kept_answer_is_served_from_cache_until_its_ttl() -> None:
    """Within the TTL a get is a cache hit with the original answer; once it expires the next get fetches again."""
    endpoint = FakeEndpoint()
    cache = shared(endpoint, ttl_secs=0.2)
    first = await cache.get("a", later())
    hit = await cache.get("a", later())
    assert (first.origin, hit.origin) == (Origin.STARTED, Origin.CACHED)
    assert hit.answer is first.answer
    assert endpoint.calls == 1
    await until(lambda: not cache.kept("a"))
    again = await cache.get("a", later())
    assert again.origin is Origin.STARTED
    assert again.answer.value == "a#2"
    assert again.answer.fetched_at > first.answer.fetched_at


async def test_keys_are_separate() -> None:
    """Different keys never share a fetch or an answer."""
    endpoint = FakeEndpoint()
    cache = shared(endpoint)
    a, b = await asyncio.gather(cache.get("a", later()), cache.get("b", later()))
    assert (a.answer.value, b.answer.value) == ("a#1", "b#2")
    assert endpoint.calls == 2


async def test_failures_are_shared_but_never_kept() -> None:
    """A failing fetch fails every waiter with its error, once; the next get fetches again (errors are not kept)."""
    endpoint = FakeEndpoint()
    endpoint.gate.clear()
    endpoint.failures = [ProfilePrivateError("private")]
    cache = shared(endpoint)
    tasks = [asyncio.create_task(cache.get("a", later())) for _ in range(3)]
    await until(lambda: endpoint.calls == 1)
    endpoint.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ProfilePrivateError) for r in results)
    assert endpoint.calls == 1
    assert not cache.kept("a")
    after = await cache.get("a", later())
    assert after.origin is Origin.STARTED
    assert endpoint.calls == 2


async def test_ttl_zero_keeps_nothing_but_still_coalesces() -> None:
    """TTL 0: concurrent gets still share one fetch, but nothing is kept: the next get fetches again."""
    endpoint = FakeEndpoint()
    endpoint.gate.clear()
    cache = shared(endpoint, ttl_secs=0)
    tasks = [asyncio.create_task(cache.get("a", later())) for _ in range(5)]
    await until(lambda: endpoint.calls == 1)
    endpoint.gate.set()
    served = await asyncio.gather(*tasks)
    assert {s.answer.value for s in served} == {"a#1"}
    assert not cache.kept("a")
    assert (await cache.get("a", later())).origin is Origin.STARTED
    assert endpoint.calls == 2


async def test_least_recently_used_key_is_dropped_beyond_max_entries() -> None:
    """With room for two players, a third drops the one used least recently."""
    endpoint = FakeEndpoint()
    cache = shared(endpoint, max_entries=2)
    await cache.get("a", later())
    await cache.get("b", later())
    assert (await cache.get("a", later())).origin is Origin.CACHED
    await cache.get("c", later())
    assert (cache.kept("a"), cache.kept("b"), cache.kept("c")) == (True, False, True)


async def test_a_joiner_never_waits_past_its_own_deadline() -> None:
    """A joiner without time left fails DEADLINE_EXCEEDED at once; the fetch goes on for its starter."""
    endpoint = FakeEndpoint()
    endpoint.gate.clear()
    cache = shared(endpoint)
    starter = asyncio.create_task(cache.get("a", later()))
    await until(lambda: endpoint.calls == 1)
    with pytest.raises(DeadlineExceededError):
        await cache.get("a", Deadline.after(0))
    assert cache.in_flight("a")
    endpoint.gate.set()
    assert (await starter).answer.value == "a#1"
    assert endpoint.calls == 1


async def test_a_joiner_fetches_again_when_only_the_starters_time_ran_out() -> None:
    """The shared fetch fails for lack of its starter's time; a joiner with time left fetches on its own."""
    endpoint = FakeEndpoint()
    endpoint.gate.clear()
    endpoint.min_secs_left = 5.0
    cache = shared(endpoint)
    starter = asyncio.create_task(cache.get("a", Deadline.after(2)))
    await until(lambda: endpoint.calls == 1)
    joiner = asyncio.create_task(cache.get("a", Deadline.after(30)))
    await asyncio.sleep(0)
    endpoint.gate.set()
    with pytest.raises(DeadlineExceededError):
        await starter
    served = await joiner
    assert served.answer.value == "a#2"
    assert served.origin is Origin.STARTED
    assert endpoint.calls == 2


async def test_the_fetch_survives_its_starter_being_cancelled() -> None:
    """The request that started a fetch going away does not cancel it while another waits for it."""
    endpoint = FakeEndpoint()
    endpoint.gate.clear()
    cache = shared(endpoint)
    starter = asyncio.create_task(cache.get("a", later()))
    await until(lambda: endpoint.calls == 1)
    joiner = asyncio.create_task(cache.get("a", later()))
    await asyncio.sleep(0)
    starter.cancel()
    await asyncio.sleep(0)
    endpoint.gate.set()
    served = await joiner
    assert (served.answer.value, served.origin) == ("a#1", Origin.JOINED)
    assert (endpoint.calls, endpoint.cancelled) == (1, 0)


async def test_the_last_waiter_leaving_cancels_the_fetch() -> None:
    """With no one left waiting the fetch is cancelled and nothing is kept; the next get fetches again."""
    endpoint = FakeEndpoint()
    endpoint.gate.clear()
    cache = shared(endpoint)
    only = asyncio.create_task(cache.get("a", later()))
    await until(lambda: endpoint.calls == 1)
    only.cancel()
    await until(lambda: endpoint.cancelled == 1)
    assert not cache.in_flight("a")
    assert not cache.kept("a")
    endpoint.gate.set()
    assert (await cache.get("a", later())).answer.value == "a#2"


async def test_a_joiner_gets_a_wait_span_linked_to_the_fetch_it_joined() -> None:
    """The joiner's trace gets a coalesced.wait span (child of its own span) linked to the fetch's Steam span in
    the starter's trace, a coalesced.wait event with the linked ids, and the coalesced-waits metric."""
    captured = CapturedTelemetry.create()
    tracer = captured.telemetry.tracer
    gate = asyncio.Event()

    async def fetch(key: str, deadline: Deadline, flight: Flight) -> Answer[str, None]:
        async def attempt(timeout: float) -> str:
            await gate.wait()
            return key

        with tracer.start_as_current_span("steam.x"):  # what TracedUpstream opens around the attempts
            return Answer(await flight.noting(attempt)(1.0), datetime.now(UTC))

    cache: SharedFetch[str, None] = SharedFetch("x", fetch, ttl_secs=30, max_entries=10, tracer=tracer)

    async def request(name: str) -> None:
        with metrics_scope(captured.telemetry.metrics), tracer.start_as_current_span(name):
            await cache.get("a", later())

    try:
        starter = asyncio.create_task(request("request-a"))
        await until(lambda: cache.in_flight("a"))
        await asyncio.sleep(0)
        joiner = asyncio.create_task(request("request-b"))
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(starter, joiner)
        steam = captured.span("steam.x")
        wait = captured.span("coalesced.wait")
        request_a, request_b = captured.span("request-a"), captured.span("request-b")
    finally:
        captured.telemetry.shutdown()
    assert steam.context is not None
    assert request_a.context is not None
    assert request_b.context is not None
    assert steam.context.trace_id == request_a.context.trace_id
    assert wait.parent is not None
    assert wait.parent.span_id == request_b.context.span_id
    assert [link.context.span_id for link in wait.links] == [steam.context.span_id]
    assert [link.context.trace_id for link in wait.links] == [request_a.context.trace_id]
    assert wait.attributes is not None
    assert (wait.attributes["steam.endpoint"], wait.attributes["coalesced.key"]) == ("x", "a")
    (event,) = [e for e in request_b.events if e.name == "coalesced.wait"]
    assert event.attributes is not None
    assert event.attributes["link.trace_id"] == f"{steam.context.trace_id:032x}"
    assert event.attributes["link.span_id"] == f"{steam.context.span_id:016x}"
    assert not [e for e in request_a.events if e.name == "coalesced.wait"]
    assert captured.points("playerstats.coalesced.waits") == [({"steam.endpoint": "x"}, 1)]
    assert captured.points("playerstats.cache.lookups") == [({"cache": "x", "cache.result": "miss"}, 2)]
