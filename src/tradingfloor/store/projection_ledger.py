"""What each event does to the read models' rows (`BatchRows`), as the ledger posts it.

Orders follow the domain's one reducer (`tradingfloor.domain.order_state`); a refusal that
makes no order (a reused order id or client order id names another order) is kept as a `reject`
activity of the account that was refused. Positions and balances follow the ledger's arithmetic
exactly (`tradingfloor.ledger`): on a fill the buyer's side posts before the seller's, average
cost on sells. Activities are signed from their account's point of view. The store imports only
the domain, so the tests, not an import, hold the two together.
"""

from collections.abc import Callable
from typing import Any

from tradingfloor.domain.enums import AccountKind, AccountStatus, Side
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import (
    AccountOpened,
    AccountStatusChanged,
    CashAllocatedIn,
    CashAllocatedOut,
    DayTradeCounted,
    Event,
    FractionAttached,
    FractionCanceled,
    FractionFilled,
    FundsDeposited,
    FundsSettled,
    FundsWithdrawn,
    LegCanceled,
    LegHeld,
    LegResized,
    LegsAttached,
    OrderAccepted,
    OrderAdjusted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderReplaced,
    SharesDeposited,
    SharesWithdrawn,
    StopTriggered,
    SymbolHandedOver,
    SymbolTakenOver,
    TradeExecuted,
)
from tradingfloor.domain.fractions import NANO, basis_sold, format_shares
from tradingfloor.domain.order_state import NO_ORDER_REJECTS
from tradingfloor.domain.prices import format_price
from tradingfloor.store.order_rows import SIDE_NAME
from tradingfloor.store.projection_rows import BatchRows

BUY = Side.BUY
_ACCOUNT_KIND = {kind: kind.name.lower() for kind in AccountKind}
_ACCOUNT_STATUS = {status: status.name.lower() for status in AccountStatus}


def order_event(rows: BatchRows, event: Event) -> None:
    """An order made or changed, as the reducer says."""
    rows.orders.apply(event)


def rejected(rows: BatchRows, event: OrderRejected) -> None:
    """A refused order is a row; a refusal that makes none, an activity."""
    reason = event.reason
    if reason not in NO_ORDER_REJECTS:
        rows.orders.apply(event)
        return
    rows.activity(
        event,
        event.account,
        "reject",
        f"order {event.order_id} rejected: {reason.message} ({int(reason)})",
        symbol=event.symbol,
        order_id=event.order_id,
    )


def trade(rows: BatchRows, trade: TradeExecuted) -> None:
    """Both orders and their fills; positions, balances and activities of both sides."""
    value = trade.qty * trade.price
    rows.orders.apply(trade)
    _fill(rows, trade, trade.maker_order_id, trade.maker_account, "maker")
    _fill(rows, trade, trade.taker_order_id, trade.taker_account, "taker")
    if trade.aggressor == BUY:
        buyer, seller = trade.taker_account, trade.maker_account
        buy_order, sell_order = trade.taker_order_id, trade.maker_order_id
        buy_fee, sell_fee = trade.taker_fee, trade.maker_fee
    else:
        buyer, seller = trade.maker_account, trade.taker_account
        buy_order, sell_order = trade.maker_order_id, trade.taker_order_id
        buy_fee, sell_fee = trade.maker_fee, trade.taker_fee
    _post(rows, trade, buyer, seller, value, buy_fee, sell_fee)
    shown = f"{trade.qty} {trade.symbol} at ${format_price(trade.price)}"
    _traded(rows, trade, buyer, buy_order, trade.qty, -value, "bought " + shown)
    if buy_fee:
        _fee(rows, trade, buyer, buy_order, buy_fee)
    _traded(rows, trade, seller, sell_order, -trade.qty, value, "sold " + shown)
    if sell_fee:
        _fee(rows, trade, seller, sell_order, sell_fee)


def _fill(
    rows: BatchRows, trade: TradeExecuted, order_id: int, account: str, liquidity: str
) -> None:
    """One side's row of `FILL_COLUMNS` (its order has taken the fill already)."""
    maker = liquidity == "maker"
    leaves = trade.maker_leaves if maker else trade.taker_leaves
    order = rows.orders.orders[order_id]
    fee = trade.maker_fee if maker else trade.taker_fee
    side = None if order.side is None else SIDE_NAME[order.side]
    rows.fills.append(
        (trade.seq, trade.ts, trade.symbol, trade.trade_id, order_id, account, side,
         trade.price, trade.qty, fee, liquidity, leaves)
    )  # fmt: skip


