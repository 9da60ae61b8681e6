"""OHLCV bars built from trades, in memory and bounded.

Each symbol keeps, per timeframe, its most recent `bars_max` bars; a trade updates the bar of
every timeframe in place (a few integer operations each), so the batch listener can afford it.
Bars start at multiples of their length since the epoch (UTC): a `1Day` bar is a UTC day, not
an exchange session. The platform feeds the hub the whole event log at start: bars count every
trade the log holds, not only those since the process started.
"""

from collections import deque
from dataclasses import dataclass

NS_PER_MINUTE = 60 * 1_000_000_000

TIMEFRAMES: dict[str, int] = {
    "1Min": NS_PER_MINUTE,
    "5Min": 5 * NS_PER_MINUTE,
    "15Min": 15 * NS_PER_MINUTE,
    "1Hour": 60 * NS_PER_MINUTE,
    "1Day": 24 * 60 * NS_PER_MINUTE,
}
"""Timeframe names (as in Alpaca's bars API) and their lengths in ns."""
bars_max = 1_000
"""Bars kept per symbol and timeframe."""


@dataclass(slots=True)
class Bar:
    """One bar: prices in price units, `start_ts` the first ns it covers."""

    start_ts: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    trade_count: int
    notional: int
    """Sum of price x qty, for the volume-weighted average price."""

    @property
    def vwap(self) -> int:
        """Volume-weighted average price, rounded down to a price unit."""
        return self.notional // self.volume if self.volume else self.close


class BarBook:
    """Bars of every symbol and timeframe, fed trades in time order."""

    def __init__(self, limit: int = bars_max) -> None:
        self.limit = limit
        self._bars: dict[str, list[tuple[int, deque[Bar]]]] = {}

    def add(self, symbol: str, ts: int, price: int, qty: int) -> None:
        """Count one trade in the bar of each timeframe that covers `ts`."""
        frames = self._bars.get(symbol)
        if frames is None:
            frames = self._bars[symbol] = [
                (length, deque(maxlen=self.limit)) for length in TIMEFRAMES.values()
            ]
        notional = price * qty
        for length, bars in frames:
            start = ts - ts % length
            bar = bars[-1] if bars else None
            if bar is None or start > bar.start_ts:
                bars.append(Bar(start, price, price, price, price, qty, 1, notional))
                continue
            # A trade stamped before the open bar (clocks are monotonic per sequencer, so only
            # after a restart on a clock that went back) is counted in the open bar.
            if price > bar.high:
                bar.high = price
            elif price < bar.low:
                bar.low = price
            bar.close = price
            bar.volume += qty
            bar.trade_count += 1
            bar.notional += notional

    def bars(self, symbol: str, timeframe: str, limit: int) -> list[Bar]:
        """The newest `limit` bars of `symbol` in `timeframe`, oldest first (copies)."""
        length = TIMEFRAMES[timeframe]
        for frame_length, bars in self._bars.get(symbol, ()):
            if frame_length == length:
                return [_copy(bar) for bar in list(bars)[-limit:]] if limit > 0 else []
        return []


def _copy(bar: Bar) -> Bar:
    return Bar(
        bar.start_ts,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.trade_count,
        bar.notional,
    )
