"""The ex-date rule, as a property over random days of trading through `CloseDay` and
`SettleDay` under T+1 and T+2: the shares a dividend entitles an account to are exactly its
settled shares on the record date, and that is what it is paid on the pay date."""

from hypothesis import given, settings
from hypothesis import strategies as st

from eod_helpers import close_time
from risk_helpers import DOLLAR, Market
from tradingfloor.domain.commands import AnnounceCorporateAction, CloseDay, SettleDay
from tradingfloor.domain.corporate_actions import CashDividend
from tradingfloor.domain.enums import AccountKind, Side
from tradingfloor.domain.events import DividendEntitled, DividendPaid, Event
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.risk.calendar import ts_at

SESSIONS = ["2026-11-24", "2026-11-25", "2026-11-27", "2026-11-30", "2026-12-01", "2026-12-02"]
NEXT = dict(zip(SESSIONS, [*SESSIONS[1:], "2026-12-03"], strict=True))
ACCOUNTS = ("ann", "ben", "cat")
AMOUNT = 3_300  # $0.33 a share


def _trade(market: Market, buyer: str, seller: str, qty: int) -> None:
    risk = market.engine.risk
    assert risk is not None
    position = risk.ledger.accounts[seller].position("XYZ")
    qty = min(qty, position.qty - position.held)
    if qty <= 0 or buyer == seller:
        return
    market.order(seller, Side.SELL, qty, 100 * DOLLAR)
    market.order(buyer, Side.BUY, qty, 100 * DOLLAR)


@settings(max_examples=30, deadline=None)
@given(
    sessions=st.sampled_from([1, 2]),
    record=st.sampled_from(SESSIONS[3:]),
    trades=st.lists(
        st.tuples(
            st.integers(0, len(SESSIONS) - 1),
            st.sampled_from(ACCOUNTS),
            st.sampled_from(ACCOUNTS),
            st.integers(1, 300),
        ),
        max_size=30,
    ),
)
def test_the_entitled_shares_are_the_settled_shares_on_the_record_date(
    sessions: int, record: str, trades: list[tuple[int, str, str, int]]
) -> None:
    market = Market(RiskSettings(settlement_sessions=sessions), ts=ts_at("2026-11-24 09:00"))
    market.listing("XYZ", 100 * DOLLAR)
    for name in ACCOUNTS:
        market.account(name, cash=1_000_000 * DOLLAR, shares={"XYZ": 400}, kind=AccountKind.MARGIN)
    market.do(AnnounceCorporateAction(CashDividend("div", "XYZ", AMOUNT, record, NEXT[record])))
    entitled: dict[str, int] = {}
    settled_on_record: dict[str, int] = {}
    paid: dict[str, int] = {}
    for index, date in enumerate(SESSIONS):
        market.ts = ts_at(f"{date} 11:00")
        for _, buyer, seller, qty in (t for t in trades if t[0] == index):
            _trade(market, buyer, seller, qty)
        market.ts = ts_at(close_time(date))
        events: list[Event] = [*market.do(CloseDay(date)), *market.do(SettleDay(NEXT[date]))]
        entitled.update((e.account, e.qty) for e in events if isinstance(e, DividendEntitled))
        paid.update((e.account, e.amount) for e in events if isinstance(e, DividendPaid))
        if NEXT[date] == record:
            risk = market.engine.risk
            assert risk is not None
            for name in ACCOUNTS:
                settled_on_record[name] = risk.ledger.accounts[name].position("XYZ").settled_qty
    assert {name: entitled.get(name, 0) for name in ACCOUNTS} == settled_on_record
    assert paid == {name: qty * AMOUNT for name, qty in entitled.items()}
    market.check_postings()
