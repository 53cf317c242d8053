"""The service's whole configuration: one frozen value, read from the environment once at start-up.

`Settings.from_env(os.environ)` is pure (no import-time cache), so tests build settings directly. A bad value
raises `ConfigError` whose message is the one line printed at start-up: the variable, the value and what is
allowed. Defaults live in `DEFAULTS`, the single place the README's configuration table is checked against.
The only I/O is reading the TLS files named by `PLAYERSTATS_TLS_*`, so that an unreadable file, a file that is
not PEM or a key that does not match its certificate stops start-up with one line instead of failing every
handshake later.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")

# Every environment variable the service reads, with its default as the environment would spell it.
DEFAULTS: dict[str, str] = {
    "PLAYERSTATS_LISTEN": "[::]:50051",
    "PLAYERSTATS_HTTP_LISTEN": "",
    "PLAYERSTATS_GRACE_SECS": "10",
    "PLAYERSTATS_DRAIN_DELAY_SECS": "0",
    "PLAYERSTATS_LOG_LEVEL": "INFO",
    "STEAM_API_BASE_URL": "https://api.steampowered.com",
    "STEAM_API_KEY": "",
    "CB_MAX_FAILS": "5",
    "CB_RESET_TIMEOUT_SECS": "60",
    "CB_HALF_OPEN_REQUESTS": "3",
    "API_TIMEOUT_SECS": "10",
    "OVERALL_TIMEOUT_SECS": "30",
    "MAX_RETRIES": "3",
    "BASE_BACKOFF_MS": "250",
    "MAX_BACKOFF_MS": "8000",
    "RATE_LIMIT_PER_MIN": "100",
    "BURST_LIMIT": "10",
    "PLAYERSTATS_DATA_DIR": "./data",
    "DATABASE_URL": "",
    "STALE_STATS_MAX_AGE_SECS": "86400",
    "MERGE_MIN_SURVIVOR_ADEPTS": "20",
    "MERGE_MIN_KILLER_ADEPTS": "15",
    "MERGE_MAX_SNAPSHOT_AGE_SECS": "86400",
    "PLAYERSTATS_TLS_CERT": "",
    "PLAYERSTATS_TLS_KEY": "",
    "PLAYERSTATS_TLS_CLIENT_CA": "",
    "PLAYERSTATS_CALLER_QUOTA_PER_MIN": "60",
    "PLAYERSTATS_CALLER_BURST": "20",
    "PLAYERSTATS_MAX_RECV_MSG_BYTES": "1048576",
    "PLAYERSTATS_MAX_SEND_MSG_BYTES": "4194304",
    "PLAYERSTATS_MAX_CONCURRENT_STREAMS": "100",
    "PLAYERSTATS_MAX_CONCURRENT_RPCS": "1000",
    "PLAYERSTATS_KEEPALIVE_TIME_SECS": "60",
    "PLAYERSTATS_KEEPALIVE_TIMEOUT_SECS": "20",
    "PLAYERSTATS_MIN_PING_INTERVAL_SECS": "10",
    "PLAYERSTATS_PERMIT_PINGS_WITHOUT_CALLS": "true",
    "PLAYERSTATS_MAX_PING_STRIKES": "2",
    "PLAYERSTATS_MAX_CONNECTION_AGE_SECS": "1800",
    "PLAYERSTATS_MAX_CONNECTION_AGE_GRACE_SECS": "60",
    "REDIS_URL": "",
    "PLAYERSTATS_REDIS_KEY_PREFIX": "dbd-playerstats:",
    "PLAYERSTATS_REPLICAS": "1",
    "PLAYERSTATS_REDIS_RETRY_SECS": "5",
    "PLAYERSTATS_REDIS_TIMEOUT_SECS": "1",
    "PLAYERSTATS_CACHE_STATS_TTL_SECS": "30",
    "PLAYERSTATS_CACHE_ACHIEVEMENTS_TTL_SECS": "30",
    "PLAYERSTATS_CACHE_PROFILE_TTL_SECS": "300",
    "PLAYERSTATS_CACHE_VANITY_TTL_SECS": "3600",
    "PLAYERSTATS_CACHE_CATALOG_TTL_SECS": "21600",
    "PLAYERSTATS_CACHE_MAX_PLAYERS": "10000",
}

MIB = 1024 * 1024


class ConfigError(ValueError):
    """A setting is invalid; `str()` is the one-line start-up error naming the variable."""


class Secret:
    """A string that never shows itself in repr, str or logs (the Steam key)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SecretUrl(Secret):
    """A URL that may carry a password: hidden like a `Secret`, but `redacted()` shows it with `***` instead."""

    __slots__ = ()

    def password(self) -> str:
        """The password the URL carries (user info, else a `password=` query parameter); empty when none."""
        try:
            parts = urlsplit(self._value)
        except ValueError:
            return ""
        if parts.password:
            return parts.password
        for item in parts.query.split("&"):
            if item.startswith("password="):
                return item.removeprefix("password=")
        return ""

    def redacted(self) -> str:
        """The URL with its password (user info, or a `password=` query parameter) replaced by `***`."""
        try:
            parts = urlsplit(self._value)
            netloc = parts.netloc
            if parts.password is not None:
                host = parts.hostname or ""
                host = f"[{host}]" if ":" in host else host
                port = f":{parts.port}" if parts.port is not None else ""
                netloc = f"{parts.username or ''}:***@{host}{port}"
            query = "&".join(
                "password=***" if item.startswith("password=") else item for item in parts.query.split("&")
            )
            if (netloc, query) == (parts.netloc, parts.query):
                return self._value
            return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
        except ValueError:
            return "<unparseable URL>"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The gRPC listener. `grace_secs`: how long in-flight RPCs may run after SIGTERM."""

    listen: str = DEFAULTS["PLAYERSTATS_LISTEN"]
    http_listen: str = ""  # the Connect (JSON/HTTP) face, api.connect_http; empty: off
    grace_secs: float = 10.0
    # Seconds between health NOT_SERVING and closing the port on SIGTERM, so health pollers (load balancers,
    # readiness probes) see NOT_SERVING instead of "connection refused"; RPCs keep being served meanwhile.
    drain_delay_secs: float = 0.0
    log_level: str = "INFO"


@dataclass(frozen=True, slots=True)
class SteamSettings:
    """Where Steam is and the key that pays for it."""

    base_url: str = DEFAULTS["STEAM_API_BASE_URL"]
    api_key: Secret = field(default_factory=lambda: Secret(""))
    app_id: int = 381210


@dataclass(frozen=True, slots=True)
class ResilienceSettings:
    """Retry, breaker, deadline and rate-limit knobs (units in the names)."""

    cb_max_fails: int = 5
    cb_reset_timeout_secs: float = 60.0
    cb_half_open_requests: int = 3
    api_timeout_secs: float = 10.0
    overall_timeout_secs: float = 30.0
    max_retries: int = 3
    base_backoff_ms: float = 250.0
    max_backoff_ms: float = 8000.0
    rate_limit_per_min: int = 100
    burst_limit: int = 10


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Where unlocked achievements and the last good stats are kept.

    `database_url` empty means the embedded SQLite file under `data_dir`.
    """

    data_dir: Path = Path("./data")
    database_url: Secret = field(default_factory=lambda: Secret(""))
    stale_stats_max_age_secs: float = 86400.0
    min_survivor_adepts: int = 20
    min_killer_adepts: int = 15
    max_snapshot_age_secs: float = 86400.0


