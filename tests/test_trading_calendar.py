"""Tests of `TradingCalendar`: session ordinals, bounds, LULD windows and T+N settlement.

Dates are NYSE 2026 facts: Good Friday (Apr 3), observed Independence Day (Fri Jul 3),
Thanksgiving (Nov 26) and Christmas (Fri Dec 25) are closed; the day after Thanksgiving
and Christmas Eve close at 13:00 ET; DST begins Sun Mar 8 and ends Sun Nov 1.
Expected UTC instants are written out in UTC so that a time-zone bug cannot cancel out.
"""

import datetime

import exchange_calendars as xcals
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradingfloor.risk.calendar import TradingCalendar, calendar_for, ts_at

MINUTE_NS = 60_000_000_000
LULD_OPEN_WINDOW_NS = 15 * MINUTE_NS
LULD_CLOSE_WINDOW_NS = 25 * MINUTE_NS


@pytest.fixture(scope="module")
def calendar() -> TradingCalendar:
    return calendar_for("XNYS")


@pytest.fixture(scope="module")
def reference() -> xcals.ExchangeCalendar:
    """exchange_calendars' own answer; side="both" makes the close minute part of its day."""
    return xcals.get_calendar("XNYS", start="2000-01-03", end="2035-12-31", side="both")


def reference_index(reference: xcals.ExchangeCalendar, ts: int) -> int:
    minute = pd.Timestamp(ts, tz="UTC")
    if minute < reference.first_minute:
        return 0  # exchange_calendars knows nothing before the first open; that is session 0
    session = reference.minute_to_session(minute, direction="next")
    return int(reference.sessions.get_loc(session))


def test_ts_at_is_exact_nanoseconds() -> None:
    assert ts_at("1970-01-01 00:00", tz="UTC") == 0
    assert ts_at("2026-11-27 10:00", tz="UTC") == 1_795_773_600_000_000_000
    assert ts_at("2026-11-27 10:00") == ts_at("2026-11-27 15:00", tz="UTC")
    assert ts_at("2026-07-01 10:00:00.000123") == ts_at("2026-07-01 14:00", tz="UTC") + 123_000


def test_calendar_for_is_shared() -> None:
    assert calendar_for() is calendar_for("XNYS")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("2026-03-06", "2026-03-09"),  # weekend
        ("2026-04-02", "2026-04-06"),  # Good Friday
        ("2026-07-02", "2026-07-06"),  # Independence Day observed on Friday Jul 3
        ("2026-11-25", "2026-11-27"),  # Thanksgiving
        ("2026-12-24", "2026-12-28"),  # Christmas, Friday
        ("2026-12-31", "2027-01-04"),  # New Year's Day 2027 is a Friday
        ("2026-11-23", "2026-11-24"),  # ordinary weekdays
    ],
)
def test_consecutive_sessions_have_consecutive_indices(
    calendar: TradingCalendar, before: str, after: str
) -> None:
    index_before = calendar.session_index(ts_at(f"{before} 12:00"))
    index_after = calendar.session_index(ts_at(f"{after} 12:00"))
    assert index_after == index_before + 1
    assert calendar.session_label(index_before) == datetime.date.fromisoformat(before)
    assert calendar.session_label(index_after) == datetime.date.fromisoformat(after)


@pytest.mark.parametrize(
    ("moment", "session"),
    [
        ("2026-03-07 12:00", "2026-03-09"),  # Saturday trades into Monday
        ("2026-03-08 23:59", "2026-03-09"),  # Sunday evening
        ("2026-11-26 11:00", "2026-11-27"),  # Thanksgiving trades into Friday
        ("2026-11-24 04:00", "2026-11-24"),  # pre-market belongs to the same day
        ("2026-11-24 09:29:59.999999", "2026-11-24"),
        ("2026-11-24 16:00", "2026-11-24"),  # the closing auction prints at the close
        ("2026-11-24 16:00:00.000001", "2026-11-25"),  # after the close: next session
        ("2026-11-24 18:00", "2026-11-25"),
        ("2026-11-27 13:00", "2026-11-27"),  # early close
        ("2026-11-27 13:00:00.000001", "2026-11-30"),
        ("2026-11-27 15:00", "2026-11-30"),  # after an early close
    ],
)
def test_session_of_a_moment(calendar: TradingCalendar, moment: str, session: str) -> None:
    index = calendar.session_index(ts_at(moment))
    assert calendar.session_label(index) == datetime.date.fromisoformat(session)


