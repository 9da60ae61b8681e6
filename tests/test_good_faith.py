"""Good-faith violations of cash accounts: a buy paid with unsettled sale proceeds whose
shares are sold before those proceeds settle counts one, once per lot; settled cash, a
margin account or a sale after settlement count none; three within the window restrict the
account to settled cash for the restriction's sessions."""

from eod_helpers import BUY, SELL, close_at, market_at, of_type, settle_at
from risk_helpers import DOLLAR, Market, rejection
from tradingfloor.domain.commands import ReplaceOrder
from tradingfloor.domain.enums import AccountKind
from tradingfloor.domain.events import GoodFaithViolation
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.risk.calendar import ts_at

PRICE = 100 * DOLLAR


def carol_market(
    kind: AccountKind = AccountKind.CASH, cash: int = 0, settings: RiskSettings | None = None
) -> Market:
    """carol holds 100 settled XYZ and `cash`; alice buys what carol sells, bob sells what
    carol buys."""
    market = market_at("2026-11-23 10:00", settings)
    market.account("carol", cash=cash, shares={"XYZ": 100}, kind=kind)
    return market


def carol_sells(market: Market, qty: int) -> list[object]:
    order_id, _ = market.order("carol", SELL, qty, PRICE)
    _, events = market.order("alice", BUY, qty, PRICE)
    return [*events, order_id]


def carol_buys(market: Market, qty: int) -> list[object]:
    market.order("bob", SELL, qty, PRICE)
    _, events = market.order("carol", BUY, qty, PRICE)
    return list(events)


def violations(events: list[object]) -> list[GoodFaithViolation]:
    return of_type(events, GoodFaithViolation)  # type: ignore[arg-type]


def test_selling_shares_bought_with_unsettled_proceeds_before_they_settle_counts_one() -> None:
    market = carol_market()
    carol_sells(market, 100)  # $10,000 of proceeds, settling on the 25th
    carol_buys(market, 10)  # paid with them
    market.ts = ts_at("2026-11-24 10:00")
    *events, sell_id = carol_sells(market, 10)

    found = violations(events)
    assert [(v.account, v.symbol, v.order_id, v.count, v.restricted_until) for v in found] == [
        ("carol", "XYZ", sell_id, 1, "")
    ]
    market.check_postings()


def test_a_lot_sold_in_parts_counts_once() -> None:
    market = carol_market()
    carol_sells(market, 100)
    carol_buys(market, 10)
    market.ts = ts_at("2026-11-24 10:00")
    *first, _ = carol_sells(market, 4)
    *second, _ = carol_sells(market, 6)
    assert len(violations(first)) == 1 and violations(second) == []


def test_a_buy_with_settled_cash_counts_none() -> None:
    market = carol_market(cash=5_000 * DOLLAR)
    carol_sells(market, 100)
    carol_buys(market, 10)  # $1,000 of the $5,000 settled
    market.ts = ts_at("2026-11-24 10:00")
    *events, _ = carol_sells(market, 10)
    assert violations(events) == []
    assert market.position("carol").lots == []


def test_only_the_shares_bought_with_unsettled_funds_count() -> None:
    """carol keeps 20 settled shares: selling those first is no violation."""
    market = carol_market()
    carol_sells(market, 80)
    carol_buys(market, 10)
    market.ts = ts_at("2026-11-24 10:00")
    *settled_shares, _ = carol_sells(market, 20)
    *lot, _ = carol_sells(market, 5)
    assert violations(settled_shares) == [] and len(violations(lot)) == 1


def test_a_margin_account_counts_none() -> None:
    market = carol_market(kind=AccountKind.MARGIN)
    carol_sells(market, 100)
    carol_buys(market, 10)
    market.ts = ts_at("2026-11-24 10:00")
    *events, _ = carol_sells(market, 10)
    assert violations(events) == []


def test_a_sale_once_the_proceeds_settled_counts_none() -> None:
    market = carol_market()
    carol_sells(market, 100)
    carol_buys(market, 10)
    close_at(market, "2026-11-23", "2026-11-23 16:00")
    close_at(market, "2026-11-24", "2026-11-24 16:00")
    settle_at(market, "2026-11-25", "2026-11-24 16:01")
    assert market.position("carol").lots == []
    market.ts = ts_at("2026-11-25 10:00")
    *events, _ = carol_sells(market, 10)
    assert violations(events) == []


def three_violations(market: Market) -> list[GoodFaithViolation]:
    """Three round trips paid with the proceeds of one sale (T+2: all before they settle)."""
    found: list[GoodFaithViolation] = []
    carol_sells(market, 100)
    for when in ("2026-11-23 11:00", "2026-11-23 12:00", "2026-11-23 13:00"):
        market.ts = ts_at(when)
        carol_buys(market, 10)
        *events, _ = carol_sells(market, 10)
        found.extend(violations(events))
    return found


def test_three_violations_restrict_the_account_to_settled_cash() -> None:
    market = carol_market(cash=500 * DOLLAR)
    found = three_violations(market)
    assert [v.count for v in found] == [1, 2, 3]
    assert [v.restricted_until for v in found[:2]] == ["", ""]
    assert found[2].restricted_until == "2027-02-24"  # 63 sessions from Nov 23, 2026
    # What the account's owner sees (`/v1/account`): the count and the restriction.
    summary = market.engine.risk.summary("carol", market.ts)  # type: ignore[union-attr]
    assert summary is not None
    assert (summary.good_faith_violations, summary.settled_cash_only_until) == (3, "2027-02-24")

    market.order("bob", SELL, 10, PRICE)
    order_id, events = market.order("carol", BUY, 10, PRICE)  # $1,000: unsettled funds
    assert rejection(events) == RejectReason.SETTLED_CASH_REQUIRED
    order_id, events = market.order("carol", BUY, 4, 99 * DOLLAR)  # $396 of settled cash
    assert rejection(events) is None
    market.order_id += 1
    replaced = market.do(ReplaceOrder(order_id, market.order_id, "XYZ", qty=40, account="carol"))
    assert rejection(replaced) == RejectReason.SETTLED_CASH_REQUIRED


def test_the_restriction_ends_after_its_sessions() -> None:
    market = carol_market(
        cash=500 * DOLLAR, settings=RiskSettings(good_faith_restriction_sessions=2)
    )
    found = three_violations(market)
    assert found[2].restricted_until == "2026-11-24"
    close_at(market, "2026-11-23", "2026-11-23 16:00")
    market.ts = ts_at("2026-11-24 10:00")
    market.order("bob", SELL, 10, PRICE)
    _, events = market.order("carol", BUY, 10, PRICE)
    assert rejection(events) == RejectReason.SETTLED_CASH_REQUIRED
    close_at(market, "2026-11-24", "2026-11-24 16:00")
    market.ts = ts_at("2026-11-25 10:00")
    _, events = market.order("carol", BUY, 10, PRICE)
    assert rejection(events) is None
    assert market.engine.risk.ledger.accounts["carol"].restricted_until == -1  # type: ignore[union-attr]


def test_violations_older_than_the_window_do_not_count() -> None:
    market = carol_market(settings=RiskSettings(good_faith_window_sessions=1))
    carol_sells(market, 100)
    counts = []
    for when in ("2026-11-23 11:00", "2026-11-24 11:00"):
        market.ts = ts_at(when)
        carol_buys(market, 10)
        *events, _ = carol_sells(market, 10)
        counts.extend(v.count for v in violations(events))
    assert counts == [1, 1]
    summary = market.engine.risk.summary("carol", market.ts)  # type: ignore[union-attr]
    assert summary is not None and summary.good_faith_violations == 1  # the older is out
