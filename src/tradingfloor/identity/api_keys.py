"""API keys for bots: made (never wider than their maker), checked, revoked, listed."""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from sqlalchemy import and_, func, insert, select, update

from tradingfloor.identity.base import (
    AuthBase,
    parse_scopes,
    sha256_hex,
    user_row,
)
from tradingfloor.identity.errors import AuthError, AuthErrorCode
from tradingfloor.identity.lockout import record_auth_event
from tradingfloor.identity.principal import ROLE_SCOPES, Principal, Role, Scope
from tradingfloor.identity.records import (
    ApiKeyCredentials,
    ApiKeyInfo,
    CachedApiKey,
)
from tradingfloor.identity.rules import (
    ACCOUNT_STATUSES_LOCKED_OUT,
    API_KEY_ID_FORMAT,
    API_KEY_ID_PREFIX,
    API_KEY_SECRET_LENGTH_MAX,
)
from tradingfloor.store.readmodels import account_balances
from tradingfloor.store.schema import API_KEY_ID_LENGTH_MAX, LABEL_LENGTH_MAX, api_keys, users


class ApiKeys(AuthBase):
    """The keys bots sign requests with."""

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
        wanted = parse_scopes(scopes)
        if len(label) > LABEL_LENGTH_MAX or not label.isprintable():
            raise AuthError(AuthErrorCode.INVALID_ARGUMENT, "label: printable, not too long")
        if allowed is not None and not wanted <= allowed:
            raise AuthError(AuthErrorCode.FORBIDDEN, "scopes beyond the maker's own")
        key_id = API_KEY_ID_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode("ascii")
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        with self._writer.begin() as connection:
            row = user_row(connection, user_id)
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
                    secret_hash=sha256_hex(secret),
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

    def revoke_api_key(
        self,
        key_id: str,
        user_id: int | None = None,
        source: str = "",
        actor_user_id: int | None = None,
    ) -> None:
        """Revoke a key; with `user_id`, only if that user owns it (else `UNKNOWN_API_KEY`).
        The audit names the key's owner, and `actor_user_id` (an admin revoking another's)."""
        if len(key_id) > API_KEY_ID_LENGTH_MAX or not API_KEY_ID_FORMAT.fullmatch(key_id):
            raise AuthError(AuthErrorCode.UNKNOWN_API_KEY)
        condition = api_keys.c.key_id == key_id
        if user_id is not None:
            condition = and_(condition, api_keys.c.user_id == user_id)
        with self._writer.begin() as connection:
            owner = connection.execute(select(api_keys.c.user_id).where(condition)).scalar()
            if owner is not None:
                connection.execute(update(api_keys).where(condition).values(revoked=True))
                record_auth_event(
                    connection,
                    self._clock(),
                    "key_revoked",
                    user_id=owner,
                    source=source,
                    detail=key_id,
                    actor_user_id=actor_user_id,
                )
        with self._cache_lock:
            self._api_keys.pop(key_id, None)
        if owner is None:
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

    def _load_api_key(self, key_id: str, now: int) -> CachedApiKey:
        if len(key_id) > API_KEY_ID_LENGTH_MAX or not API_KEY_ID_FORMAT.fullmatch(key_id):
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
                .outerjoin(
                    account_balances,
                    (account_balances.c.account == users.c.account_id)
                    & (account_balances.c.shard == 0),  # the status is every shard's
                )
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
        entry = CachedApiKey(
            secret_digest=bytes.fromhex(row.secret_hash),
            principal=principal,
            expires_ns=now + self._api_key_cache_ttl_ns,
        )
        self._remember(self._api_keys, key_id, entry)
        return entry
