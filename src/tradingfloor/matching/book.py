"""The order book of one symbol: price-time (FIFO) priority, single-threaded, deterministic.

Layout, chosen for CPython's speed:

- each side is a dict `price -> Level` plus a binary heap of its prices (negated for bids), with
  lazy deletion: a level that empties leaves the dict at once and its heap entry is dropped when
  it reaches the top; a set of the keys in the heap stops a price from being pushed twice;
- a level is a deque of live orders in time priority and their total open quantity;
- pending stops wait in two heaps keyed by (stop price, order id), trailing stops in a list;
  stops elected during a command are queued by order id and enter after the order that elected
  them has finished, in placement order.

All methods append the events they cause to `out`; none reads a clock.
"""

from collections import deque
from collections.abc import Iterator
from heapq import heapify, heappop, heappush, nlargest, nsmallest

import msgspec

from tradingfloor.domain.commands import PlaceOrder, ReplaceOrder
from tradingfloor.domain.enums import (
    STOP_ORDER_TYPES,
    CancelReason,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderReplaced,
    ReplaceRejected,
    StopTriggered,
    TradeExecuted,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.prices import CENT, ONE_DOLLAR, SUB_PENNY
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.matching.order import Order

# Module-level ints: cheaper to read in the hot loop than enum class attributes.
BUY = Side.BUY
SELL = Side.SELL
LIMIT = OrderType.LIMIT
MARKET = OrderType.MARKET
STOP = OrderType.STOP
STOP_LIMIT = OrderType.STOP_LIMIT
TRAILING_STOP = OrderType.TRAILING_STOP
DAY = TimeInForce.DAY
IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
NEW = OrderStatus.NEW
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
CANCELED = OrderStatus.CANCELED
PENDING_TRIGGER = OrderStatus.PENDING_TRIGGER
STP_NONE = SelfTradePrevention.NONE
CANCEL_NEWEST = SelfTradePrevention.CANCEL_NEWEST
CANCEL_OLDEST = SelfTradePrevention.CANCEL_OLDEST
CANCEL_BOTH = SelfTradePrevention.CANCEL_BOTH
DECREMENT = SelfTradePrevention.DECREMENT
STOP_TYPES = STOP_ORDER_TYPES
BPS_SCALE = 10_000

stop_heap_garbage_max = 1_024
"""Dead entries (canceled or replaced stops) tolerated in the stop heaps before a rebuild."""


class Level:
    """The live orders at one price, oldest first, and their total open quantity."""

    __slots__ = ("orders", "qty")

    def __init__(self) -> None:
        self.orders: deque[Order] = deque()
        self.qty = 0


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


class OrderBook:
    """The book of one instrument. Feed it commands in sequence order; read it between them."""

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

    # ------------------------------------------------------------------ commands

    def validate(self, command: PlaceOrder) -> RejectReason | None:
        """Why this book refuses the order as malformed for its instrument; None if it is not."""
        qty = command.qty
        price = command.price
        # The common case, a plain limit order, is validated inline: this is the hot path.
        if (
            command.order_type == LIMIT
            and type(qty) is int
            and qty > 0
            and not qty % self._lot
            and type(price) is int
            and price > 0
            and not price % (self._tick or (CENT if price >= ONE_DOLLAR else SUB_PENNY))
            and command.stop_price is None
            and command.trail_price is None
            and command.trail_bps is None
        ):
            return None
        return self._validate(command)

    def place(self, command: PlaceOrder, seq: int, ts: int, out: list[Event]) -> None:
        """Validate, accept and execute a new order; stops wait for their trigger."""
        reason = self.validate(command)
        if reason is not None:
            out.append(
                OrderRejected(
                    seq,
                    ts,
                    command.order_id,
                    command.account,
                    self.symbol,
                    reason,
                    command.client_order_id,
                )
            )
            return
        self.accept(command, seq, ts, out)

    def accept(
        self,
        command: PlaceOrder,
        seq: int,
        ts: int,
        out: list[Event],
        protection: int | None = None,
    ) -> None:
        """Accept and execute an order that `validate` passed; stops wait for their trigger.

        `protection` caps a market or stop-market order: it never trades beyond that price.
        """
        order_type = command.order_type
        qty = command.qty
        price = command.price
        stp = command.stp
        tif = command.tif
        side = command.side
        order = Order(
            command.order_id,
            command.account,
            side,
            order_type,
            tif,
            qty,
            qty,
            price,
            command.stop_price,
            self._stp if stp is None else stp,
            0,
            NEW,
            command.trail_price,
            command.trail_bps,
            None,
            command.client_order_id,
            protection,
        )
        if tif == FOK and order_type not in STOP_TYPES and not self._fillable(order):
            out.append(
                OrderRejected(
                    seq,
                    ts,
                    order.order_id,
                    order.account,
                    self.symbol,
                    RejectReason.FOK_NOT_FILLABLE,
                    order.client_order_id,
                )
            )
            return
        is_stop = order_type in STOP_TYPES
        if is_stop:  # first, so that a trailing stop's accepted event carries its stop price
            self._arm_stop(order)  # an election only queues it: it enters after this event
        out.append(
            OrderAccepted(
                seq,
                ts,
                order.order_id,
                order.account,
                self.symbol,
                side,
                order_type,
                tif,
                qty,
                price,
                order.stop_price,
                order.client_order_id,
            )
        )
        if is_stop:
            if self._triggered:
                self._run_triggered(seq, ts, out)
            return
        if price is None or tif == IOC or tif == FOK:
            self._execute(order, seq, ts, out)
        elif side == BUY:
            if self._ask_heap and self._ask_heap[0] <= price:
                self._execute(order, seq, ts, out)  # may cross (or the top is stale)
            else:
                level = self._bids.get(price)
                if level is None:
                    self._rest(order)
                else:  # inline _rest for the busiest case: joining a level
                    level.orders.append(order)
                    level.qty += qty
                    self._orders[order.order_id] = order
        elif self._bid_heap and -self._bid_heap[0] >= price:
            self._execute(order, seq, ts, out)
        else:
            level = self._asks.get(price)
            if level is None:
                self._rest(order)
            else:
                level.orders.append(order)
                level.qty += qty
                self._orders[order.order_id] = order
        if self._triggered:
            self._run_triggered(seq, ts, out)

    def cancel(
        self,
        order_id: int,
        account: str,
        seq: int,
        ts: int,
        out: list[Event],
        reason: CancelReason = CancelReason.REQUESTED,
    ) -> bool:
        """Cancel a live order. Returns False (and emits nothing) if it is not live here."""
        order = self._orders.get(order_id)
        if order is None or (account and order.account != account):
            return False
        canceled = order.leaves
        if order.status == PENDING_TRIGGER:
            self._remove(order)
        else:  # inline _remove for a resting order: the common case
            del self._orders[order_id]
            levels = self._bids if order.side == BUY else self._asks
            price: int = order.price  # type: ignore[assignment]
            level = levels[price]
            orders = level.orders
            if len(orders) == 1:
                del levels[price]
            else:
                orders.remove(order)
                level.qty -= canceled
        order.leaves = 0
        order.status = CANCELED
        out.append(self._canceled(order, canceled, reason, seq, ts))
        return True

    def order_view(self, order_id: int) -> Order | None:
        """The live order with this id, for the engine's risk layer to read (never to change)."""
        return self._orders.get(order_id)

    def validate_replace(self, command: ReplaceOrder) -> RejectReason | None:
        """Why this book refuses the replace; None if it would apply."""
        return self._validate_replace(command, self._orders.get(command.order_id))

    def replace(
        self,
        command: ReplaceOrder,
        seq: int,
        ts: int,
        out: list[Event],
        protection: int | None = None,
    ) -> None:
        """Cancel/replace a live order. The caller has checked that `new_order_id` is fresh.

        `protection`, when given, becomes the replacement's protection price.
        """
        order = self._orders.get(command.order_id)
        reason = self._validate_replace(command, order)
        if reason is not None or order is None:
            out.append(
                ReplaceRejected(
                    seq,
                    ts,
                    command.order_id,
                    command.new_order_id,
                    self.symbol,
                    reason or RejectReason.UNKNOWN_ORDER,
                    command.account or (order.account if order is not None else ""),
                )
            )
            return
        qty = order.qty if command.qty is None else command.qty
        price = order.price if command.price is None else command.price
        stop_price = order.stop_price if command.stop_price is None else command.stop_price
        resting = order.status != PENDING_TRIGGER
        new_leaves = qty - order.filled
        # Only lowering: the open quantity must not grow (an STP decrement may have cut it).
        keeps_priority = (
            resting
            and price == order.price
            and qty < order.qty
            and new_leaves <= order.leaves
            and command.stop_price is None
        )
        out.append(
            OrderReplaced(
                seq,
                ts,
                command.order_id,
                command.new_order_id,
                self.symbol,
                qty,
                price,
                stop_price,
                new_leaves,
                keeps_priority,
                order.account,
                command.client_order_id,
            )
        )
        if keeps_priority:
            level = (self._bids if order.side == BUY else self._asks)[order.price]  # type: ignore[index]
            level.qty -= order.leaves - new_leaves
            del self._orders[order.order_id]
            order.order_id = command.new_order_id
            order.qty = qty
            order.leaves = new_leaves
            order.client_order_id = command.client_order_id
            self._orders[order.order_id] = order
            return
        self._remove(order)
        order.status = OrderStatus.REPLACED
        replacement = msgspec.structs.replace(
            order,
            order_id=command.new_order_id,
            qty=qty,
            leaves=new_leaves,
            price=price,
            stop_price=stop_price,
            status=PARTIALLY_FILLED if order.filled else NEW,
            protection=order.protection if protection is None else protection,
            client_order_id=command.client_order_id,
        )
        order.leaves = 0
        if resting:
            self._execute(replacement, seq, ts, out)
        else:
            replacement.status = PENDING_TRIGGER
            self._arm_stop(replacement)
        if self._triggered:
            self._run_triggered(seq, ts, out)

    def expire(self, seq: int, ts: int, out: list[Event]) -> None:
        """End of session: every live DAY order expires, in order id order."""
        for order_id in sorted(self._orders):
            order = self._orders[order_id]
            if order.tif != DAY:
                continue
            expired = order.leaves
            self._remove(order)
            order.leaves = 0
            order.status = OrderStatus.EXPIRED
            out.append(OrderExpired(seq, ts, order_id, self.symbol, expired, order.account))

    # ------------------------------------------------------------------ reads

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

    # ------------------------------------------------------------------ snapshots

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
    def from_state(cls, state: BookState) -> "OrderBook":
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

    # ------------------------------------------------------------------ validation

    def _validate(self, command: PlaceOrder) -> RejectReason | None:
        qty = command.qty
        if type(qty) is not int or qty <= 0:
            return RejectReason.INVALID_QUANTITY
        if qty % self.instrument.lot_size:
            return RejectReason.QUANTITY_NOT_LOT_MULTIPLE
        order_type = command.order_type
        price = command.price
        if order_type == LIMIT or order_type == STOP_LIMIT:
            if price is None:
                return RejectReason.PRICE_REQUIRED
            reason = self._price_reason(price)
            if reason is not None:
                return reason
        elif price is not None:
            return RejectReason.PRICE_NOT_ALLOWED
        stop_price = command.stop_price
        if order_type == STOP or order_type == STOP_LIMIT:
            if stop_price is None:
                return RejectReason.STOP_PRICE_REQUIRED
            if self._price_reason(stop_price) is not None:
                return RejectReason.INVALID_STOP_PRICE
        elif stop_price is not None:
            return RejectReason.STOP_PRICE_NOT_ALLOWED
        if order_type == TRAILING_STOP:
            return self._trail_reason(command)
        if command.trail_price is not None or command.trail_bps is not None:
            return RejectReason.TRAIL_NOT_ALLOWED
        return None

    def _price_reason(self, price: int) -> RejectReason | None:
        if type(price) is not int or price <= 0:
            return RejectReason.INVALID_PRICE
        if not self.instrument.is_on_tick(price):
            return RejectReason.PRICE_NOT_ON_TICK
        return None

    @staticmethod
    def _trail_reason(command: PlaceOrder) -> RejectReason | None:
        trail_price, trail_bps = command.trail_price, command.trail_bps
        if (trail_price is None) == (trail_bps is None):
            return RejectReason.TRAIL_REQUIRED
        trail = trail_price if trail_price is not None else trail_bps
        if type(trail) is not int or trail <= 0 or (trail_bps is not None and trail >= BPS_SCALE):
            return RejectReason.INVALID_TRAIL
        return None

    def _validate_replace(self, command: ReplaceOrder, order: Order | None) -> RejectReason | None:
        if order is None:
            return RejectReason.UNKNOWN_ORDER
        if command.account and command.account != order.account:
            return RejectReason.ACCOUNT_MISMATCH
        qty, price, stop_price = command.qty, command.price, command.stop_price
        if (
            (qty is None or qty - order.filled == order.leaves)
            and (price is None or price == order.price)
            and (stop_price is None or stop_price == order.stop_price)
        ):
            return RejectReason.REPLACE_NOTHING_TO_CHANGE
        if qty is not None:
            if type(qty) is not int or qty <= 0:
                return RejectReason.INVALID_QUANTITY
            if qty % self.instrument.lot_size:
                return RejectReason.QUANTITY_NOT_LOT_MULTIPLE
            if qty <= order.filled:
                return RejectReason.REPLACE_QTY_NOT_ABOVE_FILLED
        if price is not None:
            if order.price is None:
                return RejectReason.PRICE_NOT_ALLOWED
            reason = self._price_reason(price)
            if reason is not None:
                return reason
        if stop_price is not None:
            if order.status != PENDING_TRIGGER or order.order_type not in (STOP, STOP_LIMIT):
                return RejectReason.STOP_PRICE_NOT_ALLOWED
            if self._price_reason(stop_price) is not None:
                return RejectReason.INVALID_STOP_PRICE
        return None

    # ------------------------------------------------------------------ matching

    def _execute(self, order: Order, seq: int, ts: int, out: list[Event]) -> None:
        """Match an incoming order, then rest or cancel what is left of it.

        The order is not in the live index while it executes; it enters it only if it rests.
        """
        if order.tif == FOK and order.order_type in STOP_TYPES and not self._fillable(order):
            # new FOK orders were checked before acceptance; an elected stop is checked here
            self._finish(order, CancelReason.FOK_NOT_FILLABLE, seq, ts, out)
            return
        stp_reason = self._match(order, seq, ts, out)
        if order.leaves == 0:
            if order.status != CANCELED:
                order.status = FILLED
        elif stp_reason is not None:
            self._finish(order, stp_reason, seq, ts, out)
        elif order.price is None:
            liquidity_left = self._asks if order.side == BUY else self._bids
            reason = (
                CancelReason.PRICE_PROTECTION
                if order.protection is not None and liquidity_left
                else CancelReason.MARKET_NO_LIQUIDITY
            )
            self._finish(order, reason, seq, ts, out)
        elif order.tif == IOC or order.tif == FOK:
            self._finish(order, CancelReason.IOC_REMAINDER, seq, ts, out)
        else:
            self._rest(order)

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

    def _finish(
        self, order: Order, reason: CancelReason, seq: int, ts: int, out: list[Event]
    ) -> None:
        """Cancel the open remainder of an order that is not resting."""
        canceled = order.leaves
        order.leaves = 0
        order.status = CANCELED
        out.append(self._canceled(order, canceled, reason, seq, ts))

    def _canceled(
        self, order: Order, qty: int, reason: CancelReason, seq: int, ts: int
    ) -> OrderCanceled:
        """`qty` of `order` was canceled; what is left of it is its leaves now."""
        return OrderCanceled(
            seq, ts, order.order_id, self.symbol, qty, order.leaves, reason, order.account
        )

    def _match(self, taker: Order, seq: int, ts: int, out: list[Event]) -> CancelReason | None:
        """Trade `taker` against the other side in price-time priority.

        Returns SELF_TRADE when self-trade prevention ends the taker with a remainder left.
        """
        limit = taker.price
        if limit is None:
            limit = taker.protection
        if taker.side == BUY:
            levels, heap, keys, sign = self._asks, self._ask_heap, self._ask_keys, 1
            limit_key = limit
        else:
            levels, heap, keys, sign = self._bids, self._bid_heap, self._bid_keys, -1
            limit_key = None if limit is None else -limit
        stp = taker.stp
        account = taker.account
        taker_id = taker.order_id
        aggressor = taker.side
        symbol = self.symbol
        live = self._orders
        leaves = taker.leaves
        filled = 0
        stp_reason: CancelReason | None = None
        trade_id = self._trade_id
        watch_stops = bool(self._buy_stops or self._sell_stops or self._trailing)
        fees = self.fees
        last_price = self.last_price
        while leaves and heap:
            key = heap[0]
            if limit_key is not None and key > limit_key:
                break
            price = key * sign
            level = levels.get(price)
            if level is None:
                heappop(heap)
                keys.discard(key)
                continue
            orders = level.orders
            while leaves and orders:
                maker = orders[0]
                if stp and maker.account == account:
                    taker.leaves = leaves
                    stp_reason = self._prevent_self_trade(taker, maker, level, seq, ts, out)
                    leaves = taker.leaves
                    if stp_reason is not None or taker.status == CANCELED:
                        break
                    continue
                maker_leaves = maker.leaves
                qty = leaves if leaves < maker_leaves else maker_leaves
                leaves -= qty
                maker_leaves -= qty
                maker.leaves = maker_leaves
                maker.filled += qty
                level.qty -= qty
                filled += qty
                trade_id += 1
                if fees is None:
                    maker_fee = taker_fee = 0
                else:
                    notional = qty * price
                    maker_fee = qty * fees[0] + notional * fees[1] // 1_000_000
                    taker_fee = qty * fees[2] + notional * fees[3] // 1_000_000
                    if maker_fee > notional:
                        maker_fee = notional
                    if taker_fee > notional:
                        taker_fee = notional
                out.append(
                    TradeExecuted(
                        seq,
                        ts,
                        symbol,
                        trade_id,
                        price,
                        qty,
                        maker.order_id,
                        taker_id,
                        maker.account,
                        account,
                        aggressor,
                        maker_leaves,
                        leaves,
                        maker_fee,
                        taker_fee,
                    )
                )
                # A resting order's NEW/PARTIALLY_FILLED follows from `filled`; only its end
                # is recorded on the object.
                if not maker_leaves:
                    maker.status = FILLED
                    orders.popleft()
                    del live[maker.order_id]
                last_price = price
                if watch_stops:
                    self._elect_stops(price)
            if not orders:
                del levels[price]
                heappop(heap)
                keys.discard(key)
            if stp_reason is not None or taker.status == CANCELED:
                break
        self._trade_id = trade_id
        self.last_price = last_price
        taker.leaves = leaves
        taker.filled += filled
        return stp_reason

    def _prevent_self_trade(
        self, taker: Order, maker: Order, level: Level, seq: int, ts: int, out: list[Event]
    ) -> CancelReason | None:
        """Apply the taker's STP rule against its own resting `maker` (NYSE 7.31(i)(2))."""
        stp = taker.stp
        if stp == CANCEL_NEWEST:
            return CancelReason.SELF_TRADE
        if stp == CANCEL_OLDEST or stp == CANCEL_BOTH:
            self._cancel_resting(maker, maker.leaves, level, seq, ts, out)
            return CancelReason.SELF_TRADE if stp == CANCEL_BOTH else None
        if stp != DECREMENT:
            raise InvariantViolation(f"unknown self-trade rule {stp!r}")
        cut = min(taker.leaves, maker.leaves)
        self._cancel_resting(maker, cut, level, seq, ts, out)
        taker.leaves -= cut
        out.append(self._canceled(taker, cut, CancelReason.SELF_TRADE, seq, ts))
        if taker.leaves == 0:
            taker.status = CANCELED
        return None

    def _cancel_resting(
        self, maker: Order, qty: int, level: Level, seq: int, ts: int, out: list[Event]
    ) -> None:
        """Take `qty` off the front order of `level` without a trade (STP)."""
        maker.leaves -= qty
        level.qty -= qty
        if maker.leaves == 0:
            level.orders.popleft()
            maker.status = CANCELED
            del self._orders[maker.order_id]
        out.append(self._canceled(maker, qty, CancelReason.SELF_TRADE, seq, ts))

    def _fillable(self, taker: Order) -> bool:
        """Whether a fill-or-kill order can fill in full now, own orders counted as STP acts."""
        levels = self._asks if taker.side == BUY else self._bids
        limit = taker.price if taker.price is not None else taker.protection
        if limit is None:
            prices = sorted(levels, reverse=taker.side == SELL)
        elif taker.side == BUY:
            prices = sorted(p for p in levels if p <= limit)
        else:
            prices = sorted((p for p in levels if p >= limit), reverse=True)
        need = taker.leaves
        for price in prices:
            for maker in levels[price].orders:
                if taker.stp and maker.account == taker.account:
                    if taker.stp == CANCEL_OLDEST:
                        continue
                    return False
                need -= maker.leaves
                if need <= 0:
                    return True
        return False

    # ------------------------------------------------------------------ stops

    def _arm_stop(self, order: Order) -> None:
        """Park a stop until the last trade reaches it; elect it at once if it already has."""
        order.status = PENDING_TRIGGER
        self._orders[order.order_id] = order
        last = self.last_price
        if order.order_type == TRAILING_STOP:
            self._trailing.append(order)
            if order.watermark is None:  # a replaced trailing stop keeps its high (or low)
                order.watermark = last
            if order.watermark is not None and last is not None:
                order.stop_price = self._trail_stop(order, order.watermark)
                if self._stop_reached(order, last):
                    self._trailing.remove(order)
                    heappush(self._triggered, (order.order_id, last, order))
            return
        stop: int = order.stop_price  # type: ignore[assignment]
        if last is not None and self._stop_reached(order, last):
            heappush(self._triggered, (order.order_id, last, order))
        elif order.side == BUY:
            heappush(self._buy_stops, (stop, order.order_id, order))
        else:
            heappush(self._sell_stops, (-stop, order.order_id, order))

    @staticmethod
    def _stop_reached(order: Order, last: int) -> bool:
        stop = order.stop_price
        if stop is None:
            return False
        return last >= stop if order.side == BUY else last <= stop

    def _trail_stop(self, order: Order, watermark: int) -> int:
        """A trailing stop's stop price from its watermark (high for sells, low for buys)."""
        if order.trail_price is not None:
            offset = order.trail_price
        else:
            # rounded up: a stop never sits on its own watermark
            offset = -(-watermark * order.trail_bps // BPS_SCALE)  # type: ignore[operator]
        if order.side == SELL:
            return max(self.instrument.round_to_tick(watermark - offset, up=False), 1)
        return self.instrument.round_to_tick(watermark + offset, up=True)

    def _elect_stops(self, price: int) -> None:
        """Queue every stop the trade at `price` elects; they run after the current order."""
        triggered = self._triggered
        buy_stops = self._buy_stops
        while buy_stops and buy_stops[0][0] <= price:
            _, order_id, order = heappop(buy_stops)
            if order.status == PENDING_TRIGGER and order.order_id == order_id:
                heappush(triggered, (order_id, price, order))
            else:
                self._stop_garbage -= 1
        sell_stops = self._sell_stops
        while sell_stops and -sell_stops[0][0] >= price:
            _, order_id, order = heappop(sell_stops)
            if order.status == PENDING_TRIGGER and order.order_id == order_id:
                heappush(triggered, (order_id, price, order))
            else:
                self._stop_garbage -= 1
        if self._trailing:
            self._trail(price)

    def _trail(self, price: int) -> None:
        still: list[Order] = []
        for order in self._trailing:
            watermark = order.watermark
            if (
                watermark is None
                or (order.side == SELL and price > watermark)
                or (order.side == BUY and price < watermark)
            ):
                order.watermark = price
                order.stop_price = self._trail_stop(order, price)
            if self._stop_reached(order, price):
                heappush(self._triggered, (order.order_id, price, order))
            else:
                still.append(order)
        self._trailing = still

    def _run_triggered(self, seq: int, ts: int, out: list[Event]) -> None:
        """Enter elected stops in placement order; each may elect more."""
        triggered = self._triggered
        while triggered:
            order_id, price, order = heappop(triggered)
            out.append(
                StopTriggered(
                    seq, ts, order_id, self.symbol, order.stop_price or price, price, order.account
                )
            )
            order.status = PARTIALLY_FILLED if order.filled else NEW
            self._orders.pop(order_id, None)
            self._execute(order, seq, ts, out)

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
