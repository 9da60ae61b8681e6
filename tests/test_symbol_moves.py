"""Moving a symbol between two shards' engines: halted, handed over with its book, positions
and holds, taken over, resumed; nothing lost, time priority kept, each ledger and the two
together balanced after every step."""

from pathlib import Path

import pytest

from risk_helpers import DOLLAR, Market, rejection
from tradingfloor.domain.commands import (
    CancelOrder,
    DepositShares,
    HaltTrading,
    HandOverSymbol,
    ResumeTrading,
    TakeOverSymbol,
)
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.events import (
    Event,
    SymbolHandedOver,
    SymbolTakenOver,
    TradeExecuted,
)
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.domain.shards import ORDER_ID_SHARD_SPAN
from tradingfloor.store.database import make_engine, upgrade
from tradingfloor.store.projection_rows import ProjectionBehind
from tradingfloor.store.projector import Projector, projection_name
from tradingfloor.store.queries import get_balances, get_order, list_positions

ACCOUNTS = ("alice", "bob", "carol")


def _markets() -> tuple[Market, Market]:
    east, west = Market(), Market()
    west.order_id = ORDER_ID_SHARD_SPAN  # west is shard 1: its own order ids
    east.listing("XYZ")
    west.listing("ABC")
    for market in (east, west):
        for name in ACCOUNTS:
            market.account(name, cash=50_000 * DOLLAR)
    for name in ACCOUNTS:
        east.do(DepositShares(name, "XYZ", 1_000, 90 * DOLLAR))
    return east, west


def _of(events: list[Event], kind: type) -> object:
    found = [event for event in events if isinstance(event, kind)]
    assert len(found) == 1, events
    return found[0]


def _whole_platform(east: Market, west: Market) -> tuple[int, dict[str, int]]:
    """Cash and shares over both engines, with every move in (nothing in flight)."""
    cash = 0
    shares: dict[str, int] = {}
    for market in (east, west):
        risk = market.engine.risk
        assert risk is not None
        for account in risk.ledger.accounts.values():
            cash += account.cash + account.fees
            for symbol, position in account.positions.items():
                shares[symbol] = shares.get(symbol, 0) + position.qty
    return cash, {symbol: qty for symbol, qty in shares.items() if qty}


def _move(east: Market, west: Market, symbol: str = "XYZ") -> tuple[list[Event], list[Event]]:
    east.do(HaltTrading(symbol))
    out = east.do(HandOverSymbol(symbol, "west"))
    handed = _of(out, SymbolHandedOver)
    assert isinstance(handed, SymbolHandedOver)
    into = west.do(TakeOverSymbol(symbol, "east", east.seq, "west", handed.state))
    return out, into


def test_a_moved_symbol_keeps_every_order_its_priority_and_the_books_balance() -> None:
    east, west = _markets()
    first, _ = east.order("alice", Side.BUY, 10, 100 * DOLLAR)
    second, _ = east.order("bob", Side.BUY, 10, 100 * DOLLAR)
    east.order("bob", Side.BUY, 5, 99 * DOLLAR)
    ask, _ = east.order("carol", Side.SELL, 7, 105 * DOLLAR)
    stop, _ = east.order("carol", Side.SELL, 3, None, OrderType.STOP, stop_price=95 * DOLLAR)
    east.order("carol", Side.SELL, 4, 100 * DOLLAR)  # 4 of the first bid filled before
    before = east.engine.books["XYZ"].export_state()
    cash_before, shares_before = _whole_platform(east, west)
    _, into = _move(east, west)

    assert "XYZ" not in east.engine.books
    taken = _of(into, SymbolTakenOver)
    assert isinstance(taken, SymbolTakenOver)
    moved_ids = [order.order_id for order in taken.orders]
    after = west.engine.books["XYZ"].export_state()
    assert [o.order_id for o in after.bids] == [o.order_id for o in before.bids]
    assert [o.order_id for o in after.asks] == [o.order_id for o in before.asks] == [ask]
    assert [o.order_id for o in after.sell_stops] == [stop] and stop in moved_ids
    assert _whole_platform(east, west) == (cash_before, shares_before)
    east.check_postings()
    west.check_postings()

    # Halted on its new shard, resumed there; time priority as before the move.
    assert rejection(west.order("carol", Side.SELL, 1, 100 * DOLLAR)[1]) is (
        RejectReason.SYMBOL_HALTED
    )
    west.do(ResumeTrading("XYZ"))
    _, sold = west.order("carol", Side.SELL, 8, 100 * DOLLAR)
    makers = [event.maker_order_id for event in sold if isinstance(event, TradeExecuted)]
    assert makers[:1] == [after.bids[0].order_id] and after.bids[0].order_id in (first, second)
    assert makers == [o.order_id for o in after.bids[: len(makers)]]
    west.check_postings()
    cash_after, shares_after = _whole_platform(east, west)
    assert cash_after == cash_before and shares_after == shares_before


def test_a_symbol_moves_only_while_halted_and_is_taken_over_once() -> None:
    east, west = _markets()
    east.order("alice", Side.BUY, 10, 100 * DOLLAR)
    refused = east.do(HandOverSymbol("XYZ", "west"))
    assert rejection(refused) is RejectReason.SYMBOL_NOT_HALTED
    assert "XYZ" in east.engine.books
    out, _ = _move(east, west)
    handed = _of(out, SymbolHandedOver)
    assert isinstance(handed, SymbolHandedOver)
    again = west.do(TakeOverSymbol("XYZ", "east", east.seq, "west", handed.state))
    assert rejection(again) is RejectReason.SYMBOL_EXISTS
    # An earlier move of east's (a replayed or late one) is not taken after this one.
    west.do(HaltTrading("ABC"))
    back = west.do(HandOverSymbol("ABC", "east"))
    handed_back = _of(back, SymbolHandedOver)
    assert isinstance(handed_back, SymbolHandedOver)
    east.do(TakeOverSymbol("ABC", "west", west.seq, "east", handed_back.state))
    stale = east.do(TakeOverSymbol("ABC2", "west", west.seq - 1, "east", handed_back.state))
    assert rejection(stale) is RejectReason.ALLOCATION_ALREADY_TAKEN


