"""Live orders adjusted by a corporate action, time priority kept.

Following FINRA Rule 5330 (adjustment of open orders), extended to every order so that no
order keeps a price from before the action:

- a forward split of `old` into `new` shares multiplies an order's quantities by new/old,
  rounded down to whole lots (what was filled and canceled scales too), and divides its
  prices by it, rounded to the tick in the direction that never makes the order more
  aggressive than it was: buy limits and sell stops (and a buy's protection cap) DOWN,
  sell limits and buy stops (and a sell's protection floor) UP. Trailing stops keep their
  watermark (divided) and offset (divided, rounded up).
- a cash dividend, at its ex-date, lowers buy limits and sell stops (the stop and the limit
  of a sell stop-limit, a sell trailing stop's watermark) by the dividend, rounded down to
  the tick; sell limits and buy stops stay, as the rule says.
- a symbol change renames the book; the orders do not change.

An adjustment rewrites the book from its exported state: that list is in price-time
priority, and the price maps are monotone, so orders whose prices meet on one level after
rounding keep the order they had (the one at the better price before first, then time).
The reverse split is not here: it cancels every open order (the rule's choice).
"""

from collections.abc import Mapping

import msgspec

from tradingfloor.domain.enums import STOP_ORDER_TYPES, OrderType, Side
from tradingfloor.domain.instruments import Instrument
from tradingfloor.matching.order import Order
from tradingfloor.matching.snapshot import BookSnapshots, BookState
from tradingfloor.matching.stops import StopOrders

BUY = Side.BUY
SELL = Side.SELL
TRAILING_STOP = OrderType.TRAILING_STOP


class OrderTerms(msgspec.Struct, frozen=True, array_like=True):
    """What an adjustment may change in one live order."""

    qty: int
    filled: int
    leaves: int
    price: int | None
    stop_price: int | None
    protection: int | None
    watermark: int | None
    trail_price: int | None


def terms_of(order: Order) -> OrderTerms:
    return OrderTerms(
        order.qty,
        order.filled,
        order.leaves,
        order.price,
        order.stop_price,
        order.protection,
        order.watermark,
        order.trail_price,
    )


def split_price(instrument: Instrument, price: int, old: int, new: int, *, up: bool) -> int:
    """`price` x old / new, rounded up or down to the tick; never below one tick."""
    exact = -(-price * old // new) if up else price * old // new
    rounded = instrument.round_to_tick(exact, up=up)
    return max(rounded, instrument.tick_at(max(rounded, 1)))


def _split_qty(qty: int, old: int, new: int, lot: int) -> int:
    shares = qty * new // old
    return shares - shares % lot


def split_terms(order: Order, instrument: Instrument, old: int, new: int) -> OrderTerms:
    """The terms of `order` after a forward split of `old` into `new` (see the module)."""
    lot = instrument.lot_size
    leaves = _split_qty(order.leaves, old, new, lot)
    qty = order.qty * new // old
    filled = min(order.filled * new // old, qty - leaves)
    buy = order.side == BUY

    def scaled(price: int | None, up: bool) -> int | None:
        return None if price is None else split_price(instrument, price, old, new, up=up)

    trail = order.trail_price
    return OrderTerms(
        qty,
        filled,
        leaves,
        scaled(order.price, not buy),  # buy limits down, sell limits up
        scaled(order.stop_price, buy),  # buy stops up, sell stops down
        scaled(order.protection, not buy),
        None if order.watermark is None else order.watermark * old // new,
        None if trail is None else split_price(instrument, trail, old, new, up=True),
    )


def dividend_terms(order: Order, instrument: Instrument, amount: int) -> OrderTerms | None:
    """The terms of `order` at the ex-date of a dividend of `amount` per share; None when it
    keeps its terms. A price the dividend takes to zero or below is 0: the caller cancels."""

    def reduced(price: int) -> int:
        lowered = price - amount
        return 0 if lowered <= 0 else instrument.round_to_tick(lowered, up=False)

    terms = terms_of(order)
    if order.side == BUY:
        if order.order_type != OrderType.LIMIT or order.price is None:
            return None
        return msgspec.structs.replace(terms, price=reduced(order.price))
    if order.order_type not in STOP_ORDER_TYPES:
        return None
    if order.order_type == TRAILING_STOP:
        if order.watermark is None:
            return None
        return msgspec.structs.replace(terms, watermark=max(order.watermark - amount, 1))
    stop = None if order.stop_price is None else reduced(order.stop_price)
    price = None if order.price is None else reduced(order.price)
    return msgspec.structs.replace(terms, stop_price=stop, price=price)


class BookAdjustments(BookSnapshots, StopOrders):
    """Adjusting the live orders of `OrderBook` in place."""

    def live_orders(self) -> list[Order]:
        """Every live order, by order id (for the caller to plan an adjustment; read only)."""
        return [self._orders[order_id] for order_id in sorted(self._orders)]

    def adjust(
        self,
        changes: Mapping[int, OrderTerms],
        instrument: Instrument | None = None,
        last_price: int | None = None,
    ) -> None:
        """Give the live orders of `changes` their new terms, keeping time priority, and
        optionally a new instrument (a symbol change) and last price (a split). Orders to
        cancel are canceled by the caller before."""
        state = self.export_state()
        for order in (*state.bids, *state.asks, *state.buy_stops, *state.sell_stops):
            terms = changes.get(order.order_id)
            if terms is not None:
                _set_terms(order, terms)
        for order in state.trailing:
            terms = changes.get(order.order_id)
            if terms is not None:
                _set_terms(order, terms)
                if order.watermark is not None:
                    order.stop_price = self._trail_stop(order, order.watermark)
        self._load(
            msgspec.structs.replace(
                state,
                instrument=instrument or state.instrument,
                last_price=state.last_price if last_price is None else last_price,
            )
        )

    def _load(self, state: BookState) -> None:
        """Replace the whole layout by `state` (fees and the self-trade default stay)."""
        fees = self.fees
        BookSnapshots.__init__(self, state.instrument)
        self.fees = fees
        restored = type(self).from_state(state)
        for name in _LAYOUT_FIELDS:
            setattr(self, name, getattr(restored, name))


_LAYOUT_FIELDS = (
    "last_price",
    "_trade_id",
    "_bids",
    "_asks",
    "_bid_heap",
    "_ask_heap",
    "_bid_keys",
    "_ask_keys",
    "_orders",
    "_buy_stops",
    "_sell_stops",
    "_trailing",
)


def _set_terms(order: Order, terms: OrderTerms) -> None:
    order.qty = terms.qty
    order.filled = terms.filled
    order.leaves = terms.leaves
    order.price = terms.price
    order.stop_price = terms.stop_price
    order.protection = terms.protection
    order.watermark = terms.watermark
    order.trail_price = terms.trail_price