def _post(
    rows: BatchRows,
    trade: TradeExecuted,
    buyer: str,
    seller: str,
    value: int,
    buy_fee: int,
    sell_fee: int,
) -> None:
    """Positions and cash of both sides, as the ledger posts a fill."""
    seq, symbol, qty = trade.seq, trade.symbol, trade.qty
    # The buyer posts first, as in the ledger: a self-trade's sell then sees the shares.
    position = rows.position(buyer, symbol, seq)
    position["qty"] += qty
    position["cost"] += value
    position["updated_seq"] = seq
    position = rows.position(seller, symbol, seq)
    held = position["qty"]
    cost = position["cost"]
    removed = basis_sold(cost, qty * NANO, held * NANO + position["fraction"])  # as the ledger
    position["cost"] = cost - removed
    position["qty"] = held - qty
    position["realized"] += value - removed
    position["updated_seq"] = seq
    balance = rows.balance(buyer)
    balance["unsettled"] -= value + buy_fee
    balance["fees"] += buy_fee
    balance["updated_seq"] = seq
    balance = rows.balance(seller)
    balance["unsettled"] += value - sell_fee
    balance["fees"] += sell_fee
    balance["updated_seq"] = seq


def _traded(
    rows: BatchRows,
    trade: TradeExecuted,
    account: str,
    order_id: int,
    qty: int,
    amount: int,
    description: str,
) -> None:
    rows.activities.append(
        (trade.seq, trade.ts, account, "trade", trade.symbol, qty, trade.price, amount,
         order_id, trade.trade_id, description)
    )  # fmt: skip


def _fee(rows: BatchRows, trade: TradeExecuted, account: str, order_id: int, fee: int) -> None:
    symbol = trade.symbol
    rows.activity(
        trade,
        account,
        "fee",
        f"fee ${format_price(fee)} on trade {trade.trade_id} in {symbol}",
        symbol,
        amount=-fee,
        order_id=order_id,
        trade_id=trade.trade_id,
    )


def opened(rows: BatchRows, event: AccountOpened) -> None:
    if event.account in rows.balances:
        raise InvariantViolation(f"account {event.account!r} opened twice")
    kind = _ACCOUNT_KIND[event.kind]
    row = {
        "account": event.account,
        "kind": kind,
        "status": _ACCOUNT_STATUS[AccountStatus.ACTIVE],
        "settled": 0,
        "unsettled": 0,
        "deposited": 0,
        "withdrawn": 0,
        "fees": 0,
        "updated_seq": event.seq,
        "shard": rows.shard_index,
        "good_faith_violations": 0,
        "restricted_until": None,
    }
    rows.balances[event.account] = row
    rows.new_balances.append(row)
    if rows.shard_index == 0:  # every shard opens it: one activity
        rows.activity(event, event.account, "status", f"{kind} account opened")


def status_changed(rows: BatchRows, event: AccountStatusChanged) -> None:
    row = rows.balance(event.account)
    status = _ACCOUNT_STATUS[event.status]
    row["status"] = status
    row["updated_seq"] = event.seq
    if rows.shard_index == 0:  # every shard changes it: one activity
        rows.activity(event, event.account, "status", f"account {status}")


def deposited(rows: BatchRows, event: FundsDeposited) -> None:
    row = rows.balance(event.account)
    row["settled"] += event.amount
    row["deposited"] += event.amount
    row["updated_seq"] = event.seq
    shown = format_price(event.amount)
    rows.activity(event, event.account, "deposit", f"deposit ${shown}", amount=event.amount)


def withdrawn(rows: BatchRows, event: FundsWithdrawn) -> None:
    row = rows.balance(event.account)
    row["settled"] -= event.amount
    row["withdrawn"] += event.amount
    row["updated_seq"] = event.seq
    rows.activity(
        event,
        event.account,
        "withdrawal",
        f"withdrawal ${format_price(event.amount)}",
        amount=-event.amount,
    )


def allocated(rows: BatchRows, event: CashAllocatedOut | CashAllocatedIn) -> None:
    """Cash moved between shards: this shard's part of the account's cash, not its total."""
    row = rows.balance(event.account)
    row["settled"] += event.amount if isinstance(event, CashAllocatedIn) else -event.amount
    row["updated_seq"] = event.seq


def symbol_moved(rows: BatchRows, event: SymbolHandedOver | SymbolTakenOver) -> None:
    """A symbol moved between shards: the cash its open buys hold moved with it, from this
    shard's part of each account's cash or into it. Its positions and orders are the same
    rows, whichever shard holds them."""
    sign = 1 if isinstance(event, SymbolTakenOver) else -1
    if isinstance(event, SymbolTakenOver):
        rows.require_projected(event.from_shard, event.out_seq)
    for account, amount in event.cash:
        row = rows.balance(account)
        row["settled"] += sign * amount
        row["updated_seq"] = event.seq