@dataclass(frozen=True, slots=True)
class SharedStateSettings:
    """State shared by replicas in Redis (see `dbd_playerstats.upstream.shared`).

    `redis_url` empty: breakers and the Steam budget are in process (one replica). Otherwise they live in Redis
    under keys starting with `redis_key_prefix`; while Redis is unreachable (each call waits at most
    `redis_timeout_secs` per attempt, and Redis is probed every `redis_retry_secs`), this replica uses
    1/`replicas` of the budget and breakers of its own.
    """

    redis_url: SecretUrl = field(default_factory=lambda: SecretUrl(""))
    redis_key_prefix: str = DEFAULTS["PLAYERSTATS_REDIS_KEY_PREFIX"]
    replicas: int = 1
    redis_retry_secs: float = 5.0
    redis_timeout_secs: float = 1.0

    @property
    def enabled(self) -> bool:
        """Whether breakers and budget are shared through Redis."""
        return bool(self.redis_url)


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS on the gRPC port, as PEM file paths (validated when read from the environment).

    No `cert_file`: plaintext. `cert_file` + `key_file`: TLS. `client_ca_file` as well: mutual TLS, where a caller
    without a certificate signed by that CA is refused during the handshake, before any RPC exists.
    """

    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None

    @property
    def enabled(self) -> bool:
        """Whether the port speaks TLS."""
        return self.cert_file is not None

    @property
    def mutual(self) -> bool:
        """Whether callers must present a client certificate signed by `client_ca_file`."""
        return self.enabled and self.client_ca_file is not None

    @property
    def mode(self) -> str:
        """The transport for logs: `plaintext`, `tls` or `mtls`."""
        return "mtls" if self.mutual else "tls" if self.enabled else "plaintext"


@dataclass(frozen=True, slots=True)
class LimitsSettings:
    """What one caller, one connection and the whole server may use (units in the names).

    `caller_quota_per_min` tokens per minute refill each caller's bucket of `caller_burst` tokens; every RPC of
    PlayerStatsService takes one; 0 disables the quota. `max_concurrent_rpcs` caps RPCs in flight over the whole
    server (health checks included; 0 = no cap). `max_connection_age_secs` 0 = connections live forever.
    """

    caller_quota_per_min: int = 60
    caller_burst: int = 20
    max_receive_message_bytes: int = 1 * MIB
    max_send_message_bytes: int = 4 * MIB
    max_concurrent_streams: int = 100
    max_concurrent_rpcs: int = 1000
    keepalive_time_secs: float = 60.0
    keepalive_timeout_secs: float = 20.0
    min_ping_interval_secs: float = 10.0
    permit_pings_without_calls: bool = True
    max_ping_strikes: int = 2
    max_connection_age_secs: float = 1800.0
    max_connection_age_grace_secs: float = 60.0


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """How long this process keeps Steam's answers (seconds, counted from when the fetch finished).

    0 disables that cache: nothing is kept, but concurrent identical calls still share one fetch. Only successful
    answers are kept. `max_players` bounds each per-player cache (stats, achievements, profile, vanity names);
    the least recently used entry goes first. `catalog_ttl_secs` is the age at which the schema and the global
    percentages are due for a refresh; it runs in the background while the old value is served.
    """

    stats_ttl_secs: float = 30.0
    achievements_ttl_secs: float = 30.0
    profile_ttl_secs: float = 300.0
    vanity_ttl_secs: float = 3600.0
    catalog_ttl_secs: float = 21600.0
    max_players: int = 10_000


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service is configured with."""

    server: ServerSettings = field(default_factory=ServerSettings)
    steam: SteamSettings = field(default_factory=SteamSettings)
    resilience: ResilienceSettings = field(default_factory=ResilienceSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    shared_state: SharedStateSettings = field(default_factory=SharedStateSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; raise ConfigError on the first invalid one."""
        env = _Env(environ)
        resilience = ResilienceSettings(
            cb_max_fails=env.get("CB_MAX_FAILS", _int(minimum=1)),
            cb_reset_timeout_secs=env.get("CB_RESET_TIMEOUT_SECS", _number(minimum=0.001)),
            cb_half_open_requests=env.get("CB_HALF_OPEN_REQUESTS", _int(minimum=1)),
            api_timeout_secs=env.get("API_TIMEOUT_SECS", _number(minimum=0.001)),
            overall_timeout_secs=env.get("OVERALL_TIMEOUT_SECS", _number(minimum=0.001)),
            max_retries=env.get("MAX_RETRIES", _int(minimum=0)),
            base_backoff_ms=env.get("BASE_BACKOFF_MS", _number(minimum=0)),
            max_backoff_ms=env.get("MAX_BACKOFF_MS", _number(minimum=0)),
            rate_limit_per_min=env.get("RATE_LIMIT_PER_MIN", _int(minimum=1)),
            burst_limit=env.get("BURST_LIMIT", _int(minimum=1)),
        )
        if resilience.max_backoff_ms < resilience.base_backoff_ms:
            raise ConfigError(
                f"invalid MAX_BACKOFF_MS={resilience.max_backoff_ms:g}: "
                f"must be at least BASE_BACKOFF_MS ({resilience.base_backoff_ms:g})"
            )
        if resilience.overall_timeout_secs < resilience.api_timeout_secs:
            raise ConfigError(
                f"invalid OVERALL_TIMEOUT_SECS={resilience.overall_timeout_secs:g}: "
                f"must be at least API_TIMEOUT_SECS ({resilience.api_timeout_secs:g})"
            )
        return cls(
            server=ServerSettings(
                listen=env.get("PLAYERSTATS_LISTEN", _listen),
                http_listen=env.get("PLAYERSTATS_HTTP_LISTEN", lambda raw: _listen(raw) if raw else ""),
                grace_secs=env.get("PLAYERSTATS_GRACE_SECS", _number(minimum=0)),
                drain_delay_secs=env.get("PLAYERSTATS_DRAIN_DELAY_SECS", _number(minimum=0)),
                log_level=env.get("PLAYERSTATS_LOG_LEVEL", _log_level),
            ),
            steam=SteamSettings(
                base_url=env.get("STEAM_API_BASE_URL", _http_url),
                api_key=Secret(env.raw("STEAM_API_KEY").strip()),
            ),
            resilience=resilience,
            store=StoreSettings(
                data_dir=Path(env.get("PLAYERSTATS_DATA_DIR", _non_empty)),
                database_url=Secret(env.get("DATABASE_URL", _database_url)),
                stale_stats_max_age_secs=env.get("STALE_STATS_MAX_AGE_SECS", _number(minimum=0)),
                min_survivor_adepts=env.get("MERGE_MIN_SURVIVOR_ADEPTS", _int(minimum=0)),
                min_killer_adepts=env.get("MERGE_MIN_KILLER_ADEPTS", _int(minimum=0)),
                max_snapshot_age_secs=env.get("MERGE_MAX_SNAPSHOT_AGE_SECS", _number(minimum=1)),
            ),
            tls=_tls(env),
            limits=LimitsSettings(
                caller_quota_per_min=env.get("PLAYERSTATS_CALLER_QUOTA_PER_MIN", _int(minimum=0)),
                caller_burst=env.get("PLAYERSTATS_CALLER_BURST", _int(minimum=1)),
                max_receive_message_bytes=env.get("PLAYERSTATS_MAX_RECV_MSG_BYTES", _int(minimum=1024)),
                max_send_message_bytes=env.get("PLAYERSTATS_MAX_SEND_MSG_BYTES", _int(minimum=64 * 1024)),
                max_concurrent_streams=env.get("PLAYERSTATS_MAX_CONCURRENT_STREAMS", _int(minimum=1)),
                max_concurrent_rpcs=env.get("PLAYERSTATS_MAX_CONCURRENT_RPCS", _int(minimum=0)),
                keepalive_time_secs=env.get("PLAYERSTATS_KEEPALIVE_TIME_SECS", _number(minimum=1)),
                keepalive_timeout_secs=env.get("PLAYERSTATS_KEEPALIVE_TIMEOUT_SECS", _number(minimum=1)),
                min_ping_interval_secs=env.get("PLAYERSTATS_MIN_PING_INTERVAL_SECS", _number(minimum=0)),
                permit_pings_without_calls=env.get("PLAYERSTATS_PERMIT_PINGS_WITHOUT_CALLS", _bool),
                max_ping_strikes=env.get("PLAYERSTATS_MAX_PING_STRIKES", _int(minimum=0)),
                max_connection_age_secs=env.get("PLAYERSTATS_MAX_CONNECTION_AGE_SECS", _number(minimum=0)),
                max_connection_age_grace_secs=env.get("PLAYERSTATS_MAX_CONNECTION_AGE_GRACE_SECS", _number(minimum=0)),
            ),
            shared_state=SharedStateSettings(
                redis_url=SecretUrl(env.get("REDIS_URL", _redis_url)),
                redis_key_prefix=env.get("PLAYERSTATS_REDIS_KEY_PREFIX", _key_prefix),
                replicas=env.get("PLAYERSTATS_REPLICAS", _int(minimum=1)),
                redis_retry_secs=env.get("PLAYERSTATS_REDIS_RETRY_SECS", _number(minimum=0.05)),
                redis_timeout_secs=env.get("PLAYERSTATS_REDIS_TIMEOUT_SECS", _number(minimum=0.01)),
            ),
            cache=CacheSettings(
                stats_ttl_secs=env.get("PLAYERSTATS_CACHE_STATS_TTL_SECS", _number(minimum=0)),
                achievements_ttl_secs=env.get("PLAYERSTATS_CACHE_ACHIEVEMENTS_TTL_SECS", _number(minimum=0)),
                profile_ttl_secs=env.get("PLAYERSTATS_CACHE_PROFILE_TTL_SECS", _number(minimum=0)),
                vanity_ttl_secs=env.get("PLAYERSTATS_CACHE_VANITY_TTL_SECS", _number(minimum=0)),
                catalog_ttl_secs=env.get("PLAYERSTATS_CACHE_CATALOG_TTL_SECS", _number(minimum=0)),
                max_players=env.get("PLAYERSTATS_CACHE_MAX_PLAYERS", _int(minimum=1)),
            ),
        )

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


def _tls(env: _Env) -> TlsSettings:
    """The TLS files, each read and parsed now; errors name the variable that has to change."""
    cert = env.get("PLAYERSTATS_TLS_CERT", _optional_path)
    key = env.get("PLAYERSTATS_TLS_KEY", _optional_path)
    client_ca = env.get("PLAYERSTATS_TLS_CLIENT_CA", _optional_path)
    if cert is None and key is None and client_ca is None:
        return TlsSettings()
    if cert is None:
        needing = "PLAYERSTATS_TLS_KEY" if key is not None else "PLAYERSTATS_TLS_CLIENT_CA"
        raise ConfigError(f"invalid PLAYERSTATS_TLS_CERT='': required when {needing} is set")
    if key is None:
        raise ConfigError(f"invalid PLAYERSTATS_TLS_KEY='': required when PLAYERSTATS_TLS_CERT is set ({cert})")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    env.get("PLAYERSTATS_TLS_CERT", _pem_certificates(context))
    env.get("PLAYERSTATS_TLS_KEY", _pem_key_of(context, cert))
    if client_ca is not None:
        env.get("PLAYERSTATS_TLS_CLIENT_CA", _pem_certificates(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)))
    return TlsSettings(cert_file=cert, key_file=key, client_ca_file=client_ca)


class _Env:
    """Reads one variable at a time, naming it in the error."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def raw(self, name: str) -> str:
        return self._environ.get(name, DEFAULTS[name])

    def get(self, name: str, parse: Callable[[str], T]) -> T:
        raw = self.raw(name)
        try:
            return parse(raw.strip())
        except ValueError as exc:
            shown = "<redacted>" if name in {"DATABASE_URL", "REDIS_URL"} else raw
            raise ConfigError(f"invalid {name}={shown!r}: {exc}") from None


def _number(*, minimum: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number >= {minimum:g}") from None
        if not math.isfinite(value) or value < minimum:
            raise ValueError(f"expected a number >= {minimum:g}")
        return value

    return parse


def _int(*, minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number >= {minimum}") from None
        if value < minimum:
            raise ValueError(f"expected a whole number >= {minimum}")
        return value

    return parse


def _listen(raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if raw.startswith("unix:"):
        return raw
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected HOST:PORT such as [::]:50051 or 127.0.0.1:50051, or unix:PATH")
    return raw


def _http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")) or len(raw) <= len("https://"):
        raise ValueError("expected an http:// or https:// URL")
    return raw.rstrip("/")


def _database_url(raw: str) -> str:
    if raw and not raw.startswith(("postgresql://", "postgres://")):
        raise ValueError("expected empty (embedded SQLite) or a postgresql:// URL")
    return raw


def _redis_url(raw: str) -> str:
    if not raw:
        return raw
    try:
        parts = urlsplit(raw)
        _ = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        parts = None
    valid = parts is not None and (
        bool(parts.path) if parts.scheme == "unix" else parts.scheme in {"redis", "rediss"} and bool(parts.hostname)
    )
    if not valid:
        raise ValueError("expected empty (in-process state) or a redis://, rediss:// or unix:// URL")
    return raw


def _key_prefix(raw: str) -> str:
    if not raw or len(raw) > 100 or not raw.isprintable() or " " in raw:
        raise ValueError("expected 1 to 100 printable characters without spaces")
    return raw


def _non_empty(raw: str) -> str:
    if not raw:
        raise ValueError("expected a directory path")
    return raw


def _bool(raw: str) -> bool:
    value = raw.lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false (also 1/0, yes/no, on/off)")


def _optional_path(raw: str) -> Path | None:
    return Path(raw) if raw else None


def _readable(path: Path) -> None:
    try:
        with path.open("rb") as file:
            file.read(1)
    except OSError as exc:
        raise ValueError(f"cannot read the file: {exc.strerror or exc}") from None


def _pem_certificates(context: ssl.SSLContext) -> Callable[[str], None]:
    """Check that the file holds at least one PEM certificate (a chain or a CA bundle)."""

    def parse(raw: str) -> None:
        _readable(Path(raw))
        try:
            context.load_verify_locations(cafile=raw)
        except (ssl.SSLError, UnicodeError):
            raise ValueError("expected a file of PEM certificates (-----BEGIN CERTIFICATE-----)") from None

    return parse


def _pem_key_of(context: ssl.SSLContext, cert: Path) -> Callable[[str], None]:
    """Check that the file holds an unencrypted PEM private key matching the certificate `cert`."""

    def parse(raw: str) -> None:
        _readable(Path(raw))
        try:
            # A password callback stops OpenSSL from prompting on the terminal for an encrypted key.
            context.load_cert_chain(certfile=cert, keyfile=raw, password=lambda: b"")
        except (ssl.SSLError, UnicodeError):
            raise ValueError(
                "expected the unencrypted PEM private key of PLAYERSTATS_TLS_CERT (-----BEGIN PRIVATE KEY-----)"
            ) from None

    return parse


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("expected one of DEBUG, INFO, WARNING, ERROR")
    return level


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
]
