"""Why an order of a class (bracket, OCO, OTO) is refused before anything is placed.

Alpaca's rules, with this platform's choices where they are silent (README: order classes):

- a bracket needs a take-profit and a stop-loss; an OCO both too; an OTO exactly one; a
  simple order neither (`ORDER_CLASS_LEGS`);
- time in force day or gtc (`ORDER_CLASS_TIME_IN_FORCE`);
- a bracket or OTO entry is a market or limit order; an OCO is a limit order, its limit
  price the take-profit's (`ORDER_CLASS_ORDER_TYPE`);
- legs exit a long position: a bracket or OTO entry buys, an OCO sells shares held
  (`ORDER_CLASS_SIDE`; the platform does not sell short, and buy legs would each hold cash);
- prices: the take-profit's limit is above the stop-loss's stop, the stop-loss's limit (of a
  stop-limit) below the take-profit's, and a limit entry's price at or between them: a leg
  that would trade at once against its own entry's level makes no bracket
  (`ORDER_CLASS_PRICES`).

Each leg then passes the book's own validation (tick, lot, positive prices) as any order,
and an OCO the checks of any sell (`oco_refusal`).
"""

from typing import TYPE_CHECKING

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import AccountStatus, OrderClass, OrderType, Side, TimeInForce
from tradingfloor.domain.events import Event
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.matching.book import OrderBook

if TYPE_CHECKING:
    from tradingfloor.engine.pipeline import RiskPipeline

BRACKET = OrderClass.BRACKET
OCO = OrderClass.OCO
OTO = OrderClass.OTO
CLASS_TIFS = frozenset({TimeInForce.DAY, TimeInForce.GTC})
ENTRY_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT})


def class_refusal(command: PlaceOrder) -> RejectReason | None:
    """The first rule of the order's class that it breaks; None when it keeps them all."""
    order_class = command.order_class
    take_profit = command.take_profit_price
    stop_loss = command.stop_loss_price
    legs = (take_profit is not None) + (stop_loss is not None)
    if order_class not in (BRACKET, OCO, OTO):
        return RejectReason.ORDER_CLASS_LEGS
    if (order_class == OTO and legs != 1) or (order_class != OTO and legs != 2):
        return RejectReason.ORDER_CLASS_LEGS
    if command.stop_loss_limit_price is not None and stop_loss is None:
        return RejectReason.ORDER_CLASS_LEGS
    if command.tif not in CLASS_TIFS:
        return RejectReason.ORDER_CLASS_TIME_IN_FORCE
    if order_class == OCO:
        if command.order_type != OrderType.LIMIT or command.price != take_profit:
            return RejectReason.ORDER_CLASS_ORDER_TYPE
    elif command.order_type not in ENTRY_TYPES:
        return RejectReason.ORDER_CLASS_ORDER_TYPE
    if command.trail_price is not None or command.trail_bps is not None:
        return RejectReason.ORDER_CLASS_ORDER_TYPE
    if (command.side == Side.SELL) != (order_class == OCO):
        return RejectReason.ORDER_CLASS_SIDE
    return _price_refusal(command)


def _price_refusal(command: PlaceOrder) -> RejectReason | None:
    take_profit = command.take_profit_price
    stop_loss = command.stop_loss_price
    stop_limit = command.stop_loss_limit_price
    for price in (take_profit, stop_loss, stop_limit):
        if price is not None and (type(price) is not int or price <= 0):
            return RejectReason.INVALID_PRICE
    if take_profit is not None and stop_loss is not None:
        if take_profit <= stop_loss:
            return RejectReason.ORDER_CLASS_PRICES
        if stop_limit is not None and stop_limit >= take_profit:
            return RejectReason.ORDER_CLASS_PRICES
    entry = command.price if command.order_class != OCO else None
    if entry is not None and type(entry) is int:
        if take_profit is not None and take_profit <= entry:
            return RejectReason.ORDER_CLASS_PRICES
        if stop_loss is not None and stop_loss >= entry:
            return RejectReason.ORDER_CLASS_PRICES
    return None


def oco_refusal(
    command: PlaceOrder,
    book: OrderBook,
    risk: "RiskPipeline | None",
    seq: int,
    ts: int,
    out: list[Event],
) -> RejectReason | None:
    """An OCO sells shares held: the account's checks, the symbol's halt and the price
    checks of its take-profit, as for any sell."""
    if risk is None:
        return None
    account = risk.ledger.accounts.get(command.account)
    if account is None:
        return RejectReason.UNKNOWN_ACCOUNT
    if account.status not in (AccountStatus.ACTIVE, AccountStatus.RESTRICTED):
        return STATUS_REASONS[account.status]
    reason = risk._halted(book.symbol, seq, ts, out)
    hold_price = 0
    if reason is None:
        reason, hold_price, _ = risk._price_checks(command, book, ts)
    if reason is None:
        reason = risk._account_checks(command, account, hold_price, ts)
    return reason


STATUS_REASONS = {
    AccountStatus.BLOCKED: RejectReason.ACCOUNT_BLOCKED,
    AccountStatus.CLOSED: RejectReason.ACCOUNT_CLOSED,
    AccountStatus.SUSPENDED: RejectReason.ACCOUNT_SUSPENDED,
}