def settled(rows: BatchRows, event: FundsSettled) -> None:
    row = rows.balance(event.account)
    row["unsettled"] -= event.amount
    row["settled"] += event.amount
    row["updated_seq"] = event.seq
    verb = "received" if event.amount >= 0 else "paid"
    rows.activity(
        event,
        event.account,
        "settlement",
        f"settlement: ${format_price(abs(event.amount))} {verb}",
        amount=event.amount,
    )


def shares_deposited(rows: BatchRows, event: SharesDeposited) -> None:
    """Shares delivered in are settled shares (as deposited cash is settled cash)."""
    row = rows.position(event.account, event.symbol, event.seq)
    row["qty"] += event.qty
    row["settled_qty"] += event.qty
    row["cost"] += event.qty * event.cost_price
    row["updated_seq"] = event.seq
    rows.activity(
        event,
        event.account,
        "shares_in",
        f"{event.qty} {event.symbol} delivered in at ${format_price(event.cost_price)}",
        event.symbol,
        event.qty,
        event.cost_price,
    )


def shares_withdrawn(rows: BatchRows, event: SharesWithdrawn) -> None:
    """Shares delivered out leave from the settled ones."""
    row = rows.position(event.account, event.symbol, event.seq)
    row["qty"] -= event.qty
    row["settled_qty"] -= event.qty
    row["cost"] -= event.cost
    row["updated_seq"] = event.seq
    rows.activity(
        event,
        event.account,
        "shares_out",
        f"{event.qty} {event.symbol} delivered out, cost basis ${format_price(event.cost)}",
        event.symbol,
        -event.qty,
    )


def fraction_filled(rows: BatchRows, fill: FractionFilled) -> None:
    """The order, both sides' positions and settled cash (a desk fill settles at once), and
    an activity each; as `Ledger.fill_fraction` posts it."""
    rows.orders.apply(fill)
    buyer, seller = fill.account, fill.desk_account
    if fill.side != BUY:
        buyer, seller = seller, buyer
    seq, nano = fill.seq, fill.fraction
    position = rows.position(buyer, fill.symbol, seq)
    carried, position["fraction"] = divmod(position["fraction"] + nano, NANO)
    position["qty"] += carried
    position["settled_qty"] += carried
    position["cost"] += fill.value
    position["updated_seq"] = seq
    position = rows.position(seller, fill.symbol, seq)
    before = position["qty"] * NANO + position["fraction"]
    removed = basis_sold(position["cost"], nano, before)
    whole, position["fraction"] = divmod(before - nano, NANO)
    position["settled_qty"] += whole - position["qty"]
    position["qty"] = whole
    position["cost"] -= removed
    position["realized"] += fill.value - removed
    position["updated_seq"] = seq
    shown = f"{format_shares(0, nano)} {fill.symbol} at ${format_price(fill.price)}"
    for account, cash, verb in ((buyer, -fill.value, "bought "), (seller, fill.value, "sold ")):
        balance = rows.balance(account)
        balance["settled"] += cash
        balance["updated_seq"] = seq
        rows.activity(
            fill,
            account,
            "fraction",
            verb + shown,
            fill.symbol,
            nano if account == buyer else -nano,  # nano-shares, signed as the account sees
            fill.price,
            amount=cash,
            order_id=fill.order_id,
        )


def day_trade(rows: BatchRows, event: DayTradeCounted) -> None:
    rows.activity(
        event,
        event.account,
        "day_trade",
        f"day trade in {event.symbol}: {event.count} within the window",
        event.symbol,
        order_id=event.order_id,
    )


HANDLERS: dict[type[Event], Callable[[BatchRows, Any], None]] = {
    TradeExecuted: trade,
    OrderAccepted: order_event,
    OrderCanceled: order_event,
    OrderRejected: rejected,
    OrderReplaced: order_event,
    OrderAdjusted: order_event,
    LegsAttached: order_event,
    LegHeld: order_event,
    LegResized: order_event,
    LegCanceled: order_event,
    FractionAttached: order_event,
    FractionCanceled: order_event,
    FractionFilled: fraction_filled,
    OrderExpired: order_event,
    StopTriggered: order_event,
    AccountOpened: opened,
    AccountStatusChanged: status_changed,
    FundsDeposited: deposited,
    FundsWithdrawn: withdrawn,
    FundsSettled: settled,
    CashAllocatedOut: allocated,
    CashAllocatedIn: allocated,
    SymbolHandedOver: symbol_moved,
    SymbolTakenOver: symbol_moved,
    SharesDeposited: shares_deposited,
    SharesWithdrawn: shares_withdrawn,
    DayTradeCounted: day_trade,
}
"""The events that change a read model; the rest (book and market state, resubmissions) change
none."""
