"""Expected failures of authentication: stable codes (4xxx), each with a message and the HTTP
status a gateway answers with."""

from enum import IntEnum

from tradingfloor.identity.rules import PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN


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
