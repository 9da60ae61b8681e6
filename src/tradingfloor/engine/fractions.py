"""Fractional and notional orders: the book trades whole shares, the fractional desk the rest.

A fractional order asks `qty` whole shares and `fraction` nano-shares (`domain.fractions`);
a notional order asks an amount of cash, which sizes it to the nano-share at the other side's
best price when it arrives. Both are market or limit orders (notional: market), day, simple.

- The whole shares are an ordinary order on the book under the order's id, checked, held and
  matched as any other (`RiskPipeline.place`); `FractionAttached` follows its `OrderAccepted`.
  When they have all filled, the desk fills the fraction in the same step at the price of
  their last fill: the execution price (`FractionFilled`). If they end otherwise (canceled,
  expired, a market order's unfilled remainder) the fraction ends with them.
- An order below one share is accepted outside the book (`OrderAccepted` with `qty` 0): the
  desk fills it at once at the other side's best price when that is within its limit (a
  market order's protection price); a limit order otherwise waits for a trade at or through
  its limit and fills at that trade's price; a market order with no price to fill at ends.
- The desk (`RiskSettings.fractional_desk_account`) is an ordinary account that an operator
  funds with cash and shares; it squares its inventory on the book like any member. Fractions
  move between it and the customer on the platform's own books, settled at once (they never
  reach the clearinghouse), so each needs settled cash from its buyer and, when the seller's
  fraction must break a whole share, a settled share: `FractionCanceled` says which one
  lacked (`FRACTIONAL_DESK` for the desk, `FRACTION_UNSETTLED` for the customer).

Holds: a buy's fraction holds its cash at the hold price (the limit, or a market order's
protection price) rounded up; a sell's holds its nano-shares (`Position.fraction_held`).
Everything here is a function of the commands, as the rest of the engine. The checks are in
`engine.fraction_checks`.
"""

from typing import TYPE_CHECKING

import msgspec

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import (
    AccountStatus,
    CancelReason,
    OrderType,
    Side,
)
from tradingfloor.domain.events import (
    AccountStatusChanged,
    Event,
    FractionAttached,
    FractionCanceled,
    FractionFilled,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    TradeExecuted,
)
from tradingfloor.domain.fractions import fraction_hold, fraction_value
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.rejections import order_rejected
from tradingfloor.engine import splits
from tradingfloor.engine.fraction_checks import check_order, fraction_lacking

if TYPE_CHECKING:
    from tradingfloor.engine.pipeline import RiskPipeline
    from tradingfloor.ledger import Account
    from tradingfloor.matching.book import OrderBook

BUY = Side.BUY
MARKET = OrderType.MARKET
_STATUS_CANCELS = {
    AccountStatus.BLOCKED: CancelReason.KILL_SWITCH,
    AccountStatus.CLOSED: CancelReason.ADMIN,
}
"""Statuses that end an account's open orders, and why (as `SetAccountStatus` does)."""


class FractionalOrder(msgspec.Struct, gc=False, array_like=True):
    """A fractional order whose fraction is still to fill. `price` is its limit (None: a
    market order); `hold` the cash its fraction holds (a buy), `hold_price` what it holds at;
    `whole` the whole shares it has on the book (0: all fraction, outside the book)."""

    order_id: int
    account: str
    symbol: str
    side: Side
    price: int | None
    fraction: int
    hold: int
    hold_price: int
    whole: int


class FractionsState(msgspec.Struct, array_like=True):
    orders: list[FractionalOrder]


