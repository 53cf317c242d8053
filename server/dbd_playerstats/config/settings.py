"""The service's whole configuration: one frozen value, read from the environment once at start-up.

Every field below is one declaration (`var`: variable, default as the environment spells it, kind, doc); see
`dbd_playerstats.config.declare`. `Settings.from_env(os.environ)` is pure (no import-time cache), so tests build
settings directly. A bad value raises `ConfigError` whose message is the one line printed at start-up: the
variable, the value and what is allowed. The README's configuration table is printed from the same declarations
(`python -m dbd_playerstats.config`). The only I/O is reading the TLS files (`dbd_playerstats.config.tls`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from dbd_playerstats.config import kinds
from dbd_playerstats.config.declare import AtLeast, Check, ConfigError, every_var, read_groups, var
from dbd_playerstats.config.kinds import number, whole
from dbd_playerstats.config.secrets import Secret, SecretUrl
from dbd_playerstats.config.tls import TlsSettings

MIB = 1024 * 1024
GRPC_INT_MAX = 2**31 - 1
"""gRPC channel arguments are C ints: a larger value would fail `grpc.aio.server()` long after start-up began."""
GRPC_SECS_MAX = GRPC_INT_MAX // 1000
"""The longest time, in seconds, a channel argument in milliseconds can hold (about 24.8 days)."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The gRPC listener and the process around it."""

    listen: str = var(
        "PLAYERSTATS_LISTEN", "[::]:50051", kinds.LISTEN, "gRPC listen address (`HOST:PORT`, port 0 = any free port)"
    )
    http_listen: str = var(
        "PLAYERSTATS_HTTP_LISTEN",
        "",
        kinds.OPTIONAL_LISTEN,
        "Connect (JSON/HTTP) listen address for curl and browsers, same service and port rules as gRPC; empty = off",
    )
    grace_secs: float = var(
        "PLAYERSTATS_GRACE_SECS", "10", number(minimum=0), "how long in-flight RPCs may finish after SIGTERM/SIGINT"
    )
    drain_delay_secs: float = var(
        "PLAYERSTATS_DRAIN_DELAY_SECS",
        "0",
        number(minimum=0),
        "after SIGTERM, how long health says NOT_SERVING while the port still serves, before draining (set it to "
        'your readiness-probe period so pollers see NOT_SERVING rather than "connection refused")',
    )
    log_level: str = var(
        "PLAYERSTATS_LOG_LEVEL",
        "INFO",
        kinds.one_of("DEBUG", "INFO", "WARNING", "ERROR", upper=True),
        "the least severe level the log (JSON lines) keeps",
    )


@dataclass(frozen=True, slots=True)
class SteamSettings:
    """Where Steam is and the key that pays for it."""

    base_url: str = var(
        "STEAM_API_BASE_URL", "https://api.steampowered.com", kinds.HTTP_URL, "Steam Web API (or the simulator)"
    )
    api_key: Secret = var("STEAM_API_KEY", "", kinds.SECRET, "the Steam Web API key; never logged")
    app_id: int = 381210


