"""The simulated market of `bench surveillance`: the demo's traders on an engine in this
process, on simulated time up to a session's close, with manipulations planted among them.

Every command is applied to a real engine (`Engine` with risk on) at the simulated time and
its events kept as a shard's feed would hold them. The demo traders (market makers, noise and
momentum traders) are the ordinary market; the plants are the known ground truth, each an
(pattern, account) pair:

- wash trades: two accounts of one owner cross with each other (a sell joins the best ask,
  the other account's buy takes the level);
- spoofing and layering: bids on three levels under the best bid, a small sell into the bid,
  the bids canceled seconds later;
- marking the close: in the last 45 seconds, one account sweeps the asks of a symbol again
  and again, the last sweep the last print before the close;
- order-entry abuse: one account enters and cancels hundreds of orders far from the market in
  a few seconds.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from tradingfloor.compliance.surveillance.alerts import Pattern
from tradingfloor.demo.spec import DemoSpec, setup_commands
from tradingfloor.domain.commands import (
    CancelOrder,
    Command,
    Deposit,
    DepositShares,
    OpenAccount,
    PlaceOrder,
    ReplaceOrder,
)
from tradingfloor.domain.enums import AccountKind, OrderType, Side
from tradingfloor.domain.events import Event, OrderAccepted
from tradingfloor.domain.prices import PRICE_SCALE
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine

SECOND_NS = 1_000_000_000
COMMAND_STEP_NS = 1_000_000
"""Simulated time between two commands of one plant."""
PLANT_CASH = 50_000_000 * PRICE_SCALE
PLANT_SHARES = 200_000
STUFFING_ORDERS = 250
SWEEPS = 15
SWEEP_EVERY_S = 3
SWEEP_BPS = 200
"""How far above the best ask a sweep buys, in hundredths of a percent."""


@dataclass
class Plant:
    pattern: Pattern
    account: str
    at_s: float
    """Simulated seconds after the start when it begins."""
    symbol: str


@dataclass
class SimulatedMarket:
    """The engine, its feed so far, and the simulated time."""

    spec: DemoSpec
    ts_start: int
    engine: Engine = field(default_factory=lambda: Engine(RiskSettings()))
    log: list[tuple[int, int, list[Event]]] = field(default_factory=list)
    elapsed_ns: int = 0
    later: list[tuple[int, Callable[[], None]]] = field(default_factory=list)
    """Steps of plants due at a simulated time (ns after the start)."""

    def apply(self, command: Command) -> list[Event]:
        seq = len(self.log) + 1
        if type(command) is PlaceOrder and command.order_id == 0:
            command = msgspec.structs.replace(command, order_id=seq)
        if type(command) is ReplaceOrder and command.new_order_id == 0:
            command = msgspec.structs.replace(command, new_order_id=seq)
        ts = max(self.ts_start + self.elapsed_ns, self.engine.last_ts)
        events = self.engine.apply(command, seq, ts)
        self.log.append((seq, ts, events))
        return events

    async def submit(self, command: Command) -> list[Event]:
        return self.apply(command)

    def clock(self) -> float:
        return self.elapsed_ns / SECOND_NS

    async def sleep(self, seconds: float) -> None:
        self.elapsed_ns += round(seconds * SECOND_NS)
        self.run_due()

    def run_due(self) -> None:
        due = sorted((item for item in self.later if item[0] <= self.elapsed_ns), key=_first)
        self.later = [item for item in self.later if item[0] > self.elapsed_ns]
        for _, step in due:
            step()

    def step_time(self) -> None:
        self.elapsed_ns += COMMAND_STEP_NS

    def at(self, elapsed_ns: int, step: Callable[[], None]) -> None:
        self.later.append((elapsed_ns, step))


def _first(item: tuple[int, Callable[[], None]]) -> int:
    return item[0]


def set_up(market: SimulatedMarket, accounts: list[str]) -> None:
    """The demo's symbols and traders, and the plants' accounts funded."""
    for command in setup_commands(market.spec):
        market.apply(command)
    for account in accounts:
        market.apply(OpenAccount(account, AccountKind.CASH))
        market.apply(Deposit(account, PLANT_CASH))
        for listed in market.spec.symbols:
            market.apply(
                DepositShares(account, listed.symbol, PLANT_SHARES, listed.reference_price)
            )


def _place(
    market: SimulatedMarket, account: str, symbol: str, side: Side, qty: int, price: int
) -> int:
    events = market.apply(PlaceOrder(0, account, symbol, side, OrderType.LIMIT, qty, price))
    market.step_time()
    for event in events:
        if isinstance(event, OrderAccepted):
            return event.order_id
    return 0


def _top(market: SimulatedMarket, symbol: str) -> tuple[int, int, int, int] | None:
    """Best bid, its size, best ask, its size."""
    book = market.engine.books[symbol]
    bid, ask = book.best_bid(), book.best_ask()
    if bid is None or ask is None:
        return None
    return bid.price, bid.qty, ask.price, ask.qty


def wash(
    market: SimulatedMarket, seller: str, buyer: str, symbol: str, rng: random.Random
) -> None:
    top = _top(market, symbol)
    if top is None:
        return
    qty = 100 * rng.randint(1, 5)
    _place(market, seller, symbol, Side.SELL, qty, top[2])
    _place(market, buyer, symbol, Side.BUY, top[3] + qty, top[2])


def spoof(market: SimulatedMarket, account: str, symbol: str, tick: int) -> None:
    top = _top(market, symbol)
    if top is None:
        return
    bids = [
        _place(market, account, symbol, Side.BUY, 1_000, top[0] - level * tick)
        for level in range(1, 4)
    ]
    _place(market, account, symbol, Side.SELL, 100, top[0])

    def cancel() -> None:
        for order_id in bids:
            market.apply(CancelOrder(order_id, symbol, account))
            market.step_time()

    market.at(market.elapsed_ns + 5 * SECOND_NS, cancel)


def sweep(market: SimulatedMarket, account: str, symbol: str) -> None:
    """Buy every ask up to `SWEEP_BPS` above the best one."""
    book = market.engine.books[symbol]
    ask = book.best_ask()
    if ask is None:
        return
    limit = ask.price + ask.price * SWEEP_BPS // 10_000
    limit -= limit % 100  # on the cent tick
    qty = sum(level.qty for level in book.depth(50).asks if level.price <= limit)
    if qty > 0:
        _place(market, account, symbol, Side.BUY, qty, limit)


def stuff(market: SimulatedMarket, account: str, symbol: str) -> None:
    top = _top(market, symbol)
    if top is None:
        return
    far = top[0] * 95 // 100
    far -= far % 100
    for _ in range(STUFFING_ORDERS):
        order_id = _place(market, account, symbol, Side.BUY, 100, far)
        if order_id:
            market.apply(CancelOrder(order_id, symbol, account))
            market.step_time()
