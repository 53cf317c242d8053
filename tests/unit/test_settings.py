"""Settings are read once from the environment; a bad value is one line naming the variable."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest

from dbd_playerstats.api.listener import server_options
from dbd_playerstats.config.__main__ import main as config_main
from dbd_playerstats.config.declare import every_var, read_group
from dbd_playerstats.config.settings import DEFAULTS, ConfigError, Secret, Settings
from dbd_playerstats.config.table import BEGIN, DOCUMENTED, END, markdown_table, table_in
from dbd_playerstats.config.telemetry import SAMPLERS, TelemetryVariables
from dbd_playerstats.telemetry import TelemetrySettings

if TYPE_CHECKING:
    from tests.conftest import Pki


README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_match_the_documented_values() -> None:
    """With an empty environment every setting has its documented default."""
    s = Settings.from_env({})
    assert s.server.listen == "[::]:50051"
    assert s.steam.base_url == "https://api.steampowered.com"
    r = s.resilience
    assert (r.cb_max_fails, r.cb_reset_timeout_secs, r.cb_half_open_requests) == (5, 60, 3)
    assert (r.api_timeout_secs, r.overall_timeout_secs, r.max_retries) == (10, 30, 3)
    assert (r.base_backoff_ms, r.max_backoff_ms, r.rate_limit_per_min, r.burst_limit) == (250, 8000, 100, 10)
    assert s.tls.mode == "plaintext"
    limits = s.limits
    assert (limits.caller_quota_per_min, limits.caller_burst) == (30, 15)
    assert (limits.caller_rpc_per_min, limits.caller_rpc_burst) == (6000, 200)
    assert (limits.max_receive_message_bytes, limits.max_send_message_bytes) == (1024 * 1024, 4 * 1024 * 1024)
    assert (limits.max_concurrent_streams, limits.max_concurrent_rpcs) == (100, 1000)
    assert (limits.keepalive_time_secs, limits.keepalive_timeout_secs, limits.min_ping_interval_secs) == (60, 20, 10)
    assert (limits.permit_pings_without_calls, limits.max_ping_strikes) == (True, 2)
    assert (limits.max_connection_age_secs, limits.max_connection_age_grace_secs) == (1800, 60)
    cache = s.cache
    assert (cache.stats_ttl_secs, cache.achievements_ttl_secs) == (30, 30)
    assert (cache.profile_ttl_secs, cache.vanity_ttl_secs, cache.catalog_ttl_secs) == (300, 3600, 21600)
    assert cache.max_players == 10_000
    shared = s.shared_state
    assert (shared.enabled, shared.redis_key_prefix, shared.replicas) == (False, "dbd-playerstats:", 1)
    assert (shared.redis_retry_secs, shared.redis_timeout_secs) == (5, 1)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"CB_MAX_FAILS": "abc"}, "invalid CB_MAX_FAILS='abc': expected a whole number >= 1"),
        ({"MAX_RETRIES": "-1"}, "invalid MAX_RETRIES='-1'"),
        ({"API_TIMEOUT_SECS": "nan"}, "invalid API_TIMEOUT_SECS='nan'"),
        ({"BASE_BACKOFF_MS": "500", "MAX_BACKOFF_MS": "100"}, "invalid MAX_BACKOFF_MS=100: must be at least"),
        ({"PLAYERSTATS_LISTEN": "nohostport"}, "invalid PLAYERSTATS_LISTEN='nohostport'"),
        ({"STEAM_API_BASE_URL": "ftp://x"}, "invalid STEAM_API_BASE_URL='ftp://x'"),
        ({"RATE_LIMIT_PER_MIN": "0"}, "invalid RATE_LIMIT_PER_MIN='0'"),
        ({"PLAYERSTATS_CALLER_QUOTA_PER_MIN": "-1"}, "invalid PLAYERSTATS_CALLER_QUOTA_PER_MIN='-1'"),
        ({"PLAYERSTATS_CALLER_BURST": "0"}, "invalid PLAYERSTATS_CALLER_BURST='0': expected a whole number >= 1"),
        ({"PLAYERSTATS_MAX_RECV_MSG_BYTES": "100"}, "invalid PLAYERSTATS_MAX_RECV_MSG_BYTES='100'"),
        ({"PLAYERSTATS_PERMIT_PINGS_WITHOUT_CALLS": "maybe"}, "invalid PLAYERSTATS_PERMIT_PINGS_WITHOUT_CALLS='maybe'"),
        ({"PLAYERSTATS_MAX_CONNECTION_AGE_SECS": "-5"}, "invalid PLAYERSTATS_MAX_CONNECTION_AGE_SECS='-5'"),
        ({"PLAYERSTATS_CACHE_STATS_TTL_SECS": "-1"}, "invalid PLAYERSTATS_CACHE_STATS_TTL_SECS='-1': expected"),
        ({"PLAYERSTATS_CACHE_CATALOG_TTL_SECS": "inf"}, "invalid PLAYERSTATS_CACHE_CATALOG_TTL_SECS='inf'"),
        ({"PLAYERSTATS_CACHE_MAX_PLAYERS": "0"}, "invalid PLAYERSTATS_CACHE_MAX_PLAYERS='0': expected a whole"),
        ({"REDIS_URL": "http://:pw@h"}, "invalid REDIS_URL='<redacted>': expected empty (in-process state) or a"),
        ({"REDIS_URL": "redis://:pw@h:99999"}, "invalid REDIS_URL='<redacted>'"),
        ({"PLAYERSTATS_REPLICAS": "0"}, "invalid PLAYERSTATS_REPLICAS='0': expected a whole number >= 1"),
        ({"PLAYERSTATS_REDIS_KEY_PREFIX": "a b"}, "invalid PLAYERSTATS_REDIS_KEY_PREFIX='a b': expected 1 to 100"),
        ({"PLAYERSTATS_REDIS_RETRY_SECS": "0"}, "invalid PLAYERSTATS_REDIS_RETRY_SECS='0': expected a number"),
        ({"PLAYERSTATS_REDIS_TIMEOUT_SECS": "x"}, "invalid PLAYERSTATS_REDIS_TIMEOUT_SECS='x': expected a number"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], fragment: str) -> None:
    """Each bad value raises ConfigError whose single line names variable, value and what is allowed."""
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_the_key_never_shows() -> None:
    """The Steam key is absent from repr, str and the redacted configuration."""
    s = Settings.from_env({"STEAM_API_KEY": "SUPERSECRETKEY123"})
    assert s.steam.api_key.get() == "SUPERSECRETKEY123"
    for text in (repr(s), str(s), str(s.redacted())):
        assert "SUPERSECRETKEY123" not in text
    assert s.redacted()["steam"]["api_key"] == "<set>"
    assert repr(Secret("")) == "Secret('')"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2pass@redis.internal:6380/2", "redis://:***@redis.internal:6380/2"),
        ("rediss://app:hunter2pass@[::1]/0", "rediss://app:***@[::1]/0"),
        ("unix:///run/redis.sock?password=hunter2pass&db=1", "unix:/run/redis.sock?password=***&db=1"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_the_redis_password_never_shows(url: str, shown: str) -> None:
    """REDIS_URL is logged with its password as *** and hidden from repr and str."""
    s = Settings.from_env({"REDIS_URL": url})
    assert s.shared_state.redis_url.get() == url
    assert s.shared_state.redis_url.password() == ("" if shown == url else "hunter2pass")
    assert s.redacted()["shared_state"]["redis_url"] == shown
    for text in (repr(s), str(s), str(s.redacted())):
        assert "hunter2pass" not in text


# A value other than the default for every variable but the TLS files (made by the test).
A_CHANGE_OF_EACH: dict[str, str] = {
    "PLAYERSTATS_LISTEN": "127.0.0.1:1",
    "PLAYERSTATS_HTTP_LISTEN": "127.0.0.1:2",
    "PLAYERSTATS_GRACE_SECS": "3",
    "PLAYERSTATS_DRAIN_DELAY_SECS": "2",
    "PLAYERSTATS_LOG_LEVEL": "debug",
    "STEAM_API_BASE_URL": "http://127.0.0.1:9",
    "STEAM_API_KEY": "k",
    "CB_MAX_FAILS": "7",
    "CB_RESET_TIMEOUT_SECS": "9",
    "CB_HALF_OPEN_REQUESTS": "2",
    "API_TIMEOUT_SECS": "3",
    "OVERALL_TIMEOUT_SECS": "12",
    "MAX_RETRIES": "1",
    "BASE_BACKOFF_MS": "10",
    "MAX_BACKOFF_MS": "9000",
    "RATE_LIMIT_PER_MIN": "5",
    "BURST_LIMIT": "2",
    "KEY_REJECTED_PAUSE_SECS": "4",
    "PLAYERSTATS_DATA_DIR": "/tmp/x",
    "PLAYERSTATS_STORE_TIMEOUT_SECS": "9",
    "PLAYERSTATS_HISTORY_RETENTION_DAYS": "0",
    "PLAYERSTATS_WATCH_MIN_INTERVAL_SECS": "1",
    "PLAYERSTATS_WATCH_DEFAULT_INTERVAL_SECS": "90",
    "PLAYERSTATS_WATCH_MAX_PER_CALLER": "2",
    "PLAYERSTATS_WATCH_BUDGET_SHARE": "0.25",
    "DATABASE_URL": "postgresql://u@h/db",
    "STALE_STATS_MAX_AGE_SECS": "5",
    "MERGE_MIN_SURVIVOR_ADEPTS": "1",
    "MERGE_MIN_KILLER_ADEPTS": "1",
    "MERGE_MAX_SNAPSHOT_AGE_SECS": "60",
    "PLAYERSTATS_CALLER_QUOTA_PER_MIN": "0",
    "PLAYERSTATS_CALLER_BURST": "3",
    "PLAYERSTATS_CALLER_RPC_PER_MIN": "0",
    "PLAYERSTATS_CALLER_RPC_BURST": "7",
    "PLAYERSTATS_MAX_RECV_MSG_BYTES": "4096",
    "PLAYERSTATS_MAX_SEND_MSG_BYTES": "65536",
    "PLAYERSTATS_MAX_CONCURRENT_STREAMS": "7",
    "PLAYERSTATS_MAX_CONCURRENT_RPCS": "0",
    "PLAYERSTATS_KEEPALIVE_TIME_SECS": "30",
    "PLAYERSTATS_KEEPALIVE_TIMEOUT_SECS": "5",
    "PLAYERSTATS_MIN_PING_INTERVAL_SECS": "1",
    "PLAYERSTATS_PERMIT_PINGS_WITHOUT_CALLS": "false",
    "PLAYERSTATS_MAX_PING_STRIKES": "0",
    "PLAYERSTATS_MAX_CONNECTION_AGE_SECS": "0",
    "PLAYERSTATS_MAX_CONNECTION_AGE_GRACE_SECS": "5",
    "PLAYERSTATS_CACHE_STATS_TTL_SECS": "0",
    "PLAYERSTATS_CACHE_ACHIEVEMENTS_TTL_SECS": "5",
    "PLAYERSTATS_CACHE_PROFILE_TTL_SECS": "60",
    "PLAYERSTATS_CACHE_PLAYER_ERROR_TTL_SECS": "0",
    "PLAYERSTATS_CACHE_VANITY_TTL_SECS": "0.5",
    "PLAYERSTATS_CACHE_CATALOG_TTL_SECS": "3600",
    "PLAYERSTATS_CACHE_MAX_PLAYERS": "1",
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "PLAYERSTATS_REDIS_KEY_PREFIX": "other:",
    "PLAYERSTATS_REPLICAS": "3",
    "PLAYERSTATS_REDIS_RETRY_SECS": "1",
    "PLAYERSTATS_REDIS_TIMEOUT_SECS": "0.2",
}


def test_every_default_is_read(pki: Pki, tmp_path: Path) -> None:
    """Every variable in DEFAULTS changes the settings when set (no documented variable is ignored)."""
    tls = pki.tls_env(mutual=False)
    base = Settings.from_env(tls)
    changed = {
        **A_CHANGE_OF_EACH,
        # The same certificate and key under other paths: settings record which files were configured.
        "PLAYERSTATS_TLS_CERT": str(shutil.copy(pki.server_cert, tmp_path / "copy.pem")),
        "PLAYERSTATS_TLS_KEY": str(shutil.copy(pki.server_key, tmp_path / "copy.key")),
        "PLAYERSTATS_TLS_CLIENT_CA": str(pki.ca_cert),
    }
    assert set(changed) == set(DEFAULTS)
    for name, value in changed.items():
        assert Settings.from_env({**tls, name: value}) != base, name


def test_tls_files_are_read_into_tls_and_mutual_tls(pki: Pki) -> None:
    """Cert and key switch TLS on; adding a client CA makes it mutual; none of them is plaintext."""
    tls = Settings.from_env(pki.tls_env(mutual=False)).tls
    assert (tls.mode, tls.cert_file, tls.key_file, tls.client_ca_file) == (
        "tls",
        pki.server_cert,
        pki.server_key,
        None,
    )
    mutual = Settings.from_env(pki.tls_env(mutual=True)).tls
    assert (mutual.mode, mutual.client_ca_file) == ("mtls", pki.ca_cert)
    assert Settings.from_env({}).redacted()["tls"]["cert_file"] is None


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("cert-without-key", "invalid PLAYERSTATS_TLS_KEY='': required when PLAYERSTATS_TLS_CERT is set"),
        ("key-without-cert", "invalid PLAYERSTATS_TLS_CERT='': required when PLAYERSTATS_TLS_KEY is set"),
        ("client-ca-without-cert", "invalid PLAYERSTATS_TLS_CERT='': required when PLAYERSTATS_TLS_CLIENT_CA is set"),
        ("missing-cert", "invalid PLAYERSTATS_TLS_CERT='{missing}': cannot read the file: No such file"),
        ("cert-is-a-key", "invalid PLAYERSTATS_TLS_CERT='{server_key}': expected a file of PEM certificates"),
        ("key-is-a-cert", "invalid PLAYERSTATS_TLS_KEY='{server_cert}': expected the unencrypted PEM private key"),
        ("key-of-another-cert", "invalid PLAYERSTATS_TLS_KEY='{alice_key}': expected the unencrypted PEM private"),
        ("client-ca-not-pem", "invalid PLAYERSTATS_TLS_CLIENT_CA='{garbage}': expected a file of PEM certificates"),
        ("client-ca-unreadable", "invalid PLAYERSTATS_TLS_CLIENT_CA='{directory}': cannot read the file"),
    ],
)
def test_bad_tls_files_stop_start_up_naming_the_variable(pki: Pki, tmp_path: Path, case: str, fragment: str) -> None:
    """Each TLS misconfiguration is one ConfigError line naming the variable to fix, before any port is bound."""
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    paths = {
        "missing": str(tmp_path / "missing.pem"),
        "garbage": str(garbage),
        "directory": str(tmp_path),
        "server_cert": str(pki.server_cert),
        "server_key": str(pki.server_key),
        "alice_key": str(pki.alice_key),
    }
    cert, key, ca = "PLAYERSTATS_TLS_CERT", "PLAYERSTATS_TLS_KEY", "PLAYERSTATS_TLS_CLIENT_CA"
    good = {cert: paths["server_cert"], key: paths["server_key"]}
    env = {
        "cert-without-key": {cert: paths["server_cert"]},
        "key-without-cert": {key: paths["server_key"]},
        "client-ca-without-cert": {ca: str(pki.ca_cert)},
        "missing-cert": {**good, cert: paths["missing"]},
        "cert-is-a-key": {**good, cert: paths["server_key"]},
        "key-is-a-cert": {**good, key: paths["server_cert"]},
        "key-of-another-cert": {**good, key: paths["alice_key"]},
        "client-ca-not-pem": {**good, ca: paths["garbage"]},
        "client-ca-unreadable": {**good, ca: paths["directory"]},
    }[case]
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert fragment.format(**paths) in message
    assert "\n" not in message


def test_the_readme_table_is_the_one_printed_from_the_declarations() -> None:
    """The README's configuration table is exactly `python -m dbd_playerstats.config` (regenerate it, never edit)."""
    assert table_in(README.read_text(encoding="utf-8")) == markdown_table()


