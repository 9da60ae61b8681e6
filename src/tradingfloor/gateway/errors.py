"""Every refusal as one HTTP status and a `{"code": ..., "message": ...}` body."""

import math
from enum import IntEnum

from tradingfloor.domain.reasons import RejectReason

R = RejectReason

_STATUS: dict[RejectReason, int] = {
    R.UNKNOWN_ACCOUNT: 403,
    R.ACCOUNT_RESTRICTED: 403,
    R.ACCOUNT_CLOSED: 403,
    R.ACCOUNT_BLOCKED: 403,
    R.ACCOUNT_SUSPENDED: 403,
    R.SYMBOL_HALTED: 409,
    R.MARKET_HALTED: 409,
    R.INSUFFICIENT_BUYING_POWER: 403,
    R.INSUFFICIENT_SHARES: 403,
    R.INSUFFICIENT_FUNDS: 403,
    R.OPEN_ORDERS_ABOVE_MAX: 403,
    R.PATTERN_DAY_TRADER: 403,
    R.INTRADAY_EXPOSURE_ABOVE_EQUITY: 403,
    R.ACCOUNT_EXISTS: 409,
    R.RISK_CONFIG_LOCKED: 409,
    R.RISK_OFF: 409,
    R.UNKNOWN_ORDER: 404,
    R.ACCOUNT_MISMATCH: 404,  # another user's order: as if it did not exist
    R.ORDER_NOT_LIVE: 422,
    R.UNKNOWN_SYMBOL: 404,
    R.DAY_NOT_OVER: 409,
    R.DAY_ALREADY_CLOSED: 409,
    R.DAY_OUT_OF_ORDER: 409,
    R.DAY_NOT_CLOSED: 409,
    R.BREAK_EXISTS: 409,
    R.UNKNOWN_BREAK: 404,
    R.BREAK_RESOLVED: 409,
    R.CORPORATE_ACTION_EXISTS: 409,
    R.SETTLED_CASH_REQUIRED: 403,
    R.FRACTIONAL_NOT_OFFERED: 403,
    R.UNKNOWN_ALERT: 404,
    R.ALERT_CLOSED: 409,
}


_PUBLIC: dict[RejectReason, RejectReason] = {R.ACCOUNT_MISMATCH: R.UNKNOWN_ORDER}
"""Reasons a client must not see as such: another account's order is answered exactly as a
missing one (same status, code and message), so ids cannot be probed for existence."""


def public_reason(reason: RejectReason) -> RejectReason:
    """The reason a client is told."""
    return _PUBLIC.get(reason, reason)


def http_status(reason: RejectReason) -> int:
    """Validation (1xxx) and other refusals of a well-formed request's content are 422;
    what the account may not do is 403; what the market's state forbids now is 409; what does
    not exist (or is not the caller's) is 404."""
    return _STATUS.get(reason, 422)


class ApiError(Exception):
    """A refusal a route raises: answered with `status`, the body `{"code", "message"}` and
    `headers` (`Retry-After`) by the app's handler, on `/v1` and `/v2` alike."""

    def __init__(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def refusal(reason: RejectReason) -> ApiError:
    """The engine's refusal as the client is told it (`public_reason`)."""
    reason = public_reason(reason)
    return ApiError(http_status(reason), int(reason), reason.message)


def retry_after(seconds: float) -> dict[str, str]:
    """The `Retry-After` header for a wait of `seconds`: whole seconds, rounded up, at least
    one."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class Unavailable(IntEnum):
    """The codes of 503 answers (5xxx): not now, retry after `Retry-After`; each names what
    cannot answer. Stable, as the engine's reasons are."""

    BUSY = 5030
    """The sequencer's queue is full."""
    SHARD_UNREACHABLE = 5031
    """The shard cannot be reached (or has stopped)."""
    READ_MODELS_BEHIND = 5032
    """A read waited `read_wait_s_max` for the read models to reach what it must see."""
    READ_MODELS_UNAVAILABLE = 5033
    """The database cannot answer, or the projector cannot be reached."""
    RATE_LIMITER_UNAVAILABLE = 5034
    """The rate limiter's Redis cannot answer: order entry fails closed."""
    TOO_MANY_CONNECTIONS = 5035
    JOURNAL_UNAVAILABLE = 5036
    SIGN_IN_BUSY = 5037
    READ_MODELS_LAGGING = 5038
    """The read models are more than `projection_lag_max_commands` behind the shard: new
    orders wait until the projector catches up (backpressure)."""
