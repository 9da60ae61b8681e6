"""The state and the guards shared by the parts of `AuthService`, and the helpers over the
`users` table they all use."""

import contextlib
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import jwt
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from sqlalchemy import Connection, Engine, Row, delete, insert, select, update

from tradingfloor.config import Settings, ensure_jwt_secret
from tradingfloor.identity.errors import AuthError, AuthErrorCode
from tradingfloor.identity.lockout import Lockout, record_auth_event
from tradingfloor.identity.principal import ROLE_SCOPES, Principal, Role, Scope
from tradingfloor.identity.records import (
    CachedApiKey,
    TokenPair,
    User,
)
from tradingfloor.identity.rules import (
    ACCOUNT_STATUSES_LOCKED_OUT,
    JWT_ALGORITHM,
    NS_PER_S,
    PASSWORD_LENGTH_MAX,
    PASSWORD_LENGTH_MIN,
    TOTP_CODE,
    TOTP_DRIFT_STEPS,
    TOTP_STEP_S,
    USERNAME,
)
from tradingfloor.store.database import SQLITE_BEGIN_OPTION
from tradingfloor.store.readmodels import account_balances
from tradingfloor.store.schema import refresh_tokens, users


class AuthBase:
    """What the parts of the identity service share: the database, the settings, the clock,
    the password hasher, the JWT key, the caches of verified tokens and keys, and the guards
    every sign-in step applies."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Callable[[], int] = time.time_ns,
        password_hasher: PasswordHasher | None = None,
    ) -> None:
        self._engine = engine
        # Transactions that read and then write take SQLite's write lock up front.
        self._writer = engine.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"})
        self._settings = settings
        self._clock = clock
        if password_hasher is None:
            password_hasher = PasswordHasher(
                time_cost=settings.password_hash_time_cost,
                memory_cost=settings.password_hash_memory_kib,
                parallelism=settings.password_hash_parallelism,
            )
        self._hasher = password_hasher
        self._dummy_hash: str | None = None
        self._secret = ensure_jwt_secret(settings)
        self._refresh_ttl_ns = settings.refresh_token_ttl_s * NS_PER_S
        self._api_key_cache_ttl_ns = settings.api_key_cache_ttl_s * NS_PER_S
        self._cache_entries_max = settings.auth_cache_entries_max
        self._lockout = Lockout(
            settings.login_failures_max, settings.lockout_s, settings.lockout_max_s
        )
        self._cache_lock = threading.Lock()
        self._tokens: dict[str, tuple[Principal, int]] = {}
        self._api_keys: dict[str, CachedApiKey] = {}
        self._disabled_user_ids: set[int] = set()
        self._blocked_accounts: set[str] = set()

    def now_ns(self) -> int:
        """The service's time (ns since the epoch), which codes and tokens are checked at."""
        return self._clock()

    def _refuse_locked(self, row: Row[Any], now: int) -> None:
        left = self._lockout.seconds_left(row.locked_until_ts, now)
        if left is not None:
            raise AuthError(AuthErrorCode.TOO_MANY_ATTEMPTS, retry_after_s=left)

    def _refuse_disabled(self, connection: Connection, row: Row[Any]) -> None:
        """Refuse a disabled user, or one whose account is blocked or closed (the read
        models' status: the engine's own, projected)."""
        if row.disabled:
            raise AuthError(AuthErrorCode.USER_DISABLED)
        status = connection.execute(
            select(account_balances.c.status).where(
                account_balances.c.account == row.account_id,
                account_balances.c.shard == 0,  # every shard has the status: the first tells
            )
        ).scalar()
        if status in ACCOUNT_STATUSES_LOCKED_OUT:
            raise AuthError(AuthErrorCode.ACCOUNT_BLOCKED)

    def _count_failure(
        self, user_id: int, counter: Any, kind: str, source: str, detail: str = ""
    ) -> NoReturn:
        """Count a wrong password or code (`counter`), lock the user out when it is one too
        many, commit, and raise the refusal."""
        now = self._clock()
        with self._writer.begin() as connection:
            row = user_row(connection, user_id)
            failures = getattr(row, counter.name) + 1
            values: dict[str, Any] = {counter.name: failures}
            locked_s = None
            if failures >= self._lockout.failures_max:
                locked_s = self._lockout.duration_s(row.lockouts)
                values.update(
                    failed_passwords=0,
                    failed_codes=0,
                    lockouts=row.lockouts + 1,
                    locked_until_ts=now + locked_s * NS_PER_S,
                )
            connection.execute(update(users).where(users.c.id == user_id).values(**values))
            record_auth_event(connection, now, kind, user_id=user_id, source=source, detail=detail)
            if locked_s is not None:
                record_auth_event(
                    connection,
                    now,
                    "user_locked",
                    user_id=user_id,
                    source=source,
                    detail=f"{locked_s} s after {failures} failures",
                )
        if counter is users.c.failed_passwords:
            raise AuthError(AuthErrorCode.INVALID_CREDENTIALS)
        raise AuthError(
            AuthErrorCode.INVALID_SECOND_FACTOR, "code already used" if detail else None
        )

    def _issue(
        self, connection: Connection, user: Row[Any], mfa: bool, now: int, new_session: bool
    ) -> TokenPair:
        role = Role(user.role)
        now_s = now // NS_PER_S
        expires_s = now_s + self._settings.access_token_ttl_s
        claims = {
            "sub": str(user.id),
            "acct": user.account_id,
            "role": role.value,
            "scopes": sorted(ROLE_SCOPES[role]),
            "mfa": mfa,
            "iat": now_s,
            "exp": expires_s,
            "jti": secrets.token_hex(16),
        }
        access_token = jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM)
        refresh_token = secrets.token_urlsafe(32)
        token_hash = sha256_hex(refresh_token)
        refresh_expires = now + self._refresh_ttl_ns
        connection.execute(
            insert(refresh_tokens).values(
                token_hash=token_hash,
                user_id=user.id,
                created_ts=now,
                expires_ts=refresh_expires,
                revoked=False,
                mfa=mfa,
            )
        )
        if new_session:
            self._drop_oldest_sessions(connection, user.id, keep=token_hash)
        return TokenPair(access_token, refresh_token, expires_s * NS_PER_S, refresh_expires)

    def _drop_oldest_sessions(self, connection: Connection, user_id: int, keep: str) -> None:
        """Keep the newest `sessions_per_user_max` live refresh tokens, `keep` among them.

        Dropped ones are deleted, not revoked: their later use is an old session, not theft."""
        newest = (
            select(refresh_tokens.c.token_hash)
            .where(
                refresh_tokens.c.user_id == user_id,
                ~refresh_tokens.c.revoked,
                refresh_tokens.c.token_hash != keep,
            )
            .order_by(refresh_tokens.c.created_ts.desc())
            .limit(self._settings.sessions_per_user_max - 1)
        )
        connection.execute(
            delete(refresh_tokens).where(
                refresh_tokens.c.user_id == user_id,
                ~refresh_tokens.c.revoked,
                refresh_tokens.c.token_hash != keep,
                refresh_tokens.c.token_hash.not_in(newest.scalar_subquery()),
            )
        )

    def _remember(self, cache: dict[str, Any], key: str, value: Any) -> None:
        """Insert into a bounded cache, dropping the oldest entries (insertion order)."""
        with self._cache_lock:
            while len(cache) >= self._cache_entries_max:
                del cache[next(iter(cache))]
            cache[key] = value

    def _burn_password_check(self, password: str) -> None:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        with contextlib.suppress(VerifyMismatchError):
            self._hasher.verify(self._dummy_hash, password)


