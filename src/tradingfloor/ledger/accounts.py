"""Accounts and positions: plain integers in price units and shares, mutable, engine-owned.

Cash is `settled + unsettled`; `held` is the part of it reserved by open buy orders, so buying
power is `settled + unsettled - held`. `unsettled` is the net of fills not yet settled (negative
when purchases are owed); `pending` keeps it by trade session so settlement can move each
session's net at T+N. Positions use average cost: `cost` is the basis of the `qty` held.
"""

import msgspec

from tradingfloor.domain.enums import AccountKind, AccountStatus


class Position(msgspec.Struct, gc=False, array_like=True):
    """Shares of one symbol in one account.

    `held` shares are reserved by open sell orders. `bought_today` counts shares bought in
    session `bought_session` still open to a same-session sell (a day trade).
    """

    qty: int = 0
    held: int = 0
    cost: int = 0
    realized: int = 0
    bought_session: int = -1
    bought_today: int = 0

    def average_cost(self) -> int:
        """Cost per share, rounded down to the price unit (0 when flat)."""
        return self.cost // self.qty if self.qty else 0


class Account(msgspec.Struct, gc=False, array_like=True):
    account_id: str
    kind: AccountKind = AccountKind.CASH
    status: AccountStatus = AccountStatus.ACTIVE
    settled: int = 0
    unsettled: int = 0
    held: int = 0
    deposited: int = 0
    withdrawn: int = 0
    fees: int = 0
    positions: dict[str, Position] = msgspec.field(default_factory=dict)
    open_orders: dict[str, int] = msgspec.field(default_factory=dict)
    pending: dict[int, int] = msgspec.field(default_factory=dict)
    day_trades: list[int] = msgspec.field(default_factory=list)
    """The session index of each day trade, oldest first, pruned to the rule's window."""
    allocated_in: int = 0
    """Cash taken in from the platform's other shards (accounts across shards)."""
    allocated_out: int = 0
    """Cash moved out to the platform's other shards."""

    @property
    def cash(self) -> int:
        return self.settled + self.unsettled

    @property
    def buying_power(self) -> int:
        return self.settled + self.unsettled - self.held

    def owed(self) -> int:
        """Settled cash already spoken for: the deepest the settled balance would dip as the
        unsettled sessions settle in order (purchases paid before the sales that fund them)."""
        running = lowest = 0
        for session in sorted(self.pending):
            running += self.pending[session]
            lowest = min(lowest, running)
        return -lowest

    def withdrawable(self) -> int:
        """Settled cash that neither an open order nor an unsettled purchase needs."""
        return max(0, min(self.settled - self.owed(), self.buying_power))

    def position(self, symbol: str) -> Position:
        position = self.positions.get(symbol)
        if position is None:
            position = self.positions[symbol] = Position()
        return position

    def day_trade_count(self, session: int, window_sessions: int) -> int:
        """Day trades within the `window_sessions` business days that end with `session`."""
        first = session - window_sessions + 1
        return sum(1 for day in self.day_trades if day >= first)
