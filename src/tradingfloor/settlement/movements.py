"""Settled cash and shares that change outside trading, as the clearinghouse must hear of them.

Pure. The clearinghouse keeps every account's position from what it settles and from
movements: it never sees a deposit, a withdrawal, a dividend or a split unless the platform
tells it. Each such event becomes one `Movement` per asset it
changes (cash is the symbol `USD`), with a `ref` unique on the platform (`<shard>:<seq>:<n>`),
so a movement resubmitted is known to the clearinghouse as the same one.

A fractional desk fill is one (`fraction_changes`): it never reaches the clearinghouse as a
trade. What is not a movement: fills (they clear as trades), `FundsSettled` and
`SharesSettled` (the clearinghouse settles the same trades itself), `CashAllocatedOut`/`In`
(cash moving between the platform's own shards: the account's total does not change),
dividend entitlements (paid later, as `DividendPaid`), and a break's adjustment
(`adjustment_changes`: the platform's record corrected toward the clearinghouse's, which
already holds it).
"""

from collections.abc import Mapping
from typing import NamedTuple

from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import (
    BreakResolved,
    DividendPaid,
    Event,
    FractionFilled,
    FundsDeposited,
    FundsWithdrawn,
    SharesDeposited,
    SharesWithdrawn,
    StockSplitApplied,
    SymbolChanged,
)
from tradingfloor.settlement.records import CASH_SYMBOL, Movement


class Change(NamedTuple):
    """`qty` of `symbol` (or cash, `USD`) into (positive) or out of `account`."""

    account: str
    symbol: str
    qty: int


def changes_of(event: Event) -> list[Change]:
    """The settled changes outside trading that `event` made (none for most events).

    A symbol change needs the holders of the old symbol (`symbol_change_changes`), a split
    the settled part of the position and the split's terms (`split_changes`)."""
    if isinstance(event, FundsDeposited):
        return [Change(event.account, CASH_SYMBOL, event.amount)]
    if isinstance(event, FundsWithdrawn):
        return [Change(event.account, CASH_SYMBOL, -event.amount)]
    if isinstance(event, SharesDeposited):
        return [Change(event.account, event.symbol, event.qty)]
    if isinstance(event, SharesWithdrawn):
        return [Change(event.account, event.symbol, -event.qty)]
    if isinstance(event, DividendPaid):
        return [Change(event.account, CASH_SYMBOL, event.amount)]
    if isinstance(event, StockSplitApplied):  # as if the whole position were settled
        return split_changes(event, event.old_qty, 1, 1)
    if isinstance(event, FractionFilled):
        return fraction_changes(event)
    return []


def fraction_changes(fill: FractionFilled) -> list[Change]:
    """A fractional desk fill settles on the platform's books at once: its cash moves between
    the customer and the desk, and so does a whole share when a fraction passes one or breaks
    one. The clearinghouse keeps whole shares: it hears of those, never of the fraction."""
    buyer, seller = fill.account, fill.desk_account
    if fill.side != Side.BUY:
        buyer, seller = seller, buyer
    found = [Change(buyer, CASH_SYMBOL, -fill.value), Change(seller, CASH_SYMBOL, fill.value)]
    for account, whole in (
        (fill.account, fill.account_whole),
        (fill.desk_account, fill.desk_whole),
    ):
        if whole:
            found.append(Change(account, fill.symbol, whole))
    return found


def adjustment_changes(event: BreakResolved) -> list[Change]:
    """A break's adjustment: a change of the platform's settled balances that is not a
    movement. It corrects the platform's record toward the clearinghouse's (the break's
    resolution says the clearinghouse was right), so telling the clearinghouse would move it
    too and keep the two apart."""
    return [
        Change(event.account, event.symbol, event.shares_adjustment),
        Change(event.account, CASH_SYMBOL, event.cash_adjustment),
    ]


def split_changes(
    event: StockSplitApplied, settled_before: int, old_shares: int, new_shares: int
) -> list[Change]:
    """A split of a position of which `settled_before` shares were settled: the settled
    shares change by what the position did less what its unsettled part did (the engine
    scales the unsettled shares too, toward zero, and they settle later as they are then);
    the cash in lieu is settled cash. `old_shares`:`new_shares` is the split's ratio."""
    unsettled_before = event.old_qty - settled_before
    scaled = abs(unsettled_before) * new_shares // old_shares
    unsettled_after = scaled if unsettled_before >= 0 else -scaled
    settled_after = event.new_qty - unsettled_after
    return [
        Change(event.account, event.symbol, settled_after - settled_before),
        Change(event.account, CASH_SYMBOL, event.cash_in_lieu),
    ]


def symbol_change_changes(event: SymbolChanged, holders: Mapping[str, int]) -> list[Change]:
    """A symbol change moves every holder's settled shares from the old symbol to the new
    one (`holders`: account -> settled shares of `event.symbol` at that moment)."""
    changes = []
    for account in sorted(holders):
        qty = holders[account]
        if qty:
            changes.append(Change(account, event.symbol, -qty))
            changes.append(Change(account, event.new_symbol, qty))
    return changes


def as_movements(shard: str, seq: int, changes: list[Change], date: str) -> list[Movement]:
    """`changes` of the command at `seq` on `shard` as movements dated `date`; zero ones
    are left out (a split that left a position whole pays no cash in lieu)."""
    return [
        Movement(f"{shard}:{seq}:{number}", date, change.account, change.symbol, change.qty)
        for number, change in enumerate(changes)
        if change.qty
    ]
