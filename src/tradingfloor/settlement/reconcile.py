"""Reconciliation: the platform's records against the clearinghouse's and the ledger's, as
`RecordBreak` commands for the review queue.

Pure: what was compared in, breaks out; a clean comparison gives none. Each break's id is
derived from what was compared, `<date>/<KIND>/<trade_ref>` for a trade and
`<date>/<KIND>/<account>/<symbol>` for a position, so the same difference found again (a
rerun, a restart mid-settlement) names the same break and the engine refuses it as
recorded already. The design's steps, by function:

- `confirmation_breaks` (step 3): every trade submitted for a trade date has exactly one
  accepted confirmation with the same terms; no confirmation names a trade the platform
  does not have; a confirmation released late is a break of its own.
- `obligation_breaks` (step 4): the platform's net obligations of the trade dates settling on
  a date equal the clearinghouse's settlement instructions (less the fails it carried into
  them); each new fail is a break.
- `ledger_breaks` (step 4): the same netting equals what the engine settled
  (`FundsSettled` per account, with fees; `SharesSettled` per account and symbol).
- `holding_breaks` (step 5): settled cash and shares per account equal the clearinghouse's
  holdings; `split_persisting` keeps a difference that stays the same one break.
"""

from collections.abc import Iterable, Mapping, Set

from tradingfloor.domain.commands import RecordBreak
from tradingfloor.domain.enums import BreakKind
from tradingfloor.domain.events import BreakOpened
from tradingfloor.settlement.netting import Obligation
from tradingfloor.settlement.records import (
    CASH_SYMBOL,
    ClearingTrade,
    Confirmation,
    Fail,
    Holding,
    Instruction,
)


def break_id(date: str, kind: BreakKind, *key: str) -> str:
    return "/".join((date, kind.name, *key))


def _trade_break(
    date: str,
    kind: BreakKind,
    key: str,
    trade: ClearingTrade | None,
    confirmation: Confirmation | None,
    detail: str,
) -> RecordBreak:
    """A break about one trade: the platform's terms against the clearinghouse's."""
    named = trade if trade is not None else confirmation
    if named is None:
        raise ValueError("a trade break needs the trade or its confirmation")
    platform_qty = trade.qty if trade is not None else 0
    platform_cash = trade.qty * trade.price if trade is not None else 0
    other_qty = confirmation.qty if confirmation is not None else 0
    other_cash = confirmation.qty * confirmation.price if confirmation is not None else 0
    return RecordBreak(
        break_id(date, kind, key),
        date,
        kind,
        named.buyer,
        named.symbol,
        platform_qty,
        other_qty,
        platform_cash,
        other_cash,
        detail,
    )


def _terms(item: ClearingTrade | Confirmation) -> tuple[str, str, str, str, str, int, int]:
    return (
        item.trade_date,
        item.settle_date,
        item.symbol,
        item.buyer,
        item.seller,
        item.qty,
        item.price,
    )