@pytest.mark.parametrize(
    ("moment", "open_utc", "close_utc"),
    [
        ("2026-11-27 10:00", "2026-11-27 14:30", "2026-11-27 18:00"),  # early close 13:00 ET
        ("2026-12-24 10:00", "2026-12-24 14:30", "2026-12-24 18:00"),  # early close 13:00 ET
        ("2026-03-06 10:00", "2026-03-06 14:30", "2026-03-06 21:00"),  # EST, last before DST
        ("2026-03-09 10:00", "2026-03-09 13:30", "2026-03-09 20:00"),  # EDT, first after DST
        ("2026-10-30 10:00", "2026-10-30 13:30", "2026-10-30 20:00"),  # EDT, last before end
        ("2026-11-02 10:00", "2026-11-02 14:30", "2026-11-02 21:00"),  # EST, first after end
        ("2026-03-07 12:00", "2026-03-09 13:30", "2026-03-09 20:00"),  # Saturday -> Monday
    ],
)
def test_session_bounds(
    calendar: TradingCalendar, moment: str, open_utc: str, close_utc: str
) -> None:
    assert calendar.session_bounds(ts_at(moment)) == (
        ts_at(open_utc, tz="UTC"),
        ts_at(close_utc, tz="UTC"),
    )


@pytest.mark.parametrize(
    ("first", "second", "sessions_apart"),
    [
        # Thanksgiving is closed: Wed to the next Wed is 4 sessions, inside the window.
        ("2026-11-25 10:00", "2026-12-02 15:00", 4),
        # An ordinary week: Wed to the next Wed is 5 sessions, outside the window.
        ("2026-11-18 10:00", "2026-11-25 15:00", 5),
        # Same session, before the open and after it.
        ("2026-11-24 08:00", "2026-11-24 15:59", 0),
    ],
)
def test_five_business_day_window(
    calendar: TradingCalendar, first: str, second: str, sessions_apart: int
) -> None:
    index_first = calendar.session_index(ts_at(first))
    index_second = calendar.session_index(ts_at(second))
    assert index_second - index_first == sessions_apart
    assert (index_second - index_first < 5) == (sessions_apart < 5)


@pytest.mark.parametrize(
    ("moment", "near"),
    [
        ("2026-11-24 09:29", False),  # pre-market: LULD does not apply
        ("2026-11-24 09:30", True),
        ("2026-11-24 09:40", True),
        ("2026-11-24 09:44:59.999999", True),
        ("2026-11-24 09:45", False),
        ("2026-11-24 09:50", False),
        ("2026-11-24 12:00", False),
        ("2026-11-24 15:30", False),
        ("2026-11-24 15:34:59.999999", False),
        ("2026-11-24 15:35", True),
        ("2026-11-24 15:40", True),
        ("2026-11-24 16:00", True),
        ("2026-11-24 16:01", False),  # after-hours
        ("2026-11-27 12:40", True),  # last 25 minutes before the 13:00 early close
        ("2026-11-27 12:30", False),
        ("2026-11-27 15:40", False),  # the market closed at 13:00
        ("2026-03-09 09:40", True),  # first day of EDT
        ("2026-03-09 15:40", True),
        ("2026-11-28 10:00", False),  # Saturday
    ],
)
def test_near_open_or_close(calendar: TradingCalendar, moment: str, near: bool) -> None:
    assert (
        calendar.near_open_or_close(ts_at(moment), LULD_OPEN_WINDOW_NS, LULD_CLOSE_WINDOW_NS)
        is near
    )