def test_the_table_has_one_row_per_declared_variable_and_no_name_twice() -> None:
    """Every declared variable, the telemetry ones too, is a row; no two declarations read the same variable."""
    names = [declared.name for root in DOCUMENTED for _, _, declared in every_var(root)]
    assert len(names) == len(set(names))
    rows = markdown_table().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == names
    assert set(DEFAULTS) < set(names)


def test_direct_construction_has_the_declared_defaults() -> None:
    """`Settings()` (as tests and library callers build it) equals the settings of an empty environment."""
    assert Settings() == Settings.from_env({})
    assert TelemetryVariables() == read_group(TelemetryVariables, {})


def test_the_config_command_prints_and_writes_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without arguments it prints the table; `--write FILE` replaces only what is between FILE's markers."""
    assert config_main([]) == 0
    assert capsys.readouterr().out == markdown_table()
    document = tmp_path / "doc.md"
    document.write_text(f"before\n{BEGIN}\nstale rows\n{END}\nafter\n", encoding="utf-8")
    assert config_main(["--write", str(document)]) == 0
    written = document.read_text(encoding="utf-8")
    assert written.startswith(f"before\n{BEGIN}\n")
    assert written.endswith(f"{END}\nafter\n")
    assert table_in(written) == markdown_table()
    unmarked = tmp_path / "plain.md"
    unmarked.write_text("no markers\n", encoding="utf-8")
    assert config_main(["--write", str(unmarked)]) == 1
    assert "markers" in capsys.readouterr().err
    assert unmarked.read_text(encoding="utf-8") == "no markers\n"