def confirmation_breaks(
    trade_date: str, submitted: Iterable[ClearingTrade], confirmations: Iterable[Confirmation]
) -> list[RecordBreak]:
    """Breaks of trade date `trade_date`: `submitted` are its trades, `confirmations` every
    one the clearinghouse released for it (those of other dates are ignored; the same
    confirmation seen twice counts once)."""
    trades = {trade.trade_ref: trade for trade in submitted}
    seen: dict[str, Confirmation] = {}
    breaks = []
    unique = {(item.trade_ref, item.clearing_ref): item for item in confirmations}
    for key in sorted(unique):
        confirmation = unique[key]
        if confirmation.trade_date != trade_date:
            continue
        ref = confirmation.trade_ref
        trade = trades.get(ref)
        if trade is None or ref in seen:
            why = "a second confirmation of" if trade is not None else "no such trade as"
            breaks.append(
                _trade_break(
                    trade_date,
                    BreakKind.UNKNOWN_AT_PLATFORM,
                    f"{ref}#{confirmation.clearing_ref}" if trade is not None else ref,
                    None,
                    confirmation,
                    f"{why} {ref} (clearing ref {confirmation.clearing_ref})",
                )
            )
            continue
        seen[ref] = confirmation
        if confirmation.late:
            breaks.append(
                _trade_break(
                    trade_date,
                    BreakKind.LATE_CONFIRMATION,
                    ref,
                    trade,
                    confirmation,
                    f"{ref} confirmed after its trade date's reconciliation",
                )
            )
        if not confirmation.accepted:
            continue  # refused: unconfirmed, below
        if _terms(confirmation) != _terms(trade):
            breaks.append(
                _trade_break(
                    trade_date,
                    BreakKind.CONFIRMATION_DIFFERS,
                    ref,
                    trade,
                    confirmation,
                    f"{ref} confirmed as {_describe(confirmation)}, traded as {_describe(trade)}",
                )
            )
    for ref in sorted(trades):
        found = seen.get(ref)
        if found is None or not found.accepted:
            why = "refused" if found is not None else "not confirmed"
            breaks.append(
                _trade_break(
                    trade_date,
                    BreakKind.UNCONFIRMED,
                    ref,
                    trades[ref],
                    found,
                    f"{ref} {why} by the clearinghouse",
                )
            )
    return breaks


def _describe(item: ClearingTrade | Confirmation) -> str:
    return (
        f"{item.buyer} buys {item.qty} {item.symbol} from {item.seller} at {item.price} "
        f"({item.trade_date} for {item.settle_date})"
    )


def _position_break(
    date: str, kind: BreakKind, account: str, symbol: str, ours: int, theirs: int, detail: str
) -> RecordBreak:
    """A break about an account's cash (`symbol` USD: the amounts are cash) or shares."""
    cash = symbol == CASH_SYMBOL
    return RecordBreak(
        break_id(date, kind, account, symbol),
        date,
        kind,
        account,
        symbol,
        0 if cash else ours,
        0 if cash else theirs,
        ours if cash else 0,
        theirs if cash else 0,
        detail,
    )


def obligation_breaks(
    settle_date: str,
    expected: Mapping[tuple[str, str], Obligation],
    instructions: Iterable[Instruction],
    fails: Iterable[Fail],
    carried: Iterable[Fail] = (),
) -> list[RecordBreak]:
    """The platform's obligations settling on `settle_date` against the clearinghouse's
    instructions. An instruction is the whole net due then: the trades settling plus the
    shares carried from the previous settlement's fails (`carried`: a deliverer's fail, > 0,
    is owed again), so those are taken out before comparing. Each fail that arose on this
    date (undelivered, > 0, or unreceived, < 0) is a break; one carried from an earlier date
    was a break when it arose."""
    theirs: dict[tuple[str, str], list[int]] = {}
    for instruction in instructions:
        if instruction.settle_date == settle_date:
            found = theirs.setdefault((instruction.participant, instruction.symbol), [0, 0])
            found[0] += instruction.qty
            found[1] += instruction.cash
    for fail in carried:
        theirs.setdefault((fail.participant, fail.symbol), [0, 0])[0] += fail.qty
    breaks = []
    for fail in sorted(fails, key=lambda item: (item.participant, item.symbol)):
        if fail.settle_date != settle_date or fail.from_date != settle_date:
            continue
        what = "not delivered by" if fail.qty > 0 else "not received by"
        breaks.append(
            _position_break(
                settle_date,
                BreakKind.FAIL_TO_DELIVER,
                fail.participant,
                fail.symbol,
                fail.qty,
                0,
                f"{abs(fail.qty)} {fail.symbol} {what} {fail.participant} on {settle_date}: "
                "carried to the next settlement date",
            )
        )
    for key in sorted(set(expected) | set(theirs)):
        ours = expected.get(key, Obligation())
        qty, cash = theirs.get(key, (0, 0))
        if (ours.shares, ours.cash) == (qty, cash):
            continue
        account, symbol = key
        breaks.append(
            RecordBreak(
                break_id(settle_date, BreakKind.OBLIGATION_DIFFERS, account, symbol),
                settle_date,
                BreakKind.OBLIGATION_DIFFERS,
                account,
                symbol,
                ours.shares,
                qty,
                ours.cash,
                cash,
                f"net {symbol} due on {settle_date}: platform {ours.shares} shares and "
                f"{ours.cash} cash, clearinghouse {qty} shares and {cash} cash",
            )
        )
    return breaks


