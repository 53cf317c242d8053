"""Assembly: settings -> Steam client -> upstream policy -> fetcher -> servicer -> a listening grpc.aio server.

`build_server` is used by the console script, the tests and the benchmark alike, so all of them run the same
server. It must be awaited inside the running event loop (grpc.aio binds the server to it). Each step that opens
something registers its closing on one `AsyncExitStack`: when a later step fails, what the earlier ones opened is
closed, last opened first, and the error propagates as raised; on success the stack goes to `RunningServer`.
The steps open in the order that makes unwinding the stack today's order of shutdown (see `RunningServer.stop`).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
import grpc
from grpc_channelz.v1 import channelz
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd_playerstats.api.handlers import add_service
from dbd_playerstats.api.listener import max_concurrent_rpcs, server_credentials, server_options
from dbd_playerstats.api.quota import CallerQuotas
from dbd_playerstats.api.servicer import PlayerStatsServicer
from dbd_playerstats.cache.catalog import Catalog
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.service.fetcher import PlayerFetcher
from dbd_playerstats.service.watch import Watches
from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.store import AchievementStore, MergePolicy, open_store
from dbd_playerstats.telemetry import Telemetry
from dbd_playerstats.upstream import ResilientUpstream, SharedState, SharedStateListener
from dbd_playerstats.upstream.events import KeyAccepted, KeyRefused, ResilienceEvent, ResilienceObserver
from dbd_playerstats.upstream.policy import ResiliencePolicy
from dbd_playerstats.upstream.protocol import Upstream
from dbd_playerstats.upstream.watch_lease import WatchLeases

if TYPE_CHECKING:
    from dbd_playerstats.api.connect_http import ConnectHttpServer

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PlayerStatsService"].full_name
CHANNELZ_SERVICE = "grpc.channelz.v1.Channelz"
SHARED_STATE_SERVICE = "dbd.playerstats.v1.SharedState"
"""Health service name (REDIS_URL only): SERVING while breakers and budget are shared in Redis, NOT_SERVING while
this replica runs on its in-process fall-back. SERVICE_NAME stays SERVING either way: requests are served."""
STEAM_KEY_SERVICE = "dbd.playerstats.v1.SteamKey"
"""Health service name: NOT_SERVING from the moment Steam refuses the API key until it accepts it again (the key
gate, upstream/key_gate.py); SERVICE_NAME stays SERVING (the operator must fix the key, not restart replicas)."""


@dataclass
class RunningServer:
    """A started server, its bound port and what must be closed with it (`resources`, from `build_server`)."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    session: aiohttp.ClientSession
    store: AchievementStore | None = None
    fetcher: PlayerFetcher | None = None
    upstream: ResilientUpstream | None = None
    http: ConnectHttpServer | None = None  # the Connect face, when PLAYERSTATS_HTTP_LISTEN is set
    watches: Watches | None = None
    resources: AsyncExitStack = field(default_factory=AsyncExitStack, repr=False)
    _stopped: bool = field(default=False, repr=False)

    async def stop(self, grace: float | None) -> None:
        """Graceful stop: health NOT_SERVING first, every watch ended (UNAVAILABLE), then in-flight RPCs get
        `grace` seconds, then close Steam.

        Then `resources` unwinds, last opened first: wait for store writes and close the fetcher (its background
        catalog refreshes), close the store, close the upstream (the Redis connections of the shared state). The
        stack's own server stop and session close are no-ops by then.
        """
        if self._stopped:
            return
        self._stopped = True
        await self.health.enter_graceful_shutdown()
        if self.watches is not None:
            await self.watches.close()  # every watch ends UNAVAILABLE SHUTTING_DOWN while its call still lives
        http_stop = self.http.stop(grace) if self.http is not None else asyncio.sleep(0)
        await asyncio.gather(self.server.stop(grace), http_stop)  # both ports drain within the one grace
        await self.session.close()  # no RPC is left to call Steam
        await self.resources.aclose()


def _shared_state_health(servicer: health.aio.HealthServicer) -> SharedStateListener:
    """Keeps SHARED_STATE_SERVICE's health in step with the shared state."""

    async def set_status(degraded: bool) -> None:
        status = health_pb2.HealthCheckResponse.NOT_SERVING if degraded else health_pb2.HealthCheckResponse.SERVING
        await servicer.set(SHARED_STATE_SERVICE, status)

    return set_status


