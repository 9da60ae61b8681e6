"""Reconciliation: each break kind from one crafted difference; a clean day gives none."""

import msgspec

from tradingfloor.domain.enums import BreakKind
from tradingfloor.domain.events import BreakOpened
from tradingfloor.settlement.netting import Obligation
from tradingfloor.settlement.reconcile import (
    confirmation_breaks,
    holding_breaks,
    ledger_breaks,
    obligation_breaks,
    split_persisting,
)
from tradingfloor.settlement.records import (
    ClearingTrade,
    Confirmation,
    Fail,
    Holding,
    Instruction,
)

D = "2026-12-01"
S = "2026-12-03"
TRADES = [
    ClearingTrade("main:AAPL:1", D, S, "AAPL", "ann", "bob", 10, 1_000_000),
    ClearingTrade("main:AAPL:2", D, S, "AAPL", "bob", "ann", 4, 1_010_000),
]


def confirm(trade: ClearingTrade, number: int, **changes: object) -> Confirmation:
    confirmation = Confirmation(
        trade.trade_ref, f"C{number}", True, trade.trade_date, trade.settle_date, trade.symbol,
        trade.buyer, trade.seller, trade.qty, trade.price,
    )  # fmt: skip
    return msgspec.structs.replace(confirmation, **changes)


def kinds(breaks: list) -> list[tuple[str, BreakKind]]:  # type: ignore[type-arg]
    return [(item.break_id, item.kind) for item in breaks]


def test_a_day_confirmed_as_traded_gives_no_break() -> None:
    confirmations = [confirm(TRADES[0], 1), confirm(TRADES[1], 2)]
    # The same confirmation seen twice (the batch's answer and the read back) counts once.
    assert confirmation_breaks(D, TRADES, confirmations + confirmations[:1]) == []


def test_a_trade_without_confirmation_is_unconfirmed() -> None:
    breaks = confirmation_breaks(D, TRADES, [confirm(TRADES[0], 1)])

    assert kinds(breaks) == [(f"{D}/UNCONFIRMED/main:AAPL:2", BreakKind.UNCONFIRMED)]
    assert (breaks[0].account, breaks[0].symbol, breaks[0].platform_qty) == ("bob", "AAPL", 4)
    assert breaks[0].other_qty == 0


def test_a_refused_trade_is_unconfirmed() -> None:
    refused = confirm(TRADES[1], 2, accepted=False)

    breaks = confirmation_breaks(D, TRADES, [confirm(TRADES[0], 1), refused])

    assert kinds(breaks) == [(f"{D}/UNCONFIRMED/main:AAPL:2", BreakKind.UNCONFIRMED)]
    assert "refused" in breaks[0].detail


def test_other_terms_are_a_confirmation_difference() -> None:
    altered = confirm(TRADES[0], 1, qty=11)

    breaks = confirmation_breaks(D, TRADES, [altered, confirm(TRADES[1], 2)])

    assert kinds(breaks) == [
        (f"{D}/CONFIRMATION_DIFFERS/main:AAPL:1", BreakKind.CONFIRMATION_DIFFERS)
    ]
    assert (breaks[0].platform_qty, breaks[0].other_qty) == (10, 11)
    assert (breaks[0].platform_cash, breaks[0].other_cash) == (10_000_000, 11_000_000)


def test_an_unknown_trade_or_a_second_confirmation_is_unknown_at_the_platform() -> None:
    stranger = ClearingTrade("main:AAPL:99", D, S, "AAPL", "cat", "bob", 1, 1_000_000)
    confirmations = [
        confirm(TRADES[0], 1),
        confirm(TRADES[1], 2),
        confirm(TRADES[0], 3),  # a duplicate record, cleared under a second ref
        confirm(stranger, 4),
    ]

    breaks = confirmation_breaks(D, TRADES, confirmations)

    assert kinds(breaks) == [
        (f"{D}/UNKNOWN_AT_PLATFORM/main:AAPL:1#C3", BreakKind.UNKNOWN_AT_PLATFORM),
        (f"{D}/UNKNOWN_AT_PLATFORM/main:AAPL:99", BreakKind.UNKNOWN_AT_PLATFORM),
    ]


def test_a_late_confirmation_is_a_break_of_its_trade_date() -> None:
    late = confirm(TRADES[1], 2, late=True)

    breaks = confirmation_breaks(D, TRADES, [confirm(TRADES[0], 1), late])

    assert kinds(breaks) == [(f"{D}/LATE_CONFIRMATION/main:AAPL:2", BreakKind.LATE_CONFIRMATION)]


def test_confirmations_of_other_dates_are_left_to_their_own_date() -> None:
    other = confirm(TRADES[0], 9, trade_date="2026-11-30", late=True)

    assert (
        confirmation_breaks(D, TRADES, [confirm(TRADES[0], 1), confirm(TRADES[1], 2), other]) == []
    )


EXPECTED = {
    ("ann", "AAPL"): Obligation(6, -5_960_000, -5_960_005, 5),
    ("bob", "AAPL"): Obligation(-6, 5_960_000, 5_959_990, 10),
}
INSTRUCTIONS = [
    Instruction(S, "ann", "AAPL", 6, -5_960_000),
    Instruction(S, "bob", "AAPL", -6, 5_960_000),
]


def test_instructions_as_netted_give_no_break() -> None:
    assert obligation_breaks(S, EXPECTED, INSTRUCTIONS, []) == []


