"""T+N settlement of one account: the net of every trade session due moves from unsettled to
settled, cash and shares alike.

A trade session's cash is its net (sales received minus purchases paid, fees included) and
its shares the net bought minus sold per symbol; both were kept by session as the fills
posted (`Account.pending`, `Position.pending`). The good-faith lots whose funding settled
are dropped at the same time.
"""

from tradingfloor.ledger.accounts import Account
from tradingfloor.ledger.good_faith import drop_settled_lots


def settle_account(
    account: Account, due: int, settle_session: int
) -> tuple[int | None, list[tuple[str, int]]]:
    """Settle the trade sessions up to `due` (inclusive) at session `settle_session`
    (`due` + N: the good-faith lots funded by then are ordinary shares). Returns the cash
    settled (None when no session of cash was due) and the shares settled per symbol, by
    symbol, nonzero only."""
    cash: int | None = None
    sessions = [session for session in account.pending if session <= due]
    if sessions:
        cash = sum(account.pending.pop(session) for session in sessions)
        account.unsettled -= cash
        account.settled += cash
    shares: list[tuple[str, int]] = []
    for symbol in sorted(account.positions):
        position = account.positions[symbol]
        if position.lots:
            drop_settled_lots(position, settle_session)
        pending = position.pending
        if not pending:
            continue
        due_sessions = [session for session in pending if session <= due]
        if not due_sessions:
            continue
        qty = sum(pending.pop(session) for session in due_sessions)
        position.unsettled -= qty
        if qty:
            shares.append((symbol, qty))
    return cash, shares


def trade_sessions_due(account: Account, due: int) -> set[int]:
    """The trade sessions up to `due` this account still has unsettled cash or shares of."""
    found = {session for session in account.pending if session <= due}
    for position in account.positions.values():
        found.update(session for session in position.pending if session <= due)
    return found
