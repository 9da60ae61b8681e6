"""Minute bars for a live stream: each symbol's bar of the current minute, handed out once,
when its minute has closed.

A minute closes for a symbol when a trade of that symbol is stamped in a later minute (the
engine's times never go back within a shard), or when the clock the caller passes to
`closed_by` is `close_delay_ns` past the minute's end (a quiet market: no later trade tells
it). The delay leaves time for the minute's last trades to arrive through the event feed; a
trade that still arrives for a minute already handed out is not counted in any streamed bar
(the bars in SQL, built from every trade by the projector, count it). Only the bar of the
current minute is kept per symbol: memory is bounded by the number of symbols.
"""

from dataclasses import dataclass

NS_PER_MINUTE = 60_000_000_000
close_delay_ns_default = 1_000_000_000


@dataclass(slots=True)
class MinuteBar:
    """A minute's trades: prices in price units, `start_ts` the minute's first ns."""

    symbol: str
    start_ts: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    trade_count: int
    notional: int


class MinuteBars:
    """The open minute bar of each symbol, fed trades in event order."""

    def __init__(self, close_delay_ns: int = close_delay_ns_default) -> None:
        self.close_delay_ns = close_delay_ns
        self.open: dict[str, MinuteBar] = {}
        self.closed_through: dict[str, int] = {}
        """Per symbol: the start of the last minute handed out (its later trades are late)."""

    def add(self, symbol: str, ts: int, price: int, qty: int) -> MinuteBar | None:
        """Count one trade; returns the symbol's previous bar if this trade closed it."""
        start = ts - ts % NS_PER_MINUTE
        if start <= self.closed_through.get(symbol, -1):
            return None  # late for a bar already handed out
        bar = self.open.get(symbol)
        closed = None
        if bar is not None and start > bar.start_ts:
            closed = self._close(bar)
            bar = None
        if bar is None:
            self.open[symbol] = MinuteBar(symbol, start, price, price, price, price, qty, 1,
                                          price * qty)  # fmt: skip
            return closed
        bar.high = max(bar.high, price)
        bar.low = min(bar.low, price)
        bar.close = price
        bar.volume += qty
        bar.trade_count += 1
        bar.notional += price * qty
        return closed

    def closed_by(self, now_ns: int) -> list[MinuteBar]:
        """Hand out (once) every bar whose minute ended `close_delay_ns` before `now_ns`."""
        due = [
            bar
            for bar in self.open.values()
            if bar.start_ts + NS_PER_MINUTE + self.close_delay_ns <= now_ns
        ]
        return [self._close(bar) for bar in due]

    def _close(self, bar: MinuteBar) -> MinuteBar:
        del self.open[bar.symbol]
        self.closed_through[bar.symbol] = bar.start_ts
        return bar
