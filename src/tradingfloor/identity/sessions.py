"""Sessions: password sign-in, the second factor proved, refresh, access tokens."""

from typing import Any

import jwt
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select, update

from tradingfloor.identity.base import (
    AuthBase,
    matching_totp_step,
    sha256_hex,
    user_row,
)
from tradingfloor.identity.errors import AuthError, AuthErrorCode
from tradingfloor.identity.lockout import record_auth_event
from tradingfloor.identity.principal import Principal, Role, Scope
from tradingfloor.identity.records import TokenPair
from tradingfloor.identity.rules import (
    JWT_ALGORITHM,
    JWT_OPTIONS,
    NS_PER_S,
    PASSWORD_LENGTH_MAX,
    TOKEN_LENGTH_MAX,
    USERNAME,
)
from tradingfloor.store.schema import refresh_tokens, users


class Sessions(AuthBase):
    """Sign-in and the tokens it gives."""

    def login(self, username: str, password: str, source: str = "") -> TokenPair:
        """Tokens for a correct username and password, without the second factor (mfa=false):
        they may only prove it (`verify_totp`) or enrol one (`enroll_totp`).

        A locked-out user is refused (`TOO_MANY_ATTEMPTS`, with the seconds left) before the
        password is checked. An unknown username costs the same argon2 work as a wrong
        password, so timing does not tell which usernames exist."""
        name = username.strip().lower()
        now = self._clock()
        row = None
        if USERNAME.fullmatch(name):  # no query for what cannot be a username (a NUL byte)
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
            row = user_row(connection, row.id)
            self._refuse_disabled(connection, row)
            values: dict[str, Any] = {"failed_passwords": 0}
            if rehashed is not None:
                values["password_hash"] = rehashed
            connection.execute(update(users).where(users.c.id == row.id).values(**values))
            record_auth_event(connection, now, "login", user_id=row.id, source=source)
            return self._issue(connection, row, mfa=False, now=now, new_session=True)

    def verify_totp(self, access_token: str, code: str, source: str = "") -> TokenPair:
        """Tokens with mfa=true for the holder of `access_token` and a current TOTP code.

        Each 30-second code works once: a code of a step at or before the last accepted one
        is refused, also when it comes through another gateway (the step is in the database).
        Wrong codes count towards a lockout as wrong passwords do."""
        principal = self.authenticate_token(access_token)
        now = self._clock()
        with self._engine.connect() as connection:
            row = user_row(connection, principal.user_id)
        self._refuse_locked(row, now)
        if not row.totp_enabled or row.totp_secret is None:
            raise AuthError(AuthErrorCode.SECOND_FACTOR_NOT_ENROLLED)
        step = matching_totp_step(row.totp_secret, code, now)
        if step is None:
            self._count_failure(row.id, users.c.failed_codes, "totp_failed", source)
        with self._writer.begin() as connection:
            row = user_row(connection, principal.user_id)
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

    def refresh(self, refresh_token: str) -> TokenPair:
        """New tokens for a refresh token, which is used up (rotation).

        A refresh token used a second time means it was copied: every refresh token of the
        user is revoked and `REFRESH_TOKEN_REUSED` raised; the user must log in again."""
        if len(refresh_token) > TOKEN_LENGTH_MAX:
            raise AuthError(AuthErrorCode.TOKEN_INVALID)
        token_hash = sha256_hex(refresh_token)
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
                user = user_row(connection, row.user_id)
                self._refuse_disabled(connection, user)
                return self._issue(connection, user, mfa=row.mfa, now=now, new_session=False)
        # Outside the block, so that the revocation above is committed, not rolled back.
        raise AuthError(AuthErrorCode.REFRESH_TOKEN_REUSED)

    def logout(self, refresh_token: str, source: str = "") -> bool:
        """End the session of a live refresh token: it is deleted (not revoked), so that a
        later refresh with it is refused as unknown (`TOKEN_INVALID`) rather than taken for a
        copy (`refresh`). A token unknown, used or expired changes nothing: the caller answers
        alike, and learns nothing. Returns whether a session ended."""
        if len(refresh_token) > TOKEN_LENGTH_MAX:
            return False
        token_hash = sha256_hex(refresh_token)
        now = self._clock()
        live = (
            refresh_tokens.c.token_hash == token_hash,
            ~refresh_tokens.c.revoked,
            refresh_tokens.c.expires_ts > now,
        )
        with self._writer.begin() as connection:
            user_id = connection.execute(select(refresh_tokens.c.user_id).where(*live)).scalar()
            if user_id is None:
                return False
            connection.execute(delete(refresh_tokens).where(*live))
            record_auth_event(connection, now, "logout", user_id=user_id, source=source)
        return True

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

    def _decode_access_token(self, token: str, now: int) -> tuple[Principal, int]:
        if len(token) > TOKEN_LENGTH_MAX:
            raise AuthError(AuthErrorCode.TOKEN_INVALID)
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[JWT_ALGORITHM], options=JWT_OPTIONS
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
