"""What readers see of an order book: price levels, depth, the full (L3) book, invariants.

Reads never change the book; they run between two commands.
"""

from collections.abc import Iterator
from heapq import nlargest, nsmallest

import msgspec

from tradingfloor.domain.enums import Side
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.matching.layout import BookLayout, Level

BUY = Side.BUY
SELL = Side.SELL


class BookLevel(msgspec.Struct, frozen=True, array_like=True):
    """One price level as readers see it."""

    price: int
    order_count: int
    qty: int


class Depth(msgspec.Struct, frozen=True):
    """Price levels best first: bids from the highest price, asks from the lowest."""

    bids: list[BookLevel]
    asks: list[BookLevel]


class RestingOrder(msgspec.Struct, frozen=True, array_like=True):
    """One order of the full (L3) book, as readers see it."""

    order_id: int
    account: str
    side: Side
    price: int
    leaves: int


class BookViews(BookLayout):
    """The read side of `OrderBook`."""

    def is_live(self, order_id: int) -> bool:
        return order_id in self._orders

    def best_bid(self) -> BookLevel | None:
        levels = self.depth(1).bids
        return levels[0] if levels else None

    def best_ask(self) -> BookLevel | None:
        levels = self.depth(1).asks
        return levels[0] if levels else None

    def depth(self, levels: int | None = None) -> Depth:
        """The visible book, `levels` deep per side (all when None)."""
        if levels is None:
            bid_prices = sorted(self._bids, reverse=True)
            ask_prices = sorted(self._asks)
        else:  # a top-N read per event must not sort the whole book
            bid_prices = nlargest(levels, self._bids)
            ask_prices = nsmallest(levels, self._asks)
        bids = [self._level_view(self._bids, price) for price in bid_prices]
        asks = [self._level_view(self._asks, price) for price in ask_prices]
        return Depth(bids, asks)

    def resting_orders(self, side: Side) -> Iterator[RestingOrder]:
        """The full (L3) book of one side, best price first, time priority within a price."""
        levels = self._bids if side == BUY else self._asks
        for price in sorted(levels, reverse=side == BUY):
            for order in levels[price].orders:
                yield RestingOrder(order.order_id, order.account, order.side, price, order.leaves)

    def live_order_ids(self) -> list[int]:
        return sorted(self._orders)

    def live_order_count(self) -> int:
        return len(self._orders)

    def check_invariants(self) -> None:
        """Raise `InvariantViolation` if the book is crossed or its totals disagree."""
        for levels, side in ((self._bids, BUY), (self._asks, SELL)):
            for price, level in levels.items():
                if not level.orders:
                    raise InvariantViolation(f"{self.symbol}: empty level {price} kept")
                total = 0
                for order in level.orders:
                    if order.side != side or order.price != price or order.leaves <= 0:
                        raise InvariantViolation(
                            f"{self.symbol}: order {order.order_id} misplaced"
                        )
                    if self._orders.get(order.order_id) is not order:
                        raise InvariantViolation(f"{self.symbol}: {order.order_id} not indexed")
                    total += order.leaves
                if total != level.qty:
                    raise InvariantViolation(f"{self.symbol}: level {price} qty {level.qty}")
        if self._bids and self._asks and max(self._bids) >= min(self._asks):
            raise InvariantViolation(f"{self.symbol}: crossed book")

    @staticmethod
    def _level_view(levels: dict[int, Level], price: int) -> BookLevel:
        level = levels[price]
        return BookLevel(price, len(level.orders), level.qty)
