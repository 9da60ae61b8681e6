"""The demo market behind `tradingfloor serve --demo`: simulated traders that keep the books,
quotes and trades moving from the first second.

`DemoMarket.run` loops: it lets one trader decide from a read-only view of the engine,
submits the commands like any client (through the sequencer, so they are journaled and
replayable), learns its new order ids from the answers, and sleeps to keep the rate. The
market makers' opening quotes go out at once, unpaced (a few dozen commands), so the books
are two-sided from the start and trade within the first second.

Given the seed and the same answers (the same engine states between commands), the command
stream is the same: fair values move per command slot, not per wall-clock second, and every
choice comes from the seeded generators.
"""

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tradingfloor.demo.spec import DemoSpec, setup_commands
from tradingfloor.demo.traders import MarketMaker, Trader, build_traders
from tradingfloor.demo.view import EngineView, FairValue, MarketView
from tradingfloor.domain.commands import Command, PlaceOrder
from tradingfloor.domain.events import (
    CancelRejected,
    CommandRejected,
    Event,
    OrderAccepted,
    OrderRejected,
    OrderReplaced,
    ReplaceRejected,
    StopTriggered,
    TradeExecuted,
    TradingHalted,
)

__all__ = ["DemoMarket", "DemoSpec", "DemoStats", "is_set_up", "setup_commands"]

Submit = Callable[[Command], Awaitable[list[Event]]]
"""Sequence and apply one command; the events it caused."""

RECENT_TRADES_MAX = 32
"""Trade prices kept per symbol for the traders that look at the tape."""
TRADER_TRIES_MAX = 8
"""Traders asked in one slot before it passes with no command (they may have nothing to do)."""
LAG_MAX_S = 1.0
"""Further behind its schedule than this, the loop forgets the backlog instead of bursting."""
MARKET_MAKER_WEIGHT = 4
"""How much more often a market maker is asked than another trader (it mostly has nothing
to do, but must follow its fair value promptly)."""


@dataclass
class DemoStats:
    """What the demo has done since it started."""

    commands_sent: int = 0
    commands_accepted: int = 0
    """Commands whose answer held no reject."""
    rejected: dict[str, int] = field(default_factory=dict)
    """Rejected commands by reason name."""
    orders_placed: int = 0
    trades_seen: int = 0
    stops_triggered: int = 0
    halts_seen: int = 0
    submit_errors: int = 0
    """Submissions that raised one of the `retry_on` errors (e.g. the queue was full)."""
    idle_slots: int = 0
    """Slots in which no trader had anything to do."""

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def is_set_up(engine: EngineView, spec: DemoSpec) -> bool:
    """Whether the symbols are listed and every account of `spec` is open (so that
    `setup_commands` must not run again: it would fund the accounts twice)."""
    risk = engine.risk
    if risk is None:
        return False
    accounts = [account for account, _ in spec.trader_accounts()] + list(spec.human_accounts)
    return all(listed.symbol in engine.books for listed in spec.symbols) and all(
        account in risk.ledger.accounts for account in accounts
    )


