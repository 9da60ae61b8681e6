"""`GET /v2/calendar`: the exchange's trading days, from the calendar the platform settles by
(`risk.calendar`, XNYS), as Alpaca's `Calendar` objects.

Alpaca answers every day from 1970 to 2029 when no range is given; this one answers a bounded
range: from `start` (default: today on the exchange) to `end` (default: a year after the
start), at most `calendar_range_days_max` days. The platform trades regular hours only, so
`session_open` and `session_close` are the regular open and close. `settlement_date` is T+N
with the platform's `settlement_sessions`."""

import datetime
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response

from tradingfloor.gateway import alpaca_views as views
from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import MALFORMED, json_answer
from tradingfloor.gateway.errors import ApiError
from tradingfloor.gateway.params import query_date
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.risk.calendar import TradingCalendar, calendar_for

calendar_range_days_max = 3_660
"""Calendar days one `GET /v2/calendar` covers at most (ten years)."""
calendar_range_days_default = 365
"""Calendar days answered after `start` (or before `end`) when only one of them is given."""

routes = RouteTable(tags=["alpaca"])

DateQuery = Annotated[str | None, Query(max_length=40)]


@routes.get("/v2/calendar")
async def get_calendar(
    _principal: deps.Reader,
    platform: deps.Platform,
    start: DateQuery = None,
    end: DateQuery = None,
) -> Response:
    """The trading days from `start` to `end` (both included), oldest first."""
    calendar = calendar_for()
    today = views.moment(platform.clock()).astimezone(calendar.timezone).date()
    first, last = _range(_optional_date(start, "start"), _optional_date(end, "end"), today)
    days = sessions_between(calendar, first, last)
    settle = platform.settings.settlement_sessions
    return json_answer([calendar_day(calendar, index, settle) for index in days])


def _optional_date(text: str | None, field: str) -> datetime.date | None:
    return None if text is None else query_date(text, field)


def _range(
    start: datetime.date | None, end: datetime.date | None, today: datetime.date
) -> tuple[datetime.date, datetime.date]:
    span = datetime.timedelta(days=calendar_range_days_default)
    if start is None:
        start = today if end is None else end - span
    if end is None:
        end = start + span
    if end < start:
        raise ApiError(422, MALFORMED, "end: before start")
    if (end - start).days > calendar_range_days_max:
        raise ApiError(422, MALFORMED, f"start to end: at most {calendar_range_days_max} days")
    return start, end


def sessions_between(
    calendar: TradingCalendar, first: datetime.date, last: datetime.date
) -> range:
    """Indices of the sessions dated `first` to `last` (those the calendar covers)."""
    count = calendar.session_count
    low, high = 0, count
    while low < high:  # the first session dated on or after `first`
        middle = (low + high) // 2
        if calendar.session_label(middle) < first:
            low = middle + 1
        else:
            high = middle
    stop = low
    while stop < count and calendar.session_label(stop) <= last:
        stop += 1
    return range(low, stop)


def calendar_day(
    calendar: TradingCalendar, index: int, settlement_sessions: int
) -> dict[str, Any]:
    """One trading day as Alpaca's calendar entry (times in the exchange's zone)."""
    open_ts, close_ts = calendar.session_times(index)
    opens = views.moment(open_ts).astimezone(calendar.timezone)
    closes = views.moment(close_ts).astimezone(calendar.timezone)
    settles = min(index + settlement_sessions, calendar.session_count - 1)
    return {
        "date": calendar.session_date(index),
        "open": f"{opens:%H:%M}",
        "close": f"{closes:%H:%M}",
        "session_open": f"{opens:%H%M}",
        "session_close": f"{closes:%H%M}",
        "settlement_date": calendar.session_date(settles),
    }
