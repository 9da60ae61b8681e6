"""What a client sees of an account: its summary (cash, holds, buying power, equity, the
day-trade count, open orders) and its positions, valued at each symbol's mark price.
"""

import msgspec

from tradingfloor.domain.enums import AccountKind, AccountStatus
from tradingfloor.domain.fractions import fraction_value
from tradingfloor.engine.risk_context import RiskContext
from tradingfloor.ledger import Account
from tradingfloor.ledger.accounts import Position


class AccountSummary(msgspec.Struct, frozen=True):
    """Money in price units. `buying_power` is cash not held by open orders (cash accounts:
    no borrowing); `equity` is cash plus positions at market."""

    account: str
    kind: AccountKind
    status: AccountStatus
    cash: int
    settled_cash: int
    unsettled_cash: int
    held: int
    buying_power: int
    withdrawable: int
    positions_value: int
    equity: int
    fees: int
    day_trades: int
    pattern_day_trader: bool
    open_orders: int
    good_faith_violations: int = 0
    """Cash accounts: good-faith violations within the rule's window."""
    settled_cash_only_until: str | None = None
    """The last trading day of a settled-cash-only restriction (None: not restricted)."""


class PositionView(msgspec.Struct, frozen=True):
    """`cost` is the basis of the shares held (average cost); unrealized P&L is at `mark`;
    `settled_qty` is the part of `qty` settled (the rest settles at T+N)."""

    symbol: str
    qty: int
    held: int
    average_cost: int
    cost: int
    mark: int
    market_value: int
    unrealized: int
    realized: int
    settled_qty: int = 0
    fraction: int = 0
    """Nano-shares beyond the whole `qty` (`domain.fractions`)."""
    available_nano: int = 0
    """The position in nano-shares that no open sell holds."""


class AccountViews(RiskContext):
    """The reads of `RiskPipeline`: they never change an account."""

    def mark_price(self, symbol: str, position_cost: int = 0, qty: int = 0) -> int:
        """The price positions are valued at: last trade, else reference, else average cost."""
        book = self.books.get(symbol)
        if book is not None and book.last_price is not None:
            return book.last_price
        guard = self.guards.get(symbol)
        if guard is not None and guard.reference is not None:
            return guard.reference
        return position_cost // qty if qty else 0

    def market_value(self, account: Account) -> int:
        return sum(
            _value(position, self.mark_price(symbol, position.cost, position.qty))
            for symbol, position in account.positions.items()
            if position.qty or position.fraction
        )

    def equity(self, account: Account) -> int:
        return account.cash + self.market_value(account)

    def summary(self, account_id: str, ts: int) -> "AccountSummary | None":
        """The account as a client sees it at `ts` (for the day-trade count's window)."""
        account = self.ledger.accounts.get(account_id)
        if account is None:
            return None
        value = self.market_value(account)
        settings = self.settings
        day_trades = account.day_trade_count(
            self.calendar.session_index(ts), settings.day_trade_window_sessions
        )
        equity = account.cash + value
        session = self.calendar.session_index(ts)
        first = session - settings.good_faith_window_sessions + 1
        violations = sum(1 for day in account.good_faith if day >= first)
        until = account.restricted_until
        restricted = self.calendar.session_date(until) if until >= session else None
        return AccountSummary(
            account_id,
            account.kind,
            account.status,
            account.cash,
            account.settled,
            account.unsettled,
            account.held,
            account.buying_power,
            account.withdrawable(),
            value,
            equity,
            account.fees,
            day_trades,
            account.kind == AccountKind.MARGIN and day_trades >= settings.pattern_day_trades_min,
            sum(account.open_orders.values()),
            violations,
            restricted,
        )

    def positions(self, account_id: str) -> list["PositionView"]:
        """Open positions (and closed ones with realized P&L), by symbol."""
        account = self.ledger.accounts.get(account_id)
        if account is None:
            return []
        views = []
        for symbol in sorted(account.positions):
            position = account.positions[symbol]
            if not (position.qty or position.fraction or position.realized):
                continue
            mark = self.mark_price(symbol, position.cost, position.qty)
            value = _value(position, mark)
            views.append(
                PositionView(
                    symbol,
                    position.qty,
                    position.held,
                    position.average_cost(),
                    position.cost,
                    mark,
                    value,
                    value - position.cost,
                    position.realized,
                    position.settled_qty,
                    position.fraction,
                    position.free_nano(),
                )
            )
        return views


def _value(position: Position, mark: int) -> int:
    """A position at `mark`: its fraction's value rounded as a fill of it would be."""
    value = position.qty * mark
    return value + fraction_value(position.fraction, mark) if position.fraction else value