class DemoMarket:
    """Simulated traders sending commands at `rate_per_s`.

    `submit` sequences and applies one command and answers its events (the sequencer's
    `submit`, mapped to the events); `engine_view` is read between commands (the `Engine`
    itself works). `sleep` and `clock` are injectable so that tests run without waiting.
    Exceptions of the `retry_on` types from `submit` are counted and the loop goes on; any
    other stops it. A rejected command never does: rejects are counted by reason in `stats`.
    """

    def __init__(
        self,
        spec: DemoSpec,
        submit: Submit,
        engine_view: EngineView,
        seed: int,
        rate_per_s: float = 50.0,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        retry_on: tuple[type[Exception], ...] = (),
    ) -> None:
        problems = spec.problems()
        if problems:
            raise ValueError("; ".join(problems))
        if not rate_per_s > 0:
            raise ValueError("rate_per_s must be positive")
        self.spec = spec
        self.rate_per_s = rate_per_s
        self.stats = DemoStats()
        self.traders: list[Trader] = build_traders(spec)
        self._submit = submit
        self._engine = engine_view
        self._sleep = sleep
        self._clock = clock
        self._retry_on = retry_on
        self._rng = random.Random(f"traders:{seed}")
        self._fair_rng = random.Random(f"fair values:{seed}")
        self._weights = [
            MARKET_MAKER_WEIGHT if isinstance(trader, MarketMaker) else 1
            for trader in self.traders
        ]
        self._orders: dict[str, dict[int, str]] = {t.account: {} for t in self.traders}
        self._recent: dict[str, deque[int]] = {
            listed.symbol: deque(maxlen=RECENT_TRADES_MAX) for listed in spec.symbols
        }
        self._fair: dict[str, FairValue] = {}
        self._warmup: deque[MarketMaker] = deque()

    async def run(self, stop: asyncio.Event) -> None:
        """Trade until `stop` is set; returns then, between two commands.

        The symbols must be listed (`setup_commands` submitted) before: RuntimeError if not.
        """
        self._start()
        while self._warmup and not stop.is_set():  # the opening quotes go out at once
            maker = self._warmup.popleft()
            for command in maker.act(self._view(maker), self._rng):
                if stop.is_set():
                    return
                await self._send(maker, command)
                await self._sleep(0.0)  # let others use the loop (and the sequencer batch)
        next_at = self._clock()
        while not stop.is_set():
            trader, commands = self._decide()
            if not commands:
                self.stats.idle_slots += 1
                next_at = await self._pace(next_at)
                continue
            for command in commands:
                if stop.is_set():
                    return
                await self._send(trader, command)
                next_at = await self._pace(next_at)

    def fair_price(self, symbol: str) -> int:
        """The simulated fair value of `symbol` now (for displays and tests)."""
        return self._fair[symbol].price

    def open_order_count(self) -> int:
        """Live orders the demo is tracking, over all its traders."""
        return sum(len(orders) for orders in self._orders.values())

    def _start(self) -> None:
        """Fair values start from the last trade, and the traders take over their live orders
        (a restarted demo goes on from there, without piling new quotes on the old ones);
        then every market maker quotes every symbol before anything else happens."""
        if self._fair:
            return
        missing = [s.symbol for s in self.spec.symbols if s.symbol not in self._engine.books]
        if missing:
            raise RuntimeError(f"not listed: {', '.join(missing)}; submit setup_commands first")
        for listed in self.spec.symbols:
            start = self._engine.books[listed.symbol].last_price or listed.reference_price
            self._fair[listed.symbol] = FairValue(
                start, listed.volatility_bps_per_minute, listed.range_bps
            )
        self._adopt()
        makers = [trader for trader in self.traders if isinstance(trader, MarketMaker)]
        for _ in self.spec.symbols:
            self._warmup.extend(makers)

    def _adopt(self) -> None:
        """Track the simulated accounts' live orders, oldest first."""
        found = []
        for symbol in self._fair:
            book = self._engine.books[symbol]
            for order_id in book.live_order_ids():
                order = book.order_view(order_id)
                if order is not None and order.account in self._orders:
                    found.append((order_id, order.account, symbol))
        for order_id, account, symbol in sorted(found):
            self._orders[account][order_id] = symbol

    def _decide(self) -> tuple[Trader, list[Command]]:
        """The next trader with something to do, and what it does."""
        trader: Trader = self.traders[0]
        for _ in range(TRADER_TRIES_MAX):
            trader = self._rng.choices(self.traders, self._weights)[0]
            commands = trader.act(self._view(trader), self._rng)
            if commands:
                return trader, commands
        return trader, []

    def _view(self, trader: Trader) -> MarketView:
        orders = self._orders[trader.account]
        books = self._engine.books
        for order_id in [oid for oid, symbol in orders.items() if not books[symbol].is_live(oid)]:
            del orders[order_id]  # filled, canceled or expired, by whatever command
        return MarketView(self._engine, trader.account, orders, self._fair, self._recent)

    async def _send(self, trader: Trader, command: Command) -> None:
        try:
            events = await self._submit(command)
        except self._retry_on:
            self.stats.submit_errors += 1
            return
        self.stats.commands_sent += 1
        if type(command) is PlaceOrder:
            self.stats.orders_placed += 1
        self._observe(trader.account, events)

    def _observe(self, account: str, events: list[Event]) -> None:
        """Learn new order ids, trades and rejects from one command's answer."""
        stats = self.stats
        orders = self._orders[account]
        rejected = False
        for event in events:
            if isinstance(event, TradeExecuted):
                stats.trades_seen += 1
                self._recent[event.symbol].append(event.price)
            elif isinstance(event, OrderAccepted):
                if event.account == account:
                    orders[event.order_id] = event.symbol
            elif isinstance(event, OrderReplaced):
                symbol = orders.pop(event.order_id, None)
                if symbol is not None:
                    orders[event.new_order_id] = symbol
            elif isinstance(event, _REJECTS):
                rejected = True
                name = event.reason.name
                stats.rejected[name] = stats.rejected.get(name, 0) + 1
            elif isinstance(event, StopTriggered):
                stats.stops_triggered += 1
            elif isinstance(event, TradingHalted):
                stats.halts_seen += 1
        if not rejected:
            stats.commands_accepted += 1

    async def _pace(self, next_at: float) -> float:
        """Advance the fair values by one slot and sleep until the slot ends."""
        interval = 1.0 / self.rate_per_s
        for fair in self._fair.values():
            fair.step(interval, self._fair_rng)
        next_at += interval
        now = self._clock()
        if next_at < now - LAG_MAX_S:
            next_at = now
        await self._sleep(max(next_at - now, 0.0))
        return next_at


_REJECTS = (OrderRejected, CancelRejected, ReplaceRejected, CommandRejected)
