"""Values of `/v1` paths and queries read at the edge: an order id, a price, a time. A value
that cannot be one is refused (`ApiError`): 404 for an order id, 422 naming the field else."""

from datetime import UTC, date, datetime

from tradingfloor.domain.prices import PriceFormatError, parse_price
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway.answers import MALFORMED
from tradingfloor.gateway.errors import ApiError

SQL_INT_MAX = 2**63 - 1
"""Ids, sequence numbers and times go to SQL as signed 64-bit integers."""


def order_number(order_id: str) -> int:
    """The order id of a path; one that cannot be an order's is an unknown order."""
    if not order_id.isdigit() or len(order_id) > 19 or int(order_id) > SQL_INT_MAX:
        reason = RejectReason.UNKNOWN_ORDER
        raise ApiError(404, int(reason), reason.message)
    return int(order_id)


def price(text: str, field: str) -> int:
    try:
        return parse_price(text)
    except PriceFormatError as error:
        raise ApiError(422, MALFORMED, f"{field}: {error}") from error


def time_ns(text: str | None, field: str) -> int | None:
    """ns since the epoch, given as such or as an ISO time with its time zone."""
    if text is None:
        return None
    if text.isdigit():
        if len(text) > 19 or int(text) > SQL_INT_MAX:
            raise ApiError(422, MALFORMED, f"{field}: ns since the epoch, below 2**63")
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise ApiError(422, MALFORMED, f"{field}: not an ISO time or ns") from error
    if moment.tzinfo is None:
        raise ApiError(422, MALFORMED, f"{field}: give a time zone")
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def rfc3339_ns(text: str, field: str) -> int:
    """An RFC 3339 time as Alpaca's API takes it (`2024-01-02T15:04:05+00:00`, `...Z`; one
    without a zone is UTC) as integer ns."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise ApiError(422, MALFORMED, f"{field}: not an RFC 3339 time") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def query_date(text: str, field: str) -> date:
    """A date of Alpaca's query (`2024-01-02`, or an RFC 3339 time whose date is taken)."""
    try:
        return date.fromisoformat(text[:10])
    except ValueError as error:
        raise ApiError(422, MALFORMED, f"{field}: not a date (YYYY-MM-DD)") from error
