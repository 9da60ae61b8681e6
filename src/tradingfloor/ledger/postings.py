"""The transaction history in double entry, derived from the engine's events alone.

Every movement of cash or shares is a `Posting`: `amount` of `asset` leaves the `credit` ledger
account and arrives at the `debit` one, stamped with the sequence number of the command that
caused it. Debits equal credits by construction; what the postings prove is that replaying them
gives every balance the engine keeps (`balances`, checked by `tradingfloor ledger check`).

Ledger accounts: `<account>/cash` (settled), `<account>/unsettled`, `<account>/shares/<SYM>`,
`<account>/fractions/<SYM>` (a position's fraction, in nano-shares: asset `<SYM>/nano`);
outside the platform: `@world/cash` and `@world/shares/<SYM>` (deposits, withdrawals,
transfers), `@fees` (fees charged), `@adjustments` (cash and shares posted by resolving a
reconciliation break), and the issuers' `@corporate_actions/cash` (dividends and cash in lieu
paid) and `@corporate_actions/shares/<SYM>` (shares a split issues or takes back; a symbol
change returns the old symbol's shares there and issues the new one's). Shares settling
(`SharesSettled`) post nothing: a position's shares are one ledger account whatever part of
them has settled.
"""

from collections.abc import Iterable, Iterator

import msgspec

from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import (
    BreakResolved,
    CashAllocatedIn,
    CashAllocatedOut,
    DividendPaid,
    Event,
    FractionFilled,
    FundsDeposited,
    FundsSettled,
    FundsWithdrawn,
    SharesDeposited,
    SharesWithdrawn,
    StockSplitApplied,
    SymbolChanged,
    SymbolHandedOver,
    SymbolTakenOver,
    TradeExecuted,
)
from tradingfloor.domain.fractions import NANO

CASH = "USD"
WORLD_CASH = "@world/cash"
FEES = "@fees"
ISSUER = "@corporate_actions"
ISSUER_CASH = f"{ISSUER}/cash"
"""Cash the issuers paid: dividends and cash in lieu of fractional shares."""
ADJUSTMENTS = "@adjustments"
"""Corrections posted by resolved breaks: cash (asset "USD") and shares (asset the symbol)."""
OTHER_SHARDS_CASH = "@shards/cash"
"""Cash of this shard's accounts moved to (or taken in from) the platform's other shards."""
FRACTIONS = "@fractions"
"""Where a whole share becomes nano-shares and back: a fraction that passes a share (or
breaks one) posts the share and its 1e9 nano-shares through here (`<SYM>` and `<SYM>/nano`)."""


def nano_asset(symbol: str) -> str:
    """The asset of a position's fraction: nano-shares of `symbol`."""
    return f"{symbol}/nano"


class Posting(msgspec.Struct, frozen=True):
    seq: int
    ts: int
    debit: str
    credit: str
    asset: str
    """"USD" for cash, the symbol for shares."""
    amount: int
    kind: str
    """trade, fee, deposit, withdrawal, shares_in, shares_out, settlement, allocation, move,
    split, cash_in_lieu, dividend, symbol_change, adjustment, fraction, fraction_whole."""
    symbol: str = ""
    trade_id: int | None = None

    def touches(self, account: str) -> bool:
        prefix = account + "/"
        return self.debit.startswith(prefix) or self.credit.startswith(prefix)


def _posting(
    seq: int,
    ts: int,
    debit: str,
    credit: str,
    asset: str,
    amount: int,
    kind: str,
    symbol: str = "",
    trade_id: int | None = None,
) -> Posting:
    if amount < 0:  # amounts are positive: a negative movement is the reverse one
        debit, credit, amount = credit, debit, -amount
    return Posting(seq, ts, debit, credit, asset, amount, kind, symbol, trade_id)


