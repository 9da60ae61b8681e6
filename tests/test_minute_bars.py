"""The live stream's minute bars: handed out once, when a later trade or the clock closes
their minute; a trade late for a bar already handed out is in none."""

from tradingfloor.marketdata.minute_bars import NS_PER_MINUTE, MinuteBar, MinuteBars

SECOND = 1_000_000_000


def test_a_later_trade_closes_the_minute() -> None:
    bars = MinuteBars()
    assert bars.add("X", 5 * SECOND, 100, 10) is None
    assert bars.add("X", 50 * SECOND, 103, 5) is None
    assert bars.add("Y", 61 * SECOND, 7, 1) is None  # another symbol's minute

    closed = bars.add("X", NS_PER_MINUTE + SECOND, 99, 1)

    assert closed == MinuteBar("X", 0, 100, 103, 100, 103, 15, 2, 100 * 10 + 103 * 5)
    assert bars.closed_by(NS_PER_MINUTE + 2 * SECOND) == []


def test_the_clock_closes_a_quiet_minute_after_the_delay() -> None:
    bars = MinuteBars(close_delay_ns=SECOND)
    bars.add("X", 5 * SECOND, 100, 10)

    assert bars.closed_by(NS_PER_MINUTE + SECOND - 1) == []
    (closed,) = bars.closed_by(NS_PER_MINUTE + SECOND)

    assert (closed.start_ts, closed.volume) == (0, 10)
    assert bars.closed_by(10 * NS_PER_MINUTE) == []  # once
    assert bars.add("X", 59 * SECOND, 1, 1) is None  # late: in no streamed bar
    assert bars.open == {}
