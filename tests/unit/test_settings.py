"""Settings are read once from the environment; a bad value is one line naming the variable."""

import pytest

from dbd_playerstats.settings import DEFAULTS, ConfigError, Secret, Settings


def test_defaults_match_the_documented_values() -> None:
    """With an empty environment every setting has its documented default."""
    s = Settings.from_env({})
    assert s.server.listen == "[::]:50051"
    assert s.steam.base_url == "https://api.steampowered.com"
    r = s.resilience
    assert (r.cb_max_fails, r.cb_reset_timeout_secs, r.cb_half_open_requests) == (5, 60, 3)
    assert (r.api_timeout_secs, r.overall_timeout_secs, r.max_retries) == (10, 30, 3)
    assert (r.base_backoff_ms, r.max_backoff_ms, r.rate_limit_per_min, r.burst_limit) == (250, 8000, 100, 10)


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


def test_every_default_is_read() -> None:
    """Every variable in DEFAULTS changes the settings when set (no documented variable is ignored)."""
    base = Settings.from_env({})
    changed = {
        "PLAYERSTATS_LISTEN": "127.0.0.1:1",
        "PLAYERSTATS_GRACE_SECS": "3",
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
        "PLAYERSTATS_DATA_DIR": "/tmp/x",
        "DATABASE_URL": "postgresql://u@h/db",
        "STALE_STATS_MAX_AGE_SECS": "5",
        "MERGE_MIN_SURVIVOR_ADEPTS": "1",
        "MERGE_MIN_KILLER_ADEPTS": "1",
        "MERGE_MAX_SNAPSHOT_AGE_SECS": "60",
    }
    assert set(changed) == set(DEFAULTS)
    for name, value in changed.items():
        assert Settings.from_env({name: value}) != base, name