@pytest.mark.parametrize(
    ("trade", "days", "settles"),
    [
        ("2026-11-24 11:00", 2, "2026-11-27"),  # over Thanksgiving
        ("2026-11-25 11:00", 2, "2026-11-30"),  # over Thanksgiving and the weekend
        ("2026-11-25 11:00", 1, "2026-11-27"),
        ("2026-12-24 11:00", 1, "2026-12-28"),  # over Christmas
        ("2026-04-02 11:00", 2, "2026-04-07"),  # over Good Friday
        ("2026-04-02 17:00", 1, "2026-04-07"),  # after the close trades into Apr 6
        ("2026-11-24 11:00", 0, "2026-11-24"),
    ],
)
def test_settlement_session(
    calendar: TradingCalendar, trade: str, days: int, settles: str
) -> None:
    index = calendar.settlement_session(ts_at(trade), days)
    assert calendar.session_label(index) == datetime.date.fromisoformat(settles)


@pytest.mark.parametrize(
    "ts",
    [
        ts_at("2000-01-02 23:59:59.999999"),  # the evening before the range starts
        ts_at("1999-06-01 12:00"),
        ts_at("2035-12-31 16:00:00.000001"),  # after the last close
        ts_at("2036-01-02 12:00"),
    ],
)
def test_out_of_range_ts_raises(calendar: TradingCalendar, ts: int) -> None:
    with pytest.raises(ValueError, match="outside the XNYS calendar"):
        calendar.session_index(ts)
    with pytest.raises(ValueError, match="outside the XNYS calendar"):
        calendar.session_bounds(ts)


def test_range_edges_are_inside(calendar: TradingCalendar) -> None:
    assert calendar.session_index(ts_at("2000-01-03 00:00")) == 0
    assert calendar.session_label(0) == datetime.date(2000, 1, 3)
    last = calendar.session_count - 1
    assert calendar.session_index(ts_at("2035-12-31 16:00")) == last
    assert calendar.session_label(last) == datetime.date(2035, 12, 31)


def test_out_of_range_index_and_settlement_raise(calendar: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="session index -1"):
        calendar.session_label(-1)
    with pytest.raises(ValueError, match="session index"):
        calendar.session_label(calendar.session_count)
    with pytest.raises(ValueError, match="after the last session"):
        calendar.settlement_session(ts_at("2035-12-28 12:00"), 2)
    with pytest.raises(ValueError, match="must not be negative"):
        calendar.settlement_session(ts_at("2026-11-24 12:00"), -1)


def test_cached_answers_match_exchange_calendars_around_thanksgiving(
    calendar: TradingCalendar, reference: xcals.ExchangeCalendar
) -> None:
    """Every 10 minutes for two weeks: the first call may fill the day cache, the second
    reads it, and both must agree with exchange_calendars on either side of each close."""
    ts_start = ts_at("2026-11-20 00:00", tz="UTC")
    ts_stop = ts_at("2026-12-04 00:00", tz="UTC")
    for ts in range(ts_start, ts_stop, 10 * MINUTE_NS):
        expected = reference_index(reference, ts)
        assert calendar.session_index(ts) == expected, ts
        assert calendar.session_index(ts) == expected, ts


@settings(max_examples=200, deadline=None)
@given(minute=st.integers(min_value=0, max_value=36 * 366 * 24 * 60))
def test_session_index_matches_exchange_calendars(
    calendar: TradingCalendar, reference: xcals.ExchangeCalendar, minute: int
) -> None:
    ts = calendar.ts_first + minute * MINUTE_NS
    if ts > calendar.ts_last:
        with pytest.raises(ValueError):
            calendar.session_index(ts)
        return
    assert calendar.session_index(ts) == reference_index(reference, ts)


def test_sessions_by_date() -> None:
    """A trading day by its date, back to its date, and its hours: a half day closes at 1 pm
    (the day after Thanksgiving), a holiday and a weekend are no session."""
    calendar = calendar_for()
    friday = calendar.session_of_date("2026-11-27")
    assert calendar.session_date(friday) == "2026-11-27"
    assert calendar.session_of_date(datetime.date(2026, 11, 27)) == friday
    assert calendar.session_date(friday + 1) == "2026-11-30"
    assert calendar.session_date(friday - 1) == "2026-11-25"
    assert calendar.session_times(friday) == (
        ts_at("2026-11-27 09:30"),
        ts_at("2026-11-27 13:00"),
    )
    for day in ("2026-11-26", "2026-11-28", "2026-13-01"):
        with pytest.raises(ValueError):
            calendar.session_of_date(day)
    with pytest.raises(ValueError):
        calendar.session_times(calendar.session_count)
