"""Stop orders in an order book: parked until the last trade reaches them, then elected.

Stop and stop-limit orders wait in two heaps keyed by (stop price, order id); a canceled or
replaced one leaves a dead entry behind, dropped when it reaches the top of its heap or when
the heaps are compacted. Trailing stops wait in a list, their stop price following the highest
(sells) or lowest (buys) trade since they were placed, their watermark. A trade elects every
stop it reaches; elected stops queue by order id and enter the book after the order whose trade
elected them (`OrderExecution._run_triggered`).
"""

from heapq import heappop, heappush

from tradingfloor.domain.enums import OrderStatus, OrderType, Side
from tradingfloor.matching.layout import BookLayout
from tradingfloor.matching.order import Order

BUY = Side.BUY
SELL = Side.SELL
TRAILING_STOP = OrderType.TRAILING_STOP
PENDING_TRIGGER = OrderStatus.PENDING_TRIGGER
BPS_SCALE = 10_000


class StopOrders(BookLayout):
    """Arming, electing and trailing the stops of `OrderBook`."""

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