def _steam_key_health(servicer: health.aio.HealthServicer) -> ResilienceObserver:
    """Keeps STEAM_KEY_SERVICE's health in step with the key gate's events (set in a task: observers are sync)."""
    pending: set[asyncio.Task[None]] = set()

    def observe(event: ResilienceEvent) -> None:
        if not isinstance(event, KeyRefused | KeyAccepted):
            return
        serving = health_pb2.HealthCheckResponse.SERVING
        status = serving if isinstance(event, KeyAccepted) else health_pb2.HealthCheckResponse.NOT_SERVING
        task = asyncio.get_running_loop().create_task(servicer.set(STEAM_KEY_SERVICE, status))
        pending.add(task)
        task.add_done_callback(pending.discard)

    return observe


async def build_server(
    settings: Settings, *, listen: str | None = None, telemetry: Telemetry | None = None
) -> RunningServer:
    """Create, bind and start the server; `listen` overrides settings.server.listen (tests use 127.0.0.1:0).

    `telemetry` (None: `Telemetry.disabled()`) gets the SERVER/Steam/HTTP spans, metrics and the Steam key to
    redact; its owner shuts it down, not `RunningServer.stop`. When a step fails, everything opened before it is
    closed and its error (StoreError naming DATABASE_URL, OSError naming PLAYERSTATS_LISTEN, ...) propagates.
    """
    address = listen or settings.server.listen
    telemetry = telemetry if telemetry is not None else Telemetry.disabled()
    telemetry.protect(settings.steam.api_key.get())
    telemetry.protect(settings.shared_state.redis_url.password())  # in case a Redis error message quotes it
    credentials = server_credentials(settings.tls)  # read before anything needs closing
    async with AsyncExitStack() as stack:
        upstream, traced_upstream = await _open_upstream(stack, settings, telemetry)
        store = await _open_store(stack, settings)
        session = _open_session(stack, telemetry)
        fetcher = _open_fetcher(
            stack, settings, session=session, traced_upstream=traced_upstream, store=store, telemetry=telemetry
        )
        shares_watches = upstream.shared is not None and bool(settings.store.database_url)
        leases = WatchLeases.of(upstream.shared) if upstream.shared is not None and shares_watches else None
        server, health_servicer, servicer, quota = _assemble_server(stack, settings, fetcher, telemetry, leases)
        watches = servicer.watches
        port = await _listen(server, address, credentials)
        http = await _open_http_face(stack, settings, servicer, quota, telemetry)
        await _announce_health(health_servicer, upstream)
        running = RunningServer(
            server=server,
            port=port,
            health=health_servicer,
            session=session,
            store=store,
            fetcher=fetcher,
            upstream=upstream,
            http=http,
            watches=watches,
            resources=stack.pop_all(),  # from here on, closing is `running.stop`'s job
        )
    log.info("listening on %s (port %d, %s)", address, port, settings.tls.mode)
    return running


async def _open_upstream(
    stack: AsyncExitStack, settings: Settings, telemetry: Telemetry
) -> tuple[ResilientUpstream, Upstream]:
    """The resilient upstream (Redis-shared when REDIS_URL is set) and its traced view; closed last at shutdown."""
    shared_settings = settings.shared_state
    shared = SharedState.from_settings(shared_settings, settings.resilience) if shared_settings.enabled else None
    upstream = ResilientUpstream(ResiliencePolicy.from_settings(settings.resilience), shared=shared)
    stack.push_async_callback(upstream.aclose)  # the Redis connections and the shared state's task
    traced_upstream = telemetry.wrap_upstream(upstream)  # the logical-call span around whichever upstream
    await upstream.initialize()  # after wrap_upstream: telemetry sees the start-up state; Redis down is no error
    return upstream, traced_upstream


async def _open_store(stack: AsyncExitStack, settings: Settings) -> AchievementStore:
    """The migrated store; StoreError (an OSError) names DATABASE_URL / PLAYERSTATS_DATA_DIR."""
    store = await open_store(settings.store)
    stack.push_async_callback(store.close)
    await store.migrate()
    return store


def _open_session(stack: AsyncExitStack, telemetry: Telemetry) -> aiohttp.ClientSession:
    """The one HTTP session every Steam call uses."""
    session = aiohttp.ClientSession(
        # No connection cap: the shared Steam budget (token bucket) already bounds Steam traffic, and a cap would
        # make a stats call wait for a connection held by someone's slow achievements call (stats first).
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
        headers={"User-Agent": "dbd-playerstats/0.1"},
        trace_configs=telemetry.aiohttp_trace_configs(),
    )
    stack.push_async_callback(session.close)
    return session


