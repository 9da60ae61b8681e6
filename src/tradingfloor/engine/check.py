"""The ledger's invariants, checked against the books: run after every command in tests and by
`tradingfloor ledger check`. A failure raises `InvariantViolation`: it is a bug, never a state
to trade on.
"""

from collections.abc import Iterable

import msgspec

from tradingfloor.domain.enums import AccountKind, Side
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import Event
from tradingfloor.domain.fractions import NANO
from tradingfloor.engine.engine import Engine
from tradingfloor.ledger.accounts import Account, Position, lowest_running_sum
from tradingfloor.ledger.postings import (
    ADJUSTMENTS,
    FEES,
    ISSUER_CASH,
    OTHER_SHARDS_CASH,
    WORLD_CASH,
    balances,
    nano_asset,
)


class LedgerReport(msgspec.Struct, frozen=True):
    accounts: int
    open_orders: int
    cash: int
    deposited: int
    withdrawn: int
    fees: int
    shares: dict[str, int]
    checks: int


def check_ledger(engine: Engine) -> LedgerReport:
    """Verify the ledger: conservation of cash and shares (break adjustments included),
    nothing negative, settled cash and shares never dipping below zero as they settle, holds
    exactly what open orders need. Returns what was checked."""
    risk = engine.risk
    if risk is None:
        raise InvariantViolation("the engine keeps no ledger (risk is off)")
    ledger = risk.ledger
    checks = 0

    def require(condition: bool, message: str) -> None:
        nonlocal checks
        checks += 1
        if not condition:
            raise InvariantViolation(message)

    held_cash: dict[str, int] = {}
    held_shares: dict[tuple[str, str], int] = {}
    open_orders: dict[tuple[str, str], int] = {}
    live = {
        order_id: (symbol, book.order_view(order_id))
        for symbol, book in engine.books.items()
        for order_id in book.live_order_ids()
    }
    require(set(live) == set(ledger.holds), "holds and live orders differ")
    for order_id, hold in ledger.holds.items():
        symbol, order = live[order_id]
        account_id = hold.account.account_id
        require(order is not None and order.leaves == hold.leaves, f"hold {order_id}: leaves")
        require(order is not None and order.account == account_id, f"hold {order_id}: account")
        require(hold.symbol == symbol, f"hold {order_id}: symbol")
        if hold.side == Side.BUY:
            need = ledger.buy_hold_amount(hold.leaves, hold.price)
            require(hold.amount == need, f"hold {order_id}: {hold.amount} held, {need} needed")
            held_cash[account_id] = held_cash.get(account_id, 0) + hold.amount
        elif hold.partner:
            partner = ledger.holds.get(hold.partner)
            require(hold.amount == 0, f"hold {order_id}: a shared hold holds shares")
            require(
                partner is not None and partner.leaves == hold.leaves and not partner.partner,
                f"hold {order_id}: its pair's take-profit does not hold its shares",
            )
        else:
            require(hold.amount == hold.leaves, f"hold {order_id}: shares held != leaves")
            key = (account_id, symbol)
            held_shares[key] = held_shares.get(key, 0) + hold.amount
        key = (account_id, symbol)
        open_orders[key] = open_orders.get(key, 0) + 1
    for waiting in engine.fractions.waiting.values():  # orders below a share: no hold
        for below in waiting.values():
            key = (below.account, below.symbol)
            open_orders[key] = open_orders.get(key, 0) + 1

    cash = deposited = withdrawn = fees = allocated = adjusted = 0
    shares: dict[str, int] = {}
    nano: dict[str, int] = {}
    for account_id, account in ledger.accounts.items():
        name = f"account {account_id}"
        fraction_cash, fraction_shares = engine.fractions.holds(account_id)
        require(
            account.held == held_cash.get(account_id, 0) + fraction_cash,
            f"{name}: held != buy holds",
        )
        require(account.held >= 0 and account.buying_power >= 0, f"{name}: negative cash")
        require(account.fees >= 0, f"{name}: negative fees")
        require(
            account.settled - account.owed() >= 0,
            f"{name}: settled cash would go negative at settlement",
        )
        require(account.unsettled == sum(account.pending.values()), f"{name}: unsettled")
        for symbol, count in account.open_orders.items():
            require(count == open_orders.get((account_id, symbol), 0), f"{name}: order count")
        require(
            sum(account.open_orders.values())
            == sum(n for (a, _), n in open_orders.items() if a == account_id),
            f"{name}: open orders",
        )
        for symbol, position in account.positions.items():
            where = f"{name} {symbol}"
            require(position.qty >= position.held >= 0, f"{where}: shares held beyond owned")
            require(position.held == held_shares.get((account_id, symbol), 0), f"{where}: held")
            require(position.cost >= 0 and position.bought_today >= 0, f"{where}: negative")
            require(position.nano() > 0 or position.cost == 0, f"{where}: cost without shares")
            require(0 <= position.fraction < NANO, f"{where}: fraction not below one share")
            require(
                position.fraction_held == fraction_shares.get(symbol, 0)
                and position.free_nano() >= 0,
                f"{where}: fractions held",
            )
            for condition, problem in _settlement_checks(account, position):
                require(condition, f"{where}: {problem}")
            shares[symbol] = shares.get(symbol, 0) + position.qty
            nano[symbol] = nano.get(symbol, 0) + position.fraction
        cash += account.cash
        allocated += account.allocated_in - account.allocated_out
        adjusted += account.adjusted
        deposited += account.deposited
        withdrawn += account.withdrawn
        fees += account.fees
    issued = risk.corporate_actions.cash_paid
    require(
        cash == deposited - withdrawn - fees + allocated + adjusted + issued,
        "cash is not deposits - withdrawals - fees + cash in from other shards - out to them"
        " + break adjustments + dividends and cash in lieu",
    )
    require(fees == ledger.fees_collected, "fees charged != fees collected")
    for symbol in set(shares) | set(ledger.shares_in) | set(ledger.shares_adjusted):
        require(
            shares.get(symbol, 0) * NANO + nano.get(symbol, 0)
            == (ledger.shares_in.get(symbol, 0) + ledger.shares_adjusted.get(symbol, 0)) * NANO,
            f"{symbol}: shares held != shares delivered in + break adjustments",
        )
    return LedgerReport(
        len(ledger.accounts), len(ledger.holds), cash, deposited, withdrawn, fees, shares, checks
    )


