"""Users: made, read, listed, disabled, unlocked; blocked accounts; the audit of sign-in events."""

from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tradingfloor.domain.ids import is_account_id
from tradingfloor.identity.base import (
    AuthBase,
    check_password,
    normalize_username,
    user_from_row,
    user_row,
)
from tradingfloor.identity.errors import AuthError, AuthErrorCode
from tradingfloor.identity.lockout import record_auth_event
from tradingfloor.identity.principal import Role
from tradingfloor.identity.records import User
from tradingfloor.identity.rules import ACCOUNT_ID_RULE
from tradingfloor.store.schema import api_keys, refresh_tokens, users
from tradingfloor.store.schema import auth_events as auth_events_table


class Users(AuthBase):
    """Users and what admins do to them."""

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
        name = normalize_username(username)
        check_password(password)
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
        name = normalize_username(username)
        with self._engine.connect() as connection:
            row = connection.execute(select(users).where(users.c.username == name)).first()
        if row is None:
            raise AuthError(AuthErrorCode.UNKNOWN_USER)
        return user_from_row(row)

    def get_user(self, user_id: int) -> User:
        with self._engine.connect() as connection:
            row = user_row(connection, user_id)
        return user_from_row(row)

    def user_state(self, user_id: int) -> dict[str, Any]:
        """What an admin sees of a user: role, account, factor, lockout, disabled, keys."""
        with self._engine.connect() as connection:
            row = user_row(connection, user_id)
            live_keys = connection.execute(
                select(func.count())
                .select_from(api_keys)
                .where(api_keys.c.user_id == user_id, ~api_keys.c.revoked)
            ).scalar_one()
        return {
            **self._user_summary(row, self._clock()),
            "failed_passwords": row.failed_passwords,
            "failed_codes": row.failed_codes,
            "lockouts": row.lockouts,
            "api_keys": live_keys,
        }

    def list_users(self, after: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Users by username, the first `limit` after the username `after` (a page); each
        as `user_state` tells it, less the counts of failures and keys."""
        query = select(users).order_by(users.c.username).limit(limit)
        if after is not None:
            query = query.where(users.c.username > normalize_username(after))
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        now = self._clock()
        return [self._user_summary(row, now) for row in rows]

    def _user_summary(self, row: Row[Any], now: int) -> dict[str, Any]:
        return {
            "user_id": row.id,
            "username": row.username,
            "role": row.role,
            "account": row.account_id,
            "totp_enabled": row.totp_enabled,
            "enrollment_pending": row.enrollment_token_hash is not None
            and (row.enrollment_expires_ts or 0) > now,
            "disabled": row.disabled,
            "locked_for_s": self._lockout.seconds_left(row.locked_until_ts, now),
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
