"""CNS settlement of one date: net obligations in, instructions and fails out. Pure.

Continuous Net Settlement: the clearinghouse is the counterparty of every trade, so each
participant settles one net quantity per security (and one net amount of cash) with it, not
each trade with its counterparty. The obligation of (participant, symbol) on a settlement date
is the sum of its confirmed trades settling then (bought +qty, sold -qty; cash -qty*price when
buying, +qty*price when selling) plus the fail carried from the previous settlement (shares
only: the cash of those trades moved when they first settled).

Delivery: a participant that owes shares delivers what it holds (the clearinghouse's holdings
before this settlement), up to what it owes; the rest is its fail-to-deliver (`Fail.qty` > 0),
carried to the next settlement date. What it delivers pays its oldest obligation first, so a
fail keeps the date it first arose (`from_date`) until it is delivered in full.

Allocation of a shortfall: the shares delivered in a security are a pool, given to the
receiving participants in this order: first what earlier settlements still owe them (oldest
`from_date` first, then by participant id), then today's receipts by participant id. Each is
filled in full before the next: the ones at the end of the order receive less, and what they
did not receive is their fail-to-receive (`Fail.qty` < 0), carried and served first next time.
A deterministic order (rather than pro rata) keeps every fail a whole number of shares and a
rerun identical. Cash is never failed: each participant pays or receives its whole net cash.

The fails of one security always sum to zero (undelivered = unreceived); anything else is a bug
and raises `InvariantViolation`.
"""

from dataclasses import dataclass

from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.settlement.records import Fail, Instruction

Key = tuple[str, str]
"""(participant, symbol)."""
Obligation = tuple[str, str, int, int]
"""(participant, symbol, qty, cash): a net obligation from the trades settling on a date."""


@dataclass(frozen=True)
class Settled:
    instructions: list[Instruction]
    fails: list[Fail]


@dataclass(frozen=True)
class _Carried:
    qty: int
    """Shares owed from the previous settlement: + to receive, - to deliver."""
    since: str


def settle_date(
    date: str,
    obligations: list[Obligation],
    carried: list[Fail],
    holdings: dict[Key, int],
) -> Settled:
    """Instructions and fails of settlement date `date`: `obligations` are the net positions
    of the trades settling then (one per participant and symbol, in order of symbol then
    participant), `carried` the previous settlement's fails, `holdings` the shares each
    participant holds before this settlement. Plain tuples and one pass over them: a day of
    a million trades nets to millions of positions."""
    owed = {(f.participant, f.symbol): _Carried(-f.qty, f.from_date) for f in carried}
    positions = _with_carried(obligations, owed)
    balance: dict[str, int] = {}
    for _, symbol, qty, _ in positions:
        balance[symbol] = balance.get(symbol, 0) + qty
    if any(balance.values()):
        raise InvariantViolation(f"settlement {date}: obligations that do not net to zero")
    instructions = [
        Instruction(date, participant, symbol, qty, cash)
        for participant, symbol, qty, cash in positions
        if qty or cash
    ]
    fails: list[Fail] = []
    delivered: dict[str, int] = {}
    for participant, symbol, qty, _ in positions:
        if qty < 0:
            given = min(-qty, max(holdings.get((participant, symbol), 0), 0))
            delivered[symbol] = delivered.get(symbol, 0) + given
            if given < -qty:
                before = owed.get((participant, symbol))
                old = -before.qty if before is not None and before.qty < 0 else 0
                since = before.since if before is not None and given < old else date
                fails.append(Fail(date, participant, symbol, -qty - given, since))
    receivers: dict[str, list[tuple[str, int]]] = {fail.symbol: [] for fail in fails}
    for participant, symbol, qty, _ in positions:
        if qty > 0 and symbol in receivers:
            receivers[symbol].append((participant, qty))
    for symbol, receiving in receivers.items():
        fails.extend(_receipt_fails(date, symbol, receiving, owed, delivered[symbol]))
    if sum(fail.qty for fail in fails):
        raise InvariantViolation(f"settlement {date}: fails to deliver and receive differ")
    return Settled(instructions, fails)


def _with_carried(obligations: list[Obligation], owed: dict[Key, _Carried]) -> list[Obligation]:
    """`obligations` with the carried fails added (shares only), still in order."""
    if not owed:
        return obligations
    merged: dict[Key, Obligation] = {(o[0], o[1]): o for o in obligations}
    for key, before in owed.items():
        participant, symbol, qty, cash = merged.get(key, (*key, 0, 0))
        merged[key] = (participant, symbol, qty + before.qty, cash)
    return sorted(merged.values(), key=lambda o: (o[1], o[0]))


def _receipt_fails(
    date: str,
    symbol: str,
    receivers: list[tuple[str, int]],
    owed: dict[Key, _Carried],
    pool: int,
) -> list[Fail]:
    """The pool of shares delivered in one security, given out in the documented order."""
    received = dict.fromkeys((participant for participant, _ in receivers), 0)
    due = dict(receivers)
    old: dict[str, int] = {}
    for participant, qty in receivers:
        before = owed.get((participant, symbol))
        if before is not None and before.qty > 0:
            old[participant] = min(before.qty, qty)
    for participant in sorted(old, key=lambda p: (owed[(p, symbol)].since, p)):
        share = min(pool, old[participant])
        received[participant] += share
        pool -= share
    for participant, qty in receivers:
        share = min(pool, qty - received[participant])
        received[participant] += share
        pool -= share
    if pool:
        raise InvariantViolation(f"settlement {date}: shares delivered that nobody receives")
    fails = []
    for participant, _ in receivers:
        short = due[participant] - received[participant]
        if short:
            old_part = old.get(participant, 0)
            since = owed[(participant, symbol)].since if received[participant] < old_part else date
            fails.append(Fail(date, participant, symbol, -short, since))
    return fails