def test_open_buys_funded_by_unsettled_proceeds_block_the_move() -> None:
    east = Market()
    east.listing("XYZ")
    east.account("dave", cash=0, shares={"XYZ": 100})
    east.account("erin", cash=50_000 * DOLLAR)
    east.order("erin", Side.BUY, 100, 100 * DOLLAR)
    east.order("dave", Side.SELL, 100, 100 * DOLLAR)  # dave's $10,000 is unsettled
    east.order("dave", Side.BUY, 50, 100 * DOLLAR)  # a buy held against it
    east.do(HaltTrading("XYZ"))
    refused = east.do(HandOverSymbol("XYZ", "west"))
    assert rejection(refused) is RejectReason.INSUFFICIENT_FUNDS
    assert "XYZ" in east.engine.books


@pytest.mark.parametrize("symbol", ["NOPE"])
def test_an_unknown_symbol_is_not_handed_over(symbol: str) -> None:
    east, _ = _markets()
    assert rejection(east.do(HandOverSymbol(symbol, "west"))) is RejectReason.UNKNOWN_SYMBOL


def _commands(market: Market, until_seq: int | None = None) -> list[tuple[int, int, list]]:
    """The market's events as the event log holds them: (seq, ts, events) per command."""
    found: dict[int, tuple[int, int, list]] = {}
    for event in market.events:
        if until_seq is None or event.seq <= until_seq:
            found.setdefault(event.seq, (event.seq, event.ts, []))[2].append(event)
    return [found[seq] for seq in sorted(found)]


def test_the_new_shards_projector_waits_for_the_old_ones_rows(tmp_path: Path) -> None:
    """The takeover is projected only once the old shard's projection has reached the
    handover: the moved symbol's rows (orders, positions) are the old shard's to write
    first. Both then hold every account's cash over the two shards."""
    east, west = _markets()
    east.order("alice", Side.BUY, 10, 100 * DOLLAR)
    east.order("carol", Side.SELL, 4, 100 * DOLLAR)
    before_move = east.seq
    _move(east, west)
    west.do(ResumeTrading("XYZ"))
    west.order("bob", Side.SELL, 6, 100 * DOLLAR)
    url = f"sqlite:///{tmp_path / 'read-models.db'}"
    upgrade(url)
    store = make_engine(url)
    try:
        old = Projector(store, projection_name(0, "east"), 0)
        new = Projector(store, projection_name(1, "west"), 1)
        old.apply_stream(_commands(east, before_move))
        with pytest.raises(ProjectionBehind):
            new.apply_stream(_commands(west))
        old.apply_stream(_commands(east))
        new.apply_stream(_commands(west))
        with store.connect() as connection:
            for name in ACCOUNTS:
                balances = get_balances(connection, name)
                assert balances is not None
                assert balances.cash == sum(
                    market.engine.risk.ledger.accounts[name].cash  # type: ignore[union-attr]
                    for market in (east, west)
                )
            order = get_order(connection, 1)
            assert order is not None and order.status == "filled"
            held = {row.symbol: row.qty for row in list_positions(connection, "alice")}
            assert held == {"XYZ": 1_010}
    finally:
        store.dispose()


def test_a_symbol_moves_with_its_positions_fractions() -> None:
    """Fractions move with their positions (and in the postings); a fractional order still
    waiting for its fraction keeps the symbol where it is until it ends."""
    settings = RiskSettings(fractional_desk_account="desk")
    east, west = Market(settings), Market(settings)
    west.order_id = ORDER_ID_SHARD_SPAN
    east.listing("XYZ")
    west.listing("ABC")
    for market in (east, west):
        for name in (*ACCOUNTS, "desk"):
            market.account(name, cash=50_000 * DOLLAR)
    for name in ("carol", "desk"):
        east.do(DepositShares(name, "XYZ", 10, 90 * DOLLAR))
    east.order("carol", Side.SELL, 10, 100 * DOLLAR)
    east.order("alice", Side.BUY, 1, 100 * DOLLAR, tif=TimeInForce.DAY, fraction=300_000_000)
    waiting, _ = east.order(
        "bob", Side.BUY, 0, 90 * DOLLAR, tif=TimeInForce.DAY, fraction=100_000_000
    )
    east.do(HaltTrading("XYZ"))
    refused = east.do(HandOverSymbol("XYZ", "west"))
    assert rejection(refused) == RejectReason.FRACTIONAL_ORDERS_WAITING
    east.do(CancelOrder(waiting, "XYZ", "bob"))

    out, into = _move(east, west)
    handed, taken = _of(out, SymbolHandedOver), _of(into, SymbolTakenOver)
    assert isinstance(handed, SymbolHandedOver) and isinstance(taken, SymbolTakenOver)
    assert sorted(taken.fractions) == sorted(handed.fractions)
    assert sorted(handed.fractions) == [("alice", 300_000_000), ("desk", 700_000_000)]
    assert west.position("alice").fraction == 300_000_000
    assert west.position("desk").qty == 9
    east.check_postings()
    west.check_postings()