def _settlement_checks(account: Account, position: Position) -> list[tuple[bool, str]]:
    """A position's unsettled shares and good-faith lots: (holds, what is wrong if not).

    Settled shares never dip below zero as the sessions settle, whatever the account: a
    sale needs the shares, a withdrawal or a break adjustment takes settled ones only."""
    lots = position.lots
    return [
        (position.unsettled == sum(position.pending.values()), "unsettled != pending"),
        (
            position.settled_qty + lowest_running_sum(position.pending) >= 0,
            "settled shares would go negative at settlement",
        ),
        (
            sum(lot.qty for lot in lots) <= position.qty
            and all(lot.qty > 0 for lot in lots)
            and (not lots or account.kind == AccountKind.CASH),
            "good-faith lots beyond the shares, or in a margin account",
        ),
    ]


def check_postings(engine: Engine, events: Iterable[Event]) -> int:
    """Replay the double-entry postings of every event and compare each balance with the
    engine's; returns the number of balances compared."""
    return check_balances(engine, balances(events))


def check_balances(engine: Engine, derived: dict[tuple[str, str], int]) -> int:
    """Compare balances derived from postings (from seq 1) with the engine's ledger."""
    risk = engine.risk
    if risk is None:
        raise InvariantViolation("the engine keeps no ledger (risk is off)")
    compared = 0
    totals: dict[str, int] = {}
    for (_, asset), amount in derived.items():
        totals[asset] = totals.get(asset, 0) + amount
    for asset, total in totals.items():
        if total:
            raise InvariantViolation(f"{asset}: debits and credits differ by {total}")
    for account_id, account in risk.ledger.accounts.items():
        expected = {
            (f"{account_id}/cash", "USD"): account.settled,
            (f"{account_id}/unsettled", "USD"): account.unsettled,
        }
        for symbol, position in account.positions.items():
            expected[(f"{account_id}/shares/{symbol}", symbol)] = position.qty
            expected[(f"{account_id}/fractions/{symbol}", nano_asset(symbol))] = position.fraction
        for key, value in expected.items():
            compared += 1
            if derived.get(key, 0) != value:
                raise InvariantViolation(
                    f"{key[0]}: postings give {derived.get(key, 0)}, the ledger has {value}"
                )
    compared += 1
    if derived.get((FEES, "USD"), 0) != risk.ledger.fees_collected:
        raise InvariantViolation("fees in postings != fees collected")
    compared += 1
    world = -derived.get((WORLD_CASH, "USD"), 0)
    accounts = risk.ledger.accounts.values()
    if world != sum(a.deposited - a.withdrawn for a in accounts):
        raise InvariantViolation("cash from outside != deposits - withdrawals")
    compared += 1
    shards = -derived.get((OTHER_SHARDS_CASH, "USD"), 0)
    if shards != sum(a.allocated_in - a.allocated_out for a in accounts):
        raise InvariantViolation("cash from other shards != allocated in - allocated out")
    compared += 1
    if -derived.get((ISSUER_CASH, "USD"), 0) != risk.corporate_actions.cash_paid:
        raise InvariantViolation("cash from issuers != dividends and cash in lieu paid")
    if -derived.get((ADJUSTMENTS, "USD"), 0) != sum(a.adjusted for a in accounts):
        raise InvariantViolation("cash from adjustments != break adjustments of the accounts")
    for symbol, qty in risk.ledger.shares_adjusted.items():
        compared += 1
        if -derived.get((ADJUSTMENTS, symbol), 0) != qty:
            raise InvariantViolation(f"{symbol}: shares from adjustments != break adjustments")
    return compared
