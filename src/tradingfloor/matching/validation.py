"""Why an order book refuses a new order or a replace as malformed for its instrument.

Quantities in whole lots, prices on the tick, each order type with exactly the prices it needs.
A refusal is a `RejectReason`; None means the order (or the replace) may go on.
"""

from tradingfloor.domain.commands import PlaceOrder, ReplaceOrder
from tradingfloor.domain.enums import OrderStatus, OrderType
from tradingfloor.domain.prices import CENT, ONE_DOLLAR, SUB_PENNY
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.matching.layout import BookLayout
from tradingfloor.matching.order import Order
from tradingfloor.matching.stops import BPS_SCALE

LIMIT = OrderType.LIMIT
STOP = OrderType.STOP
STOP_LIMIT = OrderType.STOP_LIMIT
TRAILING_STOP = OrderType.TRAILING_STOP
PENDING_TRIGGER = OrderStatus.PENDING_TRIGGER


class OrderValidation(BookLayout):
    """The checks of `OrderBook.place` and `OrderBook.replace`."""

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

    def validate_replace(self, command: ReplaceOrder) -> RejectReason | None:
        """Why this book refuses the replace; None if it would apply."""
        return self._validate_replace(command, self._orders.get(command.order_id))

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

    @staticmethod
    def _replace_trail_reason(command: ReplaceOrder, order: Order) -> RejectReason | None:
        """A new trail only for a trailing stop, of the kind it was placed with."""
        trail_price, trail_bps = command.trail_price, command.trail_bps
        if trail_price is None and trail_bps is None:
            return None
        if order.order_type != TRAILING_STOP or (
            trail_price is not None and trail_bps is not None
        ):
            return RejectReason.TRAIL_NOT_ALLOWED
        if (trail_price is not None and order.trail_price is None) or (
            trail_bps is not None and order.trail_bps is None
        ):
            return RejectReason.TRAIL_NOT_ALLOWED
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
            and (command.tif is None or command.tif == order.tif)
            and (command.trail_price is None or command.trail_price == order.trail_price)
            and (command.trail_bps is None or command.trail_bps == order.trail_bps)
        ):
            return RejectReason.REPLACE_NOTHING_TO_CHANGE
        reason = self._replace_trail_reason(command, order)
        if reason is not None:
            return reason
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
