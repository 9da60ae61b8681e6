"""The order book of one symbol: price-time (FIFO) priority, single-threaded, deterministic.

`OrderBook` takes the book's commands: place (validate, accept, execute), cancel, replace and
the end-of-session expiry. Its parts, one module each:

- `layout`: the state (price levels, heaps, the live-order index) and the moves that keep it;
- `validation`: why an order or a replace is refused as malformed;
- `execution`: price-time matching, self-trade prevention, fill-or-kill;
- `stops`: stop, stop-limit and trailing-stop orders, parked, elected and trailed;
- `contingent`: the legs of bracket, OCO and OTO orders, and one-cancels-other pairs;
- `views`: what readers see (levels, depth, the L3 book) and the invariant check;
- `snapshot`: the book's whole state in canonical order, and the book rebuilt from it;
- `adjustments`: live orders adjusted by a corporate action (splits, dividends, renames).

All methods append the events they cause to `out`; none reads a clock.
"""

import msgspec

from tradingfloor.domain.commands import PlaceOrder, ReplaceOrder
from tradingfloor.domain.enums import (
    STOP_ORDER_TYPES,
    CancelReason,
    OrderStatus,
    Side,
    TimeInForce,
)
from tradingfloor.domain.events import (
    Event,
    OrderAccepted,
    OrderExpired,
    OrderReplaced,
    ReplaceRejected,
)
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.rejections import order_rejected
from tradingfloor.matching.adjustments import BookAdjustments
from tradingfloor.matching.contingent import ContingentOrders
from tradingfloor.matching.order import Order
from tradingfloor.matching.snapshot import BookState
from tradingfloor.matching.validation import OrderValidation
from tradingfloor.matching.views import BookLevel, BookViews, Depth, RestingOrder

__all__ = ["BookLevel", "BookState", "Depth", "OrderBook", "RestingOrder"]

# Module-level ints: cheaper to read in the hot loop than enum class attributes.
BUY = Side.BUY
DAY = TimeInForce.DAY
IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
NEW = OrderStatus.NEW
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
CANCELED = OrderStatus.CANCELED
PENDING_TRIGGER = OrderStatus.PENDING_TRIGGER
STOP_TYPES = STOP_ORDER_TYPES


class OrderBook(ContingentOrders, OrderValidation, BookViews, BookAdjustments):
    """The book of one instrument. Feed it commands in sequence order; read it between them."""

    # ------------------------------------------------------------------ commands

    def place(self, command: PlaceOrder, seq: int, ts: int, out: list[Event]) -> None:
        """Validate, accept and execute a new order; stops wait for their trigger."""
        reason = self.validate(command)
        if reason is not None:
            out.append(order_rejected(command, seq, ts, command.order_id, self.symbol, reason))
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
            reason = RejectReason.FOK_NOT_FILLABLE
            out.append(order_rejected(command, seq, ts, order.order_id, self.symbol, reason))
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
        if order.oco:
            self._follow(order, seq, ts, out)
        return True

    def order_view(self, order_id: int) -> Order | None:
        """The live order with this id, for the engine's risk layer to read (never to change)."""
        return self._orders.get(order_id)

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
            and (command.tif is None or command.tif == order.tif)
        )
        tif = order.tif if command.tif is None else command.tif
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
                None if tif == order.tif else tif,  # a change only: records stay as they were
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
            tif=tif,
            trail_price=order.trail_price if command.trail_price is None else command.trail_price,
            trail_bps=order.trail_bps if command.trail_bps is None else command.trail_bps,
        )
        order.leaves = 0
        if resting and tif == FOK and not self._fillable(replacement):
            # as an elected FOK stop: the replacement ends at once, unfilled
            self._finish(replacement, CancelReason.FOK_NOT_FILLABLE, seq, ts, out)
        elif resting:
            self._execute(replacement, seq, ts, out)
        else:
            replacement.status = PENDING_TRIGGER
            self._arm_stop(replacement)
        if self._triggered:
            self._run_triggered(seq, ts, out)

    def expire(self, seq: int, ts: int, out: list[Event], order_id_max: int | None = None) -> None:
        """End of session: every live DAY order expires, in order id order; with
        `order_id_max`, only those with an id up to it (the orders of the sessions closing)."""
        for order_id in sorted(self._orders):
            order = self._orders[order_id]
            if order_id_max is not None and (order.parent or order_id) > order_id_max:
                continue  # a leg is of its parent's session
            if order.tif != DAY:
                continue
            expired = order.leaves
            self._remove(order)
            order.leaves = 0
            order.status = OrderStatus.EXPIRED
            out.append(OrderExpired(seq, ts, order_id, self.symbol, expired, order.account))