def postings(event: Event) -> list[Posting]:
    """The postings one event makes (none for events that move nothing)."""
    seq, ts = event.seq, event.ts
    if isinstance(event, TradeExecuted):
        return _trade_postings(event)
    if isinstance(event, FundsDeposited):
        cash = f"{event.account}/cash"
        return [_posting(seq, ts, cash, WORLD_CASH, CASH, event.amount, "deposit")]
    if isinstance(event, FundsWithdrawn):
        cash = f"{event.account}/cash"
        return [_posting(seq, ts, WORLD_CASH, cash, CASH, event.amount, "withdrawal")]
    if isinstance(event, CashAllocatedOut | CashAllocatedIn):
        cash = f"{event.account}/cash"
        moved = event.amount if isinstance(event, CashAllocatedIn) else -event.amount
        return [_posting(seq, ts, cash, OTHER_SHARDS_CASH, CASH, moved, "allocation")]
    if isinstance(event, SymbolHandedOver | SymbolTakenOver):
        return _moved_symbol(event)
    if isinstance(event, SharesDeposited | SharesWithdrawn):
        own = f"{event.account}/shares/{event.symbol}"
        world = f"@world/shares/{event.symbol}"
        if isinstance(event, SharesDeposited):
            debit, credit, kind = own, world, "shares_in"
        else:
            debit, credit, kind = world, own, "shares_out"
        return [_posting(seq, ts, debit, credit, event.symbol, event.qty, kind, event.symbol)]
    if isinstance(event, StockSplitApplied | DividendPaid | SymbolChanged):
        return _corporate_action(event)
    if isinstance(event, FundsSettled):
        cash, unsettled = f"{event.account}/cash", f"{event.account}/unsettled"
        return [_posting(seq, ts, cash, unsettled, CASH, event.amount, "settlement")]
    if isinstance(event, BreakResolved):
        return _adjustment_postings(event)
    if isinstance(event, FractionFilled):
        return _fraction_postings(event)
    return []


def _fraction_postings(fill: FractionFilled) -> list[Posting]:
    """A desk fill: settled cash one way, nano-shares the other, then each side's whole
    share made or broken through `@fractions`."""
    seq, ts, symbol = fill.seq, fill.ts, fill.symbol
    desk, account = fill.desk_account, fill.account
    buyer, seller = (account, desk) if fill.side == Side.BUY else (desk, account)
    nano = nano_asset(symbol)
    found = [
        _posting(seq, ts, f"{seller}/cash", f"{buyer}/cash", CASH, fill.value, "fraction", symbol),
        _posting(
            seq,
            ts,
            f"{buyer}/fractions/{symbol}",
            f"{seller}/fractions/{symbol}",
            nano,
            fill.fraction,
            "fraction",
            symbol,
        ),
    ]
    for owner, whole in ((account, fill.account_whole), (desk, fill.desk_whole)):
        if whole:
            shares = f"{owner}/shares/{symbol}"
            fractions = f"{owner}/fractions/{symbol}"
            pool = f"{FRACTIONS}/{symbol}"
            found.append(_posting(seq, ts, shares, pool, symbol, whole, "fraction_whole", symbol))
            found.append(
                _posting(seq, ts, pool, fractions, nano, whole * NANO, "fraction_whole", symbol)
            )
    return found


def _corporate_action(event: StockSplitApplied | DividendPaid | SymbolChanged) -> list[Posting]:
    """Shares issued or taken back by a split, cash paid in lieu or as a dividend, shares
    renamed by a symbol change: each against the issuer's account."""
    seq, ts = event.seq, event.ts
    if isinstance(event, DividendPaid):
        cash = f"{event.account}/cash"
        return [_posting(seq, ts, cash, ISSUER_CASH, CASH, event.amount, "dividend", event.symbol)]
    if isinstance(event, SymbolChanged):
        found = []
        old, new = event.symbol, event.new_symbol
        for account, qty in event.shares:
            found.append(
                _posting(
                    seq,
                    ts,
                    f"{ISSUER}/shares/{old}",
                    f"{account}/shares/{old}",
                    old,
                    qty,
                    "symbol_change",
                    old,
                )
            )
            found.append(
                _posting(
                    seq,
                    ts,
                    f"{account}/shares/{new}",
                    f"{ISSUER}/shares/{new}",
                    new,
                    qty,
                    "symbol_change",
                    new,
                )
            )
        for account, fraction in event.fractions:
            for name, debit, credit in (
                (old, f"{ISSUER}/shares/{old}", f"{account}/fractions/{old}"),
                (new, f"{account}/fractions/{new}", f"{ISSUER}/shares/{new}"),
            ):
                found.append(
                    _posting(
                        seq, ts, debit, credit, nano_asset(name), fraction, "symbol_change", name
                    )
                )
        return found
    symbol, account = event.symbol, event.account
    found = []
    if event.new_qty != event.old_qty:
        found.append(
            _posting(
                seq,
                ts,
                f"{account}/shares/{symbol}",
                f"{ISSUER}/shares/{symbol}",
                symbol,
                event.new_qty - event.old_qty,
                "split",
                symbol,
            )
        )
    if event.new_fraction != event.old_fraction:
        found.append(
            _posting(
                seq,
                ts,
                f"{account}/fractions/{symbol}",
                f"{ISSUER}/shares/{symbol}",
                nano_asset(symbol),
                event.new_fraction - event.old_fraction,
                "split",
                symbol,
            )
        )
    if event.cash_in_lieu:
        found.append(
            _posting(
                seq,
                ts,
                f"{account}/cash",
                ISSUER_CASH,
                CASH,
                event.cash_in_lieu,
                "cash_in_lieu",
                symbol,
            )
        )
    return found


