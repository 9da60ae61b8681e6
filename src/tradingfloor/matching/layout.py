"""The state of one order book, laid out for CPython's speed, and the moves that keep it whole.

- each side is a dict `price -> Level` plus a binary heap of its prices (negated for bids), with
  lazy deletion: a level that empties leaves the dict at once and its heap entry is dropped when
  it reaches the top; a set of the keys in the heap stops a price from being pushed twice;
- a level is a deque of live orders in time priority and their total open quantity;
- pending stops wait in two heaps keyed by (stop price, order id), trailing stops in a list;
  stops elected during a command are queued by order id and enter after the order that elected
  them has finished, in placement order.

`BookLayout` holds that state and the three moves every part of the book shares: resting an
order on its level, taking a live order out of wherever it waits, compacting the stop heaps.
"""

from collections import deque
from heapq import heapify, heappush

from tradingfloor.domain.enums import OrderStatus, OrderType, Side
from tradingfloor.domain.instruments import Instrument
from tradingfloor.matching.order import Order

# Module-level ints: cheaper to read in the hot loop than enum class attributes.
BUY = Side.BUY
TRAILING_STOP = OrderType.TRAILING_STOP
NEW = OrderStatus.NEW
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
CANCELED = OrderStatus.CANCELED
PENDING_TRIGGER = OrderStatus.PENDING_TRIGGER

stop_heap_garbage_max = 1_024
"""Dead entries (canceled or replaced stops) tolerated in the stop heaps before a rebuild."""


class Level:
    """The live orders at one price, oldest first, and their total open quantity."""

    __slots__ = ("orders", "qty")

    def __init__(self) -> None:
        self.orders: deque[Order] = deque()
        self.qty = 0


class BookLayout:
    """The state of the book of one instrument; `OrderBook` is the whole of it."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.last_price: int | None = None
        self._bids: dict[int, Level] = {}
        self._asks: dict[int, Level] = {}
        self._bid_heap: list[int] = []  # negated prices
        self._ask_heap: list[int] = []
        self._bid_keys: set[int] = set()
        self._ask_keys: set[int] = set()
        self._orders: dict[int, Order] = {}  # every live order: resting and pending
        self._buy_stops: list[tuple[int, int, Order]] = []  # (stop, order id, order)
        self._sell_stops: list[tuple[int, int, Order]] = []  # (-stop, order id, order)
        self._stop_garbage = 0
        self._trailing: list[Order] = []
        self._triggered: list[tuple[int, int, Order]] = []  # (order id, trade price, order)
        self._trade_id = 0
        self._tick = instrument.tick_size
        self._lot = instrument.lot_size
        self._stp = instrument.stp
        self.fees: tuple[int, int, int, int] | None = None
        """(maker per share, maker ppm, taker per share, taker ppm); None: no fees."""

    def _rest(self, order: Order) -> None:
        price: int = order.price  # type: ignore[assignment]
        if order.side == BUY:
            levels, heap, keys, key = self._bids, self._bid_heap, self._bid_keys, -price
        else:
            levels, heap, keys, key = self._asks, self._ask_heap, self._ask_keys, price
        level = levels.get(price)
        if level is None:
            level = levels[price] = Level()
            if key not in keys:
                keys.add(key)
                heappush(heap, key)
        level.orders.append(order)
        level.qty += order.leaves
        order.status = PARTIALLY_FILLED if order.filled else NEW
        self._orders[order.order_id] = order

    def _remove(self, order: Order) -> None:
        """Take a live order out of the book (level, stop heap or trailing list)."""
        del self._orders[order.order_id]
        if order.status == PENDING_TRIGGER:
            if order.order_type == TRAILING_STOP:
                self._trailing.remove(order)
            else:
                order.status = CANCELED  # marks its heap entry dead
                self._stop_garbage += 1
                if self._stop_garbage > stop_heap_garbage_max:
                    self._compact_stops()
            return
        levels = self._bids if order.side == BUY else self._asks
        price: int = order.price  # type: ignore[assignment]
        level = levels[price]
        level.orders.remove(order)
        level.qty -= order.leaves
        if not level.orders:
            del levels[price]

    def _compact_stops(self) -> None:
        live = self._orders
        for heap in (self._buy_stops, self._sell_stops):
            heap[:] = [entry for entry in heap if live.get(entry[1]) is entry[2]]
            heapify(heap)
        self._stop_garbage = 0
