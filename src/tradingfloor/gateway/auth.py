"""Users, passwords, tokens, second factor and API keys: who is calling, and what may they do.

Three ways in, one result, a `Principal`:

* A person logs in with username and password (argon2id) and gets a `TokenPair`: a short-lived
  access token (JWT, HS256) and a long-lived opaque refresh token. With TOTP enrolled, the
  person then proves the second factor (`verify_totp`) and gets tokens whose `mfa` claim is
  true. Refresh tokens rotate on every use; presenting a used one again revokes every refresh
  token of that user, since one of the two holders must be a thief.
* A bot presents an API key: a key id and a secret shown once at creation. Keys count as
  second-factor verified: they are created by a person who passed the second factor where the
  gateway requires it, they are 256-bit random secrets no one types, and a bot has no phone.
  Each key carries its own scopes, at most those of its owner's role.
* Every request checks the principal with `Principal.require(scope=..., mfa=..., role=...)`.

The second factor is not optional: a password alone opens a session that can do nothing but
prove the second factor (`verify_totp`) or, for a user who has none yet, enrol one. Enrolment
needs a one-time token an admin issues (`issue_enrollment`: at account opening, or later when a
phone is lost, which also removes the old factor), delivered out of band; so a stolen password
alone can neither trade nor enrol the thief's phone. API keys are made by a session that proved
the second factor, or by a key with the `keys` scope, and never with more scopes than their
maker has.

Guessing is throttled per user: `login_failures_max` wrong passwords in a row, or as many wrong
second-factor codes, lock the user out for `lockout_s`, doubling with each further lockout up to
`lockout_max_s`; a whole sign-in (password and code) ends the doubling. A locked-out user is
refused before any password is checked, so guesses during a lockout cost nothing and count
nothing. (Per source address, `gateway.lockout.SourceGuard` adds a second limit.) Every sign-in,
failure, lockout, key and second-factor change and admin action is written to `auth_events`.

A user whose trading account is blocked (the kill switch) or closed cannot sign in, refresh a
session or use an API key; a disabled user neither.

Costs: `login` runs argon2 once (tens of ms: run it off the event loop). `authenticate_token`
and `authenticate_api_key` sit on the order-entry path and never touch argon2: a JWT is an
HMAC check (and a dictionary hit for a token seen before); an API key secret is compared by
sha256 in constant time against a copy cached for `api_key_cache_ttl_s`. Plain sha256 is enough
for API key secrets: slow hashes protect guessable passwords, and a 256-bit random secret
cannot be guessed, so hashing only has to make a stolen database useless.

Access tokens are stateless: disabling a user stops new logins, refreshes and API keys at once,
stops the user's access tokens at once on this gateway, and on other gateways when those
tokens expire (`access_token_ttl_s`).
"""

import base64
import contextlib
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, NamedTuple, NoReturn

import jwt
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine, Row, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from tradingfloor.config import Settings, ensure_jwt_secret
from tradingfloor.domain.ids import ACCOUNT_ID_LENGTH_MAX, is_account_id
from tradingfloor.gateway.lockout import Lockout, record_auth_event
from tradingfloor.store.database import SQLITE_BEGIN_OPTION
from tradingfloor.store.readmodels import account_balances
from tradingfloor.store.schema import (
    API_KEY_ID_LENGTH_MAX,
    LABEL_LENGTH_MAX,
    api_keys,
    refresh_tokens,
    users,
)
from tradingfloor.store.schema import auth_events as auth_events_table

NS_PER_S = 1_000_000_000
PASSWORD_LENGTH_MIN = 8
PASSWORD_LENGTH_MAX = 1024
"""argon2 takes any length; a cap keeps a megabyte "password" from being a cheap attack."""
TOTP_STEP_S = 30
TOTP_DRIFT_STEPS = 1
"""Codes of the step before and after the current one are accepted: phones' clocks drift."""
TOTP_ISSUER = "TradingFloor"
JWT_ALGORITHM = "HS256"
API_KEY_ID_PREFIX = "TF"
API_KEY_SECRET_LENGTH_MAX = 128
TOKEN_LENGTH_MAX = 4096

ACCOUNT_ID_RULE = f"1 to {ACCOUNT_ID_LENGTH_MAX} of A-Z a-z 0-9 _ . @ -, a letter or digit first"
ACCOUNT_STATUSES_LOCKED_OUT = frozenset({"blocked", "closed"})
"""Account statuses (as the read models write them) whose users may not sign in."""

_USERNAME = re.compile(r"[a-z0-9][a-z0-9_.@-]{0,63}")
_TOTP_CODE = re.compile(r"[0-9]{6}")
_API_KEY_ID = re.compile(API_KEY_ID_PREFIX + r"[A-Z2-7]{16}")
"""The prefix and the base32 of 10 random bytes: anything else is no key id, unqueried."""
_JWT_OPTIONS: Any = {
    "require": ["sub", "exp", "iat", "jti"],
    # Time is checked against the injected clock below, not PyJWT's own.
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
}


