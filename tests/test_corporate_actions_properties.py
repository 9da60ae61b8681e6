"""Properties of splits over random holdings and books: shares and cash conserved (the
ledger's checks and postings after every step), each position's arithmetic exact (the basis
kept by the whole shares, the fraction paid in lieu sold at its share of it), and the books'
priority kept; and random orders of every kind through random actions applied by `CloseDay`,
with the ledger checked after every command and a replay of the journal reaching the same
state."""

from hypothesis import given, settings
from hypothesis import strategies as st

from corporate_helpers import announce, close, holders_market, of_type, risk_of
from eod_helpers import RecordingMarket, close_time
from risk_helpers import DOLLAR
from tradingfloor.domain.commands import AnnounceCorporateAction, CloseDay, SettleDay
from tradingfloor.domain.corporate_actions import CashDividend, StockSplit, SymbolChange
from tradingfloor.domain.enums import AccountKind, OrderType, Side
from tradingfloor.domain.events import StockSplitApplied
from tradingfloor.domain.settings import FeeSchedule, RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.matching.book import OrderBook
from tradingfloor.risk.calendar import ts_at

CENT = DOLLAR // 100
NEXT_SESSION = {
    "2026-11-24": "2026-11-25",
    "2026-11-25": "2026-11-27",
    "2026-11-27": "2026-11-30",
    "2026-11-30": "2026-12-01",
}


def _priority(book: OrderBook) -> list[list[int]]:
    state = book.export_state()
    return [
        [order.order_id for order in orders]
        for orders in (state.bids, state.asks, state.buy_stops, state.sell_stops)
    ]


@settings(max_examples=60, deadline=None)
@given(
    holdings=st.lists(st.integers(1, 2_000), min_size=1, max_size=6),
    ratio=st.tuples(st.integers(1, 12), st.integers(1, 12)).filter(lambda r: r[0] != r[1]),
    cash_in_lieu_price=st.none() | st.integers(1, 500 * DOLLAR),
    orders=st.lists(
        st.tuples(st.integers(0, 5), st.booleans(), st.integers(1, 50), st.integers(-900, 900)),
        max_size=25,
    ),
)
def test_a_split_conserves_shares_and_cash_and_keeps_priority(
    holdings: list[int],
    ratio: tuple[int, int],
    cash_in_lieu_price: int | None,
    orders: list[tuple[int, bool, int, int]],
) -> None:
    market = holders_market()
    names = [f"h{index}" for index in range(len(holdings))]
    for name, qty in zip(names, holdings, strict=True):
        market.account(name, cash=50_000 * DOLLAR, shares={"XYZ": qty}, cost_price=97 * DOLLAR)
    for who, buy, qty, offset in orders:
        name = names[who % len(names)]
        price = 100 * DOLLAR + offset * CENT
        if buy and price < 100 * DOLLAR:
            market.order(name, Side.BUY, qty, price)
        elif not buy and price > 100 * DOLLAR:
            market.order(name, Side.SELL, min(qty, holdings[who % len(names)]), price)
    book = market.engine.books["XYZ"]
    before = _priority(book)
    ledger = risk_of(market).ledger
    positions = {
        name: (p.qty, p.cost, p.realized)
        for name, account in ledger.accounts.items()
        if (p := account.positions.get("XYZ")) is not None and p.qty
    }
    old, new = ratio
    announce(market, StockSplit("split", "XYZ", old, new, "2026-11-25", cash_in_lieu_price))

    events = close(market, "2026-11-24")  # the ledger's checks and postings run here

    applied = {event.account: event for event in of_type(events, StockSplitApplied)}
    assert set(applied) == set(positions)
    paid = 0
    for name, (qty, cost, realized) in positions.items():
        event = applied[name]
        position = ledger.accounts[name].positions["XYZ"]
        fraction = qty * new % old
        assert position.qty == event.new_qty == qty * new // old
        assert event.cash_in_lieu == fraction * (cash_in_lieu_price or 100 * DOLLAR) // (
            old if cash_in_lieu_price is not None else new
        )
        basis_sold = cost * fraction // (qty * new) if position.qty else cost
        assert event.basis_sold == basis_sold
        assert position.cost == cost - basis_sold  # the basis of the whole shares: all of it
        assert position.realized == realized + event.cash_in_lieu - basis_sold
        paid += event.cash_in_lieu
    assert risk_of(market).corporate_actions.cash_paid == paid
    after = _priority(book)
    if new < old:
        assert after == [[], [], [], []]
    else:
        assert after == before  # no fees here: every order follows the split


