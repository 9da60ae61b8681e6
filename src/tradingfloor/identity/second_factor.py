"""The second factor: admin-issued enrolment, TOTP enrolled and confirmed."""

import hmac
import secrets

import pyotp
from sqlalchemy import update

from tradingfloor.identity.base import (
    AuthBase,
    matching_totp_step,
    sha256_hex,
    user_row,
)
from tradingfloor.identity.errors import AuthError, AuthErrorCode
from tradingfloor.identity.lockout import record_auth_event
from tradingfloor.identity.records import (
    TokenPair,
    TotpEnrollment,
)
from tradingfloor.identity.rules import (
    NS_PER_S,
    TOKEN_LENGTH_MAX,
    TOTP_ISSUER,
)
from tradingfloor.store.schema import users


class SecondFactor(AuthBase):
    """Enrolment of the second factor."""

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
                    enrollment_token_hash=sha256_hex(token),
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
            row = user_row(connection, user_id)
            if row.totp_enabled:
                raise AuthError(AuthErrorCode.SECOND_FACTOR_ALREADY_ENABLED)
            valid = (
                row.enrollment_token_hash is not None
                and len(enrollment_token) <= TOKEN_LENGTH_MAX
                and hmac.compare_digest(row.enrollment_token_hash, sha256_hex(enrollment_token))
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
            row = user_row(connection, user_id)
        self._refuse_locked(row, now)
        if row.totp_enabled:
            raise AuthError(AuthErrorCode.SECOND_FACTOR_ALREADY_ENABLED)
        if row.totp_secret is None:
            raise AuthError(AuthErrorCode.SECOND_FACTOR_NOT_ENROLLED)
        step = matching_totp_step(row.totp_secret, code, now)
        if step is None:
            self._count_failure(row.id, users.c.failed_codes, "totp_failed", source)
        with self._writer.begin() as connection:
            row = user_row(connection, user_id)
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