def ledger_breaks(
    settle_date: str,
    expected: Mapping[tuple[str, str], Obligation],
    funds_settled: Mapping[str, int],
    shares_settled: Mapping[tuple[str, str], int],
) -> list[RecordBreak]:
    """The netting of the trade dates settled on `settle_date` against what the engine
    settled then: cash per account (with fees), shares per account and symbol."""
    cash: dict[str, int] = {}
    for (account, _), obligation in expected.items():
        cash[account] = cash.get(account, 0) + obligation.ledger_cash
    breaks = []
    for account in sorted(set(cash) | set(funds_settled)):
        ours, theirs = cash.get(account, 0), funds_settled.get(account, 0)
        if ours != theirs:
            breaks.append(
                _position_break(
                    settle_date,
                    BreakKind.LEDGER_DIFFERS,
                    account,
                    CASH_SYMBOL,
                    ours,
                    theirs,
                    f"fills net {ours} cash on {settle_date}, the ledger settled {theirs}",
                )
            )
    shares = {key: obligation.shares for key, obligation in expected.items()}
    for key in sorted(set(shares) | set(shares_settled)):
        ours, theirs = shares.get(key, 0), shares_settled.get(key, 0)
        if ours != theirs:
            account, symbol = key
            breaks.append(
                _position_break(
                    settle_date,
                    BreakKind.LEDGER_DIFFERS,
                    account,
                    symbol,
                    ours,
                    theirs,
                    f"fills net {ours} {symbol} on {settle_date}, the ledger settled {theirs}",
                )
            )
    return breaks


def holding_breaks(
    as_of: str, platform: Mapping[tuple[str, str], int], holdings: Iterable[Holding]
) -> list[RecordBreak]:
    """Settled cash and shares per (account, symbol) at the platform (cash as the
    clearinghouse counts it: before the platform's fees) against its holdings."""
    theirs: dict[tuple[str, str], int] = {}
    for holding in holdings:
        key = (holding.participant, holding.symbol)
        theirs[key] = theirs.get(key, 0) + holding.qty
    breaks = []
    for key in sorted(set(platform) | set(theirs)):
        ours, other = platform.get(key, 0), theirs.get(key, 0)
        if ours == other:
            continue
        account, symbol = key
        cash = symbol == CASH_SYMBOL
        kind = BreakKind.CASH_DIFFERS if cash else BreakKind.POSITION_DIFFERS
        what = "cash" if cash else f"{symbol} shares"
        breaks.append(
            _position_break(
                as_of,
                kind,
                account,
                symbol,
                ours,
                other,
                f"settled {what} of {account} on {as_of}: platform {ours}, clearinghouse {other}",
            )
        )
    return breaks


def split_persisting(
    found: Iterable[RecordBreak], recorded: Mapping[str, BreakOpened], resolved: Set[str]
) -> tuple[list[RecordBreak], list[RecordBreak]]:
    """(new differences, differences still open under an earlier break): a holding that
    differs by the same amount as an open break of the same account, symbol and kind is that
    break again, not a new one each day. `recorded`: the breaks in the queue, by id;
    `resolved`: the ids of those closed."""
    still_open = {
        (item.kind, item.account, item.symbol, _difference(item))
        for item in recorded.values()
        if item.break_id not in resolved
    }
    fresh: list[RecordBreak] = []
    known: list[RecordBreak] = []
    for item in found:
        key = (item.kind, item.account, item.symbol, _difference(item))
        again = key in still_open and item.break_id not in recorded
        (known if again else fresh).append(item)
    return fresh, known


def _difference(item: RecordBreak | BreakOpened) -> tuple[int, int]:
    return item.platform_qty - item.other_qty, item.platform_cash - item.other_cash
