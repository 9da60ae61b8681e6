"""The read models projected from a real engine's events, on SQLite and on PostgreSQL: orders,
fills, positions, balances and activities equal to what the engine and its ledger hold,
idempotent by sequence number and resumable after a restart."""

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from postgres_db import scratch_database
from risk_helpers import DOLLAR, SECOND, Market
from tradingfloor.bench.ledger import random_stream
from tradingfloor.domain.commands import (
    CancelOrder,
    Command,
    Deposit,
    DepositShares,
    ExpireOrders,
    PlaceOrder,
    ReplaceOrder,
    SetAccountStatus,
    SettleFunds,
    Withdraw,
    WithdrawShares,
)
from tradingfloor.domain.enums import (
    AccountKind,
    AccountStatus,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tradingfloor.domain.events import Event, OrderAccepted, StopTriggered
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import FeeSchedule, RiskSettings
from tradingfloor.engine import Engine as TradingEngine
from tradingfloor.ledger.postings import history
from tradingfloor.store import make_engine, metadata, upgrade
from tradingfloor.store.projector import ProjectionGapError, Projector
from tradingfloor.store.queries import (
    get_balances,
    get_order,
    get_order_by_client_id,
    list_activities,
    list_fills,
    list_orders,
    list_positions,
    trades_for_symbol,
)
from tradingfloor.store.readmodels import OPEN_ORDER_STATUSES, activities, orders, positions
from tradingfloor.store.statement_replay import Replay

Batch = list[tuple[int, int, list[Event]]]
SURROGATE_KEYS = {"fill_id", "activity_id"}
FEES = FeeSchedule(maker_per_share=10, taker_per_share=30)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, migrated to the newest revision."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url)
        yield url
        return
    with scratch_database() as url:
        upgrade(url)
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


# --------------------------------------------------------------------------- markets


@dataclass
class RecordingMarket(Market):
    """A `Market` that keeps (seq, ts, events) of every command, events or not: the records
    the node's event log holds."""

    commands: Batch = field(default_factory=list)

    def do(self, command: Command, advance_ns: int = 0) -> list[Event]:
        out = super().do(command, advance_ns)
        self.commands.append((self.seq, self.ts, out))
        return out

    def place(self, command: PlaceOrder) -> tuple[int, list[Event]]:
        return command.order_id, self.do(command)

    def next_id(self) -> int:
        self.order_id += 1
        return self.order_id


@dataclass
class Scenario:
    market: RecordingMarket
    ids: dict[str, int]
    """Order ids by name."""
    seqs: dict[str, int]
    """Sequence numbers of moments worth a look."""

    @property
    def commands(self) -> Batch:
        return self.market.commands


def scripted_scenario() -> Scenario:
    """Fills, partial fills, cancels, replaces keeping and losing priority, an STP decrement,
    a self-trade and its day trade, a kill switch, expiry, a replaced stop that triggers,
    rejects of three kinds, cash and share transfers, and settlement, with fees."""
    m = RecordingMarket(RiskSettings(fees=FEES))
    ids: dict[str, int] = {}
    seqs: dict[str, int] = {}
    m.listing("XYZ")
    m.account("A", cash=1_000_000 * DOLLAR)
    m.account("B", cash=100_000 * DOLLAR, shares={"XYZ": 1_000}, cost_price=90 * DOLLAR)
    m.account("C", cash=100_000 * DOLLAR, shares={"XYZ": 500}, kind=AccountKind.MARGIN)
    # a full fill, then a partial fill whose remainder is canceled
    ids["b_sell"], _ = m.order("B", Side.SELL, 100, 100 * DOLLAR)
    ids["a_buy"], _ = m.order("A", Side.BUY, 100, 100 * DOLLAR)
    ids["b_partial"], _ = m.order("B", Side.SELL, 300, 101 * DOLLAR)
    ids["a_buy_101"], _ = m.order("A", Side.BUY, 100, 101 * DOLLAR)
    m.do(CancelOrder(ids["b_partial"], "XYZ", "B"))
    # a replace that keeps priority, a fill, then one that loses it and carries the fill
    bid = PlaceOrder(
        m.next_id(), "A", "XYZ", Side.BUY, OrderType.LIMIT, 200, 99 * DOLLAR,
        tif=TimeInForce.GTC, client_order_id="bid-1",
    )  # fmt: skip
    ids["a_bid"], _ = m.place(bid)
    ids["a_bid_kept"] = m.next_id()
    m.do(
        ReplaceOrder(ids["a_bid"], ids["a_bid_kept"], "XYZ", "A", qty=150, client_order_id="bid-2")
    )
    ids["b_hits_bid"], _ = m.order("B", Side.SELL, 50, 99 * DOLLAR)
    ids["a_bid_moved"] = m.next_id()
    m.do(ReplaceOrder(ids["a_bid_kept"], ids["a_bid_moved"], "XYZ", "A", price=995_000))
    # self-trade prevention by decrement: the resting order shrinks, the new one is gone
    ids["c_ask"], _ = m.order("C", Side.SELL, 100, 102 * DOLLAR)
    ids["c_stp"], _ = m.order("C", Side.BUY, 40, 102 * DOLLAR, stp=SelfTradePrevention.DECREMENT)
    seqs["after_stp"] = m.seq
    # a self-trade (no STP): the buy posts first, so the sell closes it as a day trade
    ids["c_self"], _ = m.order("C", Side.BUY, 10, 103 * DOLLAR)
    m.do(SetAccountStatus("C", AccountStatus.BLOCKED))  # kill switch: c_ask canceled
    m.do(SetAccountStatus("C", AccountStatus.ACTIVE))
    # a DAY order that expires, a stop that is replaced, then triggered
    ids["a_day"], _ = m.order("A", Side.BUY, 10, 98 * DOLLAR, tif=TimeInForce.DAY)
    ids["a_stop"], _ = m.order(
        "A", Side.BUY, 20, order_type=OrderType.STOP, stop_price=104 * DOLLAR
    )
    ids["a_stop_moved"] = m.next_id()
    m.do(ReplaceOrder(ids["a_stop"], ids["a_stop_moved"], "XYZ", "A", stop_price=103 * DOLLAR))
    seqs["after_stop_moved"] = m.seq
    ids["b_ask_103"], _ = m.order("B", Side.SELL, 50, 103 * DOLLAR)
    ids["c_lifts"], events = m.order("C", Side.BUY, 10, 103 * DOLLAR)
    assert any(isinstance(event, StopTriggered) for event in events)
    m.do(ExpireOrders(), advance_ns=6 * 3_600 * SECOND)
    # rejects: buying power, a reused order id, an unknown symbol
    ids["b_too_big"], _ = m.order("B", Side.BUY, 2_000, 100 * DOLLAR)
    m.do(PlaceOrder(ids["a_buy"], "A", "XYZ", Side.BUY, OrderType.LIMIT, 1, 100 * DOLLAR))
    ids["a_nope"], _ = m.order("A", Side.BUY, 1, 100 * DOLLAR, symbol="NOPE")
    # cash and shares in and out, then settlement two sessions on
    m.do(Deposit("A", 5 * DOLLAR))
    m.do(Withdraw("B", 7 * DOLLAR))
    m.do(DepositShares("A", "XYZ", 25, 95 * DOLLAR))
    m.do(WithdrawShares("B", "XYZ", 33))
    m.do(SettleFunds(), advance_ns=4 * 86_400 * SECOND)
    return Scenario(m, ids, seqs)


def random_commands(seed: int, count: int) -> tuple[TradingEngine, Batch]:
    """A random market (`tradingfloor.bench.ledger`) applied to an engine: its records."""
    engine = TradingEngine(RiskSettings(fees=FEES))
    commands: Batch = []
    for seq, (command, ts) in enumerate(random_stream(engine, seed, count), start=1):
        commands.append((seq, ts, engine.apply(command, seq, ts)))
    return engine, commands


def in_batches(commands: Batch, rng: random.Random, size_max: int) -> list[Batch]:
    found: list[Batch] = []
    start = 0
    while start < len(commands):
        size = rng.randint(1, size_max)
        found.append(commands[start : start + size])
        start += size
    return found


# --------------------------------------------------------------------------- reading back


def contents(database: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model table's rows, sorted, without surrogate ids."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with database.connect() as connection:
        for name in ("orders", "fills", "positions", "account_balances", "activities"):
            table = metadata.tables[name]
            columns = [column for column in table.c if column.name not in SURROGATE_KEYS]
            rows = connection.execute(select(*columns)).all()
            found[name] = sorted((tuple(row) for row in rows), key=repr)
    return found


def assert_matches_engine(database: Engine, engine: TradingEngine) -> None:
    """Positions, balances and live orders equal the engine's own."""
    risk = engine.risk
    assert risk is not None
    ledger = risk.ledger
    expected_positions = {
        (account_id, symbol): (position.qty, position.fraction, position.cost, position.realized)
        for account_id, account in ledger.accounts.items()
        for symbol, position in account.positions.items()
        if (position.qty, position.fraction, position.cost, position.realized) != (0, 0, 0, 0)
    }
    expected_balances = {
        account_id: (
            account.kind.name.lower(),
            account.status.name.lower(),
            account.settled,
            account.unsettled,
            account.deposited,
            account.withdrawn,
            account.fees,
        )
        for account_id, account in ledger.accounts.items()
    }
    expected_live = {}
    for book in engine.books.values():
        for order_id in book.live_order_ids():
            order = book.order_view(order_id)
            assert order is not None
            pending = order.status == OrderStatus.PENDING_TRIGGER
            expected_live[order_id] = (order.qty, order.price, order.filled, order.leaves, pending)
    with database.connect() as connection:
        projected_positions = {
            (row.account, row.symbol): (row.qty, row.fraction, row.cost, row.realized)
            for row in connection.execute(select(positions))
            if (row.qty, row.fraction, row.cost, row.realized) != (0, 0, 0, 0)
        }
        projected_balances = {
            row.account: (
                row.kind,
                row.status,
                row.settled,
                row.unsettled,
                row.deposited,
                row.withdrawn,
                row.fees,
            )
            for row in connection.execute(select(metadata.tables["account_balances"]))
        }
        open_rows = connection.execute(
            select(orders).where(orders.c.status.in_(sorted(OPEN_ORDER_STATUSES)))
        ).all()
    projected_live = {
        row.order_id: (
            row.qty,
            row.price,
            row.filled_qty,
            row.leaves_qty,
            row.status == "pending_trigger",
        )
        for row in open_rows
    }
    assert projected_positions == expected_positions
    assert projected_balances == expected_balances
    assert projected_live == expected_live
    for row in open_rows:
        assert row.status != "partially_filled" or row.filled_qty > 0


def posting_totals(events: list[Event], account: str) -> dict[str, int]:
    """Per kind, the cash (or for share movements the shares) the ledger's postings move in
    or out of `account`; for settlement, what moved from unsettled into settled cash."""
    totals: dict[str, int] = {}
    own = account + "/"
    for posting in history(events, account=account):
        amount = posting.amount
        if posting.kind == "settlement":  # unsettled -> cash: the change of settled cash
            signed = amount if posting.debit == own + "cash" else -amount
        else:  # net: a self-trade moves nothing
            signed = amount * posting.debit.startswith(own)
            signed -= amount * posting.credit.startswith(own)
        key = posting.kind if posting.asset == "USD" else posting.kind + ":shares"
        totals[key] = totals.get(key, 0) + signed
    return totals


def activity_totals(database: Engine, account: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    with database.connect() as connection:
        rows = connection.execute(select(activities).where(activities.c.account == account))
        for row in rows:
            if row.amount is not None:
                totals[row.kind] = totals.get(row.kind, 0) + row.amount
            if row.qty is not None:
                key = row.kind + ":shares"
                totals[key] = totals.get(key, 0) + row.qty
    return totals


def all_events(commands: Batch) -> list[Event]:
    return [event for _, _, events in commands for event in events]


# --------------------------------------------------------------------------- the scenario


def test_orders_follow_every_event_of_their_lives(database: Engine) -> None:
    scenario = scripted_scenario()
    ids = scenario.ids

    assert Projector(database).apply(scenario.commands) == len(scenario.commands)

    with database.connect() as connection:
        row = {name: get_order(connection, order_id) for name, order_id in ids.items()}
    assert all(found is not None for found in row.values())

    def order(name: str) -> Any:
        return row[name]

    assert (order("b_sell").status, order("b_sell").filled_qty) == ("filled", 100)
    assert order("a_buy").average_fill_price == 100 * DOLLAR
    assert order("a_buy").side == "buy" and order("a_buy").order_type == "limit"
    partial = order("b_partial")
    assert (partial.status, partial.filled_qty, partial.leaves_qty) == ("canceled", 100, 0)
    assert (partial.cancel_reason, partial.filled_notional) == ("requested", 100 * 101 * DOLLAR)
    # kept priority: the old row is replaced, the new one carries the terms, then a fill
    assert (order("a_bid").status, order("a_bid").replaced_by) == ("replaced", ids["a_bid_kept"])
    kept = order("a_bid_kept")
    # each replacement has its own client order id: the one its replace named, or none
    assert (kept.replaces, kept.qty, kept.client_order_id) == (ids["a_bid"], 150, "bid-2")
    assert (order("a_bid").client_order_id, order("a_bid_moved").client_order_id) == ("bid-1", "")
    assert (kept.status, kept.replaced_by, kept.filled_qty) == ("replaced", ids["a_bid_moved"], 50)
    moved = order("a_bid_moved")
    assert (moved.status, moved.price, moved.qty) == ("partially_filled", 995_000, 150)
    assert (moved.filled_qty, moved.leaves_qty) == (50, 100)
    assert moved.filled_notional == 50 * 99 * DOLLAR
    assert moved.created_seq > kept.created_seq
    # STP decrement: the resting order shrank and stayed live until the kill switch
    c_ask = order("c_ask")
    assert (c_ask.status, c_ask.cancel_reason) == ("canceled", "kill_switch")
    assert (c_ask.filled_qty, c_ask.leaves_qty) == (10, 0)
    assert (order("c_stp").status, order("c_stp").cancel_reason) == ("canceled", "self_trade")
    assert order("c_self").status == "filled"
    assert (order("a_day").status, order("a_day").leaves_qty) == ("expired", 0)
    # the stop: replaced while pending, then triggered and filled at 103
    assert (order("a_stop").status, order("a_stop").stop_price) == ("replaced", 104 * DOLLAR)
    stop = order("a_stop_moved")
    assert (stop.status, stop.stop_price, stop.order_type) == ("filled", 103 * DOLLAR, "stop")
    assert (stop.filled_qty, stop.average_fill_price) == (20, 103 * DOLLAR)
    assert (order("b_ask_103").status, order("b_ask_103").leaves_qty) == ("partially_filled", 20)
    # rejects: a row with the code, except a reused id, which leaves the first order alone
    too_big = order("b_too_big")
    assert (too_big.status, too_big.reject_code) == (
        "rejected",
        RejectReason.INSUFFICIENT_BUYING_POWER,
    )
    # the refused order's terms as asked; nothing of it is open
    assert (too_big.side, too_big.qty, too_big.leaves_qty) == ("buy", 2000, 0)
    assert (order("a_nope").reject_code, order("a_nope").symbol) == (1012, "NOPE")
    assert order("a_buy").status == "filled" and order("a_buy").reject_code is None


def test_orders_in_the_middle_of_their_lives(database: Engine) -> None:
    scenario = scripted_scenario()
    ids = scenario.ids
    projector = Projector(database)

    projector.apply(scenario.commands[: scenario.seqs["after_stp"]])
    with database.connect() as connection:
        decremented = get_order(connection, ids["c_ask"])
        canceled = get_order(connection, ids["c_stp"])
    projector.apply(scenario.commands[: scenario.seqs["after_stop_moved"]])
    with database.connect() as connection:
        pending = get_order(connection, ids["a_stop_moved"])
        live = list_orders(connection, "A", status="open")

    # an STP decrement: 40 of the resting 100 canceled, the order still live and new
    assert decremented is not None and canceled is not None
    assert (decremented.status, decremented.leaves_qty, decremented.cancel_reason) == (
        "new",
        60,
        None,
    )
    assert (canceled.status, canceled.leaves_qty, canceled.filled_qty) == ("canceled", 0, 0)
    # a stop replaced while it waits: still waiting, at its new stop price
    assert pending is not None
    assert (pending.status, pending.stop_price, pending.leaves_qty) == (
        "pending_trigger",
        103 * DOLLAR,
        20,
    )
    assert [order.order_id for order in live] == [
        ids["a_stop_moved"],
        ids["a_day"],
        ids["a_bid_moved"],
    ]


def test_fills_have_one_row_per_side_of_each_trade(database: Engine) -> None:
    scenario = scripted_scenario()
    ids = scenario.ids

    Projector(database).apply(scenario.commands)

    with database.connect() as connection:
        b_fills = list_fills(connection, "B", order_id=ids["b_sell"])
        a_fills = list_fills(connection, "A", symbol="XYZ")
        c_fills = list_fills(connection, "C", order_id=ids["c_self"])
        trades = trades_for_symbol(connection, "XYZ", limit=10)
    [sold] = b_fills
    assert (sold.side, sold.liquidity, sold.qty) == ("sell", "maker", 100)
    assert sold.price == 100 * DOLLAR
    assert (sold.fee, sold.leaves_after, sold.trade_id) == (100 * 10, 0, 1)
    bought = a_fills[0]
    assert (bought.side, bought.liquidity, bought.fee) == ("buy", "taker", 100 * 30)
    assert bought.trade_id == sold.trade_id and bought.seq == sold.seq
    assert [fill.order_id for fill in a_fills] == [
        ids["a_buy"],
        ids["a_buy_101"],
        ids["a_bid_kept"],
        ids["a_stop_moved"],
    ]
    assert [(fill.side, fill.qty) for fill in c_fills] == [("buy", 10)]
    # public trades, newest first, each once, with the aggressor's side
    assert [trade.trade_id for trade in trades] == [6, 5, 4, 3, 2, 1]
    assert [trade.side for trade in trades] == ["buy", "buy", "buy", "sell", "buy", "buy"]
    assert (trades[0].qty, trades[0].price) == (20, 103 * DOLLAR)


def test_positions_and_balances_equal_the_engine_ledger(database: Engine) -> None:
    scenario = scripted_scenario()

    Projector(database).apply(scenario.commands)

    assert_matches_engine(database, scenario.market.engine)
    with database.connect() as connection:
        [c_position] = list_positions(connection, "C")
        balances = get_balances(connection, "A")
        assert get_balances(connection, "nobody") is None
    # C held 500 at $100 and bought 10 from itself at $102 (the buy posts first): the sell
    # removed 10/510 of the cost, at the average. Then 10 more bought at $103.
    removed = (500 * 100 + 10 * 102) * DOLLAR * 10 // 510
    assert (c_position.qty, c_position.realized) == (510, 10 * 102 * DOLLAR - removed)
    assert c_position.cost == (500 * 100 + 10 * 102) * DOLLAR - removed + 10 * 103 * DOLLAR
    assert balances is not None and balances.cash == balances.settled + balances.unsettled
    assert balances.unsettled == 0  # settled two sessions on


def test_activities_tell_each_account_its_history(database: Engine) -> None:
    scenario = scripted_scenario()
    events = all_events(scenario.commands)

    Projector(database).apply(scenario.commands)

    with database.connect() as connection:
        c_kinds = [row.kind for row in list_activities(connection, "C")]
        a_rejects = list_activities(connection, "A", kinds={"reject"})
        b_cash = list_activities(connection, "B", kinds={"deposit", "withdrawal"})
        a_first_trade = list_activities(connection, "A", kinds={"trade"}, limit=1)[0]
    assert c_kinds[:13] == [
        "status",  # opened
        "deposit",
        "shares_in",
        "trade",  # the self-trade: bought, then
        "fee",
        "trade",  # sold
        "fee",
        "day_trade",
        "status",  # blocked
        "status",  # active again
        "trade",  # lifts B's offer at 103
        "fee",
        "settlement",  # its cash
    ]
    assert set(c_kinds[13:]) <= {"settlement"}  # its shares, where the engine settles them
    [reject] = a_rejects
    assert (reject.order_id, reject.symbol) == (scenario.ids["a_buy"], "XYZ")
    assert "1013" in reject.description
    assert [(row.kind, row.amount) for row in b_cash] == [
        ("deposit", 100_000 * DOLLAR),
        ("withdrawal", -7 * DOLLAR),
    ]
    assert (a_first_trade.qty, a_first_trade.amount) == (100, -100 * 100 * DOLLAR)
    assert a_first_trade.description == "bought 100 XYZ at $100.00"
    risk = scenario.market.engine.risk
    assert risk is not None
    for account_id, account in risk.ledger.accounts.items():
        totals = activity_totals(database, account_id)
        # the ledger's postings move what the activities say, kind by kind
        expected = posting_totals(events, account_id)
        assert {key: value for key, value in totals.items() if key in expected} == expected
        cash = sum(totals.get(kind, 0) for kind in ("trade", "fee", "deposit", "withdrawal"))
        assert cash == account.cash


# --------------------------------------------------------------------------- idempotency


def test_applying_the_same_batches_twice_changes_nothing(database: Engine) -> None:
    scenario = scripted_scenario()
    projector = Projector(database)
    projector.apply(scenario.commands)
    once = contents(database)

    assert projector.apply(scenario.commands) == 0
    assert projector.apply(scenario.commands[5:17]) == 0

    assert contents(database) == once
    assert projector.last_seq() == scenario.market.seq


def test_a_restart_in_the_middle_gives_what_one_pass_gives(database_url: str) -> None:
    scenario = scripted_scenario()
    commands = scenario.commands
    half = len(commands) // 2
    first = make_engine(database_url)
    assert Projector(first).apply(commands[:half]) == half
    first.dispose()

    second = make_engine(database_url)  # a new process: nothing remembered but the tables
    projector = Projector(second)
    assert projector.last_seq() == commands[half - 1][0]
    assert projector.apply(commands[half - 7 :]) == len(commands) - half
    restarted = contents(second)
    second.dispose()

    assert restarted == _one_pass(commands, database_url)


def _one_pass(commands: Batch, database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The contents after applying `commands` in one batch to a fresh database of the same
    kind as `database_url`."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///")).with_name("one_pass.db")
        url = f"sqlite:///{path}"
        upgrade(url)
        engine = make_engine(url)
        try:
            Projector(engine).apply(commands)
            return contents(engine)
        finally:
            engine.dispose()
    with scratch_database() as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            Projector(engine).apply(commands)
            return contents(engine)
        finally:
            engine.dispose()


def test_one_command_per_batch_gives_what_one_batch_gives(database_url: str) -> None:
    scenario = scripted_scenario()
    engine = make_engine(database_url)
    projector = Projector(engine)

    applied = sum(projector.apply([command]) for command in scenario.commands)

    assert applied == len(scenario.commands)
    assert contents(engine) == _one_pass(scenario.commands, database_url)
    engine.dispose()


def test_a_gap_in_the_sequence_stops_the_projection(database: Engine) -> None:
    scenario = scripted_scenario()
    projector = Projector(database)
    projector.apply(scenario.commands[:10])

    with pytest.raises(ProjectionGapError, match="expected seq 11"):
        projector.apply(scenario.commands[11:20])

    assert projector.last_seq() == 10
    with database.connect() as connection:
        assert connection.execute(select(orders)).first() is None  # the first order is at 11


def test_overlapping_and_repeated_commands_are_applied_once(database: Engine) -> None:
    scenario = scripted_scenario()
    commands = scenario.commands
    projector = Projector(database)

    assert projector.apply(commands[:20] + commands[10:25]) == 25
    assert projector.apply(commands[5:30] + commands[29:]) == len(commands) - 25

    assert contents(database) == _one_pass(commands, str(database.url))


def test_a_long_log_is_applied_in_bounded_transactions(database: Engine) -> None:
    scenario = scripted_scenario()
    projector = Projector(database)

    applied = projector.apply_stream(iter(scenario.commands), batch_commands_max=7)

    assert applied == len(scenario.commands) == projector.last_seq()
    assert_matches_engine(database, scenario.market.engine)


def test_two_projectors_at_once_apply_each_command_once(database_url: str) -> None:
    """Two processes (threads here, each with its own engine) feeding the same projection:
    the projection's lock lets each command in once, whoever brings it."""
    scenario = scripted_scenario()
    commands = scenario.commands
    engines = [make_engine(database_url), make_engine(database_url)]
    applied = [0, 0]
    errors: list[BaseException] = []

    def feed(index: int) -> None:
        projector = Projector(engines[index])
        try:
            for start in range(0, len(commands), 3):
                applied[index] += projector.apply(commands[: start + 3])
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=feed, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(applied) == len(commands)
    assert contents(engines[0]) == _one_pass(commands, database_url)
    for engine in engines:
        engine.dispose()


def test_projections_by_name_resume_apart(database: Engine) -> None:
    scenario = scripted_scenario()
    Projector(database, "main").apply(scenario.commands[:12])

    other = Projector(database, "other")

    assert other.last_seq() == 0
    assert Projector(database, "main").last_seq() == 12


# --------------------------------------------------------------------------- queries


def test_orders_list_by_status_symbol_time_and_keyset(database: Engine) -> None:
    scenario = scripted_scenario()
    ids = scenario.ids
    Projector(database).apply(scenario.commands)

    with database.connect() as connection:
        every = list_orders(connection, "A", limit=100)
        oldest_first = list_orders(connection, "A", direction="asc", limit=100)
        open_orders = list_orders(connection, "A", status="open")
        closed = list_orders(connection, "A", status="closed", limit=100)
        replaced = list_orders(connection, "A", status="replaced")
        page_one = list_orders(connection, "A", limit=3)
        page_two = list_orders(connection, "A", limit=3, after_order_id=page_one[-1].order_id)
        later = list_orders(connection, "A", direction="asc", after_order_id=ids["a_bid_moved"])
        # all of A's orders came at 10:00 but the last, a reject six hours later
        after = list_orders(connection, "A", after_ts=every[-1].created_ts, limit=100)
        until = list_orders(connection, "A", until_ts=every[0].created_ts, limit=100)
        nope = list_orders(connection, "A", symbol="NOPE")
        by_client = get_order_by_client_id(connection, "A", "bid-1")
        by_replace = get_order_by_client_id(connection, "A", "bid-2")
        not_theirs = get_order_by_client_id(connection, "B", "bid-1")
        no_id = get_order_by_client_id(connection, "A", "")
        with pytest.raises(ValueError, match="status"):
            list_orders(connection, "A", status="nonsense")
        with pytest.raises(ValueError, match="limit"):
            list_orders(connection, "A", limit=0)

    order_ids = [order.order_id for order in every]
    assert order_ids == sorted(order_ids, reverse=True)
    assert [order.order_id for order in oldest_first] == order_ids[::-1]
    assert all(order.account == "A" for order in every)
    assert [order.order_id for order in open_orders] == [ids["a_bid_moved"]]
    assert len(closed) == len(every) - 1
    assert [order.order_id for order in replaced] == [
        ids["a_stop"],
        ids["a_bid_kept"],
        ids["a_bid"],
    ]
    assert [order.order_id for order in page_one + page_two] == order_ids[:6]
    assert [order.order_id for order in later] == [
        order_id for order_id in order_ids[::-1] if order_id > ids["a_bid_moved"]
    ]
    assert [order.order_id for order in after] == [ids["a_nope"]]
    assert [order.order_id for order in until] == order_ids[1:]
    assert [order.order_id for order in nope] == [ids["a_nope"]]
    assert by_client is not None and by_client.order_id == ids["a_bid"]
    assert by_replace is not None and by_replace.order_id == ids["a_bid_kept"]
    assert not_theirs is None and no_id is None


def test_fills_and_activities_page_by_keyset(database: Engine) -> None:
    scenario = scripted_scenario()
    Projector(database).apply(scenario.commands)

    with database.connect() as connection:
        every = list_activities(connection, "C", limit=100)
        pages = []
        after = None
        while True:
            page = list_activities(connection, "C", limit=2, after_activity_id=after)
            if not page:
                break
            pages.extend(page)
            after = page[-1].activity_id
        newest = list_activities(connection, "C", limit=100, direction="desc")
        window = list_activities(
            connection, "C", after_seq=every[2].seq, until_seq=every[-2].seq, limit=100
        )
        fills_all = list_fills(connection, "A")
        fills_after = list_fills(connection, "A", after_fill_id=fills_all[1].fill_id)
        fills_since = list_fills(connection, "A", after_seq=fills_all[1].seq)
        fills_newest = list_fills(connection, "A", direction="desc", limit=1)

    assert pages == every
    assert newest == every[::-1]
    assert all(every[2].seq < row.seq <= every[-2].seq for row in window)
    assert [row.seq for row in every if every[2].seq < row.seq <= every[-2].seq] == [
        row.seq for row in window
    ]
    assert fills_after == fills_all[2:]
    assert fills_since == fills_all[2:]
    assert fills_newest == [fills_all[-1]]


# --------------------------------------------------------------------------- random markets


@pytest.mark.parametrize("seed", [1, 2])
def test_a_random_market_projects_to_the_engine_state(database: Engine, seed: int) -> None:
    engine, commands = random_commands(seed, 3_000)
    rng = random.Random(seed)
    projector = Projector(database)
    batches = in_batches(commands, rng, 150)

    for index, batch in enumerate(batches):
        projector.apply(batch)
        if index % 7 == 3:  # a retried batch, as after a crash before the caller saw the commit
            assert projector.apply(batch) == 0

    assert projector.last_seq() == len(commands)
    assert_matches_engine(database, engine)
    events = all_events(commands)
    risk = engine.risk
    assert risk is not None
    for account_id, account in risk.ledger.accounts.items():
        totals = activity_totals(database, account_id)
        expected = posting_totals(events, account_id)
        assert {key: value for key, value in totals.items() if key in expected} == expected
        cash = sum(totals.get(kind, 0) for kind in ("trade", "fee", "deposit", "withdrawal"))
        assert cash == account.cash


def test_a_random_fractional_market_projects_to_the_engine_state(database: Engine) -> None:
    """Fractional, notional and whole orders between customers and the desk: positions (with
    their fractions), balances and live orders projected equal the engine's."""
    from test_fractions_properties import ACCOUNTS, command_of, market, opened

    m = market()
    opened(m)
    rng = random.Random(7)
    known: list[tuple[int, str]] = []
    kinds = ["fraction", "fraction", "notional", "whole", "cancel"]
    for _ in range(400):
        m.order_id += 1
        action = {
            "kind": rng.choice(kinds),
            "account": rng.choice(ACCOUNTS),
            "side": rng.choice([Side.BUY, Side.SELL]),
            "qty": rng.randint(0, 6),
            "fraction": rng.randint(1, 999_999_999),
            "notional": rng.randint(1, 800) * DOLLAR // 4,
            "market": rng.random() < 0.5,
            "price": rng.randint(98 * 4, 102 * 4) * 25 * DOLLAR // 100,
            "pick": rng.randint(0, 10_000),
        }
        for event in m.do(command_of(action, m.order_id, known)):
            order_id = getattr(event, "order_id", None)
            if isinstance(event, OrderAccepted) and order_id is not None:
                known.append((order_id, event.account))
    by_seq: dict[int, tuple[int, list[Event]]] = {}
    for event in m.events:
        by_seq.setdefault(event.seq, (event.ts, []))[1].append(event)
    commands = [(seq, ts, events) for seq, (ts, events) in sorted(by_seq.items())]
    fills = sum(1 for event in m.events if type(event).__name__ == "FractionFilled")
    assert fills > 20

    Projector(database).apply(commands)

    assert_matches_engine(database, m.engine)
    risk = m.engine.risk
    assert risk is not None
    for account_id, account in risk.ledger.accounts.items():  # a statement's replay agrees
        replay = Replay()
        with database.connect() as connection:
            for row in list_activities(connection, account_id, limit=10_000):
                replay.apply(row.kind, row.symbol, row.qty, row.price, row.amount)
        assert (replay.settled, replay.unsettled) == (account.settled, account.unsettled)
        held = {
            symbol: (position.qty, position.fraction, position.cost)
            for symbol, position in account.positions.items()
            if position.qty or position.fraction
        }
        lines = replay.snapshot({}).positions
        assert {line.symbol: (line.qty, line.fraction, line.cost) for line in lines} == held