def _open_fetcher(
    stack: AsyncExitStack,
    settings: Settings,
    *,
    session: aiohttp.ClientSession,
    traced_upstream: Upstream,
    store: AchievementStore,
    telemetry: Telemetry,
) -> PlayerFetcher:
    """Steam client, catalog and the fetcher that serves one request's parts."""
    steam = SteamClient(session, base_url=settings.steam.base_url, api_key=settings.steam.api_key.get())
    catalog = Catalog(
        steam,
        traced_upstream,
        ttl_secs=settings.cache.catalog_ttl_secs,
        load_timeout_secs=settings.resilience.overall_timeout_secs,
    )
    fetcher = PlayerFetcher(
        steam,
        traced_upstream,
        catalog,
        store=store,
        merge_policy=MergePolicy.from_settings(settings.store),
        stale_stats_max_age_secs=settings.store.stale_stats_max_age_secs,
        store_timeout_secs=settings.store.timeout_secs,
        history_retention_days=settings.store.history_retention_days,
        cache=settings.cache,
        tracer=telemetry.tracer,  # the coalesced.wait spans
        traced=telemetry.tracing,
    )

    async def close_fetcher() -> None:
        await fetcher.wait_for_store_writes()  # merges outlive cancelled RPCs: let them commit
        await fetcher.aclose()  # background catalog refreshes

    stack.push_async_callback(close_fetcher)
    fetcher.start_background()  # history pruning; stopped by close_fetcher
    return fetcher


def _assemble_server(
    stack: AsyncExitStack,
    settings: Settings,
    fetcher: PlayerFetcher,
    telemetry: Telemetry,
    leases: WatchLeases | None = None,
) -> tuple[grpc.aio.Server, health.aio.HealthServicer, PlayerStatsServicer, CallerQuotas | None]:
    """The grpc.aio server with its limits, services (each method wrapped once: metrics, log line, quotas),
    health, channelz and reflection (not yet bound), and the servicer and quotas the Connect face shares."""
    limits = settings.limits
    quotas = CallerQuotas.from_settings(limits)
    server = grpc.aio.server(
        interceptors=telemetry.server_interceptors(),  # the SERVER span's, only while tracing; health excluded
        options=server_options(limits),
        maximum_concurrent_rpcs=max_concurrent_rpcs(limits),
    )
    stack.push_async_callback(server.stop, None)  # a no-op for a server never started
    watches = Watches(
        fetcher,
        settings.watch,
        steam_budget_per_min=settings.resilience.rate_limit_per_min,
        look_timeout_secs=settings.resilience.overall_timeout_secs,
        leases=leases,  # replicas with Redis and a shared store share the looks at a watched player
    )
    stack.push_async_callback(watches.close)  # a no-op once RunningServer.stop closed them
    servicer = PlayerStatsServicer(fetcher, watches, overall_timeout_secs=settings.resilience.overall_timeout_secs)
    add_service(server, servicer, metrics=telemetry.metrics, quotas=quotas)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    channelz.add_channelz_servicer(server)  # live channel, server and socket counters for grpcurl
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    reflection.enable_server_reflection((SERVICE_NAME, health_name, CHANNELZ_SERVICE, reflection.SERVICE_NAME), server)
    return server, health_servicer, servicer, quotas


async def _open_http_face(
    stack: AsyncExitStack,
    settings: Settings,
    servicer: PlayerStatsServicer,
    quota: CallerQuotas | None,
    telemetry: Telemetry,
) -> ConnectHttpServer | None:
    """The same servicer, quota and telemetry behind the Connect (JSON/HTTP) face, when PLAYERSTATS_HTTP_LISTEN
    is set; OSError naming the variable when it cannot listen."""
    if not settings.server.http_listen:
        return None
    # Imported only when configured: the Connect runtime and hypercorn are ~5 MiB of a server's idle memory.
    from dbd_playerstats.api.connect_http import start_connect_http  # noqa: PLC0415

    http = await start_connect_http(settings, servicer, quota=quota, telemetry=telemetry)
    if http is not None:
        stack.push_async_callback(http.stop, None)  # a no-op once `RunningServer.stop` drained it
    return http


async def _listen(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    """Bind `address` (TLS when `credentials`) and start serving; the bound port."""
    try:
        port = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
    except RuntimeError as exc:
        raise OSError(f"cannot listen on PLAYERSTATS_LISTEN={address!r}: {exc}") from None
    await server.start()
    return port


async def _announce_health(servicer: health.aio.HealthServicer, upstream: ResilientUpstream) -> None:
    """SERVING for the server and PlayerStatsService; SHARED_STATE_SERVICE follows the shared state, if any, and
    STEAM_KEY_SERVICE what Steam last said of the key."""
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    await servicer.set(STEAM_KEY_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    upstream.add_observer(_steam_key_health(servicer))
    shared = upstream.shared
    if shared is not None:
        shared_state_health = _shared_state_health(servicer)
        await shared_state_health(shared.degraded)
        shared.add_listener(shared_state_health)


__all__ = [
    "CHANNELZ_SERVICE",
    "SERVICE_NAME",
    "SHARED_STATE_SERVICE",
    "STEAM_KEY_SERVICE",
    "RunningServer",
    "build_server",
]
