"""What the end of day's events do to the read models: settlement, breaks, corporate actions.

Positions, balances and activities change in the batch's rows (`BatchRows`), as the ledger's
events do (`projection_ledger`); settlement days, breaks and corporate actions are few, and
their rows are written as each event comes, in the batch's transaction.

Choices:

- Settled shares (`positions.settled_qty`): shares delivered in are settled, delivered out
  leave from the settled ones, a trade changes only `qty`, `SharesSettled` moves its quantity
  to settled. A split scales what is still to settle by its ratio (truncated toward zero) and
  the rest of the new quantity is settled: the fraction paid in cash comes off settled shares.
  (The engine truncates each unsettled trade session's shares; the read models keep their
  sum, so a split of several unsettled sessions by an uneven ratio may differ by a share.)
- A split keeps the position's cost, less the basis of the fraction paid in lieu
  (`basis_sold`), which realizes `cash_in_lieu - basis_sold`; the cash in lieu is settled
  cash. Activity `split`: the change of quantity, the cash.
- Dividends: `entitlement` (quantity entitled, no cash yet) at the close before the
  ex-date, `dividend` (settled cash) on the pay date; `price` is the amount per share.
- A symbol change moves every position to the new symbol (one `symbol_change` activity per
  account that held shares) and renames the live orders; history keeps the name it had:
  fills, ended orders, activities before the change.
- A break's adjustment: cash into settled cash, shares into settled shares, at the
  position's average cost both ways (the average stays). Activity `adjustment`.
- A good-faith violation sets the account's count (within the rule's window) and its
  restriction on this shard's balance row; activity `good_faith`.
"""

from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import insert, select, update

from tradingfloor.domain.corporate_actions import CashDividend, StockSplit, SymbolChange
from tradingfloor.domain.events import (
    BreakOpened,
    BreakResolved,
    CorporateActionAnnounced,
    DayClosed,
    DaySettled,
    DividendEntitled,
    DividendPaid,
    Event,
    GoodFaithViolation,
    OrderAdjusted,
    SharesSettled,
    StockSplitApplied,
    SymbolChanged,
)
from tradingfloor.domain.fractions import format_shares
from tradingfloor.domain.prices import format_price
from tradingfloor.store.projection_rows import BatchRows
from tradingfloor.store.projection_sql import Row
from tradingfloor.store.settlement_tables import breaks, corporate_actions, settlement_days


def shares_settled(rows: BatchRows, event: SharesSettled) -> None:
    row = rows.position(event.account, event.symbol, event.seq)
    row["settled_qty"] += event.qty
    row["updated_seq"] = event.seq
    verb = "received" if event.qty >= 0 else "delivered"
    rows.activity(
        event,
        event.account,
        "settlement",
        f"settlement: {abs(event.qty)} {event.symbol} {verb}",
        event.symbol,
        event.qty,
    )


def good_faith_violation(rows: BatchRows, event: GoodFaithViolation) -> None:
    row = rows.balance(event.account)
    row["good_faith_violations"] = event.count
    row["restricted_until"] = event.restricted_until or None
    row["updated_seq"] = event.seq
    restriction = (
        f"; settled cash only until {event.restricted_until}" if event.restricted_until else ""
    )
    rows.activity(
        event,
        event.account,
        "good_faith",
        f"good-faith violation in {event.symbol}: {event.count} within the window{restriction}",
        event.symbol,
        order_id=event.order_id,
    )


# ---------------------------------------------------------------------- days


def day_closed(rows: BatchRows, event: DayClosed) -> None:
    _day(
        rows,
        event.date,
        session=event.session,
        closed_seq=event.seq,
        closed_ts=event.ts,
        expired=event.expired,
    )


def day_settled(rows: BatchRows, event: DaySettled) -> None:
    _day(
        rows,
        event.date,
        settled_seq=event.seq,
        settled_ts=event.ts,
        trade_dates=",".join(event.trade_dates),
    )


def _day(rows: BatchRows, date: str, **values: Any) -> None:
    """This shard's row of `date`, made or changed."""
    key = (settlement_days.c.date == date, settlement_days.c.shard == rows.shard_index)
    changed = rows.connection.execute(update(settlement_days).where(*key).values(**values))
    if changed.rowcount == 0:
        rows.connection.execute(
            insert(settlement_days).values(date=date, shard=rows.shard_index, **values)
        )


# ---------------------------------------------------------------------- breaks


