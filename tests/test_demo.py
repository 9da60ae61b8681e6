"""The demo market: simulated traders keep every book two-sided and trading, within the risk
rules, deterministically, on a real risk-enabled engine driven without real sleeping."""

import asyncio
from collections import Counter
from collections.abc import Callable

import msgspec
import pytest

from tradingfloor.demo import DemoMarket, DemoSpec, TraderKind, is_set_up, setup_commands
from tradingfloor.domain.commands import (
    Command,
    HaltTrading,
    PlaceOrder,
    ReplaceOrder,
)
from tradingfloor.domain.events import Event, OrderRejected, TradeExecuted, TradingHalted
from tradingfloor.domain.prices import PRICE_SCALE
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.engine.check import check_ledger
from tradingfloor.risk.calendar import ts_at

MONDAY_10AM = ts_at("2026-11-23 10:00")
SECOND_NS = 1_000_000_000
RATE_PER_S = 50.0
SYMBOLS = ("ACME", "GLOBX", "TINY")


class FakeSequencer:
    """Applies each command to a real engine with the next sequence number and the simulated
    time, giving new order ids like the real sequencer; `sleep` advances the simulated time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seq = 0
        self.elapsed_ns = 0
        self.commands: list[Command] = []
        self.events: list[Event] = []
        self.after: Callable[[int], None] = lambda count: None
        """Called with the number of commands sent so far, after each one."""

    async def submit(self, command: Command) -> list[Event]:
        self.seq += 1
        if type(command) is PlaceOrder and command.order_id == 0:
            command = msgspec.structs.replace(command, order_id=self.seq)
        if type(command) is ReplaceOrder and command.new_order_id == 0:
            command = msgspec.structs.replace(command, new_order_id=self.seq)
        self.commands.append(command)
        events = self.engine.apply(command, self.seq, MONDAY_10AM + self.elapsed_ns)
        self.events.extend(events)
        self.after(len(self.commands))
        return events

    async def sleep(self, seconds: float) -> None:
        self.elapsed_ns += round(seconds * SECOND_NS)

    def clock(self) -> float:
        return self.elapsed_ns / SECOND_NS


async def set_up(spec: DemoSpec) -> FakeSequencer:
    sequencer = FakeSequencer(Engine(RiskSettings()))
    for command in setup_commands(spec):
        await sequencer.submit(command)
    sequencer.commands.clear()
    sequencer.events.clear()
    return sequencer


def demo(sequencer: FakeSequencer, spec: DemoSpec, seed: int = 1) -> DemoMarket:
    return DemoMarket(
        spec,
        sequencer.submit,
        sequencer.engine,
        seed,
        RATE_PER_S,
        sleep=sequencer.sleep,
        clock=sequencer.clock,
    )


async def run_for(market: DemoMarket, sequencer: FakeSequencer, commands: int) -> None:
    """Run the demo until it has sent `commands` more commands."""
    stop = asyncio.Event()
    start = len(sequencer.commands)
    sample = sequencer.after

    def after(count: int) -> None:
        sample(count)
        if count - start >= commands:
            stop.set()

    sequencer.after = after
    await asyncio.wait_for(market.run(stop), timeout=60)
    sequencer.after = sample


def two_sided(engine: Engine, symbol: str) -> bool:
    book = engine.books[symbol]
    return book.best_bid() is not None and book.best_ask() is not None


async def test_setup_lists_the_symbols_and_funds_every_account() -> None:
    spec = DemoSpec()
    sequencer = FakeSequencer(Engine(RiskSettings()))
    assert not is_set_up(sequencer.engine, spec)
    for command in setup_commands(spec):
        events = await sequencer.submit(command)
        assert not any(type(event).__name__.endswith("Rejected") for event in events), command
    engine = sequencer.engine
    risk = engine.risk
    assert risk is not None
    assert set(engine.books) == set(SYMBOLS)
    assert engine.books["GLOBX"].instrument.luld_tier == 1
    assert risk.guards["ACME"].reference == 150 * PRICE_SCALE
    for human in ("demo-alice", "demo-bob"):
        account = risk.ledger.accounts[human]
        assert account.buying_power == 100_000 * PRICE_SCALE
        assert {symbol: p.qty for symbol, p in account.positions.items()} == dict.fromkeys(
            SYMBOLS, 100
        )
    for account_id, _ in spec.trader_accounts():
        account = risk.ledger.accounts[account_id]
        assert account.buying_power > 0
        assert all(account.positions[symbol].qty > 0 for symbol in SYMBOLS)
    assert is_set_up(engine, spec)
    check_ledger(engine)


async def test_demo_trades_every_symbol_with_two_sided_books_and_few_rejects() -> None:
    spec = DemoSpec()
    sequencer = await set_up(spec)
    engine = sequencer.engine
    samples: Counter[tuple[str, bool]] = Counter()

    def sample(count: int) -> None:
        if count % 10 == 0:
            for symbol in SYMBOLS:
                samples[symbol, two_sided(engine, symbol)] += 1

    sequencer.after = sample
    market = demo(sequencer, spec)
    await run_for(market, sequencer, 4_000)

    stats = market.stats
    assert stats.commands_sent == len(sequencer.commands) == 4_000
    trades = Counter(event.symbol for event in sequencer.events if type(event) is TradeExecuted)
    assert all(trades[symbol] >= 50 for symbol in SYMBOLS), trades
    assert stats.trades_seen == sum(trades.values())
    for symbol in SYMBOLS:
        fraction = samples[symbol, True] / (samples[symbol, True] + samples[symbol, False])
        assert fraction >= 0.9, (symbol, fraction)
    assert stats.rejected_total < 0.05 * stats.commands_sent, stats.rejected
    assert stats.commands_accepted + stats.rejected_total == stats.commands_sent
    assert not any(type(event) is TradingHalted for event in sequencer.events)
    risk = engine.risk
    assert risk is not None
    assert all(guard.halt is None for guard in risk.guards.values())
    check_ledger(engine)
    for book in engine.books.values():
        book.check_invariants()
    # Every kind of trader took part.
    accounts = Counter(getattr(command, "account", "") for command in sequencer.commands)
    assert all(accounts[account] > 0 for account, _ in spec.trader_accounts()), accounts
    order_types = {c.order_type for c in sequencer.commands if type(c) is PlaceOrder}
    assert len(order_types) >= 4  # limit, market and stops of some kind


async def test_books_are_two_sided_at_once_and_trade_within_the_first_second() -> None:
    spec = DemoSpec()
    sequencer = await set_up(spec)
    engine = sequencer.engine
    two_sided_at: dict[str, int] = {}
    first_trade_at: dict[str, int] = {}
    stop = asyncio.Event()

    def watch(count: int) -> None:
        for symbol in SYMBOLS:
            if symbol not in two_sided_at and two_sided(engine, symbol):
                two_sided_at[symbol] = sequencer.elapsed_ns
        for event in sequencer.events:
            if type(event) is TradeExecuted:
                first_trade_at.setdefault(event.symbol, sequencer.elapsed_ns)
        sequencer.events.clear()
        if sequencer.elapsed_ns >= 3 * SECOND_NS:
            stop.set()

    sequencer.after = watch
    market = demo(sequencer, spec)
    await asyncio.wait_for(market.run(stop), timeout=30)
    assert two_sided_at == dict.fromkeys(SYMBOLS, 0)  # the opening quotes go out at once
    assert min(first_trade_at.values()) < SECOND_NS
    assert set(first_trade_at) == set(SYMBOLS)


async def test_the_same_seed_gives_the_same_command_stream() -> None:
    spec = DemoSpec()
    streams = []
    for seed in (11, 11, 12):
        sequencer = await set_up(spec)
        await run_for(demo(sequencer, spec, seed), sequencer, 1_500)
        streams.append(sequencer.commands)
    assert streams[0] == streams[1]
    assert streams[0] != streams[2]


async def test_tracked_orders_are_exactly_the_live_ones() -> None:
    """Filled, canceled and replaced orders are forgotten: memory stays bounded."""
    spec = DemoSpec()
    sequencer = await set_up(spec)
    market = demo(sequencer, spec)
    await run_for(market, sequencer, 2_000)
    engine = sequencer.engine
    simulated = {account for account, _ in spec.trader_accounts()}
    live = sum(
        1
        for book in engine.books.values()
        for order_id in book.live_order_ids()
        if (order := book.order_view(order_id)) is not None and order.account in simulated
    )
    # Orders are forgotten when a trader next looks: at most one decision's worth lags.
    assert live <= market.open_order_count() <= live + 20
    assert market.open_order_count() < 200


async def test_a_restarted_demo_takes_over_its_live_orders() -> None:
    spec = DemoSpec()
    sequencer = await set_up(spec)
    await run_for(demo(sequencer, spec, seed=1), sequencer, 1_000)
    restarted = demo(sequencer, spec, seed=2)
    await run_for(restarted, sequencer, 1_000)
    engine = sequencer.engine
    makers = [
        account for account, kind in spec.trader_accounts() if kind == TraderKind.MARKET_MAKER
    ]
    for symbol, book in engine.books.items():
        owners = Counter(
            order.account
            for order_id in book.live_order_ids()
            if (order := book.order_view(order_id)) is not None
        )
        for maker in makers:
            # One ladder, not one per run.
            assert 0 < owners[maker] <= 2 * spec.quote_levels, (symbol, maker, owners)
    assert restarted.stats.rejected_total == 0


async def test_the_demo_needs_its_symbols_listed() -> None:
    spec = DemoSpec()
    sequencer = FakeSequencer(Engine(RiskSettings()))
    with pytest.raises(RuntimeError, match="setup_commands"):
        await demo(sequencer, spec).run(asyncio.Event())


async def test_a_halted_symbol_gets_no_new_orders() -> None:
    spec = DemoSpec()
    sequencer = await set_up(spec)
    await sequencer.submit(HaltTrading("GLOBX"))
    sequencer.commands.clear()
    market = demo(sequencer, spec)
    await run_for(market, sequencer, 1_000)
    assert not any(
        isinstance(command, PlaceOrder | ReplaceOrder) and command.symbol == "GLOBX"
        for command in sequencer.commands
    )
    assert market.stats.rejected_total == 0
    assert market.stats.trades_seen > 0


async def test_rejects_are_counted_by_reason_and_never_raised() -> None:
    spec = DemoSpec()
    sequencer = await set_up(spec)
    stop = asyncio.Event()
    answered = 0

    async def refusing(command: Command) -> list[Event]:
        """The engine's answer, except that every new order is refused."""
        nonlocal answered
        answered += 1
        if answered >= 300:
            stop.set()
        if type(command) is PlaceOrder:
            return [
                OrderRejected(
                    0, 0, answered, command.account, command.symbol, RejectReason.MARKET_HALTED, ""
                )
            ]
        return await sequencer.submit(command)

    market = DemoMarket(
        spec, refusing, sequencer.engine, 3, sleep=sequencer.sleep, clock=sequencer.clock
    )
    await asyncio.wait_for(market.run(stop), timeout=30)
    stats = market.stats
    assert stats.commands_sent == 300
    assert stats.rejected == {"MARKET_HALTED": stats.orders_placed}
    assert stats.orders_placed > 0


