"""`tradingfloor bench matching`: the engine's throughput and per-command latency.

The workload is built, and every command object created, before the clock starts; the timed
loop is exactly what the sequencer does per command: `engine.apply(command, seq, ts)`, events
included. Two passes over fresh engines: one timed as a whole (ops/s), one timing every command
(p50/p99/p99.9), so that reading the clock does not slow the throughput figure.
"""

import gc
import json
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    Command,
    Deposit,
    DepositShares,
    OpenAccount,
    PlaceOrder,
    SetReferencePrice,
)
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.events import TradeExecuted
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.matching import OrderBook
from tradingfloor.scenario import StepTranslator

SYMBOL = "BENCH"
MID = 1_000_000  # $100.00
TICK = 100  # one cent
SPREAD_TICKS = 50
LIVE_TARGET = 1_000
ACCOUNTS = ("mm-1", "mm-2", "mm-3", "taker-1", "taker-2")
BASE_TS = 1_795_446_000_000_000_000
"""Monday 2026-11-23 10:00 New York: the risk layer reads sessions off the exchange calendar."""


@dataclass(frozen=True)
class Workload:
    instrument: Instrument
    commands: list[Command]
    description: str
    accounts: tuple[str, ...] = ACCOUNTS
    """The accounts its orders name: funded in a run with risk on."""
    reference_price: int = MID
    """The symbol's reference price in a run with risk on (the collar is measured from it)."""


@dataclass(frozen=True)
class BenchResult:
    ops: int
    seconds: float
    latencies_ns: list[int]
    traded_qty: int
    trades: int
    events: int
    live_orders: int

    @property
    def ops_per_second(self) -> float:
        return self.ops / self.seconds

    def percentile_us(self, fraction: float) -> float:
        return percentile(self.latencies_ns, fraction) / 1_000