class AuthErrorCode(IntEnum):
    """Stable codes of the auth area (4xxx, see domain.reasons); each has a message."""

    INVALID_CREDENTIALS = 4001
    TOKEN_EXPIRED = 4002
    TOKEN_INVALID = 4003
    SECOND_FACTOR_REQUIRED = 4004
    INVALID_SECOND_FACTOR = 4005
    FORBIDDEN = 4006
    RATE_LIMITED = 4007
    USER_EXISTS = 4008
    WEAK_PASSWORD = 4009
    USER_DISABLED = 4010
    REFRESH_TOKEN_REUSED = 4011
    SECOND_FACTOR_NOT_ENROLLED = 4012
    SECOND_FACTOR_ALREADY_ENABLED = 4013
    UNKNOWN_USER = 4014
    INVALID_ARGUMENT = 4015
    TOO_MANY_API_KEYS = 4016
    UNKNOWN_API_KEY = 4017
    TEMPORARILY_BANNED = 4018
    TOO_MANY_ATTEMPTS = 4019
    ACCOUNT_BLOCKED = 4020
    ENROLLMENT_TOKEN_INVALID = 4021

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def http_status(self) -> int:
        """The HTTP status a gateway answers with (401 asks the client to authenticate)."""
        return _HTTP_STATUS[self]


_MESSAGES: dict[AuthErrorCode, str] = {
    AuthErrorCode.INVALID_CREDENTIALS: "invalid credentials",
    AuthErrorCode.TOKEN_EXPIRED: "token expired",
    AuthErrorCode.TOKEN_INVALID: "token invalid",
    AuthErrorCode.SECOND_FACTOR_REQUIRED: "second factor required",
    AuthErrorCode.INVALID_SECOND_FACTOR: "invalid second factor code",
    AuthErrorCode.FORBIDDEN: "insufficient scope or role",
    AuthErrorCode.RATE_LIMITED: "too many requests",
    AuthErrorCode.USER_EXISTS: "username already taken",
    AuthErrorCode.WEAK_PASSWORD: (
        f"password must have {PASSWORD_LENGTH_MIN} to {PASSWORD_LENGTH_MAX} characters"
    ),
    AuthErrorCode.USER_DISABLED: "user disabled",
    AuthErrorCode.REFRESH_TOKEN_REUSED: "refresh token already used; all sessions revoked",
    AuthErrorCode.SECOND_FACTOR_NOT_ENROLLED: "no second factor enrolled",
    AuthErrorCode.SECOND_FACTOR_ALREADY_ENABLED: "second factor already enabled",
    AuthErrorCode.UNKNOWN_USER: "no such user",
    AuthErrorCode.INVALID_ARGUMENT: "invalid argument",
    AuthErrorCode.TOO_MANY_API_KEYS: "too many API keys",
    AuthErrorCode.UNKNOWN_API_KEY: "no such API key",
    AuthErrorCode.TEMPORARILY_BANNED: "temporarily banned for exceeding the request rate",
    AuthErrorCode.TOO_MANY_ATTEMPTS: "too many failed sign-in attempts: locked out for now",
    AuthErrorCode.ACCOUNT_BLOCKED: "the trading account is blocked or closed",
    AuthErrorCode.ENROLLMENT_TOKEN_INVALID: "enrolment token invalid, used or expired",
}

_HTTP_STATUS: dict[AuthErrorCode, int] = {
    AuthErrorCode.INVALID_CREDENTIALS: 401,
    AuthErrorCode.TOKEN_EXPIRED: 401,
    AuthErrorCode.TOKEN_INVALID: 401,
    # RFC 9470 (step-up authentication) answers a missing second factor with 401.
    AuthErrorCode.SECOND_FACTOR_REQUIRED: 401,
    AuthErrorCode.INVALID_SECOND_FACTOR: 401,
    AuthErrorCode.FORBIDDEN: 403,
    AuthErrorCode.RATE_LIMITED: 429,
    AuthErrorCode.USER_EXISTS: 409,
    AuthErrorCode.WEAK_PASSWORD: 422,
    AuthErrorCode.USER_DISABLED: 403,
    AuthErrorCode.REFRESH_TOKEN_REUSED: 401,
    AuthErrorCode.SECOND_FACTOR_NOT_ENROLLED: 409,
    AuthErrorCode.SECOND_FACTOR_ALREADY_ENABLED: 409,
    AuthErrorCode.UNKNOWN_USER: 404,
    AuthErrorCode.INVALID_ARGUMENT: 422,
    AuthErrorCode.TOO_MANY_API_KEYS: 409,
    AuthErrorCode.UNKNOWN_API_KEY: 404,
    AuthErrorCode.TEMPORARILY_BANNED: 429,
    AuthErrorCode.TOO_MANY_ATTEMPTS: 429,
    AuthErrorCode.ACCOUNT_BLOCKED: 403,
    AuthErrorCode.ENROLLMENT_TOKEN_INVALID: 403,
}