def test_an_empty_value_is_an_error_except_for_the_opentelemetry_variables() -> None:
    """`PLAYERSTATS_GRACE_SECS=` is refused; an empty `OTEL_*` value means unset, as the SDK reads it."""
    with pytest.raises(ConfigError, match="invalid PLAYERSTATS_GRACE_SECS='': expected a number >= 0"):
        Settings.from_env({"PLAYERSTATS_GRACE_SECS": ""})
    assert TelemetrySettings.from_env({"OTEL_TRACES_SAMPLER": " ", "OTEL_SERVICE_NAME": ""}) == TelemetrySettings()


def test_every_telemetry_variable_is_read() -> None:
    """Each declared OpenTelemetry variable changes what is read when set (none is documented but ignored)."""
    changed = {
        "OTEL_SERVICE_NAME": "other",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4317",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://metrics:4317",
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.5",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_SDK_DISABLED": "true",
        "PLAYERSTATS_METRICS_PORT": "9464",
    }
    protocol = "OTEL_EXPORTER_OTLP_PROTOCOL"  # its one allowed value is the default
    assert {*changed, protocol} == {declared.name for _, _, declared in every_var(TelemetryVariables)}
    base = read_group(TelemetryVariables, {})
    for name, value in changed.items():
        assert read_group(TelemetryVariables, {name: value}) != base, name
    assert read_group(TelemetryVariables, {protocol: "grpc"}) == base


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_declared_sampler_name_builds_a_sampler(name: str) -> None:
    """Every sampler name the declaration accepts is one `TelemetrySettings` can build."""
    settings = TelemetrySettings.from_env({"OTEL_TRACES_SAMPLER": name, "OTEL_TRACES_SAMPLER_ARG": "0.5"})
    assert settings.build_sampler() is not None


