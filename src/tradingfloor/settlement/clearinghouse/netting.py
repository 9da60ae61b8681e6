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

from collections import defaultdict
from dataclasses import dataclass

from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.settlement.records import Fail, Instruction

Key = tuple[str, str]
"""(participant, symbol)."""


@dataclass(frozen=True)
class Settled:
    instructions: list[Instruction]
    fails: list[Fail]


@dataclass
class _Position:
    participant: str
    qty: int = 0
    cash: int = 0
    carried: int = 0
    """Shares owed from the previous settlement: + to receive, - to deliver."""
    carried_from: str = ""


def settle_date(
    date: str,
    obligations: dict[Key, tuple[int, int]],
    carried: list[Fail],
    holdings: dict[Key, int],
) -> Settled:
    """Instructions and fails of settlement date `date`: `obligations` are the net (qty, cash)
    of the trades settling then, `carried` the previous settlement's fails, `holdings` the
    shares each participant holds before this settlement."""
    by_symbol: dict[str, dict[str, _Position]] = defaultdict(dict)
    for (participant, symbol), (qty, cash) in obligations.items():
        position = by_symbol[symbol].setdefault(participant, _Position(participant))
        position.qty += qty
        position.cash += cash
    for fail in carried:
        position = by_symbol[fail.symbol].setdefault(fail.participant, _Position(fail.participant))
        position.qty -= fail.qty
        position.carried -= fail.qty
        position.carried_from = fail.from_date
    instructions: list[Instruction] = []
    fails: list[Fail] = []
    for symbol in sorted(by_symbol):
        positions = [by_symbol[symbol][p] for p in sorted(by_symbol[symbol])]
        instructions.extend(
            Instruction(date, p.participant, symbol, p.qty, p.cash)
            for p in positions
            if p.qty or p.cash
        )
        fails.extend(_fails_of_symbol(date, symbol, positions, holdings))
    return Settled(instructions, fails)


def _fails_of_symbol(
    date: str, symbol: str, positions: list[_Position], holdings: dict[Key, int]
) -> list[Fail]:
    fails: list[Fail] = []
    pool = 0
    for position in positions:
        if position.qty >= 0:
            continue
        owed = -position.qty
        delivered = min(owed, max(holdings.get((position.participant, symbol), 0), 0))
        pool += delivered
        if delivered < owed:
            old = -position.carried if position.carried < 0 else 0
            since = position.carried_from if delivered < old else date
            fails.append(Fail(date, position.participant, symbol, owed - delivered, since))
    receivers = [p for p in positions if p.qty > 0]
    received: dict[str, int] = dict.fromkeys((p.participant for p in receivers), 0)
    owed_first = sorted(
        (p for p in receivers if p.carried > 0), key=lambda p: (p.carried_from, p.participant)
    )
    for position in owed_first:
        share = min(pool, position.carried, position.qty)
        received[position.participant] += share
        pool -= share
    for position in receivers:
        share = min(pool, position.qty - received[position.participant])
        received[position.participant] += share
        pool -= share
    for position in receivers:
        short = position.qty - received[position.participant]
        if short:
            old_received = min(received[position.participant], max(position.carried, 0))
            carried_part = min(max(position.carried, 0), position.qty)
            since = position.carried_from if old_received < carried_part else date
            fails.append(Fail(date, position.participant, symbol, -short, since))
    if pool or sum(fail.qty for fail in fails):
        raise InvariantViolation(f"settlement {date} of {symbol}: fails do not balance")
    return fails
