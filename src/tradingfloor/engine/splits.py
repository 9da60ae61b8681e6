"""A stock split applied at the close before its ex-date: positions, holds and live orders.

Every position of the symbol becomes qty x new / old whole shares; the fraction left is
paid as cash in lieu into settled cash (a position's own fraction of a share,
`domain.fractions`, counts in: a split of one old share into whole new ones scales it
exactly and keeps it; any other split pays all that is left below a whole new share), at
`cash_in_lieu_price` per new share (else the last price, else the reference price, adjusted
by the ratio; with neither, nothing). The new shares come from, and a reverse split's shares
go back to, the issuer (`@corporate_actions`).

Cost basis: whole shares keep it all (the basis per share divides by the ratio); a fraction
paid in lieu is a sale of that fraction (as the IRS treats it): it takes its share of the
basis, and the cash less that basis is realized P&L. So the basis before is the basis kept
plus the basis sold, and a position left with no whole share has no basis.

Unsettled shares (per trade session) and good-faith lots scale with the position, toward
zero, so what settles later is in the new shares.

Live orders: a forward split adjusts them (`matching/adjustments.py`, time priority kept),
re-sizing their holds; a buy whose fees on the larger quantity would need more cash than
the account has free is canceled instead. A reverse split cancels every live order
(`CancelReason.CORPORATE_ACTION`), releasing its hold.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tradingfloor.domain.corporate_actions import StockSplit
from tradingfloor.domain.enums import CancelReason, Side
from tradingfloor.domain.events import Event, OrderAdjusted, OrderCanceled, StockSplitApplied
from tradingfloor.domain.fractions import NANO, basis_sold
from tradingfloor.ledger.accounts import Position
from tradingfloor.matching.adjustments import OrderTerms, split_price, split_terms
from tradingfloor.matching.book import OrderBook

if TYPE_CHECKING:
    from tradingfloor.engine.risk_context import RiskContext
    from tradingfloor.ledger import Ledger

BUY = Side.BUY
CORPORATE_ACTION = CancelReason.CORPORATE_ACTION


def apply_split(
    risk: "RiskContext", split: StockSplit, seq: int, ts: int, out: list[Event]
) -> int:
    """Apply `split` to the symbol's orders and positions; returns the cash paid in lieu."""
    book = risk.books[split.symbol]
    old, new = split.old_shares, split.new_shares
    instrument = book.instrument
    if new < old:
        for order in book.live_orders():
            cancel(risk, book, order.order_id, seq, ts, out)
    else:
        changes: dict[int, OrderTerms] = {}
        hold_prices: dict[int, int] = {}
        for order in book.live_orders():
            terms = split_terms(order, instrument, old, new)
            if terms.leaves <= 0:
                cancel(risk, book, order.order_id, seq, ts, out)
                continue
            changes[order.order_id] = terms
            hold = risk.ledger.holds[order.order_id]
            if hold.side == BUY:
                hold_prices[order.order_id] = split_price(
                    instrument, hold.price, old, new, up=False
                )
        adjust_orders(risk, book, changes, split.action_id, seq, ts, out, hold_prices)
    price_old = book.last_price
    guard = risk.guards.get(split.symbol)
    if price_old is None and guard is not None:
        price_old = guard.reference
    paid = _positions(risk, split, price_old, seq, ts, out)
    if book.last_price is not None:
        book.adjust({}, last_price=split_price(instrument, book.last_price, old, new, up=False))
    if guard is not None and guard.reference is not None:
        guard.set_reference(split_price(instrument, guard.reference, old, new, up=False))
    return paid