def user_row(connection: Connection, user_id: int) -> Row[Any]:
    row = connection.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise AuthError(AuthErrorCode.UNKNOWN_USER)
    return row


def user_from_row(row: Row[Any]) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        account_id=row.account_id,
        totp_enabled=row.totp_enabled,
        created_ts=row.created_ts,
        disabled=row.disabled,
    )


def normalize_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME.fullmatch(name):
        raise AuthError(
            AuthErrorCode.INVALID_ARGUMENT,
            "username must be 1 to 64 of a-z 0-9 _ . @ -, starting with a letter or digit",
        )
    return name


def check_password(password: str) -> None:
    if not PASSWORD_LENGTH_MIN <= len(password) <= PASSWORD_LENGTH_MAX:
        raise AuthError(AuthErrorCode.WEAK_PASSWORD)


def parse_scopes(scopes: Iterable[Scope | str]) -> frozenset[Scope]:
    try:
        parsed = frozenset(Scope(scope) for scope in scopes)
    except ValueError:
        raise AuthError(AuthErrorCode.INVALID_ARGUMENT, "unknown scope") from None
    if not parsed:
        raise AuthError(AuthErrorCode.INVALID_ARGUMENT, "an API key needs a scope")
    return parsed


def matching_totp_step(secret: str, code: str, now: int) -> int | None:
    """The 30-second step within the allowed drift whose code is `code`, or None."""
    code = code.strip()
    if not TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = now // NS_PER_S // TOTP_STEP_S
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
