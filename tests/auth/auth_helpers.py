"""Shared by the AuthService tests: a movable clock, cheap hashing, short cuts, and the
fixtures (named apart from their functions, so that a test module imports them without
shadowing its parameters): one service per test, over SQLite and over a real PostgreSQL."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, text

from postgres_db import scratch_database
from tradingfloor.config import Settings, load_settings
from tradingfloor.identity import AuthError, AuthErrorCode, AuthService
from tradingfloor.store import make_engine, upgrade

SECRET = "test-secret-" + "x" * 60
START_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01 00:00:00 UTC
PASSWORD = "correct horse battery"
# Cheap argon2id parameters: the tests check behaviour, not hashing cost.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class FakeClock:
    def __init__(self) -> None:
        self.now_ns = START_NS

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1_000_000_000)

    def totp(self, secret: str, steps_ahead: int = 0) -> str:
        """The code an authenticator shows now (or `steps_ahead` 30 s steps later)."""
        return pyotp.TOTP(secret).at(self.now_ns // 1_000_000_000 + 30 * steps_ahead)


def code_of(call: Any, *args: Any) -> AuthErrorCode:
    with pytest.raises(AuthError) as raised:
        call(*args)
    return raised.value.code


def enroll(auth: AuthService, user_id: int) -> Any:
    """Enrol a second factor with a fresh admin-issued token: the enrolment."""
    token, _ = auth.issue_enrollment(user_id)
    return auth.enroll_totp(user_id, token)


def enable_totp(auth: AuthService, clock: FakeClock, user_id: int) -> str:
    secret: str = enroll(auth, user_id).secret
    auth.confirm_totp(user_id, clock.totp(secret))
    clock.advance(30)  # the confirming code's step is used up
    return secret


@pytest.fixture(name="postgres_url", scope="session")
def postgres_url_fixture() -> Iterator[str]:
    """One migrated PostgreSQL database for this session (each xdist worker has its own)."""
    with scratch_database() as url:
        upgrade(url)
        yield url


@pytest.fixture(name="engine", params=["sqlite", "postgresql"])
def engine_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'auth.db'}"
        upgrade(url)
        sqlite_engine = make_engine(url)
        yield sqlite_engine
        sqlite_engine.dispose()
        return
    postgres_engine = make_engine(request.getfixturevalue("postgres_url"))
    yield postgres_engine
    with postgres_engine.begin() as connection:
        connection.execute(
            text(
                "TRUNCATE users, api_keys, refresh_tokens, auth_events, account_balances "
                "RESTART IDENTITY CASCADE"
            )
        )
    postgres_engine.dispose()


@pytest.fixture(name="settings")
def settings_fixture(tmp_path: Path) -> Settings:
    return load_settings(None, data_dir=tmp_path, jwt_secret=SECRET)


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="auth")
def auth_fixture(engine: Engine, settings: Settings, clock: FakeClock) -> AuthService:
    return AuthService(engine, settings, clock, password_hasher=FAST_HASHER)
