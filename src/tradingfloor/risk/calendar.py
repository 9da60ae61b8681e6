"""Trading sessions of an exchange, answered in integer nanoseconds on the hot path.

Risk rules count business days (pattern day trading: four day trades within five sessions),
widen price bands near the open and the close (LULD) and schedule T+N settlement. They all
ask the same question once per trade: which session does this timestamp belong to? The
answer comes from `exchange_calendars`, flattened at construction into plain lists of
integers, and memoised per UTC day so that a repeated question costs one dict lookup.

The calendar is built over an explicit date range, never "today", so the same timestamps
give the same answers on every run and every machine (the engine is replayed).

Which session a timestamp belongs to: session ``i`` owns every instant after the close of
session ``i - 1`` up to and including its own close. So a trade before the open belongs to
that day's session, a trade after the close, on a weekend or on a holiday belongs to the
next session it would trade into, and a trade stamped exactly at the close (the closing
auction prints then) belongs to the session that is closing.
"""

from __future__ import annotations

import datetime
import functools
from bisect import bisect_left
from typing import Any
from zoneinfo import ZoneInfo

import exchange_calendars as xcals  # type: ignore[import-untyped]

__all__ = ["TradingCalendar", "calendar_for", "ts_at"]

_DAY_NS = 86_400_000_000_000
_SECOND_NS = 1_000_000_000
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)

START_DEFAULT = "2000-01-03"
END_DEFAULT = "2035-12-31"
CODE_DEFAULT = "XNYS"


def _ns_of(moment: datetime.datetime) -> int:
    """Exact nanoseconds since the epoch; `timestamp()` goes through a float and rounds."""
    delta = moment - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return seconds * _SECOND_NS + delta.microseconds * 1_000


def _utc_ns_list(column: Any) -> list[int]:
    """A tz-aware pandas column as plain ints: no numpy scalars to box on the hot path."""
    values = column.dt.tz_convert(None).dt.as_unit("ns").to_numpy().view("int64")
    return [int(value) for value in values]


def _describe(ts: int) -> str:
    """A readable UTC rendering of `ts` for error messages only."""
    seconds, remainder_ns = divmod(ts, _SECOND_NS)
    moment = _EPOCH + datetime.timedelta(seconds=seconds)
    return f"{ts} ({moment:%Y-%m-%d %H:%M:%S}.{remainder_ns:09d} UTC)"


def ts_at(text: str, tz: str = "America/New_York") -> int:
    """Nanoseconds since the epoch of an ISO date-time read as wall-clock time in `tz`.

    For tests and fixtures: ``ts_at("2026-11-27 10:00")`` is ten o'clock in New York.
    A text that carries its own UTC offset keeps it and ignores `tz`. An ambiguous
    wall-clock time in the autumn DST fold resolves to its first occurrence (fold=0).
    """
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return _ns_of(moment)


