"""Good-faith lots of cash accounts: shares bought with sale proceeds that had not settled.

A cash account may buy with the proceeds of a sale before they settle, but selling what it
bought before those proceeds settle is a good-faith violation (Regulation T: the purchase was
never paid for in settled funds). A buy fill that costs more than the account's free settled
cash leaves a lot on its position naming the session its funding settles; a sell consumes
the position's unlotted shares first, then its lots oldest first, and each lot it reaches
before its funding settles is one violation, counted once.

Only the slow path lands here: the ledger calls these functions for a cash account's buy that
draws on unsettled cash and for a sell of a position that has lots.
"""

from tradingfloor.ledger.accounts import Account, GoodFaithLot, Position


def funded_session(account: Account, from_proceeds: int, session: int, sessions: int) -> int:
    """The session the proceeds paying `from_proceeds` of a purchase settle in: the unsettled
    sales are taken oldest first (a sale of `session` itself counts, as netted so far)."""
    covered = 0
    last = session
    for trade_session in sorted(account.pending):
        amount = account.pending[trade_session]
        if amount <= 0:
            continue
        last = trade_session
        covered += amount
        if covered >= from_proceeds:
            break
    return last + sessions


def add_lot(position: Position, order_id: int, qty: int, funded: int) -> None:
    """Record `qty` shares bought with unsettled funds; fills of one order share its lot."""
    lots = position.lots
    if lots and lots[-1].order_id == order_id:
        lot = lots[-1]
        lot.qty += qty
        if funded > lot.funded_session:
            lot.funded_session = funded
        return
    lots.append(GoodFaithLot(order_id, qty, funded))


def sell_lots(position: Position, held_before: int, qty: int, session: int) -> int:
    """A sale of `qty` of the `held_before` shares: lots reached before their funding settles
    count a violation each (returned); lots whose funding settled are dropped."""
    lots = [lot for lot in position.lots if lot.funded_session > session]
    unlotted = held_before - sum(lot.qty for lot in lots)
    remaining = qty - unlotted if qty > unlotted else 0
    violations = 0
    for lot in lots:
        if not remaining:
            break
        take = lot.qty if lot.qty < remaining else remaining
        lot.qty -= take
        remaining -= take
        if not lot.counted:
            lot.counted = True
            violations += 1
    position.lots = [lot for lot in lots if lot.qty]
    return violations


def trim_lots(position: Position) -> None:
    """Shares left without a sale (withdrawn, adjusted): the lots never exceed the position,
    oldest dropped first; no violation (nothing was sold)."""
    excess = sum(lot.qty for lot in position.lots) - position.qty
    if excess <= 0:
        return
    for lot in position.lots:
        take = lot.qty if lot.qty < excess else excess
        lot.qty -= take
        excess -= take
        if not excess:
            break
    position.lots = [lot for lot in position.lots if lot.qty]


def drop_settled_lots(position: Position, session: int) -> None:
    """Lots whose funding has settled by `session` are ordinary shares now."""
    if position.lots:
        position.lots = [lot for lot in position.lots if lot.funded_session > session]