def test_a_different_instruction_is_an_obligation_difference() -> None:
    instructions = [INSTRUCTIONS[0], Instruction(S, "bob", "AAPL", -7, 6_953_000)]

    breaks = obligation_breaks(S, EXPECTED, instructions, [])

    assert kinds(breaks) == [(f"{S}/OBLIGATION_DIFFERS/bob/AAPL", BreakKind.OBLIGATION_DIFFERS)]
    assert (breaks[0].platform_qty, breaks[0].other_qty) == (-6, -7)


def test_a_fail_arising_is_a_break_and_the_instruction_is_still_the_whole_due() -> None:
    fails = [
        Fail(S, "bob", "AAPL", 4, S),  # bob delivered 2 of 6
        Fail(S, "ann", "AAPL", -4, S),  # so ann received 2 of 6
        Fail(S, "cat", "MSFT", 1, "2026-12-02"),  # carried from an earlier date
        Fail(S, "dan", "MSFT", -1, "2026-12-02"),
    ]
    carried = [Fail("2026-12-02", "cat", "MSFT", 1, "2026-12-02"),
               Fail("2026-12-02", "dan", "MSFT", -1, "2026-12-02")]  # fmt: skip
    instructions = [
        *INSTRUCTIONS,
        Instruction(S, "cat", "MSFT", -1, 0),  # the carried share, owed again
        Instruction(S, "dan", "MSFT", 1, 0),
    ]

    breaks = obligation_breaks(S, EXPECTED, instructions, fails, carried)

    # The fails of cat and dan arose on an earlier date: their breaks are that date's.
    assert kinds(breaks) == [
        (f"{S}/FAIL_TO_DELIVER/ann/AAPL", BreakKind.FAIL_TO_DELIVER),
        (f"{S}/FAIL_TO_DELIVER/bob/AAPL", BreakKind.FAIL_TO_DELIVER),
    ]
    assert breaks[1].platform_qty == 4
    assert "not delivered by bob" in breaks[1].detail
    assert "not received by ann" in breaks[0].detail


def test_a_carried_fail_left_out_is_an_obligation_difference() -> None:
    instructions = [*INSTRUCTIONS[:1], Instruction(S, "bob", "AAPL", -7, 5_960_000)]

    breaks = obligation_breaks(S, EXPECTED, instructions, [], [])

    assert kinds(breaks) == [(f"{S}/OBLIGATION_DIFFERS/bob/AAPL", BreakKind.OBLIGATION_DIFFERS)]


def test_the_ledger_settling_what_the_fills_net_gives_no_break() -> None:
    funds = {"ann": -5_960_005, "bob": 5_959_990}
    shares = {("ann", "AAPL"): 6, ("bob", "AAPL"): -6}

    assert ledger_breaks(S, EXPECTED, funds, shares) == []


def test_the_ledger_settling_otherwise_is_a_ledger_difference() -> None:
    funds = {"ann": -5_960_000, "bob": 5_959_990}  # ann's fee not taken
    shares = {("ann", "AAPL"): 6}  # bob's delivery not settled

    breaks = ledger_breaks(S, EXPECTED, funds, shares)

    assert kinds(breaks) == [
        (f"{S}/LEDGER_DIFFERS/ann/USD", BreakKind.LEDGER_DIFFERS),
        (f"{S}/LEDGER_DIFFERS/bob/AAPL", BreakKind.LEDGER_DIFFERS),
    ]
    assert (breaks[0].platform_cash, breaks[0].other_cash) == (-5_960_005, -5_960_000)
    assert (breaks[1].platform_qty, breaks[1].other_qty) == (-6, 0)


def test_holdings_equal_to_the_platforms_balances_give_no_break() -> None:
    platform = {("ann", "USD"): 100, ("ann", "AAPL"): 6}
    holdings = [Holding("ann", "AAPL", 6), Holding("ann", "USD", 100), Holding("bob", "X", 0)]

    assert holding_breaks(S, platform, holdings) == []


def test_different_holdings_are_position_and_cash_differences() -> None:
    platform = {("ann", "USD"): 100, ("ann", "AAPL"): 6}
    holdings = [Holding("ann", "AAPL", 5), Holding("ann", "USD", 90), Holding("cat", "MSFT", 1)]

    breaks = holding_breaks(S, platform, holdings)

    assert kinds(breaks) == [
        (f"{S}/POSITION_DIFFERS/ann/AAPL", BreakKind.POSITION_DIFFERS),
        (f"{S}/CASH_DIFFERS/ann/USD", BreakKind.CASH_DIFFERS),
        (f"{S}/POSITION_DIFFERS/cat/MSFT", BreakKind.POSITION_DIFFERS),
    ]
    assert (breaks[1].platform_cash, breaks[1].other_cash) == (100, 90)


def test_a_difference_open_under_an_earlier_break_is_that_break_until_resolved() -> None:
    earlier = holding_breaks("2026-12-02", {("ann", "AAPL"): 6}, [Holding("ann", "AAPL", 5)])[0]
    opened = BreakOpened(1, 0, *msgspec.structs.astuple(earlier))
    same = holding_breaks(S, {("ann", "AAPL"): 7}, [Holding("ann", "AAPL", 6)])
    other = holding_breaks(S, {("ann", "AAPL"): 7}, [Holding("ann", "AAPL", 5)])

    assert split_persisting(same, {earlier.break_id: opened}, set()) == ([], same)
    assert split_persisting(other, {earlier.break_id: opened}, set()) == (other, [])
    assert split_persisting(same, {earlier.break_id: opened}, {earlier.break_id}) == (same, [])
