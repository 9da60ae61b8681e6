"""How an order executes in an order book: price-time matching, self-trade prevention, FOK.

An incoming order (or an elected stop) trades against the other side best price first and in
time priority within a price; what is left of it rests, or is canceled if it may not rest
(market, IOC, FOK, a self-trade prevented). Every trade may elect stops; they enter after it.
"""

from heapq import heappop

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import (
    STOP_ORDER_TYPES,
    CancelReason,
    OrderStatus,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    StopTriggered,
    TradeExecuted,
)
from tradingfloor.matching.layout import Level
from tradingfloor.matching.order import Order
from tradingfloor.matching.stops import StopOrders

# Module-level ints: cheaper to read in the hot loop than enum class attributes.
BUY = Side.BUY
SELL = Side.SELL
IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
NEW = OrderStatus.NEW
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
CANCELED = OrderStatus.CANCELED
PENDING_TRIGGER = OrderStatus.PENDING_TRIGGER
CANCEL_NEWEST = SelfTradePrevention.CANCEL_NEWEST
CANCEL_OLDEST = SelfTradePrevention.CANCEL_OLDEST
CANCEL_BOTH = SelfTradePrevention.CANCEL_BOTH
DECREMENT = SelfTradePrevention.DECREMENT
STOP_TYPES = STOP_ORDER_TYPES


class OrderExecution(StopOrders):
    """Matching and its outcomes for `OrderBook`."""

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

    def _finish(
        self, order: Order, reason: CancelReason, seq: int, ts: int, out: list[Event]
    ) -> None:
        """Cancel the open remainder of an order that is not resting."""
        canceled = order.leaves
        order.leaves = 0
        order.status = CANCELED
        out.append(self._canceled(order, canceled, reason, seq, ts))
        if order.oco:
            self._follow(order, seq, ts, out)

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
                if maker.oco:
                    self._follow(maker, seq, ts, out)
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
        if taker.oco and filled:
            self._follow(taker, seq, ts, out)
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
        if taker.oco:
            self._follow(taker, seq, ts, out)
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
        if maker.oco:
            self._follow(maker, seq, ts, out)

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

    def _run_triggered(self, seq: int, ts: int, out: list[Event]) -> None:
        """Enter elected stops in placement order; each may elect more."""
        triggered = self._triggered
        while triggered:
            order_id, price, order = heappop(triggered)
            if order.status == CANCELED:  # its one-cancels-other pair ended it meanwhile
                continue
            out.append(
                StopTriggered(
                    seq, ts, order_id, self.symbol, order.stop_price or price, price, order.account
                )
            )
            order.status = PARTIALLY_FILLED if order.filled else NEW
            self._orders.pop(order_id, None)
            self._execute(order, seq, ts, out)

    def _follow(self, order: Order, seq: int, ts: int, out: list[Event]) -> None:
        """`order`'s open quantity went down: take its pair's down to it."""
        other = self._orders.get(order.oco)
        if other is None or other.leaves <= order.leaves:
            return
        cut = other.leaves - order.leaves
        if order.leaves == 0:
            self._remove(other)
            other.leaves = 0
            other.status = CANCELED
        else:
            if other.status != PENDING_TRIGGER:
                levels = self._bids if other.side == BUY else self._asks
                levels[other.price].qty -= cut  # type: ignore[index]
            other.leaves = order.leaves
        out.append(self._canceled(other, cut, CancelReason.CONTINGENT, seq, ts))

    def _order_of(self, command: PlaceOrder, protection: int | None) -> Order:
        """The book's order for an accepted command."""
        qty = command.qty
        stp = command.stp
        return Order(
            command.order_id,
            command.account,
            command.side,
            command.order_type,
            command.tif,
            qty,
            qty,
            command.price,
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

    def _enter(self, order: Order, seq: int, ts: int, out: list[Event]) -> None:
        """An accepted order enters: a stop is armed, any other executes or rests; then the
        stops its trades elected run. (`OrderBook.accept` does the same inline: the hot path
        of every new order spares the calls; legs enter here.)"""
        side = order.side
        price = order.price
        tif = order.tif
        qty = order.qty
        is_stop = order.order_type in STOP_TYPES
        if is_stop:  # first, so that a trailing stop's accepted event carries its stop price
            self._arm_stop(order)  # an election only queues it: it enters after this event
        out.append(self._accepted(order, seq, ts))
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

    def _accepted(self, order: Order, seq: int, ts: int) -> OrderAccepted:
        return OrderAccepted(
            seq,
            ts,
            order.order_id,
            order.account,
            self.symbol,
            order.side,
            order.order_type,
            order.tif,
            order.qty,
            order.price,
            order.stop_price,
            order.client_order_id,
        )
