"""The checks of fractional and notional orders (`engine.fractions`): their terms, the
account and the desk, the buying power or shares of the whole order, and, when a fraction
fills, who cannot settle it now."""

from typing import TYPE_CHECKING

import msgspec

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import AccountStatus, OrderClass, OrderType, Side, TimeInForce
from tradingfloor.domain.events import Event
from tradingfloor.domain.fractions import NANO, fraction_hold
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine.pipeline import STATUS_REASON
from tradingfloor.ledger.accounts import lowest_running_sum

if TYPE_CHECKING:
    from tradingfloor.engine.pipeline import RiskPipeline
    from tradingfloor.ledger import Account
    from tradingfloor.matching.book import OrderBook

BUY = Side.BUY
MARKET = OrderType.MARKET
_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT})


def check_order(
    command: PlaceOrder,
    book: "OrderBook",
    risk: "RiskPipeline | None",
    seq: int,
    ts: int,
    out: list[Event],
) -> "RejectReason | tuple[Account, int, int, int]":
    """Every check of a fractional or notional order, the first failing one the reason;
    else (its account, whole shares, fraction, hold price per share). A timed halt that ran
    out ends here (its `TradingResumed` into `out`)."""
    reason, whole, fraction = fraction_terms(command, book, risk)
    if reason is not None or risk is None:
        return reason or RejectReason.FRACTIONAL_NOT_OFFERED
    account = risk.ledger.accounts.get(command.account)
    reason = account_refusal(risk, account, command) or risk._halted(book.symbol, seq, ts, out)
    if reason is not None or account is None:
        return reason or RejectReason.UNKNOWN_ACCOUNT
    probe = msgspec.structs.replace(command, qty=whole or 1, fraction=0, notional=None)
    hold_price = 0
    reason = book.validate(probe)
    if reason is None:
        reason, hold_price, _ = risk._price_checks(probe, book, ts)
    if reason is None:
        reason = funds_refusal(risk, account, command, whole, fraction, hold_price)
    if reason is not None:
        return reason
    return account, whole, fraction, hold_price


def fraction_terms(
    command: PlaceOrder, book: "OrderBook", risk: "RiskPipeline | None"
) -> tuple[RejectReason | None, int, int]:
    """(why the order's terms are refused, its whole shares, its fraction)."""
    if risk is None or not risk.settings.fractional_desk_account:
        return RejectReason.FRACTIONAL_NOT_OFFERED, 0, 0
    if (
        command.order_type not in _TYPES
        or command.tif != TimeInForce.DAY
        or command.order_class != OrderClass.SIMPLE
        or command.take_profit_price is not None
        or command.stop_loss_price is not None
        or (command.notional is not None and command.order_type != MARKET)
    ):
        return RejectReason.FRACTIONAL_TERMS, 0, 0
    if command.notional is None:
        if type(command.fraction) is not int or not 0 < command.fraction < NANO:
            return RejectReason.INVALID_FRACTION, 0, 0
        if type(command.qty) is not int or command.qty < 0:
            return RejectReason.INVALID_QUANTITY, 0, 0
        return None, command.qty, command.fraction
    if (
        type(command.notional) is not int
        or command.notional <= 0
        or command.qty
        or command.fraction
    ):
        return RejectReason.INVALID_FRACTION, 0, 0
    level = book.best_ask() if command.side == BUY else book.best_bid()
    if level is None:
        return RejectReason.NOTIONAL_NO_PRICE, 0, 0
    nano = command.notional * NANO // level.price
    if not nano:
        return RejectReason.NOTIONAL_TOO_SMALL, 0, 0
    whole, fraction = divmod(nano, NANO)
    return None, whole, fraction


def account_refusal(
    risk: "RiskPipeline", account: "Account | None", command: PlaceOrder
) -> RejectReason | None:
    desk = risk.ledger.accounts.get(risk.settings.fractional_desk_account)
    if desk is None or desk.status != AccountStatus.ACTIVE or command.account == desk.account_id:
        return RejectReason.FRACTIONAL_NOT_OFFERED
    if account is None:
        return RejectReason.UNKNOWN_ACCOUNT
    status = account.status
    if status != AccountStatus.ACTIVE and not (
        status == AccountStatus.RESTRICTED and command.side != BUY
    ):
        return STATUS_REASON.get(status, RejectReason.ACCOUNT_CLOSED)
    return None


def funds_refusal(
    risk: "RiskPipeline",
    account: "Account",
    command: PlaceOrder,
    whole: int,
    fraction: int,
    hold_price: int,
) -> RejectReason | None:
    """Buying power for the whole order (a buy), or its shares (a sell)."""
    settings = risk.settings
    if whole + (1 if fraction else 0) > settings.quantity_max:
        return RejectReason.QUANTITY_ABOVE_MAX
    if account.open_orders.get(command.symbol, 0) >= settings.open_orders_per_symbol_max:
        return RejectReason.OPEN_ORDERS_ABOVE_MAX
    if command.side == BUY:
        need = risk.ledger.buy_hold_amount(whole, hold_price) + fraction_hold(fraction, hold_price)
        if need > settings.notional_max:
            return RejectReason.NOTIONAL_ABOVE_MAX
        if need > account.buying_power:
            return RejectReason.INSUFFICIENT_BUYING_POWER
        return None
    position = account.positions.get(command.symbol)
    if position is None or whole * NANO + fraction > position.free_nano():
        return RejectReason.INSUFFICIENT_SHARES
    return None


def fraction_lacking(
    buyer: "Account", seller: "Account", symbol: str, nano: int, value: int, desk: "Account"
) -> "Account | None":
    """The party that cannot settle the fraction now: the desk when it no longer trades, the
    buyer without the settled cash, the seller without the nano-shares (or the settled share
    its fraction must break)."""
    if desk.status != AccountStatus.ACTIVE:
        return desk
    if value > buyer.settled - buyer.owed() or value > buyer.buying_power:
        return buyer
    position = seller.positions.get(symbol)
    if position is None or nano > position.free_nano():
        return seller
    # free nano-shares beyond the fraction mean a free whole share to break
    settled = position.settled_qty + lowest_running_sum(position.pending)
    if position.fraction < nano and settled < 1:
        return seller
    return None
