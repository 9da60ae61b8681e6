"""Trade dates and months as ranges of time: the exchange's calendar days (New York).

An export names trade dates `--from D --to D` (both included) and a report a month `YYYY-MM`;
both mean whole days of the exchange's time zone, midnight to midnight, DST as the zone has
it. A range is `[after_ts, before_ts)` in integer nanoseconds since the epoch, the read
models' time.
"""

import datetime
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

EXCHANGE_TIMEZONE = ZoneInfo("America/New_York")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"\d{4}-\d{2}")
NS_PER_S = 1_000_000_000


class DateRangeError(ValueError):
    """The dates or month asked for are no range (malformed, backwards, or too long)."""


@dataclass(frozen=True)
class DateRange:
    first: datetime.date
    last: datetime.date
    """Included."""
    after_ts: int
    """Midnight starting `first` (included), ns since the epoch."""
    before_ts: int
    """Midnight ending `last` (excluded)."""

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def label(self) -> str:
        return f"{self.first.isoformat()}_{self.last.isoformat()}"


def midnight_ts(day: datetime.date) -> int:
    """The start of `day` in New York, ns since the epoch."""
    moment = datetime.datetime.combine(day, datetime.time(), tzinfo=EXCHANGE_TIMEZONE)
    return int(moment.timestamp()) * NS_PER_S


def parse_date(text: str, name: str) -> datetime.date:
    if not _DATE.fullmatch(text):
        raise DateRangeError(f"{name} {text[:40]!r}: give YYYY-MM-DD")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError as error:
        raise DateRangeError(f"{name} {text!r}: {error}") from error


def date_range(first: str, last: str, days_max: int | None = None) -> DateRange:
    """Trade dates `first` to `last`, both included, at most `days_max` days."""
    start, end = parse_date(first, "from"), parse_date(last, "to")
    if end < start:
        raise DateRangeError(f"to {last} is before from {first}")
    span = (end - start).days + 1
    if days_max is not None and span > days_max:
        raise DateRangeError(f"{span} days from {first} to {last}: at most {days_max}")
    return DateRange(start, end, midnight_ts(start), midnight_ts(end + datetime.timedelta(1)))


def month_range(month: str) -> DateRange:
    """The days of calendar month `month` (`YYYY-MM`)."""
    if not _MONTH.fullmatch(month) or not 1 <= int(month[5:]) <= 12 or int(month[:4]) < 1:
        raise DateRangeError(f"month {month[:40]!r}: give YYYY-MM")
    year, number = int(month[:4]), int(month[5:])
    start = datetime.date(year, number, 1)
    following = datetime.date(year + number // 12, number % 12 + 1, 1)
    last = following - datetime.timedelta(1)
    return DateRange(start, last, midnight_ts(start), midnight_ts(following))


class TradeDates:
    """The trade date of a time, cached per day: exports ask it for every row."""

    def __init__(self) -> None:
        self._day: tuple[int, int, str] = (0, 0, "")

    def of(self, ts: int) -> str:
        after, before, text = self._day
        if after <= ts < before:
            return text
        moment = datetime.datetime.fromtimestamp(ts / NS_PER_S, EXCHANGE_TIMEZONE)
        day = moment.date()
        # The float above may round across midnight: the integer bounds decide.
        start = midnight_ts(day)
        if ts < start:
            day -= datetime.timedelta(1)
        elif ts >= midnight_ts(day + datetime.timedelta(1)):
            day += datetime.timedelta(1)
        self._day = (midnight_ts(day), midnight_ts(day + datetime.timedelta(1)), day.isoformat())
        return self._day[2]