def percentile(sorted_values: Sequence[int], fraction: float) -> int:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0
    rank = max(0, min(len(sorted_values) - 1, int(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def standard_workload(ops: int = 1_000_000, seed: int = 1) -> Workload:
    """The default mix on one symbol around $100.00.

    60% passive limit orders within 50 ticks of the mid, 25% cancels of a random live order,
    10% marketable limits priced a few ticks through the touch, 5% market orders. Aggressive
    sizes scale with the number of live orders, which keeps the book near 1,000 live orders.
    A shadow engine runs the workload while it is built, so cancels name orders that are live.
    """
    rng = random.Random(seed)
    instrument = Instrument(SYMBOL, tick_size=1)
    shadow = Engine()
    shadow.apply(AddInstrument(instrument), 1, 0)
    book = shadow.book(SYMBOL)
    commands: list[Command] = []
    live: list[int] = []
    next_id = 0
    for index in range(ops):
        roll = rng.random()
        victim = _pick_live(rng, live, book) if roll < 0.25 else None
        if victim is not None:
            command: Command = CancelOrder(victim, SYMBOL)
        else:
            next_id += 1
            command = _new_order(rng, roll, next_id, book.live_order_count(), shadow)
        commands.append(command)
        shadow.apply(command, index + 2, index)
        if isinstance(command, PlaceOrder) and book.is_live(command.order_id):
            live.append(command.order_id)
    return Workload(instrument, commands, f"standard mix, {ops:,} operations, seed {seed}")


def _pick_live(rng: random.Random, live: list[int], book: OrderBook) -> int | None:
    """Remove and return a random order id that is still live (filled ones are dropped)."""
    while live:
        slot = rng.randrange(len(live))
        live[slot], live[-1] = live[-1], live[slot]
        order_id = live.pop()
        if book.is_live(order_id):
            return order_id
    return None


def _new_order(
    rng: random.Random, roll: float, order_id: int, live: int, shadow: Engine
) -> Command:
    side = Side.BUY if rng.random() < 0.5 else Side.SELL
    sign = 1 if side == Side.BUY else -1
    account = ACCOUNTS[rng.randrange(len(ACCOUNTS))]
    if roll < 0.85:
        price = MID - sign * TICK * rng.randint(1, SPREAD_TICKS)
        qty = 100 * rng.randint(1, 10)
    else:
        pressure = min(8.0, max(0.125, (live / LIVE_TARGET) ** 3))
        qty = 100 * max(1, round(rng.randint(1, 25) * pressure))
        if roll >= 0.95:
            return PlaceOrder(order_id, account, SYMBOL, side, OrderType.MARKET, qty)
        book = shadow.book(SYMBOL)
        touch = book.best_ask() if side == Side.BUY else book.best_bid()
        base = touch.price if touch is not None else MID
        price = base + sign * TICK * rng.randint(0, 5)
    return PlaceOrder(
        order_id, account, SYMBOL, side, OrderType.LIMIT, qty, price=price, tif=TimeInForce.GTC
    )


def file_workload(path: Path) -> Workload:
    """JSON lines, one step per line in the conformance step format, on a tick-1 instrument."""
    instrument = Instrument(SYMBOL, tick_size=1)
    translator = StepTranslator(SYMBOL)
    commands: list[Command] = []
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                commands.append(translator.command(json.loads(line)))
            except ValueError as error:
                raise ValueError(f"{path}:{number}: {error}") from error
    placed = [command for command in commands if isinstance(command, PlaceOrder)]
    prices = sorted(command.price for command in placed if command.price is not None)
    return Workload(
        instrument,
        commands,
        f"{path.name}, {len(commands):,} operations",
        accounts=tuple(sorted({command.account for command in placed})),
        reference_price=prices[len(prices) // 2] if prices else MID,
    )


def write_workload(workload: Workload, path: Path) -> None:
    """The workload as JSON lines in the conformance step format (for other engines)."""
    with path.open("w") as out:
        for step in _steps(workload.commands):
            out.write(json.dumps(step) + "\n")


def _steps(commands: list[Command]) -> Iterator[dict[str, object]]:
    for command in commands:
        if isinstance(command, CancelOrder):
            yield {"op": "cancel", "id": f"o{command.order_id}"}
        elif isinstance(command, PlaceOrder):
            step: dict[str, object] = {
                "op": "new",
                "id": f"o{command.order_id}",
                "account": command.account,
                "side": command.side.name.lower(),
                "type": command.order_type.name.lower(),
                "qty": command.qty,
                "tif": command.tif.name.lower(),
            }
            if command.price is not None:
                step["price"] = command.price
            yield step


def run(workload: Workload, risk: bool = False) -> BenchResult:
    """Run the workload twice on fresh engines: once for ops/s, once for per-command latency.

    With `risk`, the engine keeps accounts (funded with cash and shares enough for the whole
    workload): every order passes the risk checks, holds, and posts its fills to the ledger.
    The throughput pass drops each command's events as the bus would after handing them on;
    keeping a million event lists alive would only measure the garbage collector.
    """
    commands = workload.commands
    engine = _fresh_engine(workload, risk)
    apply = engine.apply
    base = BASE_TS
    gc.collect()
    start = time.perf_counter_ns()
    for seq, command in enumerate(commands, start=engine.last_seq + 1):
        apply(command, seq, base + seq)
    seconds = (time.perf_counter_ns() - start) / 1e9
    live = engine.book(SYMBOL).live_order_count()
    latencies, traded, trades, events = _timed_pass(workload, risk)
    return BenchResult(len(commands), seconds, latencies, traded, trades, events, live)


def _timed_pass(workload: Workload, risk: bool) -> tuple[list[int], int, int, int]:
    """Per-command latencies (sorted), and the traded quantity, trades and events."""
    engine = _fresh_engine(workload, risk)
    apply = engine.apply
    first = engine.last_seq + 1
    base = BASE_TS
    clock = time.perf_counter_ns
    latencies = [0] * len(workload.commands)
    traded = trades = events = 0
    gc.collect()
    for index, command in enumerate(workload.commands):
        start = clock()
        out = apply(command, index + first, base + index + first)
        latencies[index] = clock() - start
        events += len(out)
        for event in out:
            if type(event) is TradeExecuted:
                trades += 1
                traded += event.qty
    latencies.sort()
    return latencies, traded, trades, events


def profile(workload: Workload, rows: int = 12, risk: bool = False) -> str:
    """A cProfile pass over the workload: functions by their own time, as text."""
    import cProfile
    import io
    import pstats

    engine = _fresh_engine(workload, risk)
    apply = engine.apply
    profiler = cProfile.Profile()
    profiler.enable()
    for seq, command in enumerate(workload.commands, start=engine.last_seq + 1):
        apply(command, seq, BASE_TS + seq)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(rows)
    return text.getvalue()


def _fresh_engine(workload: Workload, risk: bool = False) -> Engine:
    """An engine with the workload's instrument; with `risk`, its accounts funded with cash
    and shares enough for any workload, and its reference price set."""
    instrument = workload.instrument
    engine = Engine(RiskSettings() if risk else None)
    setup: list[Command] = [AddInstrument(instrument)]
    if risk:
        reference = workload.reference_price
        setup.append(SetReferencePrice(instrument.symbol, reference))
        for account in workload.accounts:
            setup.append(OpenAccount(account))
            setup.append(Deposit(account, 10**9 * max(reference, MID)))
            setup.append(DepositShares(account, instrument.symbol, 10**9, reference))
    for seq, command in enumerate(setup, start=1):
        engine.apply(command, seq, BASE_TS + seq)
    if engine.risk is not None:
        engine.risk.calendar.session_index(BASE_TS)  # loaded before the clock starts
    return engine


def clock_overhead_ns(samples: int = 100_000) -> int:
    """The median cost of one `perf_counter_ns` pair, included in every latency figure."""
    clock = time.perf_counter_ns
    costs = []
    for _ in range(samples):
        start = clock()
        costs.append(clock() - start)
    costs.sort()
    return costs[len(costs) // 2]


def results_json(results: dict[str, BenchResult]) -> bytes:
    return msgspec.json.encode({label: _result_fields(r) for label, r in results.items()})


def _result_fields(result: BenchResult) -> dict[str, object]:
    return {
        "ops": result.ops,
        "seconds": round(result.seconds, 4),
        "ops_per_second": round(result.ops_per_second),
        "p50_us": result.percentile_us(0.50),
        "p99_us": result.percentile_us(0.99),
        "p999_us": result.percentile_us(0.999),
        "traded_qty": result.traded_qty,
        "trades": result.trades,
        "events": result.events,
        "live_orders_at_end": result.live_orders,
    }