class TradingCalendar:
    """Sessions of one exchange between two dates, as integer nanosecond bounds.

    A session index is the position of the session in this calendar (0 is the first
    session on or after `start`), so consecutive sessions have consecutive indices and
    "within five business days" is ``j - i < 5``. Indices from calendars built with
    different `start` dates are not comparable.

    Timestamps (`ts`) are integer nanoseconds since the Unix epoch, UTC. A timestamp
    before midnight (exchange time) of `start` or after the last session's close raises
    `ValueError`: the previous or next session is unknown there.
    """

    def __init__(
        self,
        code: str = CODE_DEFAULT,
        start: str = START_DEFAULT,
        end: str = END_DEFAULT,
    ) -> None:
        """Build from `exchange_calendars`; costs about a second, so share instances."""
        exchange = xcals.get_calendar(code, start=start, end=end)
        self.code: str = code
        self.timezone: ZoneInfo = ZoneInfo(str(exchange.tz))
        # One list per column, indexed by session.
        self._ts_opens: list[int] = _utc_ns_list(exchange.opens)
        self._ts_closes: list[int] = _utc_ns_list(exchange.closes)
        self._labels: list[datetime.date] = [
            datetime.date(label.year, label.month, label.day) for label in exchange.sessions
        ]
        if not self._labels:
            raise ValueError(f"calendar {code} has no session between {start} and {end}")
        start_midnight = datetime.datetime.combine(
            datetime.date.fromisoformat(start), datetime.time(), tzinfo=self.timezone
        )
        self.ts_first: int = _ns_of(start_midnight)
        self.ts_last: int = self._ts_closes[-1]
        # UTC day -> (index of the first session closing at or after the day's first
        # nanosecond, that session's close). Bounded by the number of days in the range.
        self._day_cache: dict[int, tuple[int, int]] = {}

    @property
    def session_count(self) -> int:
        """Number of sessions; valid indices are ``0 .. session_count - 1``."""
        return len(self._labels)

    def session_index(self, ts: int) -> int:
        """Index of the session `ts` trades into (see the module docstring for the rule).

        Hot path: once per trade. A UTC day holds at most one close (checked when the day
        is cached), so the day's entry and one comparison against that close settle it.
        """
        entry = self._day_cache.get(ts // _DAY_NS)
        if entry is None:
            return self._session_index_slow(ts)
        index, ts_close = entry
        return index if ts <= ts_close else index + 1

    def _session_index_slow(self, ts: int) -> int:
        """Check the range, bisect, and cache the day when one close splits it at most."""
        if not self.ts_first <= ts <= self.ts_last:
            raise ValueError(
                f"ts {_describe(ts)} is outside the {self.code} calendar, which covers "
                f"{_describe(self.ts_first)} to {_describe(self.ts_last)}"
            )
        closes = self._ts_closes
        day = ts // _DAY_NS
        ts_day_first = day * _DAY_NS
        ts_day_last = ts_day_first + _DAY_NS - 1
        # Days straddling either end of the range are never cached, so a cached entry
        # needs no range check on the hot path.
        if self.ts_first <= ts_day_first and ts_day_last <= self.ts_last:
            first = bisect_left(closes, ts_day_first)
            following = first + 1
            if following == len(closes) or closes[following] >= ts_day_last:
                self._day_cache[day] = (first, closes[first])
        return bisect_left(closes, ts)

    def session_bounds(self, ts: int) -> tuple[int, int]:
        """Open and close (ns) of the session of `ts`; early closes are the early time."""
        index = self.session_index(ts)
        return self._ts_opens[index], self._ts_closes[index]

    def near_open_or_close(self, ts: int, open_window_ns: int, close_window_ns: int) -> bool:
        """True in the first `open_window_ns` after the open or the last `close_window_ns`.

        LULD doubles its bands in these windows (15 and 25 minutes). The windows are
        ``[open, open + open_window_ns)`` and ``[close - close_window_ns, close]``; on an
        early-close day the close window ends at the early close. Outside regular hours
        (pre-market, after-hours, weekends) the answer is False: LULD does not apply.
        """
        index = self.session_index(ts)
        ts_open = self._ts_opens[index]
        ts_close = self._ts_closes[index]
        if ts < ts_open or ts > ts_close:
            return False
        return ts < ts_open + open_window_ns or ts >= ts_close - close_window_ns

    def session_label(self, index: int) -> datetime.date:
        """The exchange-local date of session `index`, for reports and error messages."""
        if not 0 <= index < len(self._labels):
            raise ValueError(
                f"session index {index} is outside the {self.code} calendar "
                f"(0 to {len(self._labels) - 1})"
            )
        return self._labels[index]

    def session_of_date(self, date: str | datetime.date) -> int:
        """Index of the session whose exchange-local date is `date` (ISO text or a date);
        `ValueError` when that date is not a trading day of this calendar."""
        day = datetime.date.fromisoformat(date) if isinstance(date, str) else date
        index = bisect_left(self._labels, day)
        if index == len(self._labels) or self._labels[index] != day:
            raise ValueError(f"{day} is not a trading day of the {self.code} calendar")
        return index

    def session_date(self, index: int) -> str:
        """ISO text of session `index`'s date: how commands and events name a trading day."""
        return self.session_label(index).isoformat()

    def session_times(self, index: int) -> tuple[int, int]:
        """Open and close (ns) of session `index`; half days close early."""
        self.session_label(index)  # the range check
        return self._ts_opens[index], self._ts_closes[index]

    def settlement_session(self, ts: int, days: int) -> int:
        """Index of the session `days` business days after the session of `ts` (T+N)."""
        if days < 0:
            raise ValueError(f"settlement days must not be negative, got {days}")
        index = self.session_index(ts) + days
        if index >= len(self._labels):
            raise ValueError(
                f"T+{days} from ts {_describe(ts)} falls after the last session of the "
                f"{self.code} calendar ({self._labels[-1]})"
            )
        return index


@functools.cache
def _calendar_cached(code: str) -> TradingCalendar:
    return TradingCalendar(code)


def calendar_for(code: str = CODE_DEFAULT) -> TradingCalendar:
    """The shared calendar of `code` over the default range; built once per process.

    The wrapper exists so that ``calendar_for()`` and ``calendar_for("XNYS")`` hit the
    same cache entry (functools.cache keys on the arguments as written).
    """
    return _calendar_cached(code)