ORDER_KINDS = (OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)
DAYS = ["2026-11-24", "2026-11-25", "2026-11-27", "2026-11-30"]


def _random_order(
    market: RecordingMarket, name: str, kind: OrderType, buy: bool, qty: int, offset: int
) -> None:
    """An order of `kind` around the symbol's reference price (what it is now)."""
    symbol = sorted(market.engine.books)[0]
    risk = risk_of(market)
    book = market.engine.books[symbol]
    reference = book.last_price or risk.guards[symbol].reference or 100 * DOLLAR
    tick = CENT
    near = max(reference + (offset % 50) * tick * (1 if offset > 0 else -1), tick)
    side = Side.BUY if buy else Side.SELL
    if kind == OrderType.LIMIT:
        market.order(name, side, qty, near, symbol=symbol)
    elif kind == OrderType.TRAILING_STOP:
        market.order(
            name,
            side,
            qty,
            order_type=kind,
            trail_price=abs(offset) % 20 * tick + tick,
            symbol=symbol,
        )
    else:
        away = reference + (abs(offset) % 40 + 1) * tick * (1 if buy else -1)
        price = away if kind == OrderType.STOP_LIMIT else None
        market.order(name, side, qty, price, order_type=kind, stop_price=away, symbol=symbol)


@settings(max_examples=25, deadline=None)
@given(
    sessions=st.sampled_from([1, 2]),
    fees=st.booleans(),
    actions=st.lists(
        st.sampled_from(["2-for-1", "3-for-2", "1-for-4", "dividend", "rename"]),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    orders=st.lists(
        st.tuples(
            st.integers(0, len(DAYS) - 1),
            st.sampled_from(["ann", "ben", "cat"]),
            st.sampled_from(ORDER_KINDS),
            st.booleans(),
            st.integers(1, 40),
            st.integers(-60, 60),
        ),
        max_size=40,
    ),
)
def test_random_orders_through_random_actions_keep_the_ledger_and_replay(
    sessions: int,
    fees: bool,
    actions: list[str],
    orders: list[tuple[int, str, OrderType, bool, int, int]],
) -> None:
    schedule = FeeSchedule(maker_per_share=30, taker_per_share=50) if fees else FeeSchedule()
    market = RecordingMarket(
        RiskSettings(settlement_sessions=sessions, fees=schedule), ts=ts_at("2026-11-24 09:35")
    )
    market.listing("XYZ", 100 * DOLLAR)
    for name in ("ann", "ben", "cat"):
        market.account(name, cash=20_000 * DOLLAR, shares={"XYZ": 300}, kind=AccountKind.MARGIN)
    terms = {
        "2-for-1": StockSplit("a-2-1", "XYZ", 1, 2, "2026-11-25"),
        "3-for-2": StockSplit("a-3-2", "XYZ", 2, 3, "2026-11-27"),
        "1-for-4": StockSplit("a-1-4", "XYZ", 4, 1, "2026-11-30"),
        "dividend": CashDividend("a-div", "XYZ", 1_777, "2026-11-30", "2026-12-01"),
        "rename": SymbolChange("a-new", "XYZ", "XYZN", "2026-11-27"),
    }
    for action in actions:
        market.do(AnnounceCorporateAction(terms[action]))
    for index, date in enumerate(DAYS):
        market.ts = ts_at(f"{date} 10:00")
        for _, name, kind, buy, qty, offset in (o for o in orders if o[0] == index):
            _random_order(market, name, kind, buy, qty, offset)
            market.ts += 1_000_000
        market.ts = ts_at(close_time(date))
        market.do(CloseDay(date))
        market.do(SettleDay(NEXT_SESSION[date]))
    market.check_postings()
    replayed = Engine(market.settings)
    for command, seq, ts in market.journal:
        replayed.apply(command, seq, ts)
    assert replayed.state_hash() == market.engine.state_hash()
    assert Engine.restore(market.engine.snapshot()).state_hash() == market.engine.state_hash()
