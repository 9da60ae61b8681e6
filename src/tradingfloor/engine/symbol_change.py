"""A symbol change applied at the close before its effective date.

Everything the engine keeps under the old symbol moves to the new one in the same command:
the book (the same live orders, ids and priority; its instrument renamed), the symbol's
guard (halt, reference, bands), every position (quantity, cost, realized P&L, held shares),
the holds and open-order counts of its live orders, the client order ids entered for it, and
the corporate actions and dividends still pending for it. The events: `SymbolChanged`
(with each account's shares, so the postings move them from the old symbol to the new), then
an `OrderAdjusted` per live order under its new symbol, so each order's readers follow it.
"""

from typing import TYPE_CHECKING

import msgspec

from tradingfloor.domain.corporate_actions import SymbolChange
from tradingfloor.domain.events import Event, OrderAdjusted, SymbolChanged
from tradingfloor.matching.adjustments import terms_of

if TYPE_CHECKING:
    from tradingfloor.engine.corporate_actions import CorporateActions
    from tradingfloor.engine.risk_context import RiskContext


def apply(
    risk: "RiskContext",
    change: SymbolChange,
    actions: "CorporateActions",
    seq: int,
    ts: int,
    out: list[Event],
) -> None:
    symbol, new_symbol = change.symbol, change.new_symbol
    book = risk.books.pop(symbol)
    orders = [terms_of(order) for order in book.live_orders()]
    live = [(order.order_id, order.account) for order in book.live_orders()]
    book.adjust({}, instrument=msgspec.structs.replace(book.instrument, symbol=new_symbol))
    risk.books[new_symbol] = book
    guard = risk.guards.pop(symbol, None)
    if guard is not None:
        guard.symbol = new_symbol
        risk.guards[new_symbol] = guard
    ledger = risk.ledger
    for hold in ledger.holds.values():
        if hold.symbol == symbol:
            hold.symbol = new_symbol
    shares: list[tuple[str, int]] = []
    fractions: list[tuple[str, int]] = []
    for account_id in sorted(ledger.accounts):
        account = ledger.accounts[account_id]
        position = account.positions.pop(symbol, None)
        if position is not None:
            account.positions[new_symbol] = position
            if position.qty:
                shares.append((account_id, position.qty))
            if position.fraction:
                fractions.append((account_id, position.fraction))
        count = account.open_orders.pop(symbol, None)
        if count is not None:
            account.open_orders[new_symbol] = count
    if symbol in ledger.shares_in:
        ledger.shares_in[new_symbol] = ledger.shares_in.pop(symbol)
    if risk.client_orders is not None:
        risk.client_orders.rename_symbol(symbol, new_symbol)
    actions.rename(symbol, new_symbol)
    out.append(SymbolChanged(seq, ts, change.action_id, symbol, new_symbol, shares, fractions))
    for (order_id, owner), terms in zip(live, orders, strict=True):
        out.append(
            OrderAdjusted(
                seq,
                ts,
                order_id,
                new_symbol,
                owner,
                terms.qty,
                terms.leaves,
                terms.price,
                terms.stop_price,
                change.action_id,
            )
        )
