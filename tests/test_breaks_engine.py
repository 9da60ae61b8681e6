"""Breaks at the engine: recorded once (a repeated id is refused, open or resolved), bounded,
resolved with an adjustment posted against `@adjustments` (the ledger's conservation and the
postings include it), and refused when unknown, resolved already or asking back more than
the account has settled; the open breaks survive a snapshot."""

from eod_helpers import market_at, of_type, refused
from risk_helpers import DOLLAR, Market
from tradingfloor.domain.commands import RecordBreak, ResolveBreak, WithdrawShares
from tradingfloor.domain.enums import BreakKind
from tradingfloor.domain.events import BreakOpened, BreakResolved, Event
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.ledger.postings import ADJUSTMENTS, balances

BREAK_ID = "2026-11-23/POSITION_DIFFERS/bob/XYZ"


def record(market: Market, break_id: str = BREAK_ID, account: str = "bob") -> list[Event]:
    return list(
        market.do(
            RecordBreak(
                break_id,
                "2026-11-23",
                BreakKind.POSITION_DIFFERS,
                account,
                "XYZ",
                1_000,
                1_010,
                0,
                0,
                "the clearinghouse holds 10 more",
            )
        )
    )


def resolve(market: Market, cash: int = 0, shares: int = 0, **changes: str) -> list[Event]:
    terms = {"break_id": BREAK_ID, "account": "bob", "symbol": "XYZ"} | changes
    return list(
        market.do(
            ResolveBreak(
                terms["break_id"],
                "ops@example",
                "delivered late",
                terms["account"],
                terms["symbol"],
                cash,
                shares,
            )
        )
    )


def test_a_break_is_recorded_once() -> None:
    market = market_at("2026-11-23 17:00")
    opened = of_type(record(market), BreakOpened)
    assert [(e.break_id, e.kind, e.account, e.other_qty) for e in opened] == [
        (BREAK_ID, BreakKind.POSITION_DIFFERS, "bob", 1_010)
    ]
    assert refused(record(market)) == RejectReason.BREAK_EXISTS


def test_resolving_posts_the_adjustment_against_the_adjustments_account() -> None:
    market = market_at("2026-11-23 17:00")
    record(market)
    events = resolve(market, cash=25 * DOLLAR, shares=10)
    resolved = of_type(events, BreakResolved)
    assert [(e.resolved_by, e.cash_adjustment, e.shares_adjustment) for e in resolved] == [
        ("ops@example", 25 * DOLLAR, 10)
    ]
    position = market.position("bob")
    assert position.qty == 1_010 and position.settled_qty == 1_010
    assert position.average_cost() == 100 * DOLLAR
    assert market.summary("bob").settled_cash == 25 * DOLLAR
    found = balances(market.events)
    assert found[(ADJUSTMENTS, "USD")] == -25 * DOLLAR
    assert found[(ADJUSTMENTS, "XYZ")] == -10
    market.check_postings()  # and check_ledger after every command, in `Market.do`


def test_a_negative_adjustment_takes_back_only_what_is_settled_and_free() -> None:
    market = market_at("2026-11-23 17:00")
    record(market)
    assert refused(resolve(market, cash=-1)) == RejectReason.INSUFFICIENT_FUNDS
    assert refused(resolve(market, shares=-1_001)) == RejectReason.INSUFFICIENT_SHARES
    assert of_type(resolve(market, shares=-1_000), BreakResolved)
    assert market.position("bob").qty == 0 and market.position("bob").cost == 0
    assert refused(market.do(WithdrawShares("bob", "XYZ", 1))) == RejectReason.INSUFFICIENT_SHARES
    market.check_postings()


def test_unknown_resolved_and_mismatched_breaks_are_refused() -> None:
    market = market_at("2026-11-23 17:00")
    assert refused(resolve(market)) == RejectReason.UNKNOWN_BREAK
    record(market)
    assert refused(resolve(market, account="alice")) == RejectReason.ACCOUNT_MISMATCH
    assert of_type(resolve(market), BreakResolved)
    assert refused(resolve(market)) == RejectReason.BREAK_RESOLVED
    assert refused(record(market)) == RejectReason.BREAK_EXISTS


def test_open_breaks_are_bounded() -> None:
    market = market_at("2026-11-23 17:00", RiskSettings(open_breaks_max=2))
    record(market, "a")
    record(market, "b")
    assert refused(record(market, "c")) == RejectReason.OPEN_BREAKS_ABOVE_MAX
    market.do(ResolveBreak("a", "ops", "checked", "bob", "XYZ"))
    assert of_type(record(market, "c"), BreakOpened)


def test_breaks_survive_a_snapshot() -> None:
    market = market_at("2026-11-23 17:00")
    record(market)
    record(market, "other")
    resolve(market)
    restored = Engine.restore(market.engine.snapshot())
    assert restored.state_hash() == market.engine.state_hash()
    assert restored.risk is not None and set(restored.risk.breaks.open) == {"other"}
    assert BREAK_ID in restored.risk.breaks.resolved_ids
