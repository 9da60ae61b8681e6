"""Properties of splits over random holdings and books: shares and cash conserved (the
ledger's checks and postings after every step), each position's arithmetic exact (the basis
kept by the whole shares, the fraction paid in lieu sold at its share of it), and the books'
priority kept."""

from hypothesis import given, settings
from hypothesis import strategies as st

from corporate_helpers import announce, close, holders_market, of_type, risk_of
from risk_helpers import DOLLAR
from tradingfloor.domain.corporate_actions import StockSplit
from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import StockSplitApplied
from tradingfloor.matching.book import OrderBook

CENT = DOLLAR // 100


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
