"""An order book's whole state in canonical order, and the book rebuilt from it.

What a snapshot stores and the engine's state hash covers: two books that reached the same
state by any path export the same `BookState`.
"""

from heapq import heapify
from typing import Self

import msgspec

from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.instruments import Instrument
from tradingfloor.matching.layout import BookLayout, Level
from tradingfloor.matching.order import Order


class BookState(msgspec.Struct, array_like=True):
    """A book's whole state in canonical order: what a snapshot stores and hashes.

    Resting orders best price first and in time priority within a price; pending stops by
    (stop price, order id); trailing stops in placement order.
    """

    instrument: Instrument
    last_price: int | None
    trade_id: int
    bids: list[Order]
    asks: list[Order]
    buy_stops: list[Order]
    sell_stops: list[Order]
    trailing: list[Order]


class BookSnapshots(BookLayout):
    """Export and restore of `OrderBook`."""

    def export_state(self) -> BookState:
        """The book's state between two commands (no stop is ever mid-election then)."""
        if self._triggered:
            raise InvariantViolation(f"{self.symbol}: snapshot with elected stops queued")
        live = self._orders

        def resting(levels: dict[int, Level], descending: bool) -> list[Order]:
            return [o for p in sorted(levels, reverse=descending) for o in levels[p].orders]

        def pending(heap: list[tuple[int, int, Order]]) -> list[Order]:
            # dead entries (canceled or replaced stops) are skipped: they are not state
            return [order for _, order_id, order in sorted(heap) if live.get(order_id) is order]

        return BookState(
            self.instrument,
            self.last_price,
            self._trade_id,
            resting(self._bids, True),
            resting(self._asks, False),
            pending(self._buy_stops),
            pending(self._sell_stops),
            list(self._trailing),
        )

    @classmethod
    def from_state(cls, state: BookState) -> Self:
        """Rebuild a book from `export_state()`; the result exports the same state."""
        book = cls(state.instrument)
        book.last_price = state.last_price
        book._trade_id = state.trade_id
        for order in (*state.bids, *state.asks):
            book._rest_restored(order)
        for order in (*state.buy_stops, *state.sell_stops, *state.trailing):
            book._orders[order.order_id] = order
        book._buy_stops = [(o.stop_price, o.order_id, o) for o in state.buy_stops]  # type: ignore[misc]
        book._sell_stops = [(-o.stop_price, o.order_id, o) for o in state.sell_stops]  # type: ignore[operator]
        heapify(book._buy_stops)
        heapify(book._sell_stops)
        book._trailing = list(state.trailing)
        return book

    def _rest_restored(self, order: Order) -> None:
        """Append a restored order to its level without touching its status."""
        status = order.status
        self._rest(order)
        order.status = status
