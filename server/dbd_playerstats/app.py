"""Assembly: settings -> Steam client -> upstream policy -> fetcher -> servicer -> a listening grpc.aio server.

`build_server` is used by the console script, the tests and the benchmark alike, so all of them run the same
server. It must be awaited inside the running event loop (grpc.aio binds the server to it).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import aiohttp
import grpc
from grpc_channelz.v1 import channelz
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from dbd.playerstats.v1 import playerstats_pb2 as pb
from dbd.playerstats.v1 import playerstats_pb2_grpc as pb_grpc
from dbd_playerstats.api.connect_http import ConnectHttpServer, start_connect_http
from dbd_playerstats.api.listener import max_concurrent_rpcs, server_credentials, server_options
from dbd_playerstats.api.quota import CallerQuota, quota_interceptor
from dbd_playerstats.api.servicer import PlayerStatsServicer
from dbd_playerstats.cache.catalog import Catalog
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.service.fetcher import PlayerFetcher
from dbd_playerstats.steam.client import SteamClient
from dbd_playerstats.store import AchievementStore, MergePolicy, open_store
from dbd_playerstats.telemetry import Telemetry
from dbd_playerstats.upstream import ResilientUpstream, SharedState, SharedStateListener

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PlayerStatsService"].full_name
CHANNELZ_SERVICE = "grpc.channelz.v1.Channelz"
SHARED_STATE_SERVICE = "dbd.playerstats.v1.SharedState"
"""Health service name (REDIS_URL only): SERVING while breakers and budget are shared in Redis, NOT_SERVING while
this replica runs on its in-process fall-back. SERVICE_NAME stays SERVING either way: requests are served."""


@dataclass
class RunningServer:
    """A started server, its bound port and what must be closed with it."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    session: aiohttp.ClientSession
    store: AchievementStore | None = None
    fetcher: PlayerFetcher | None = None
    upstream: ResilientUpstream | None = None
    http: ConnectHttpServer | None = None  # the Connect face, when PLAYERSTATS_HTTP_LISTEN is set
    _stopped: bool = field(default=False, repr=False)

    async def stop(self, grace: float | None) -> None:
        """Graceful stop: health NOT_SERVING first, then in-flight RPCs get `grace` seconds, then close Steam."""
        if self._stopped:
            return
        self._stopped = True
        await self.health.enter_graceful_shutdown()
        http_stop = self.http.stop(grace) if self.http is not None else asyncio.sleep(0)
        await asyncio.gather(self.server.stop(grace), http_stop)  # both ports drain within the one grace
        await self.session.close()
        if self.fetcher is not None:
            await self.fetcher.wait_for_store_writes()  # merges outlive cancelled RPCs: let them commit
            await self.fetcher.aclose()  # background catalog refreshes
        if self.store is not None:
            await self.store.close()
        if self.upstream is not None:
            await self.upstream.aclose()  # the Redis connections of the shared state


def _shared_state_health(servicer: health.aio.HealthServicer) -> SharedStateListener:
    """Keeps SHARED_STATE_SERVICE's health in step with the shared state."""

    async def set_status(degraded: bool) -> None:
        status = health_pb2.HealthCheckResponse.NOT_SERVING if degraded else health_pb2.HealthCheckResponse.SERVING
        await servicer.set(SHARED_STATE_SERVICE, status)

    return set_status


async def _start_http_face(
    running: RunningServer,
    settings: Settings,
    servicer: PlayerStatsServicer,
    quota: CallerQuota | None,
    telemetry: Telemetry,
) -> None:
    """The same servicer, quota and telemetry behind the Connect (JSON/HTTP) face; `running` stopped on failure."""
    try:
        running.http = await start_connect_http(settings, servicer, quota=quota, telemetry=telemetry)
    except BaseException:
        await running.stop(None)
        raise


async def build_server(
    settings: Settings, *, listen: str | None = None, telemetry: Telemetry | None = None
) -> RunningServer:
    """Create, bind and start the server; `listen` overrides settings.server.listen (tests use 127.0.0.1:0).

    `telemetry` (None: `Telemetry.disabled()`) gets the SERVER/Steam/HTTP spans, metrics and the Steam key to
    redact; its owner shuts it down, not `RunningServer.stop`.
    """
    address = listen or settings.server.listen
    telemetry = telemetry if telemetry is not None else Telemetry.disabled()
    telemetry.protect(settings.steam.api_key.get())
    telemetry.protect(settings.shared_state.redis_url.password())  # in case a Redis error message quotes it
    credentials = server_credentials(settings.tls)  # read before anything needs closing
    store = await open_store(settings.store)  # StoreError (an OSError) names DATABASE_URL / PLAYERSTATS_DATA_DIR
    try:
        await store.migrate()
    except BaseException:
        await store.close()
        raise
    session = aiohttp.ClientSession(
        # No connection cap: the shared Steam budget (token bucket) already bounds Steam traffic, and a cap would
        # make a stats call wait for a connection held by someone's slow achievements call (stats first).
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
        headers={"User-Agent": "dbd-playerstats/0.1"},
        trace_configs=telemetry.aiohttp_trace_configs(),
    )
    steam = SteamClient(session, base_url=settings.steam.base_url, api_key=settings.steam.api_key.get())
    shared_settings = settings.shared_state
    shared = SharedState.from_settings(shared_settings, settings.resilience) if shared_settings.enabled else None
    upstream = ResilientUpstream.from_settings(settings.resilience, shared=shared)
    traced_upstream = telemetry.wrap_upstream(upstream)  # the logical-call span around whichever upstream
    await upstream.initialize()  # after wrap_upstream: telemetry sees the start-up state; Redis down is no error
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
        cache=settings.cache,
        tracer=telemetry.tracer,  # the coalesced.wait spans
    )

    limits = settings.limits
    quota = quota_interceptor(limits.caller_quota_per_min, limits.caller_burst, service=SERVICE_NAME)
    server = grpc.aio.server(
        interceptors=[
            *telemetry.server_interceptors(),  # SERVER span, RPC metrics and log line; health excluded
            # Per-caller quota, innermost: it runs after any telemetry interceptor placed before it.
            quota,
        ],
        options=server_options(limits),
        maximum_concurrent_rpcs=max_concurrent_rpcs(limits),
    )
    servicer = PlayerStatsServicer(fetcher, overall_timeout_secs=settings.resilience.overall_timeout_secs)
    pb_grpc.add_PlayerStatsServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    channelz.add_channelz_servicer(server)  # live channel, server and socket counters for grpcurl
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            CHANNELZ_SERVICE,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    try:
        port = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
    except RuntimeError as exc:
        await session.close()
        await store.close()
        await upstream.aclose()
        raise OSError(f"cannot listen on PLAYERSTATS_LISTEN={address!r}: {exc}") from None
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    if shared is not None:
        shared_state_health = _shared_state_health(health_servicer)
        await shared_state_health(shared.degraded)
        shared.add_listener(shared_state_health)
    log.info("listening on %s (port %d, %s)", address, port, settings.tls.mode)
    running = RunningServer(
        server=server,
        port=port,
        health=health_servicer,
        session=session,
        store=store,
        fetcher=fetcher,
        upstream=upstream,
    )
    await _start_http_face(running, settings, servicer, quota.quota, telemetry)
    return running


__all__ = ["CHANNELZ_SERVICE", "SERVICE_NAME", "SHARED_STATE_SERVICE", "RunningServer", "build_server"]