class FractionalOrders:
    """The engine's fractional orders: those whose fraction is still to fill, by id."""

    def __init__(self) -> None:
        self.orders: dict[int, FractionalOrder] = {}
        self.waiting: dict[str, dict[int, FractionalOrder]] = {}
        """By symbol, the orders below one share waiting outside the book (limit orders at a
        limit no trade has reached yet), by id: what each trade in the symbol looks at."""

    # ------------------------------------------------------------------ entry

    def place(
        self,
        command: PlaceOrder,
        book: "OrderBook",
        risk: "RiskPipeline | None",
        seq: int,
        ts: int,
        out: list[Event],
    ) -> None:
        """Check the order as a whole, then its whole shares go to the book, its fraction
        waits for them (or, below one share, goes to the desk)."""
        symbol = book.symbol
        checked = check_order(command, book, risk, seq, ts, out)
        if isinstance(checked, RejectReason) or risk is None:
            reason = checked if isinstance(checked, RejectReason) else RejectReason.RISK_OFF
            out.append(order_rejected(command, seq, ts, command.order_id, symbol, reason))
            return
        account, whole, fraction, hold_price = checked
        attached = FractionAttached(
            seq, ts, command.order_id, command.account, symbol, fraction, command.notional
        )
        start = len(out)
        if whole:
            placed = msgspec.structs.replace(command, qty=whole, fraction=0, notional=None)
            risk.place(placed, book, seq, ts, out)
            accepted = next(
                (
                    index
                    for index in range(start, len(out))
                    if type(out[index]) is OrderAccepted
                    and out[index].order_id == command.order_id  # type: ignore[attr-defined]
                ),
                None,
            )
            if accepted is None:
                return  # refused for its whole shares: nothing is held for the fraction
            out.insert(accepted + 1, attached)
        else:
            out.append(
                OrderAccepted(
                    seq,
                    ts,
                    command.order_id,
                    command.account,
                    symbol,
                    command.side,
                    command.order_type,
                    command.tif,
                    0,
                    command.price,
                    None,
                    command.client_order_id,
                )
            )
            out.append(attached)
        if not fraction:
            return  # a notional order that came to whole shares
        hold = 0
        if command.side == BUY:
            hold = fraction_hold(fraction, hold_price)
            account.held += hold
        else:
            account.position(symbol).fraction_held += fraction
        order = FractionalOrder(
            command.order_id, command.account, symbol, command.side, command.price,
            fraction, hold, hold_price, whole,
        )  # fmt: skip
        self._add(order, account)
        if whole:
            return  # the engine's `settle` after the command follows its fills
        level = book.best_ask() if command.side == BUY else book.best_bid()
        price = None if level is None else level.price
        limit = command.price if command.price is not None else hold_price
        if price is not None and (price <= limit if command.side == BUY else price >= limit):
            self._fill(risk, order, price, seq, ts, out)
        elif command.order_type == MARKET:
            cause = CancelReason.PRICE_PROTECTION
            if price is None:
                cause = CancelReason.MARKET_NO_LIQUIDITY
            self._canceled(risk, order, cause, seq, ts, out)

    # ------------------------------------------------------------------ after each command

    def settle(
        self, risk: "RiskPipeline | None", out: list[Event], start: int, seq: int, ts: int
    ) -> None:
        """Follow the events from `start` on: whole shares done fill their fraction or end it,
        trades fill the fractions waiting at or through their limit."""
        if risk is None:
            return
        orders = self.orders
        index = start
        while index < len(out) and orders:
            event = out[index]
            index += 1
            kind = type(event)
            if kind is TradeExecuted:
                trade: TradeExecuted = event  # type: ignore[assignment]
                for order_id, leaves in (
                    (trade.taker_order_id, trade.taker_leaves),
                    (trade.maker_order_id, trade.maker_leaves),
                ):
                    order = orders.get(order_id)
                    if order is not None and not leaves:
                        self._fill(risk, order, trade.price, seq, ts, out)
                self._fill_waiting(risk, trade, seq, ts, out)
            elif kind is OrderCanceled or kind is OrderExpired or kind is OrderRejected:
                order = orders.get(event.order_id)  # type: ignore[attr-defined]
                if order is not None and order.whole and not getattr(event, "leaves", 0):
                    self._end(risk, order)
            elif kind is AccountStatusChanged:
                reason = _STATUS_CANCELS.get(event.status)  # type: ignore[attr-defined]
                if reason is not None:
                    self._cancel_account(risk, event.account, reason, seq, ts, out)  # type: ignore[attr-defined]

    def _fill_waiting(
        self, risk: "RiskPipeline", trade: TradeExecuted, seq: int, ts: int, out: list[Event]
    ) -> None:
        """Orders below one share waiting at a limit the trade reached fill at its price,
        oldest first."""
        waiting = self.waiting.get(trade.symbol)
        if not waiting:
            return
        price = trade.price
        for order in list(waiting.values()):
            if order.price is not None and (
                price <= order.price if order.side == BUY else price >= order.price
            ):
                self._fill(risk, order, price, seq, ts, out)

    def _fill(
        self,
        risk: "RiskPipeline",
        order: FractionalOrder,
        price: int,
        seq: int,
        ts: int,
        out: list[Event],
    ) -> None:
        """The desk takes the other side of the fraction at `price`, or the fraction ends."""
        ledger = risk.ledger
        self._end(risk, order)
        desk = ledger.accounts.get(risk.settings.fractional_desk_account)
        if desk is None:  # the settings name another desk now, or none
            out.append(_fraction_canceled(order, CancelReason.FRACTIONAL_DESK, seq, ts))
            return
        customer = ledger.accounts[order.account]
        value = fraction_value(order.fraction, price)
        buyer, seller = (customer, desk) if order.side == BUY else (desk, customer)
        lacking = fraction_lacking(buyer, seller, order.symbol, order.fraction, value, desk)
        if lacking is not None:
            cause = CancelReason.FRACTION_UNSETTLED
            if lacking is desk:
                cause = CancelReason.FRACTIONAL_DESK
            out.append(_fraction_canceled(order, cause, seq, ts))
            return
        bought, sold = ledger.fill_fraction(buyer, seller, order.symbol, order.fraction, value)
        mine, desks = (bought, sold) if order.side == BUY else (sold, bought)
        out.append(
            FractionFilled(
                seq,
                ts,
                order.order_id,
                order.account,
                order.symbol,
                order.side,
                desk.account_id,
                price,
                order.fraction,
                value,
                mine,
                desks,
            )
        )

    def _canceled(
        self,
        risk: "RiskPipeline",
        order: FractionalOrder,
        reason: CancelReason,
        seq: int,
        ts: int,
        out: list[Event],
    ) -> None:
        """The fraction ends unfilled (`reason`): release it and say so."""
        self._end(risk, order)
        out.append(_fraction_canceled(order, reason, seq, ts))

    def _add(self, order: FractionalOrder, account: "Account") -> None:
        """Keep `order` until its fraction fills or ends. One below a share counts among its
        account's open orders in the symbol (as one on the book does, through its hold)."""
        self.orders[order.order_id] = order
        if not order.whole:
            self.waiting.setdefault(order.symbol, {})[order.order_id] = order
            open_orders = account.open_orders
            open_orders[order.symbol] = open_orders.get(order.symbol, 0) + 1

    def _end(self, risk: "RiskPipeline", order: FractionalOrder) -> None:
        """The fraction is no longer waiting: release what it held."""
        del self.orders[order.order_id]
        account = risk.ledger.accounts[order.account]
        if not order.whole:
            waiting = self.waiting[order.symbol]
            del waiting[order.order_id]
            if not waiting:
                del self.waiting[order.symbol]
            count = account.open_orders[order.symbol] - 1
            if count:
                account.open_orders[order.symbol] = count
            else:
                del account.open_orders[order.symbol]
        if order.side == BUY:
            account.held -= order.hold
        else:
            account.position(order.symbol).fraction_held -= order.fraction

    # ------------------------------------------------------------------ cancel and expiry

    def cancel(
        self,
        risk: "RiskPipeline | None",
        order_id: int,
        account: str,
        seq: int,
        ts: int,
        out: list[Event],
    ) -> bool:
        """Cancel an order below one share (outside the book); False when there is none of
        `account`'s (an empty `account`: an operator's) under `order_id`."""
        order = self.orders.get(order_id)
        if risk is None or order is None or order.whole or account not in ("", order.account):
            return False
        self._canceled(risk, order, CancelReason.REQUESTED, seq, ts, out)
        return True

    def _cancel_account(
        self,
        risk: "RiskPipeline",
        account: str,
        reason: CancelReason,
        seq: int,
        ts: int,
        out: list[Event],
    ) -> None:
        """The account's orders below one share end with its book orders (kill switch,
        closed account); those with whole shares end as their whole shares are canceled."""
        for waiting in list(self.waiting.values()):
            for order in list(waiting.values()):
                if order.account == account:
                    self._canceled(risk, order, reason, seq, ts, out)

    def expire(
        self,
        risk: "RiskPipeline | None",
        symbols: list[str],
        order_id_max: int,
        seq: int,
        ts: int,
        out: list[Event],
    ) -> None:
        """The session ended: orders below one share in `symbols` with ids up to
        `order_id_max` expire (all are day orders; those with whole shares expire with
        them)."""
        if risk is None:
            return
        for order in sorted(self.orders.values(), key=lambda o: o.order_id):
            if not order.whole and order.symbol in symbols and order.order_id <= order_id_max:
                self._canceled(risk, order, CancelReason.SESSION_END, seq, ts, out)

    def cancel_symbols(
        self, risk: "RiskPipeline | None", symbols: set[str], seq: int, ts: int, out: list[Event]
    ) -> None:
        """A corporate action is about to change `symbols`: their fractional orders end
        first, whole shares and fraction (a split or a symbol change would leave a fraction
        waiting in the old terms)."""
        if risk is None:
            return
        for order in sorted(self.orders.values(), key=lambda o: o.order_id):
            if order.symbol not in symbols:
                continue
            book = risk.books.get(order.symbol)
            if order.whole and book is not None and book.is_live(order.order_id):
                self._end(risk, order)
                splits.cancel(risk, book, order.order_id, seq, ts, out)
            else:
                self._canceled(risk, order, CancelReason.CORPORATE_ACTION, seq, ts, out)

    def holds(self, account: str) -> tuple[int, dict[str, int]]:
        """The cash and the nano-shares by symbol that `account`'s fractions hold."""
        cash = 0
        shares: dict[str, int] = {}
        for order in self.orders.values():
            if order.account != account:
                continue
            if order.side == BUY:
                cash += order.hold
            else:
                shares[order.symbol] = shares.get(order.symbol, 0) + order.fraction
        return cash, shares

    def export_state(self) -> FractionsState:
        return FractionsState([self.orders[order_id] for order_id in sorted(self.orders)])

    @classmethod
    def from_state(cls, state: FractionsState | None) -> "FractionalOrders":
        fractions = cls()
        if state is not None:
            for order in state.orders:
                kept = fractions.orders[order.order_id] = msgspec.structs.replace(order)
                if not kept.whole:
                    fractions.waiting.setdefault(kept.symbol, {})[kept.order_id] = kept
        return fractions


def _fraction_canceled(
    order: FractionalOrder, reason: CancelReason, seq: int, ts: int
) -> FractionCanceled:
    return FractionCanceled(
        seq, ts, order.order_id, order.account, order.symbol, order.fraction, reason
    )
