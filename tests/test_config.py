"""Settings: defaults, TOML file, TRADINGFLOOR_* variables and their precedence; the JWT secret."""

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from tradingfloor.config import (
    JWT_SECRET_FILE_NAME,
    ConfigError,
    Settings,
    ensure_jwt_secret,
    load_settings,
)

SECRET = "s" * 40


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TRADINGFLOOR_* variable of the machine or CI leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("TRADINGFLOOR_"):
            monkeypatch.delenv(name)


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tradingfloor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    settings = load_settings(None)

    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.data_dir == Path("data")
    assert settings.database_url == "sqlite:///data/tradingfloor.db"
    assert settings.journal == "file"
    assert settings.redis_url is None
    assert settings.jwt_secret is None
    assert settings.access_token_ttl_s == 900
    assert settings.refresh_token_ttl_s == 7 * 24 * 3600
    assert settings.orders_per_second_max == 100
    assert settings.rate_limit_ban_s == 60
    assert settings.fsync is True


def test_toml_file_overrides_defaults(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path,
        'host = "0.0.0.0"\nport = 9100\njournal = "jetstream"\nfsync = false\n'
        'redis_url = "redis://127.0.0.1:6379/0"\n',
    )

    settings = load_settings(config)

    assert (settings.host, settings.port, settings.journal) == ("0.0.0.0", 9100, "jetstream")
    assert settings.fsync is False
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


def test_environment_wins_over_toml_and_overrides_win_over_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_toml(tmp_path, "port = 9100\naccess_token_ttl_s = 60\nrate_limit_ban_s = 5\n")
    monkeypatch.setenv("TRADINGFLOOR_PORT", "9200")
    monkeypatch.setenv("TRADINGFLOOR_ACCESS_TOKEN_TTL_S", "120")

    from_environment = load_settings(config)
    overridden = load_settings(config, port=9300)

    assert from_environment.port == 9200
    assert from_environment.access_token_ttl_s == 120
    assert from_environment.rate_limit_ban_s == 5  # only in the file
    assert overridden.port == 9300
    assert overridden.access_token_ttl_s == 120


def test_database_url_follows_data_dir_unless_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_toml(tmp_path, f'data_dir = "{tmp_path / "state"}"\n')

    from_file = load_settings(config)
    monkeypatch.setenv("TRADINGFLOOR_DATABASE_URL", "postgresql+psycopg://u@h/db")
    explicit = load_settings(config)

    assert from_file.database_url == f"sqlite:///{tmp_path / 'state' / 'tradingfloor.db'}"
    assert explicit.database_url == "postgresql+psycopg://u@h/db"


def test_unrelated_tradingfloor_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADINGFLOOR_REQUIRE_SERVICES", "1")

    assert load_settings(None).port == 8000


@pytest.mark.parametrize(
    "text",
    ["portt = 1\n", 'journal = "kafka"\n', "port = 70000\n", "access_token_ttl_s = 0\n"],
    ids=["unknown-name", "unknown-journal", "port-range", "zero-ttl"],
)
def test_invalid_file_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValidationError):
        load_settings(write_toml(tmp_path, text))


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")


def test_short_jwt_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as raised:
        load_settings(None, jwt_secret="hunter2-is-short")

    assert "jwt_secret" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_password_hashing_needs_the_memory_argon2_takes_per_lane() -> None:
    with pytest.raises(ValidationError, match="at least 8 times password_hash_parallelism"):
        load_settings(None, password_hash_memory_kib=16, password_hash_parallelism=4)
    load_settings(None, password_hash_memory_kib=32, password_hash_parallelism=4)


def test_settings_are_immutable() -> None:
    settings = load_settings(None)

    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_loading_settings_writes_nothing(tmp_path: Path) -> None:
    load_settings(None, data_dir=tmp_path / "data")

    assert not (tmp_path / "data").exists()


def test_jwt_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path / "data")

    first = ensure_jwt_secret(settings)
    second = ensure_jwt_secret(load_settings(None, data_dir=tmp_path / "data"))

    path = tmp_path / "data" / JWT_SECRET_FILE_NAME
    assert first == second
    assert len(first) == 64
    assert path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [JWT_SECRET_FILE_NAME]  # no temp left


def test_configured_jwt_secret_wins_and_writes_no_file(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path, jwt_secret=SECRET)

    assert ensure_jwt_secret(settings) == SECRET
    assert not (tmp_path / JWT_SECRET_FILE_NAME).exists()


def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / JWT_SECRET_FILE_NAME
    path.write_text("x" * 64)
    path.chmod(0o644)

    with pytest.raises(ConfigError, match="chmod 600"):
        ensure_jwt_secret(Settings(data_dir=tmp_path))


def test_a_hot_standby_needs_nats_and_the_jetstream_journal_and_a_ttl_past_two_renewals() -> None:
    with pytest.raises(ValidationError, match="transport = nats and journal = jetstream"):
        load_settings(None, shard_standby=True, transport="nats")
    nats_jetstream = {"shard_standby": True, "transport": "nats", "journal": "jetstream"}
    with pytest.raises(ValidationError, match="at least twice"):
        load_settings(None, **nats_jetstream, shard_lease_renew_ms=600)

    settings = load_settings(None, **nats_jetstream)

    assert (settings.shard_lease_renew_ms, settings.shard_lease_ttl_ms) == (200, 1_000)
    assert (settings.nats_lease_bucket, settings.nats_roles_bucket) == ("TF_LEASES", "TF_ROLES")


def test_surveillance_is_on_by_default_and_its_owners_are_bounded_names() -> None:
    settings = Settings()
    assert settings.surveillance_enabled and settings.surveillance_owners == {}
    owned = Settings(surveillance_owners={"acct-1": "family", "acct-2": "family"})
    assert owned.surveillance_owners["acct-2"] == "family"
    for owners in ({"a b": "x"}, {"a": ""}, {"a": "x" * 65}):
        with pytest.raises(ValidationError):
            Settings(surveillance_owners=owners)