class AuthError(Exception):
    """An expected auth failure: a stable `code` and a message fit for the client."""

    def __init__(
        self, code: AuthErrorCode, message: str | None = None, retry_after_s: int | None = None
    ) -> None:
        self.code = code
        self.message = message if message is not None else code.message
        self.retry_after_s = retry_after_s
        """Seconds until trying again can succeed (Retry-After), for a lockout."""
        super().__init__(f"{code.value} {self.message}")


class Role(StrEnum):
    TRADER = "trader"
    ADMIN = "admin"


class Scope(StrEnum):
    READ = "read"
    TRADE = "trade"
    ADMIN = "admin"
    KEYS = "keys"
    """Create, list and revoke the user's API keys (never with more scopes than one's own)."""


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.TRADER: frozenset({Scope.READ, Scope.TRADE, Scope.KEYS}),
    Role.ADMIN: frozenset({Scope.READ, Scope.TRADE, Scope.ADMIN, Scope.KEYS}),
}
"""What a person's tokens may do, and the most an API key of that person may carry."""

_ROLE_RANK = {Role.TRADER: 0, Role.ADMIN: 1}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: int
    account_id: str
    role: Role
    scopes: frozenset[Scope]
    mfa: bool
    """True when the second factor was proved (always true for an API key)."""
    api_key_id: str | None = None
    """The key used, or None for an access token."""

    def require(
        self, scope: Scope | None = None, mfa: bool = True, role: Role | None = None
    ) -> None:
        """Raise `AuthError` unless the caller has `scope`, the second factor if `mfa`, and
        `role` or a higher one (an admin may do what a trader may)."""
        if role is not None and _ROLE_RANK[self.role] < _ROLE_RANK[role]:
            raise AuthError(AuthErrorCode.FORBIDDEN, f"role {role.value} required")
        if scope is not None and scope not in self.scopes:
            raise AuthError(AuthErrorCode.FORBIDDEN, f"scope {scope.value} required")
        if mfa and not self.mfa:
            raise AuthError(AuthErrorCode.SECOND_FACTOR_REQUIRED)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    account_id: str
    totp_enabled: bool
    created_ts: int
    disabled: bool


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_expires_ts: int
    refresh_expires_ts: int
    token_type: str = "bearer"


@dataclass(frozen=True, slots=True)
class TotpEnrollment:
    secret: str
    """Base32, for typing into an authenticator by hand."""
    provisioning_uri: str
    """An otpauth:// URI, for a QR code."""


class ApiKeyCredentials(NamedTuple):
    """A new key: the secret exists only here, the database keeps its hash."""

    key_id: str
    secret: str


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    key_id: str
    user_id: int
    scopes: frozenset[Scope]
    label: str
    created_ts: int
    revoked: bool


@dataclass(frozen=True, slots=True)
class _CachedApiKey:
    secret_digest: bytes
    principal: Principal
    expires_ns: int
    """When this copy must be read again from the database."""