def _positions(
    risk: "RiskContext",
    split: StockSplit,
    price_old: int | None,
    seq: int,
    ts: int,
    out: list[Event],
) -> int:
    """Every position multiplied, whole shares kept, the fraction paid in lieu."""
    symbol, old, new = split.symbol, split.old_shares, split.new_shares
    ledger = risk.ledger
    paid = issued = 0
    for account_id in sorted(ledger.accounts):
        account = ledger.accounts[account_id]
        position = account.positions.get(symbol)
        if position is None or (position.qty <= 0 and not position.fraction):
            continue
        nano = position.nano()
        total = nano * new  # in 1/(old x NANO) of a new share
        if old == 1 and position.fraction:  # a fraction scales exactly
            whole, fraction = divmod(total, NANO)
            rest = 0
        else:
            whole, rest = divmod(total, old * NANO)
            fraction = 0
        if split.cash_in_lieu_price is not None:
            cash = rest * split.cash_in_lieu_price // (old * NANO)
        else:
            cash = rest * (price_old or 0) // (new * NANO)
        removed = basis_sold(position.cost, rest, total)  # all of it with no share left
        old_qty, old_fraction = position.qty, position.fraction
        position.cost -= removed
        position.realized += cash - removed
        position.qty = whole
        position.fraction = fraction
        position.bought_today = min(position.bought_today * new // old, whole)
        _scale_unsettled(position, old, new)
        account.settled += cash
        paid += cash
        issued += whole * NANO + fraction - nano
        out.append(
            StockSplitApplied(
                seq,
                ts,
                split.action_id,
                account_id,
                symbol,
                old_qty,
                whole,
                cash,
                removed,
                old_fraction,
                fraction,
            )
        )
    if issued:  # whole shares: the fractions of a symbol add up to whole shares
        ledger.shares_in[symbol] = ledger.shares_in.get(symbol, 0) + issued // NANO
    return paid


def _scale_unsettled(position: Position, old: int, new: int) -> None:
    """The shares of each unsettled trade session scale too (toward zero: the fraction
    paid in lieu is taken from the settled part), and so do the good-faith lots."""
    pending = position.pending
    for session in pending:
        qty = pending[session]
        pending[session] = qty * new // old if qty >= 0 else -(-qty * new // old)
    position.unsettled = sum(pending.values())
    lots = [lot for lot in position.lots if lot.qty * new // old]
    for lot in lots:
        lot.qty = lot.qty * new // old
    position.lots = lots


def cancel(
    risk: "RiskContext", book: OrderBook, order_id: int, seq: int, ts: int, out: list[Event]
) -> None:
    """Cancel a live order for a corporate action and release its hold (and those of the
    other leg of its pair, which the cancel ends too)."""
    start = len(out)
    book.cancel(order_id, "", seq, ts, out, CORPORATE_ACTION)
    release_canceled(risk.ledger, out, start)


def release_canceled(ledger: "Ledger", out: list[Event], start: int) -> None:
    """Release the holds of the orders `out[start:]` canceled."""
    for index in range(start, len(out)):
        event = out[index]
        if type(event) is OrderCanceled and not event.leaves and event.order_id in ledger.holds:
            ledger.release(event.order_id)


def adjust_orders(
    risk: "RiskContext",
    book: OrderBook,
    changes: Mapping[int, OrderTerms],
    action_id: str,
    seq: int,
    ts: int,
    out: list[Event],
    hold_prices: Mapping[int, int],
) -> None:
    """Give live orders new terms (in order id order): holds re-sized to them, the book
    adjusted with priority kept, an `OrderAdjusted` each. `hold_prices`: a buy's new hold
    price per share. A buy whose hold would grow beyond the account's buying power is
    canceled instead."""
    ledger = risk.ledger
    kept: dict[int, OrderTerms] = {}
    for order_id in sorted(changes):
        terms = changes[order_id]
        hold = ledger.holds.get(order_id)
        if hold is None:  # canceled meanwhile with the other leg of its pair
            continue
        if hold.side == BUY:
            price = hold_prices.get(order_id, hold.price)
            amount = ledger.buy_hold_amount(terms.leaves, price)
            more = amount - hold.amount
            if more > 0 and more > hold.account.buying_power:
                cancel(risk, book, order_id, seq, ts, out)
                continue
            hold.account.held += more
            hold.price = price
        else:
            amount = 0 if hold.partner else terms.leaves  # a pair's shares are held once
            hold.position.held += amount - hold.amount
        hold.amount = amount
        hold.leaves = terms.leaves
        kept[order_id] = terms
    if not kept:
        return
    book.adjust(kept)
    for order_id, terms in kept.items():
        order = book.order_view(order_id)
        account = "" if order is None else order.account
        stop = terms.stop_price if order is None else order.stop_price  # a trailing stop's moved
        out.append(
            OrderAdjusted(
                seq,
                ts,
                order_id,
                book.symbol,
                account,
                terms.qty,
                terms.leaves,
                terms.price,
                stop,
                action_id,
            )
        )