GRPC_ARGUMENT_VARIABLES = {
    "PLAYERSTATS_MAX_RECV_MSG_BYTES": "2147483647",
    "PLAYERSTATS_MAX_SEND_MSG_BYTES": "2147483647",
    "PLAYERSTATS_MAX_CONCURRENT_STREAMS": "2147483647",
    "PLAYERSTATS_MAX_PING_STRIKES": "2147483647",
    "PLAYERSTATS_KEEPALIVE_TIME_SECS": "2147483",
    "PLAYERSTATS_KEEPALIVE_TIMEOUT_SECS": "2147483",
    "PLAYERSTATS_MIN_PING_INTERVAL_SECS": "2147483",
    "PLAYERSTATS_MAX_CONNECTION_AGE_SECS": "2147483",
    "PLAYERSTATS_MAX_CONNECTION_AGE_GRACE_SECS": "2147483",
}
"""The largest value each variable that becomes a gRPC channel argument (a C int) accepts."""


async def test_the_largest_accepted_limits_are_channel_arguments_grpc_takes() -> None:
    """Each limit's upper bound still builds a server; one more is a start-up error, not a late OverflowError."""
    limits = Settings.from_env(GRPC_ARGUMENT_VARIABLES).limits
    server = grpc.aio.server(options=server_options(limits))
    await server.stop(None)
    for name, largest in GRPC_ARGUMENT_VARIABLES.items():
        too_large = str(int(largest) + 1)
        with pytest.raises(ConfigError, match=f"invalid {name}='{too_large}': expected a .* to {largest}$"):
            Settings.from_env({name: too_large})