class AuthService:
    """Users, sessions and keys over one database; safe to share between threads.

    `clock` returns integer nanoseconds since the epoch; tests move it to expire tokens and
    to produce TOTP codes at a chosen time. `password_hasher` defaults to argon2id with
    argon2-cffi's RFC 9106 parameters.
    """

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
        self._hasher = password_hasher if password_hasher is not None else PasswordHasher()
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
        self._api_keys: dict[str, _CachedApiKey] = {}
        self._disabled_user_ids: set[int] = set()
        self._blocked_accounts: set[str] = set()

    # ------------------------------------------------------------------ users

    def create_user(
        self,
        username: str,
        password: str,
        role: Role | str = Role.TRADER,
        account_id: str | None = None,
        actor_user_id: int | None = None,
        source: str = "",
    ) -> User:
        """A new user, without a second factor yet (see `issue_enrollment`). Usernames are
        case-insensitive (kept in lower case); `account_id`, the trading account the user trades
        for, defaults to the username."""
        name = _normalize_username(username)
        _check_password(password)
        try:
            role = Role(role)
        except ValueError:
            raise AuthError(AuthErrorCode.INVALID_ARGUMENT, f"unknown role {role!r}") from None
        account = name if account_id is None else account_id
        if not is_account_id(account):
            raise AuthError(AuthErrorCode.INVALID_ARGUMENT, f"account id: {ACCOUNT_ID_RULE}")
        password_hash = self._hasher.hash(password)
        now = self._clock()
        try:
            with self._engine.begin() as connection:
                user_id = connection.execute(
                    insert(users)
                    .values(
                        username=name,
                        password_hash=password_hash,
                        role=role.value,
                        account_id=account,
                        totp_enabled=False,
                        created_ts=now,
                        disabled=False,
                    )
                    .returning(users.c.id)
                ).scalar_one()
                record_auth_event(
                    connection,
                    now,
                    "user_created",
                    user_id=user_id,
                    username=name,
                    source=source,
                    detail=f"role {role.value}, account {account}",
                    actor_user_id=actor_user_id,
                )
        except IntegrityError:
            raise AuthError(AuthErrorCode.USER_EXISTS) from None
        return User(user_id, name, role, account, False, now, False)

    def has_users(self) -> bool:
        with self._engine.connect() as connection:
            return connection.execute(select(users.c.id).limit(1)).first() is not None

    def user_by_name(self, username: str) -> User:
        name = _normalize_username(username)
        with self._engine.connect() as connection:
            row = connection.execute(select(users).where(users.c.username == name)).first()
        if row is None:
            raise AuthError(AuthErrorCode.UNKNOWN_USER)
        return _user_from_row(row)

    def get_user(self, user_id: int) -> User:
        with self._engine.connect() as connection:
            row = _user_row(connection, user_id)
        return _user_from_row(row)

    def user_state(self, user_id: int) -> dict[str, Any]:
        """What an admin sees of a user: role, account, factor, lockout, disabled."""
        with self._engine.connect() as connection:
            row = _user_row(connection, user_id)
            live_keys = connection.execute(
                select(func.count())
                .select_from(api_keys)
                .where(api_keys.c.user_id == user_id, ~api_keys.c.revoked)
            ).scalar_one()
        now = self._clock()
        return {
            "user_id": row.id,
            "username": row.username,
            "role": row.role,
            "account": row.account_id,
            "totp_enabled": row.totp_enabled,
            "enrollment_pending": row.enrollment_token_hash is not None
            and (row.enrollment_expires_ts or 0) > now,
            "disabled": row.disabled,
            "failed_passwords": row.failed_passwords,
            "failed_codes": row.failed_codes,
            "lockouts": row.lockouts,
            "locked_for_s": self._lockout.seconds_left(row.locked_until_ts, now),
            "api_keys": live_keys,
            "created_ts": row.created_ts,
        }

    def disable_user(
        self, user_id: int, actor_user_id: int | None = None, source: str = ""
    ) -> None:
        """Lock the user out: no login, refresh or API key from now on (see module notes)."""
        self._set_disabled(user_id, True, actor_user_id, source)
        with self._cache_lock:
            self._disabled_user_ids.add(user_id)
            for key_id in [k for k, v in self._api_keys.items() if v.principal.user_id == user_id]:
                del self._api_keys[key_id]

    def enable_user(
        self, user_id: int, actor_user_id: int | None = None, source: str = ""
    ) -> None:
        """Undo `disable_user` (sessions ended by it stay ended)."""
        self._set_disabled(user_id, False, actor_user_id, source)
        with self._cache_lock:
            self._disabled_user_ids.discard(user_id)

    def _set_disabled(
        self, user_id: int, disabled: bool, actor_user_id: int | None, source: str
    ) -> None:
        with self._writer.begin() as connection:
            result = connection.execute(
                update(users).where(users.c.id == user_id).values(disabled=disabled)
            )
            if result.rowcount != 1:
                raise AuthError(AuthErrorCode.UNKNOWN_USER)
            if disabled:
                connection.execute(
                    delete(refresh_tokens).where(refresh_tokens.c.user_id == user_id)
                )
            record_auth_event(
                connection,
                self._clock(),
                "user_disabled" if disabled else "user_enabled",
                user_id=user_id,
                source=source,
                actor_user_id=actor_user_id,
            )

    def unlock_user(
        self, user_id: int, actor_user_id: int | None = None, source: str = ""
    ) -> None:
        """End a lockout and forget the failed attempts (an admin who checked who it is)."""
        with self._writer.begin() as connection:
            result = connection.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(failed_passwords=0, failed_codes=0, lockouts=0, locked_until_ts=None)
            )
            if result.rowcount != 1:
                raise AuthError(AuthErrorCode.UNKNOWN_USER)
            record_auth_event(
                connection,
                self._clock(),
                "user_unlocked",
                user_id=user_id,
                source=source,
                actor_user_id=actor_user_id,
            )

    def block_account(self, account_id: str, blocked: bool) -> None:
        """Note on this gateway that `account_id` is blocked or closed (or no longer): its
        users' access tokens stop here at once, and their sessions end. Sign-ins, refreshes and
        API keys read the account's status from the read models on every gateway."""
        with self._cache_lock:
            if blocked:
                self._blocked_accounts.add(account_id)
                for key_id in [
                    k for k, v in self._api_keys.items() if v.principal.account_id == account_id
                ]:
                    del self._api_keys[key_id]
            else:
                self._blocked_accounts.discard(account_id)
        if blocked:
            with self._writer.begin() as connection:
                connection.execute(
                    delete(refresh_tokens).where(
                        refresh_tokens.c.user_id.in_(
                            select(users.c.id).where(users.c.account_id == account_id)
                        )
                    )
                )

    def auth_events(
        self, user_id: int | None = None, kind: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Sign-in events, newest first."""
        query = select(auth_events_table).order_by(auth_events_table.c.event_id.desc())
        if user_id is not None:
            query = query.where(auth_events_table.c.user_id == user_id)
        if kind is not None:
            query = query.where(auth_events_table.c.kind == kind)
        with self._engine.connect() as connection:
            rows = connection.execute(query.limit(limit)).all()
        return [dict(row._mapping) for row in rows]

    def record_event(self, kind: str, source: str, detail: object = "") -> None:
        """Audit an event of the edge that concerns no user (e.g. a source address blocked)."""
        with self._engine.begin() as connection:
            record_auth_event(connection, self._clock(), kind, source=source, detail=str(detail))

    # ------------------------------------------------------------------ sessions

    def login(self, username: str, password: str, source: str = "") -> TokenPair:
        """Tokens for a correct username and password, without the second factor (mfa=false):
        they may only prove it (`verify_totp`) or enrol one (`enroll_totp`).

        A locked-out user is refused (`TOO_MANY_ATTEMPTS`, with the seconds left) before the
        password is checked. An unknown username costs the same argon2 work as a wrong
        password, so timing does not tell which usernames exist."""
        name = username.strip().lower()
        now = self._clock()
        row = None
        if _USERNAME.fullmatch(name):  # no query for what cannot be a username (a NUL byte)
            with self._engine.connect() as connection:
                row = connection.execute(select(users).where(users.c.username == name)).first()
        if row is None or len(password) > PASSWORD_LENGTH_MAX:
            self._burn_password_check(password[:PASSWORD_LENGTH_MAX])
            with self._engine.begin() as connection:
                record_auth_event(
                    connection,
                    now,
                    "login_failed",
                    user_id=None if row is None else row.id,
                    username=username,
                    source=source,
                    detail="unknown user" if row is None else "password too long",
                )
            raise AuthError(AuthErrorCode.INVALID_CREDENTIALS)
        self._refuse_locked(row, now)
        try:
            self._hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            self._count_failure(row.id, users.c.failed_passwords, "login_failed", source)
        # Hashes made with older parameters are upgraded at login, the one time the password
        # is at hand; hashed before the transaction so as not to hold SQLite's lock meanwhile.
        rehashed = (
            self._hasher.hash(password)
            if self._hasher.check_needs_rehash(row.password_hash)
            else None
        )
        with self._writer.begin() as connection:
            row = _user_row(connection, row.id)
            self._refuse_disabled(connection, row)
            values: dict[str, Any] = {"failed_passwords": 0}
            if rehashed is not None:
                values["password_hash"] = rehashed
            connection.execute(update(users).where(users.c.id == row.id).values(**values))
            record_auth_event(connection, now, "login", user_id=row.id, source=source)
            return self._issue(connection, row, mfa=False, now=now, new_session=True)

    def refresh(self, refresh_token: str) -> TokenPair:
        """New tokens for a refresh token, which is used up (rotation).

        A refresh token used a second time means it was copied: every refresh token of the
        user is revoked and `REFRESH_TOKEN_REUSED` raised; the user must log in again."""
        if len(refresh_token) > TOKEN_LENGTH_MAX:
            raise AuthError(AuthErrorCode.TOKEN_INVALID)
        token_hash = _sha256_hex(refresh_token)
        now = self._clock()
        with self._writer.begin() as connection:
            row = connection.execute(
                select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
            ).first()
            if row is None:
                raise AuthError(AuthErrorCode.TOKEN_INVALID)
            if row.expires_ts <= now:
                raise AuthError(AuthErrorCode.TOKEN_EXPIRED)
            rotated = connection.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.token_hash == token_hash, ~refresh_tokens.c.revoked)
                .values(revoked=True)
            )
            if rotated.rowcount != 1:
                connection.execute(
                    update(refresh_tokens)
                    .where(refresh_tokens.c.user_id == row.user_id)
                    .values(revoked=True)
                )
                record_auth_event(connection, now, "refresh_reused", user_id=row.user_id)
            else:
                user = _user_row(connection, row.user_id)
                self._refuse_disabled(connection, user)
                return self._issue(connection, user, mfa=row.mfa, now=now, new_session=False)
        # Outside the block, so that the revocation above is committed, not rolled back.
        raise AuthError(AuthErrorCode.REFRESH_TOKEN_REUSED)

    def purge_refresh_tokens(self) -> int:
        """Delete expired refresh tokens (used ones are kept until then, to detect reuse)."""
        with self._writer.begin() as connection:
            result = connection.execute(
                delete(refresh_tokens).where(refresh_tokens.c.expires_ts <= self._clock())
            )
        return result.rowcount

    def authenticate_token(self, token: str) -> Principal:
        """The caller an access token speaks for. Hot path: no database, no argon2.

        Raises `TOKEN_EXPIRED` past `exp` by the injected clock, `TOKEN_INVALID` for a bad
        signature, another algorithm than HS256 (`none` included), or missing claims."""
        now = self._clock()
        cached = self._tokens.get(token)
        if cached is None:
            cached = self._decode_access_token(token, now)
        principal, expires_ns = cached
        if now >= expires_ns:
            raise AuthError(AuthErrorCode.TOKEN_EXPIRED)
        if self._disabled_user_ids and principal.user_id in self._disabled_user_ids:
            raise AuthError(AuthErrorCode.USER_DISABLED)
        if self._blocked_accounts and principal.account_id in self._blocked_accounts:
            raise AuthError(AuthErrorCode.ACCOUNT_BLOCKED)
        return principal

    # ------------------------------------------------------------------ second factor

    def issue_enrollment(
        self, user_id: int, actor_user_id: int | None = None, source: str = ""
    ) -> tuple[str, int]:
        """A one-time token with which the user may enrol a second factor: (token, expiry ns).

        Issuing one removes the user's current second factor (a lost phone): until the user
        enrols again, a password opens nothing but enrolment. Deliver it out of band."""
        token = secrets.token_urlsafe(24)
        now = self._clock()
        expires_ts = now + self._settings.enrollment_token_ttl_s * NS_PER_S
        with self._writer.begin() as connection:
            result = connection.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(
                    enrollment_token_hash=_sha256_hex(token),
                    enrollment_expires_ts=expires_ts,
                    totp_enabled=False,
                    totp_secret=None,
                    totp_last_step=None,
                )
            )
            if result.rowcount != 1:
                raise AuthError(AuthErrorCode.UNKNOWN_USER)
            record_auth_event(
                connection,
                now,
                "enrollment_issued",
                user_id=user_id,
                source=source,
                actor_user_id=actor_user_id,
            )
        return token, expires_ts

    def enroll_totp(self, user_id: int, enrollment_token: str, source: str = "") -> TotpEnrollment:
        """A new TOTP secret for the user, active once `confirm_totp` sees a code from it.

        Needs the enrolment token an admin issued, which this uses up; refused while a second
        factor is enabled (replacing it must not be possible with the password alone)."""
        secret = pyotp.random_base32()
        now = self._clock()
        with self._writer.begin() as connection:
            row = _user_row(connection, user_id)
            if row.totp_enabled:
                raise AuthError(AuthErrorCode.SECOND_FACTOR_ALREADY_ENABLED)
            valid = (
                row.enrollment_token_hash is not None
                and len(enrollment_token) <= TOKEN_LENGTH_MAX
                and hmac.compare_digest(row.enrollment_token_hash, _sha256_hex(enrollment_token))
                and (row.enrollment_expires_ts or 0) > now
            )
            if valid:
                connection.execute(
                    update(users)
                    .where(users.c.id == user_id)
                    .values(
                        totp_secret=secret,
                        totp_last_step=None,
                        enrollment_token_hash=None,
                        enrollment_expires_ts=None,
                    )
                )
            record_auth_event(
                connection,
                now,
                "totp_enrolled" if valid else "enrollment_refused",
                user_id=user_id,
                source=source,
            )
        if not valid:  # outside the block: the refusal's audit is committed
            raise AuthError(AuthErrorCode.ENROLLMENT_TOKEN_INVALID)
        uri = pyotp.TOTP(secret).provisioning_uri(name=row.username, issuer_name=TOTP_ISSUER)
        return TotpEnrollment(secret=secret, provisioning_uri=uri)

    def confirm_totp(self, user_id: int, code: str, source: str = "") -> TokenPair:
        """Enable the enrolled TOTP secret, given a current code from it: that code proves the
        second factor, so the answer is a session with mfa=true (the code is used up)."""
        now = self._clock()
        with self._engine.connect() as connection:
            row = _user_row(connection, user_id)
        self._refuse_locked(row, now)
        if row.totp_enabled:
            raise AuthError(AuthErrorCode.SECOND_FACTOR_ALREADY_ENABLED)
        if row.totp_secret is None:
            raise AuthError(AuthErrorCode.SECOND_FACTOR_NOT_ENROLLED)
        step = _matching_totp_step(row.totp_secret, code, now)
        if step is None:
            self._count_failure(row.id, users.c.failed_codes, "totp_failed", source)
        with self._writer.begin() as connection:
            row = _user_row(connection, user_id)
            self._refuse_disabled(connection, row)
            enabled = connection.execute(
                update(users)
                .where(users.c.id == user_id, users.c.totp_secret == row.totp_secret)
                .where(~users.c.totp_enabled, users.c.totp_secret.is_not(None))
                .values(totp_enabled=True, totp_last_step=step, failed_codes=0, lockouts=0)
            )
            if enabled.rowcount != 1:  # enrolled again, or confirmed, meanwhile
                raise AuthError(AuthErrorCode.SECOND_FACTOR_NOT_ENROLLED)
            record_auth_event(connection, now, "totp_confirmed", user_id=user_id, source=source)
            return self._issue(connection, row, mfa=True, now=now, new_session=True)

    def verify_totp(self, access_token: str, code: str, source: str = "") -> TokenPair:
        """Tokens with mfa=true for the holder of `access_token` and a current TOTP code.

        Each 30-second code works once: a code of a step at or before the last accepted one
        is refused, also when it comes through another gateway (the step is in the database).
        Wrong codes count towards a lockout as wrong passwords do."""
        principal = self.authenticate_token(access_token)
        now = self._clock()
        with self._engine.connect() as connection:
            row = _user_row(connection, principal.user_id)
        self._refuse_locked(row, now)
        if not row.totp_enabled or row.totp_secret is None:
            raise AuthError(AuthErrorCode.SECOND_FACTOR_NOT_ENROLLED)
        step = _matching_totp_step(row.totp_secret, code, now)
        if step is None:
            self._count_failure(row.id, users.c.failed_codes, "totp_failed", source)
        with self._writer.begin() as connection:
            row = _user_row(connection, principal.user_id)
            self._refuse_disabled(connection, row)
            accepted = connection.execute(
                update(users)
                .where(
                    users.c.id == row.id,
                    or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step),
                )
                .values(totp_last_step=step, failed_codes=0, lockouts=0, locked_until_ts=None)
            )
            if accepted.rowcount == 1:
                record_auth_event(connection, now, "sign_in", user_id=row.id, source=source)
                return self._issue(connection, row, mfa=True, now=now, new_session=True)
        self._count_failure(row.id, users.c.failed_codes, "totp_failed", source, "code used")

    # ------------------------------------------------------------------ API keys

    def create_api_key(
        self,
        user_id: int,
        scopes: Iterable[Scope | str],
        label: str = "",
        allowed: frozenset[Scope] | None = None,
        source: str = "",
    ) -> ApiKeyCredentials:
        """A new key for the user's bots, with `scopes`: at most those of the user's role and,
        when given, those `allowed` to its maker (a key never mints a wider one).

        The secret is returned once and never stored."""
        wanted = _parse_scopes(scopes)
        if len(label) > LABEL_LENGTH_MAX or not label.isprintable():
            raise AuthError(AuthErrorCode.INVALID_ARGUMENT, "label: printable, not too long")
        if allowed is not None and not wanted <= allowed:
            raise AuthError(AuthErrorCode.FORBIDDEN, "scopes beyond the maker's own")
        key_id = API_KEY_ID_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode("ascii")
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        with self._writer.begin() as connection:
            row = _user_row(connection, user_id)
            self._refuse_disabled(connection, row)
            if not wanted <= ROLE_SCOPES[Role(row.role)]:
                raise AuthError(AuthErrorCode.FORBIDDEN, "scopes beyond the user's role")
            live_keys = connection.execute(
                select(func.count())
                .select_from(api_keys)
                .where(api_keys.c.user_id == user_id, ~api_keys.c.revoked)
            ).scalar_one()
            if live_keys >= self._settings.api_keys_per_user_max:
                raise AuthError(AuthErrorCode.TOO_MANY_API_KEYS)
            connection.execute(
                insert(api_keys).values(
                    key_id=key_id,
                    secret_hash=_sha256_hex(secret),
                    user_id=user_id,
                    scopes=" ".join(sorted(wanted)),
                    label=label,
                    created_ts=now,
                    revoked=False,
                )
            )
            record_auth_event(
                connection,
                now,
                "key_created",
                user_id=user_id,
                source=source,
                detail=f"{key_id} {' '.join(sorted(wanted))}",
            )
        return ApiKeyCredentials(key_id, secret)

    def authenticate_api_key(self, key_id: str, secret: str) -> Principal:
        """The caller an API key speaks for. Hot path: a dictionary hit and one sha256."""
        now = self._clock()
        entry = self._api_keys.get(key_id)
        if entry is None or now >= entry.expires_ns:
            entry = self._load_api_key(key_id, now)
        if len(secret) > API_KEY_SECRET_LENGTH_MAX or not hmac.compare_digest(
            hashlib.sha256(secret.encode()).digest(), entry.secret_digest
        ):
            raise AuthError(AuthErrorCode.INVALID_CREDENTIALS)
        if self._blocked_accounts and entry.principal.account_id in self._blocked_accounts:
            raise AuthError(AuthErrorCode.ACCOUNT_BLOCKED)
        return entry.principal

    def revoke_api_key(self, key_id: str, user_id: int | None = None, source: str = "") -> None:
        """Revoke a key; with `user_id`, only if that user owns it (else `UNKNOWN_API_KEY`)."""
        condition = api_keys.c.key_id == key_id
        if user_id is not None:
            condition = and_(condition, api_keys.c.user_id == user_id)
        with self._writer.begin() as connection:
            result = connection.execute(update(api_keys).where(condition).values(revoked=True))
            if result.rowcount == 1:
                record_auth_event(
                    connection,
                    self._clock(),
                    "key_revoked",
                    user_id=user_id,
                    source=source,
                    detail=key_id,
                )
        with self._cache_lock:
            self._api_keys.pop(key_id, None)
        if result.rowcount != 1:
            raise AuthError(AuthErrorCode.UNKNOWN_API_KEY)

    def list_api_keys(self, user_id: int) -> list[ApiKeyInfo]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(api_keys).where(api_keys.c.user_id == user_id).order_by(api_keys.c.key_id)
            ).all()
        return [
            ApiKeyInfo(
                key_id=row.key_id,
                user_id=row.user_id,
                scopes=frozenset(Scope(s) for s in row.scopes.split()),
                label=row.label,
                created_ts=row.created_ts,
                revoked=row.revoked,
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ guards

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
            select(account_balances.c.status).where(account_balances.c.account == row.account_id)
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
            row = _user_row(connection, user_id)
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

    # ------------------------------------------------------------------ internals

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
        token_hash = _sha256_hex(refresh_token)
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

    def _decode_access_token(self, token: str, now: int) -> tuple[Principal, int]:
        if len(token) > TOKEN_LENGTH_MAX:
            raise AuthError(AuthErrorCode.TOKEN_INVALID)
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[JWT_ALGORITHM], options=_JWT_OPTIONS
            )
            expires_ns = int(claims["exp"]) * NS_PER_S
            int(claims["iat"])
            principal = Principal(
                user_id=int(claims["sub"]),
                account_id=str(claims["acct"]),
                role=Role(claims["role"]),
                scopes=frozenset(Scope(s) for s in claims["scopes"]),
                mfa=claims["mfa"] is True,
            )
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
            raise AuthError(AuthErrorCode.TOKEN_INVALID) from None
        if now < expires_ns:
            self._remember(self._tokens, token, (principal, expires_ns))
        return principal, expires_ns

    def _load_api_key(self, key_id: str, now: int) -> _CachedApiKey:
        if len(key_id) > API_KEY_ID_LENGTH_MAX or not _API_KEY_ID.fullmatch(key_id):
            raise AuthError(AuthErrorCode.INVALID_CREDENTIALS)
        with self._engine.connect() as connection:
            row = connection.execute(
                select(
                    api_keys.c.secret_hash,
                    api_keys.c.scopes,
                    api_keys.c.revoked,
                    api_keys.c.user_id,
                    users.c.account_id,
                    users.c.role,
                    users.c.disabled,
                    account_balances.c.status,
                )
                .join(users, users.c.id == api_keys.c.user_id)
                .outerjoin(account_balances, account_balances.c.account == users.c.account_id)
                .where(api_keys.c.key_id == key_id)
            ).first()
        if row is None or row.revoked or row.disabled:
            with self._cache_lock:
                self._api_keys.pop(key_id, None)
            raise AuthError(AuthErrorCode.INVALID_CREDENTIALS)
        if row.status in ACCOUNT_STATUSES_LOCKED_OUT:
            raise AuthError(AuthErrorCode.ACCOUNT_BLOCKED)
        principal = Principal(
            user_id=row.user_id,
            account_id=row.account_id,
            role=Role(row.role),
            scopes=frozenset(Scope(s) for s in row.scopes.split()),
            mfa=True,
            api_key_id=key_id,
        )
        entry = _CachedApiKey(
            secret_digest=bytes.fromhex(row.secret_hash),
            principal=principal,
            expires_ns=now + self._api_key_cache_ttl_ns,
        )
        self._remember(self._api_keys, key_id, entry)
        return entry

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


def _user_row(connection: Connection, user_id: int) -> Row[Any]:
    row = connection.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise AuthError(AuthErrorCode.UNKNOWN_USER)
    return row


def _user_from_row(row: Row[Any]) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        account_id=row.account_id,
        totp_enabled=row.totp_enabled,
        created_ts=row.created_ts,
        disabled=row.disabled,
    )


def _normalize_username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise AuthError(
            AuthErrorCode.INVALID_ARGUMENT,
            "username must be 1 to 64 of a-z 0-9 _ . @ -, starting with a letter or digit",
        )
    return name


def _check_password(password: str) -> None:
    if not PASSWORD_LENGTH_MIN <= len(password) <= PASSWORD_LENGTH_MAX:
        raise AuthError(AuthErrorCode.WEAK_PASSWORD)


def _parse_scopes(scopes: Iterable[Scope | str]) -> frozenset[Scope]:
    try:
        parsed = frozenset(Scope(scope) for scope in scopes)
    except ValueError:
        raise AuthError(AuthErrorCode.INVALID_ARGUMENT, "unknown scope") from None
    if not parsed:
        raise AuthError(AuthErrorCode.INVALID_ARGUMENT, "an API key needs a scope")
    return parsed


def _matching_totp_step(secret: str, code: str, now: int) -> int | None:
    """The 30-second step within the allowed drift whose code is `code`, or None."""
    code = code.strip()
    if not _TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = now // NS_PER_S // TOTP_STEP_S
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
