"""The trade tape: each symbol's latest trades, bounded, and how many it has had.

The hub publishes trades messages from one (it counts what each tier has sent) and the
market-data view answers `GET /v1/trades/{symbol}` from another; both are fed `TradeExecuted`
events in sequence order.
"""

from collections import deque
from itertools import islice

from tradingfloor.domain.events import TradeExecuted


class TradeTape:
    """Per symbol, a ring of its newest `kept_per_symbol` trades and a count of all of them."""

    def __init__(self, kept_per_symbol: int) -> None:
        if kept_per_symbol <= 0:
            raise ValueError("kept_per_symbol must be positive")
        self.kept_per_symbol = kept_per_symbol
        self.rings: dict[str, deque[TradeExecuted]] = {}
        """Per symbol: its latest trades, oldest first."""
        self.counts: dict[str, int] = {}
        """Per symbol: its trades since the tape began, kept or not."""

    def add(self, event: TradeExecuted) -> None:
        symbol = event.symbol
        ring = self.rings.get(symbol)
        if ring is None:
            ring = self.rings[symbol] = deque(maxlen=self.kept_per_symbol)
        ring.append(event)
        self.counts[symbol] = self.counts.get(symbol, 0) + 1

    def recent(self, symbol: str, limit: int) -> list[TradeExecuted]:
        """The newest `limit` trades of `symbol`, newest first."""
        ring = self.rings.get(symbol)
        if not ring or limit <= 0:
            return []
        return list(islice(reversed(ring), limit))

    def last(self, symbol: str) -> TradeExecuted | None:
        ring = self.rings.get(symbol)
        return ring[-1] if ring else None

    def count(self, symbol: str) -> int:
        return self.counts.get(symbol, 0)