def break_opened(rows: BatchRows, event: BreakOpened) -> None:
    rows.connection.execute(
        insert(breaks).values(
            break_id=event.break_id,
            date=event.date,
            kind=event.kind.name.lower(),
            account=event.account,
            symbol=event.symbol,
            platform_qty=event.platform_qty,
            other_qty=event.other_qty,
            platform_cash=event.platform_cash,
            other_cash=event.other_cash,
            detail=event.detail,
            opened_seq=event.seq,
            opened_ts=event.ts,
            status="open",
        )
    )


def break_resolved(rows: BatchRows, event: BreakResolved) -> None:
    rows.connection.execute(
        update(breaks)
        .where(breaks.c.break_id == event.break_id)
        .values(
            status="resolved",
            resolved_by=event.resolved_by,
            reason=event.reason,
            cash_adjustment=event.cash_adjustment,
            shares_adjustment=event.shares_adjustment,
            resolved_seq=event.seq,
            resolved_ts=event.ts,
        )
    )
    cash, shares = event.cash_adjustment, event.shares_adjustment
    if not cash and not shares:
        return
    if cash:
        balance = rows.balance(event.account)
        balance["settled"] += cash
        balance["updated_seq"] = event.seq
    if shares:
        _adjust_shares(rows.position(event.account, event.symbol, event.seq), shares)
    parts = [f"${format_price(cash)}"] if cash else []
    if shares:
        parts.append(f"{shares} {event.symbol}")
    rows.activity(
        event,
        event.account,
        "adjustment",
        f"adjustment of {' and '.join(parts)} ({event.break_id}): {event.reason}",
        event.symbol if shares else None,
        shares or None,
        amount=cash or None,
    )


