"""The periods a statement covers: trading sessions of the exchange calendar.

A session owns every instant after the close of the session before it up to and including its
own close (`tradingfloor.risk.calendar`): a trade in the evening, on a weekend or a holiday
belongs to the next session, as its settlement date says. So a daily statement of session D
covers `(close of D-1, close of D]`, and a monthly one the sessions whose dates fall in the
calendar month, from the close before the first to the close of the last. Times are the
exchange's (New York for XNYS), DST and half days as the calendar has them.
"""

import calendar as months
import datetime
import re
from dataclasses import dataclass

from tradingfloor.risk.calendar import TradingCalendar

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"\d{4}-\d{2}")


class PeriodError(ValueError):
    """The period asked for is no period of the calendar (a malformed date, a day that is not
    a trading day, a month without sessions in the calendar's range)."""


@dataclass(frozen=True)
class Period:
    kind: str
    """"daily" or "monthly"."""
    label: str
    """The session's date ("2026-12-02") or the month ("2026-11")."""
    first_session: str
    last_session: str
    sessions: int
    after_ts: int
    """The close of the session before the first (exclusive bound, ns since the epoch)."""
    until_ts: int
    """The close of the last session (inclusive bound)."""
    timezone: datetime.tzinfo
    timezone_name: str


def daily_period(calendar: TradingCalendar, date: str) -> Period:
    """The period of the session of `date` (ISO, `YYYY-MM-DD`), which must be a trading day."""
    if not _DATE.fullmatch(date):
        raise PeriodError(f"date {date!r}: give YYYY-MM-DD")
    try:
        index = calendar.session_of_date(datetime.date.fromisoformat(date))
    except ValueError as error:
        raise PeriodError(f"date {date!r}: {error}") from error
    return _period(calendar, "daily", date, index, index)


def monthly_period(calendar: TradingCalendar, month: str) -> Period:
    """The period of the sessions of the calendar month `month` (`YYYY-MM`)."""
    if not _MONTH.fullmatch(month):
        raise PeriodError(f"month {month!r}: give YYYY-MM")
    year, number = int(month[:4]), int(month[5:])
    if not 1 <= number <= 12 or year < 1:
        raise PeriodError(f"month {month!r}: no such month")
    indices = []
    for day in range(1, months.monthrange(year, number)[1] + 1):
        try:
            indices.append(calendar.session_of_date(datetime.date(year, number, day)))
        except ValueError:
            continue  # a weekend, a holiday, or outside the calendar's range
    if not indices:
        raise PeriodError(f"month {month!r}: no trading session of the {calendar.code} calendar")
    return _period(calendar, "monthly", month, indices[0], indices[-1])


def _period(calendar: TradingCalendar, kind: str, label: str, first: int, last: int) -> Period:
    after_ts = calendar.session_times(first - 1)[1] if first > 0 else calendar.ts_first - 1
    return Period(
        kind,
        label,
        calendar.session_date(first),
        calendar.session_date(last),
        last - first + 1,
        after_ts,
        calendar.session_times(last)[1],
        calendar.timezone,
        str(calendar.timezone),
    )