def _adjustment_postings(event: BreakResolved) -> list[Posting]:
    seq, ts, account, symbol = event.seq, event.ts, event.account, event.symbol
    found = []
    if event.cash_adjustment:
        cash = f"{account}/cash"
        found.append(
            _posting(seq, ts, cash, ADJUSTMENTS, CASH, event.cash_adjustment, "adjustment")
        )
    if event.shares_adjustment:
        own = f"{account}/shares/{symbol}"
        found.append(
            _posting(
                seq, ts, own, ADJUSTMENTS, symbol, event.shares_adjustment, "adjustment", symbol
            )
        )
    return found


def _moved_symbol(event: SymbolHandedOver | SymbolTakenOver) -> list[Posting]:
    """A symbol moved between shards: its positions and the cash its buys hold, out to the
    other shards or in from them."""
    sign = 1 if isinstance(event, SymbolTakenOver) else -1
    seq, ts, symbol = event.seq, event.ts, event.symbol
    found = [
        _posting(seq, ts, f"{account}/cash", OTHER_SHARDS_CASH, CASH, sign * amount, "move")
        for account, amount in event.cash
    ]
    shares = f"@shards/shares/{symbol}"
    for account, qty in event.shares:
        own = f"{account}/shares/{symbol}"
        found.append(_posting(seq, ts, own, shares, symbol, sign * qty, "move", symbol))
    nano = nano_asset(symbol)
    for account, fraction in event.fractions:
        own = f"{account}/fractions/{symbol}"
        found.append(_posting(seq, ts, own, shares, nano, sign * fraction, "move", symbol))
    return found


def _trade_postings(trade: TradeExecuted) -> list[Posting]:
    if trade.aggressor == Side.BUY:
        buyer, seller = trade.taker_account, trade.maker_account
        buy_fee, sell_fee = trade.taker_fee, trade.maker_fee
    else:
        buyer, seller = trade.maker_account, trade.taker_account
        buy_fee, sell_fee = trade.maker_fee, trade.taker_fee
    seq, ts, symbol, trade_id = trade.seq, trade.ts, trade.symbol, trade.trade_id
    buyer_cash, seller_cash = f"{buyer}/unsettled", f"{seller}/unsettled"
    found = [
        _posting(
            seq,
            ts,
            seller_cash,
            buyer_cash,
            CASH,
            trade.qty * trade.price,
            "trade",
            symbol,
            trade_id,
        ),
        _posting(
            seq,
            ts,
            f"{buyer}/shares/{symbol}",
            f"{seller}/shares/{symbol}",
            symbol,
            trade.qty,
            "trade",
            symbol,
            trade_id,
        ),
    ]
    for cash, fee in ((buyer_cash, buy_fee), (seller_cash, sell_fee)):
        if fee:
            found.append(_posting(seq, ts, FEES, cash, CASH, fee, "fee", symbol, trade_id))
    return found


def balances(events: Iterable[Event]) -> dict[tuple[str, str], int]:
    """Every ledger account's balance per asset after these events (debits add)."""
    found: dict[tuple[str, str], int] = {}
    for event in events:
        post_balances(found, event)
    return found


def post_balances(found: dict[tuple[str, str], int], event: Event) -> None:
    """Add one event's postings to running balances keyed by (ledger account, asset)."""
    for posting in postings(event):
        debit = (posting.debit, posting.asset)
        credit = (posting.credit, posting.asset)
        found[debit] = found.get(debit, 0) + posting.amount
        found[credit] = found.get(credit, 0) - posting.amount


def history(
    events: Iterable[Event],
    account: str | None = None,
    symbol: str | None = None,
    kinds: frozenset[str] | None = None,
    from_seq: int = 0,
    to_seq: int | None = None,
) -> Iterator[Posting]:
    """The postings of `events` that pass every filter given, in sequence order."""
    for event in events:
        if event.seq < from_seq or (to_seq is not None and event.seq > to_seq):
            continue
        for posting in postings(event):
            if account is not None and not posting.touches(account):
                continue
            if symbol is not None and posting.symbol != symbol:
                continue
            if kinds is not None and posting.kind not in kinds:
                continue
            yield posting