def _adjust_shares(position: Row, shares: int) -> None:
    """As the ledger posts it: shares in at the average cost, out taking theirs."""
    held, cost = position["qty"], position["cost"]
    if shares > 0:
        position["cost"] = cost + shares * (cost // held if held else 0)
    elif held:
        taken = -shares
        position["cost"] = cost - (cost if taken == held else cost * taken // held)
    position["qty"] = held + shares
    position["settled_qty"] += shares


# ---------------------------------------------------------------------- corporate actions


def announced(rows: BatchRows, event: CorporateActionAnnounced) -> None:
    action = event.action
    values: dict[str, Any] = {"action_id": action.action_id, "symbol": action.symbol}
    if isinstance(action, StockSplit):
        values.update(
            kind="split",
            old_shares=action.old_shares,
            new_shares=action.new_shares,
            cash_in_lieu_price=action.cash_in_lieu_price,
            ex_date=action.ex_date,
        )
    elif isinstance(action, CashDividend):
        values.update(
            kind="dividend",
            amount_per_share=action.amount_per_share,
            record_date=action.record_date,
            pay_date=action.pay_date,
        )
    elif isinstance(action, SymbolChange):
        values.update(
            kind="symbol_change",
            new_symbol=action.new_symbol,
            effective_date=action.effective_date,
        )
    rows.connection.execute(
        insert(corporate_actions).values(
            status="announced", announced_seq=event.seq, announced_ts=event.ts, **values
        )
    )


def split_applied(rows: BatchRows, event: StockSplitApplied) -> None:
    action = _action(rows, event.action_id)
    position = rows.position(event.account, event.symbol, event.seq)
    old_qty, new_qty = event.old_qty, event.new_qty
    if action is not None and action["old_shares"]:
        ratio = (action["new_shares"], action["old_shares"])
    else:
        ratio = (new_qty, old_qty or 1)
    unsettled = old_qty - position["settled_qty"]
    scaled = abs(unsettled) * ratio[0] // ratio[1]
    position["qty"] = new_qty
    position["fraction"] = event.new_fraction
    position["settled_qty"] = new_qty - (scaled if unsettled >= 0 else -scaled)
    position["cost"] -= event.basis_sold
    position["realized"] += event.cash_in_lieu - event.basis_sold
    position["updated_seq"] = event.seq
    cash = event.cash_in_lieu
    if cash:
        balance = rows.balance(event.account)
        balance["settled"] += cash
        balance["updated_seq"] = event.seq
    terms = f"{ratio[0]}-for-{ratio[1]} split" if action is not None else "split"
    in_lieu = f", ${format_price(cash)} cash in lieu" if cash else ""
    rows.activity(
        event,
        event.account,
        "split",
        f"{terms} of {event.symbol}: {old_qty} shares became {new_qty}{in_lieu}",
        event.symbol,
        new_qty - old_qty,
        event.basis_sold,  # the cost taken off with the fraction paid in lieu
        amount=cash,
    )
    if event.new_fraction != event.old_fraction:  # its fraction of a share, in nano-shares
        rows.activity(
            event,
            event.account,
            "fraction_split",
            f"{terms} of {event.symbol}: the fraction of a share became"
            f" {format_shares(0, event.new_fraction)}",
            event.symbol,
            event.new_fraction - event.old_fraction,
        )
    _mark(rows, event.action_id, "applied", event.seq)


def dividend_entitled(rows: BatchRows, event: DividendEntitled) -> None:
    per_share = _per_share(rows, event.action_id)
    rows.activity(
        event,
        event.account,
        "entitlement",
        f"dividend on {event.qty} {event.symbol} entitled: ${format_price(event.amount)}"
        " on the pay date",
        event.symbol,
        event.qty,
        per_share,
    )
    _mark(rows, event.action_id, "applied", event.seq)


def dividend_paid(rows: BatchRows, event: DividendPaid) -> None:
    balance = rows.balance(event.account)
    balance["settled"] += event.amount
    balance["updated_seq"] = event.seq
    per_share = _per_share(rows, event.action_id)
    qty = event.amount // per_share if per_share else None
    rows.activity(
        event,
        event.account,
        "dividend",
        f"dividend of {event.symbol} paid: ${format_price(event.amount)}",
        event.symbol,
        qty,
        per_share,
        event.amount,
    )
    _mark(rows, event.action_id, "paid", event.seq)


def symbol_changed(rows: BatchRows, event: SymbolChanged) -> None:
    old, new, seq, ts = event.symbol, event.new_symbol, event.seq, event.ts
    for order in list(rows.orders.orders.values()):
        if order.symbol == old and order.is_open:
            renamed = msgspec.structs.replace(order, symbol=new, updated_seq=seq, updated_ts=ts)
            rows.orders.add(renamed)
            rows.renamed_orders.append((new, order.order_id))
    for position in rows.rename_positions(old, new, seq):
        qty = position["qty"]
        if qty or position["fraction"]:
            # Two rows, shares out of the old name and into the new, so that a replay of
            # the account's activities (a statement) moves the position and its cost.
            for symbol, moved in ((old, -qty), (new, qty)):
                rows.activity(
                    event,
                    position["account"],
                    "symbol_change",
                    f"{old} is now {new}: {qty} shares",
                    symbol,
                    moved,
                )
    _mark(rows, event.action_id, "applied", seq)


def order_adjusted(rows: BatchRows, event: OrderAdjusted) -> None:
    """New terms by the order reducer; a new symbol (a symbol change) written apart, as the
    order's update does not write its symbol."""
    before = rows.orders.get(event.order_id)
    rows.orders.apply(event)
    if before is not None and before.symbol != event.symbol:
        rows.renamed_orders.append((event.symbol, event.order_id))


def _action(rows: BatchRows, action_id: str) -> Row | None:
    """The corporate action's row (read once per batch), None if never announced here."""
    if action_id not in rows.actions:
        found = rows.connection.execute(
            select(corporate_actions).where(corporate_actions.c.action_id == action_id)
        ).first()
        rows.actions[action_id] = None if found is None else dict(found._mapping)
    return rows.actions[action_id]


def _per_share(rows: BatchRows, action_id: str) -> int | None:
    action = _action(rows, action_id)
    return None if action is None else action["amount_per_share"]


def _mark(rows: BatchRows, action_id: str, status: str, seq: int) -> None:
    """The action's status, once per batch: `applied` at its first application, `paid` at
    its first payment (one account's event each: the rest find it marked)."""
    if (action_id, status) in rows.actions_marked:
        return
    rows.actions_marked.add((action_id, status))
    columns = corporate_actions.c
    column = columns.applied_seq if status == "applied" else columns.paid_seq
    rows.connection.execute(
        update(corporate_actions)
        .where(corporate_actions.c.action_id == action_id, column.is_(None))
        .values({column.name: seq, "status": status})
    )


HANDLERS: dict[type[Event], Callable[[BatchRows, Any], None]] = {
    SharesSettled: shares_settled,
    GoodFaithViolation: good_faith_violation,
    DayClosed: day_closed,
    DaySettled: day_settled,
    BreakOpened: break_opened,
    BreakResolved: break_resolved,
    CorporateActionAnnounced: announced,
    StockSplitApplied: split_applied,
    DividendEntitled: dividend_entitled,
    DividendPaid: dividend_paid,
    SymbolChanged: symbol_changed,
    OrderAdjusted: order_adjusted,
}
"""The end of day's events that change a read model."""
