"""Accounts and positions: plain integers in price units and shares, mutable, engine-owned.

Cash is `settled + unsettled`; `held` is the part of it reserved by open buy orders, so buying
power is `settled + unsettled - held`. `unsettled` is the net of fills not yet settled (negative
when purchases are owed); `pending` keeps it by trade session so settlement can move each
session's net at T+N. Positions use average cost: `cost` is the basis of the `qty` held.
"""

import msgspec

from tradingfloor.domain.enums import AccountKind, AccountStatus
from tradingfloor.domain.fractions import NANO


def lowest_running_sum(pending: dict[int, int]) -> int:
    """The deepest a balance dips (0 or below) as `pending` sessions settle in order."""
    if len(pending) == 1:  # the usual case, on every cash account's buy fill
        for amount in pending.values():
            return amount if amount < 0 else 0
    running = lowest = 0
    for session in sorted(pending):
        running += pending[session]
        if running < lowest:
            lowest = running
    return lowest


class GoodFaithLot(msgspec.Struct, gc=False, array_like=True):
    """Shares bought by order `order_id` with (partly) unsettled sale proceeds, which settle
    at session `funded_session`: selling them before that session is a good-faith violation,
    counted once per lot (`counted`)."""

    order_id: int
    qty: int
    funded_session: int
    counted: bool = False


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
    unsettled: int = 0
    """Shares bought minus sold in trade sessions not settled yet (negative: owed out)."""
    pending: dict[int, int] = msgspec.field(default_factory=dict)
    """`unsettled` by trade session."""
    lots: list[GoodFaithLot] = msgspec.field(default_factory=list)
    """Cash accounts: shares bought with unsettled proceeds, oldest first."""
    fraction: int = 0
    """Nano-shares beyond the whole `qty` (below one share; `domain.fractions`). They trade
    with the fractional desk only and settle on the platform's books at once: `unsettled`,
    `lots` and the day-trade count are whole shares."""
    fraction_held: int = 0
    """Nano-shares reserved by open fractional sells (beyond their whole shares' `held`)."""

    def average_cost(self) -> int:
        """Cost per share, rounded down to the price unit (0 when flat)."""
        if self.fraction:
            return self.cost * NANO // (self.qty * NANO + self.fraction)
        return self.cost // self.qty if self.qty else 0

    def nano(self) -> int:
        """The whole position in nano-shares."""
        return self.qty * NANO + self.fraction

    def free_shares(self) -> int:
        """Whole shares neither an open sell nor a fractional sell needs."""
        over = self.fraction_held - self.fraction
        return self.qty - self.held - (-(-over // NANO) if over > 0 else 0)

    def free_nano(self) -> int:
        """Nano-shares neither an open sell nor a fractional sell needs."""
        return (self.qty - self.held) * NANO + self.fraction - self.fraction_held

    @property
    def settled_qty(self) -> int:
        return self.qty - self.unsettled

    def withdrawable(self) -> int:
        """Settled shares that neither an open sell nor an unsettled sale needs: as with
        cash, the settled quantity must not dip below zero as the sessions settle."""
        return max(0, min(self.settled_qty + lowest_running_sum(self.pending), self.free_shares()))


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
    good_faith: list[int] = msgspec.field(default_factory=list)
    """The session index of each good-faith violation, oldest first, pruned to the window."""
    restricted_until: int = -1
    """The last session of a settled-cash-only restriction (-1: none)."""
    adjusted: int = 0
    """Cash posted by break adjustments (net; from the platform's adjustments account)."""

    @property
    def cash(self) -> int:
        return self.settled + self.unsettled

    @property
    def buying_power(self) -> int:
        return self.settled + self.unsettled - self.held

    def owed(self) -> int:
        """Settled cash already spoken for: the deepest the settled balance would dip as the
        unsettled sessions settle in order (purchases paid before the sales that fund them)."""
        return -lowest_running_sum(self.pending)

    def free_settled(self) -> int:
        """Settled cash not already paying for an unsettled purchase (cash accounts)."""
        return self.settled - self.owed() if self.pending else self.settled

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