class Overloaded(RuntimeError):
    pass


async def test_listed_submit_errors_are_counted_and_others_stop_the_loop() -> None:
    spec = DemoSpec()
    sequencer = await set_up(spec)
    stop = asyncio.Event()
    calls = 0

    async def flaky(command: Command) -> list[Event]:
        nonlocal calls
        calls += 1
        if calls % 3 == 0:
            raise Overloaded("queue full")
        if calls == 200:
            raise RuntimeError("sequencer stopped")
        return await sequencer.submit(command)

    market = DemoMarket(
        spec,
        flaky,
        sequencer.engine,
        4,
        sleep=sequencer.sleep,
        clock=sequencer.clock,
        retry_on=(Overloaded,),
    )
    with pytest.raises(RuntimeError, match="sequencer stopped"):
        await asyncio.wait_for(market.run(stop), timeout=30)
    assert market.stats.submit_errors == 66
    assert market.stats.commands_sent == 200 - 66 - 1


async def test_a_set_stop_ends_the_run_before_any_command() -> None:
    spec = DemoSpec()
    sequencer = await set_up(spec)
    stop = asyncio.Event()
    stop.set()
    market = demo(sequencer, spec)
    await asyncio.wait_for(market.run(stop), timeout=5)
    assert sequencer.commands == []
    assert market.stats.commands_sent == 0


def test_a_spec_with_problems_is_refused() -> None:
    spec = DemoSpec(market_makers=0)
    assert spec.problems()

    async def never(command: Command) -> list[Event]:
        raise AssertionError(command)

    with pytest.raises(ValueError, match="market maker"):
        DemoMarket(spec, never, Engine(RiskSettings()), 1)