@dataclass(frozen=True, slots=True)
class ResilienceSettings:
    """Retry, breaker, deadline and rate-limit knobs (units in the names)."""

    CHECKS: ClassVar[tuple[Check, ...]] = (
        AtLeast("max_backoff_ms", "base_backoff_ms"),
        AtLeast("overall_timeout_secs", "api_timeout_secs"),
    )

    cb_max_fails: int = var(
        "CB_MAX_FAILS", "5", whole(minimum=1), "consecutive Steam failures that open the circuit breaker"
    )
    cb_reset_timeout_secs: float = var(
        "CB_RESET_TIMEOUT_SECS", "60", number(minimum=0.001), "seconds the breaker stays open"
    )
    cb_half_open_requests: int = var(
        "CB_HALF_OPEN_REQUESTS", "3", whole(minimum=1), "trial calls admitted while half-open"
    )
    api_timeout_secs: float = var("API_TIMEOUT_SECS", "10", number(minimum=0.001), "time budget of one Steam attempt")
    overall_timeout_secs: float = var(
        "OVERALL_TIMEOUT_SECS",
        "30",
        number(minimum=0.001),
        "time budget of one RPC (tightened by the caller's deadline)",
    )
    max_retries: int = var("MAX_RETRIES", "3", whole(minimum=0), "retries of Steam server errors")
    base_backoff_ms: float = var(
        "BASE_BACKOFF_MS", "250", number(minimum=0), "first wait of the exponential backoff (full jitter)"
    )
    max_backoff_ms: float = var("MAX_BACKOFF_MS", "8000", number(minimum=0), "cap of the exponential backoff")
    rate_limit_per_min: int = var(
        "RATE_LIMIT_PER_MIN", "100", whole(minimum=1), "the Steam key's budget a minute, shared by all calls"
    )
    burst_limit: int = var("BURST_LIMIT", "10", whole(minimum=1), "Steam calls the budget allows at once")
    key_rejected_pause_secs: float = var(
        "KEY_REJECTED_PAUSE_SECS",
        "30",
        number(minimum=0),
        "after Steam refuses the API key, seconds every call fails STEAM_KEY_REJECTED without asking Steam",
    )


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Where unlocked achievements and the last good stats are kept, and which achievement snapshots are trusted.

    `database_url` empty means the embedded SQLite file under `data_dir`.
    """

    data_dir: Path = var(
        "PLAYERSTATS_DATA_DIR",
        "./data",
        kinds.DIRECTORY,
        "directory of the embedded SQLite store (`playerstats.sqlite3`, created at start-up)",
    )
    database_url: Secret = var(
        "DATABASE_URL",
        "",
        kinds.DATABASE_URL,
        "`postgresql://...` to use a shared PostgreSQL store instead of SQLite; never logged",
        secret=True,
    )
    timeout_secs: float = var(
        "PLAYERSTATS_STORE_TIMEOUT_SECS",
        "2",
        number(minimum=0.001),
        "longest a request waits for one store call (a hung store: served as without it; writes go on)",
    )
    stale_stats_max_age_secs: float = var(
        "STALE_STATS_MAX_AGE_SECS",
        "86400",
        number(minimum=0),
        "oldest stored stats served (as stored and stale) when Steam fails",
    )
    min_survivor_adepts: int = var(
        "MERGE_MIN_SURVIVOR_ADEPTS",
        "20",
        whole(minimum=0),
        "achievement snapshots listing fewer survivor adepts are rejected (lowered when the schema has fewer)",
    )
    min_killer_adepts: int = var("MERGE_MIN_KILLER_ADEPTS", "15", whole(minimum=0), "the same for killer adepts")
    max_snapshot_age_secs: float = var(
        "MERGE_MAX_SNAPSHOT_AGE_SECS",
        "86400",
        number(minimum=1),
        "snapshots older than this are rejected; stored achievements older than this are served stale",
    )
    history_retention_days: float = var(
        "PLAYERSTATS_HISTORY_RETENTION_DAYS",
        "180",
        number(minimum=0),
        "history (stats changes, unlock timeline) older than this is pruned hourly in the background; `0` keeps all",
    )


@dataclass(frozen=True, slots=True)
class SharedStateSettings:
    """State shared by replicas in Redis (see `dbd_playerstats.upstream.shared`).

    `redis_url` empty: breakers and the Steam budget are in process (one replica). Otherwise they live in Redis
    under keys starting with `redis_key_prefix`; while Redis is unreachable (each call waits at most
    `redis_timeout_secs` per attempt, and Redis is probed every `redis_retry_secs`), this replica uses
    1/`replicas` of the budget and breakers of its own.
    """

    redis_url: SecretUrl = var(
        "REDIS_URL",
        "",
        kinds.REDIS_URL,
        "circuit breakers and the Steam budget shared by every replica (see [Running several replicas]"
        "(#running-several-replicas)); empty = in process; logged with its password as `***`",
        secret=True,
    )
    redis_key_prefix: str = var(
        "PLAYERSTATS_REDIS_KEY_PREFIX",
        "dbd-playerstats:",
        kinds.KEY_PREFIX,
        "start of every Redis key; deployments (or Steam keys) sharing one Redis need different prefixes",
    )
    replicas: int = var(
        "PLAYERSTATS_REPLICAS",
        "1",
        whole(minimum=1),
        "how many replicas share the budget: while Redis is unreachable a replica uses `RATE_LIMIT_PER_MIN / N` a "
        "minute and `max(1, BURST_LIMIT // N)` at once",
    )
    redis_retry_secs: float = var(
        "PLAYERSTATS_REDIS_RETRY_SECS", "5", number(minimum=0.05), "while Redis is unreachable, how often it is probed"
    )
    redis_timeout_secs: float = var(
        "PLAYERSTATS_REDIS_TIMEOUT_SECS",
        "1",
        number(minimum=0.01),
        "how long one Redis call may wait (connect or reply) before the replica falls back",
    )

    @property
    def enabled(self) -> bool:
        """Whether breakers and budget are shared through Redis."""
        return bool(self.redis_url)


@dataclass(frozen=True, slots=True)
class LimitsSettings:
    """What one caller, one connection and the whole server may use (units in the names).

    `caller_quota_per_min` tokens per minute refill each caller's bucket of `caller_burst` tokens; every Steam call
    a caller's request triggers takes one (api/quota.py). `caller_rpc_per_min` / `caller_rpc_burst`: the same for
    every RPC of PlayerStatsService. `max_concurrent_rpcs` counts health checks too.
    """

    caller_quota_per_min: int = var(
        "PLAYERSTATS_CALLER_QUOTA_PER_MIN",
        "30",
        whole(minimum=0),
        "per-caller quota in Steam calls its requests trigger (cache hits are free): refill a minute; `0` disables",
    )
    caller_burst: int = var(
        "PLAYERSTATS_CALLER_BURST", "15", whole(minimum=1), "per-caller Steam-call bucket size (calls at once)"
    )
    caller_rpc_per_min: int = var(
        "PLAYERSTATS_CALLER_RPC_PER_MIN",
        "6000",
        whole(minimum=0),
        "per-caller RPC rate limit (protects the CPU, every RPC counts): refill a minute; `0` disables",
    )
    caller_rpc_burst: int = var(
        "PLAYERSTATS_CALLER_RPC_BURST", "200", whole(minimum=1), "per-caller RPC bucket size (RPCs at once)"
    )
    max_receive_message_bytes: int = var(
        "PLAYERSTATS_MAX_RECV_MSG_BYTES",
        str(1 * MIB),
        whole(minimum=1024, maximum=GRPC_INT_MAX),
        "largest request message",
    )
    max_send_message_bytes: int = var(
        "PLAYERSTATS_MAX_SEND_MSG_BYTES",
        str(4 * MIB),
        whole(minimum=64 * 1024, maximum=GRPC_INT_MAX),
        "largest response message",
    )
    max_concurrent_streams: int = var(
        "PLAYERSTATS_MAX_CONCURRENT_STREAMS",
        "100",
        whole(minimum=1, maximum=GRPC_INT_MAX),
        "HTTP/2 streams (calls) at once on one connection",
    )
    max_concurrent_rpcs: int = var(
        "PLAYERSTATS_MAX_CONCURRENT_RPCS",
        "1000",
        whole(minimum=0),
        "RPCs in flight on the whole server, health included; beyond: `RESOURCE_EXHAUSTED`; `0` = no cap",
    )
    keepalive_time_secs: float = var(
        "PLAYERSTATS_KEEPALIVE_TIME_SECS",
        "60",
        number(minimum=1, maximum=GRPC_SECS_MAX),
        "the server pings connections idle this long",
    )
    keepalive_timeout_secs: float = var(
        "PLAYERSTATS_KEEPALIVE_TIMEOUT_SECS",
        "20",
        number(minimum=1, maximum=GRPC_SECS_MAX),
        "and drops those that do not answer the ping within this",
    )
    min_ping_interval_secs: float = var(
        "PLAYERSTATS_MIN_PING_INTERVAL_SECS",
        "10",
        number(minimum=0, maximum=GRPC_SECS_MAX),
        "a client pinging more often earns a strike",
    )
    permit_pings_without_calls: bool = var(
        "PLAYERSTATS_PERMIT_PINGS_WITHOUT_CALLS",
        "true",
        kinds.BOOLEAN,
        "clients may keep idle connections alive with pings (`false`: a ping with no call in flight is a strike)",
    )
    max_ping_strikes: int = var(
        "PLAYERSTATS_MAX_PING_STRIKES",
        "2",
        whole(minimum=0, maximum=GRPC_INT_MAX),
        "strikes before GOAWAY `too_many_pings`; `0` = never",
    )
    max_connection_age_secs: float = var(
        "PLAYERSTATS_MAX_CONNECTION_AGE_SECS",
        "1800",
        number(minimum=0, maximum=GRPC_SECS_MAX),
        "GOAWAY after this age (+-10 %); `0` = connections live forever",
    )
    max_connection_age_grace_secs: float = var(
        "PLAYERSTATS_MAX_CONNECTION_AGE_GRACE_SECS",
        "60",
        number(minimum=0, maximum=GRPC_SECS_MAX),
        "after that GOAWAY, how long calls in flight may finish",
    )


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """How long this process keeps Steam's answers (seconds, counted from when the fetch finished).

    0 disables that cache: nothing is kept, but concurrent identical calls still share one fetch. Successful
    answers are kept; of the failures only answers about the player (private, unknown, no game stats), and only
    for `player_error_ttl_secs`. `max_players` bounds each per-player cache (stats, achievements, profile,
    vanity names); the least recently used entry goes first. `catalog_ttl_secs` is the age at which the schema and
    the global percentages are due for a refresh; it runs in the background while the old value is served.
    """

    stats_ttl_secs: float = var(
        "PLAYERSTATS_CACHE_STATS_TTL_SECS",
        "30",
        number(minimum=0),
        "how long a player's stats answer is reused; `0` = not kept (see [Caching and coalescing]"
        "(#caching-and-coalescing))",
    )
    achievements_ttl_secs: float = var(
        "PLAYERSTATS_CACHE_ACHIEVEMENTS_TTL_SECS", "30", number(minimum=0), "the same for achievements"
    )
    profile_ttl_secs: float = var(
        "PLAYERSTATS_CACHE_PROFILE_TTL_SECS", "300", number(minimum=0), "the same for profiles"
    )
    player_error_ttl_secs: float = var(
        "PLAYERSTATS_CACHE_PLAYER_ERROR_TTL_SECS",
        "60",
        number(minimum=0),
        "how long an answer about the player (private, unknown, no game stats) is reused; `0` = not kept",
    )
    vanity_ttl_secs: float = var(
        "PLAYERSTATS_CACHE_VANITY_TTL_SECS", "3600", number(minimum=0), "the same for vanity-name resolutions"
    )
    catalog_ttl_secs: float = var(
        "PLAYERSTATS_CACHE_CATALOG_TTL_SECS",
        "21600",
        number(minimum=0),
        "age at which the schema and global percentages are refreshed, in the background; `0` = fetched for "
        "every request",
    )
    max_players: int = var(
        "PLAYERSTATS_CACHE_MAX_PLAYERS",
        "10000",
        whole(minimum=1),
        "entries of each player cache (stats, achievements, profiles, vanity names); the least recently used goes "
        "first",
    )


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """Watching players (WatchPlayer): how often, how many, and how much of the Steam budget polling may use."""

    CHECKS: ClassVar[tuple[Check, ...]] = (AtLeast("default_interval_secs", "min_interval_secs"),)

    min_interval_secs: float = var(
        "PLAYERSTATS_WATCH_MIN_INTERVAL_SECS", "30", number(minimum=0.1), "shortest interval a watch may ask for"
    )
    default_interval_secs: float = var(
        "PLAYERSTATS_WATCH_DEFAULT_INTERVAL_SECS", "60", number(minimum=0.1), "interval of a watch that asks none"
    )
    max_per_caller: int = var(
        "PLAYERSTATS_WATCH_MAX_PER_CALLER", "20", whole(minimum=1), "open watches one caller may hold"
    )
    budget_share: float = var(
        "PLAYERSTATS_WATCH_BUDGET_SHARE",
        "0.5",
        number(minimum=0.01, maximum=1),
        "share of RATE_LIMIT_PER_MIN all watch polling together may use; intervals stretch beyond it",
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service is configured with, one group per concern."""

    server: ServerSettings = field(default_factory=ServerSettings)
    steam: SteamSettings = field(default_factory=SteamSettings)
    resilience: ResilienceSettings = field(default_factory=ResilienceSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    shared_state: SharedStateSettings = field(default_factory=SharedStateSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; raise ConfigError on the first invalid one."""
        return read_groups(cls, environ)

    def redacted(self) -> dict[str, Any]:
        """The effective configuration for the start-up log: secrets shown only as set or not."""
        out: dict[str, Any] = {}
        for group in fields(self):
            value = getattr(self, group.name)
            out[group.name] = {f.name: _show(getattr(value, f.name)) for f in fields(value)}
        return out


def _show(value: object) -> object:
    if isinstance(value, SecretUrl):
        return value.redacted() if value else "<unset>"
    if isinstance(value, Secret):
        return "<set>" if value else "<unset>"
    if isinstance(value, Path):
        return str(value)
    return value


DEFAULTS: dict[str, str] = {declared.name: declared.default for _, _, declared in every_var(Settings)}
"""Every variable `Settings` reads, with its default as the environment would spell it."""

__all__ = [
    "DEFAULTS",
    "CacheSettings",
    "ConfigError",
    "LimitsSettings",
    "ResilienceSettings",
    "Secret",
    "SecretUrl",
    "ServerSettings",
    "Settings",
    "SharedStateSettings",
    "SteamSettings",
    "StoreSettings",
    "TlsSettings",
    "WatchSettings",
]
