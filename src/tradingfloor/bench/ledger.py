"""Random multi-account markets for the ledger's long run and its property tests.

`RandomMarket` writes a stream of commands that a real venue sees, chosen against the engine's
current state so that cancels and replaces name live orders: places of every order type from
cash and margin accounts (some beyond the collar, the band or the account's means), cancels,
replaces, deposits and withdrawals of cash and shares, halts and resumes, market-wide index
moves, settlement (`SettleFunds`, `CloseDay`, `SettleDay`), end-of-day expiry, breaks
recorded and resolved with adjustments, kill switches and time passing over days and holidays.
`tradingfloor bench ledger` runs it for a million commands and checks the ledger after each.
"""

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    CloseDay,
    Command,
    Deposit,
    DepositShares,
    ExpireOrders,
    HaltTrading,
    OpenAccount,
    PlaceOrder,
    RecordBreak,
    ReplaceOrder,
    ResolveBreak,
    ResumeTrading,
    SetAccountStatus,
    SetReferencePrice,
    SettleDay,
    SettleFunds,
    UpdateMarketIndex,
    Withdraw,
    WithdrawShares,
)
from tradingfloor.domain.enums import (
    AccountKind,
    AccountStatus,
    BreakKind,
    OrderType,
    Side,
    TimeInForce,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.prices import PRICE_SCALE
from tradingfloor.engine import Engine
from tradingfloor.engine.check import check_ledger

SECOND_NS = 1_000_000_000
START_TS = 1_795_446_000_000_000_000  # Monday 2026-11-23 10:00 New York
SYMBOLS = {"XYZ": (100 * PRICE_SCALE, 2), "ABC": (20 * PRICE_SCALE, 1)}
ACCOUNTS = {"A": AccountKind.CASH, "B": AccountKind.CASH, "C": AccountKind.CASH}
MARGIN_ACCOUNTS = {"M": AccountKind.MARGIN, "N": AccountKind.MARGIN}
ORDER_TYPES = [OrderType.LIMIT] * 12 + [
    OrderType.MARKET,
    OrderType.MARKET,
    OrderType.STOP,
    OrderType.STOP_LIMIT,
    OrderType.TRAILING_STOP,
]


@dataclass
class RandomMarket:
    """Commands for `engine`, chosen from its state; `next()` gives (command, ts)."""

    engine: Engine
    rng: random.Random
    ts: int = START_TS
    order_id: int = 0
    adjustments: bool = False
    """Whether resolved breaks post adjustments (readers that do not project them yet)."""

    def setup(self) -> list[Command]:
        commands: list[Command] = []
        for symbol, (reference, tier) in SYMBOLS.items():
            commands.append(AddInstrument(Instrument(symbol, luld_tier=tier)))
            commands.append(SetReferencePrice(symbol, reference))
        for account, kind in {**ACCOUNTS, **MARGIN_ACCOUNTS}.items():
            commands.append(OpenAccount(account, kind))
            commands.append(Deposit(account, self.rng.randint(5_000, 60_000) * PRICE_SCALE))
            for symbol, (reference, _) in SYMBOLS.items():
                qty = self.rng.randint(0, 400)
                if qty:
                    commands.append(DepositShares(account, symbol, qty, reference))
        return commands

    def next(self) -> tuple[Command, int]:
        rng = self.rng
        roll = rng.random()
        self.ts += rng.choice((0, 1_000, SECOND_NS // 10, SECOND_NS, 7 * SECOND_NS))
        if roll < 0.004:
            self.ts += rng.choice((60, 3_600, 6 * 3_600, 86_400)) * SECOND_NS
        command: Command
        if roll < 0.50:
            command = self._place()
        elif roll < 0.70:
            command = self._cancel()
        elif roll < 0.80:
            command = self._replace()
        else:
            command = self._other()
        return command, self.ts

    def _account(self) -> str:
        return self.rng.choice(list(ACCOUNTS) + list(MARGIN_ACCOUNTS))

    def _reference(self, symbol: str) -> int:
        book = self.engine.books.get(symbol)
        if book is not None and book.last_price is not None:
            return book.last_price
        return SYMBOLS[symbol][0]

    def _price(self, symbol: str, spread_bps: int) -> int:
        reference = self._reference(symbol)
        offset = reference * self.rng.randint(-spread_bps, spread_bps) // 10_000
        price = max(reference + offset, PRICE_SCALE)
        return price - price % (PRICE_SCALE // 100)

    def _place(self) -> PlaceOrder:
        rng = self.rng
        self.order_id += 1
        symbol = rng.choice(list(SYMBOLS))
        side = rng.choice((Side.BUY, Side.SELL))
        order_type = rng.choice(ORDER_TYPES)
        tif = rng.choice((TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK))
        qty = rng.randint(1, 300)
        price = stop = trail_bps = None
        if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            price = self._price(symbol, 150 if rng.random() < 0.8 else 1_200)
        if order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            stop = self._price(symbol, 500)
            if price is not None:
                price = stop + (1 if side == Side.BUY else -1) * (price - stop) // 10
                price = max(price - price % (PRICE_SCALE // 100), PRICE_SCALE // 100)
        if order_type == OrderType.TRAILING_STOP:
            trail_bps = rng.randint(10, 800)
        return PlaceOrder(
            self.order_id,
            self._account(),
            symbol,
            side,
            order_type,
            qty,
            price,
            stop,
            tif,
            trail_bps=trail_bps,
        )

    def _live(self) -> tuple[str, int] | None:
        live = [
            (symbol, order_id)
            for symbol, book in self.engine.books.items()
            for order_id in book.live_order_ids()
        ]
        return self.rng.choice(live) if live else None

    def _cancel(self) -> Command:
        live = self._live()
        if live is None or self.rng.random() < 0.05:
            return CancelOrder(self.rng.randint(1, self.order_id + 5), "XYZ")
        return CancelOrder(live[1], live[0])

    def _replace(self) -> Command:
        live = self._live()
        if live is None:
            return self._cancel()
        symbol, order_id = live
        self.order_id += 1
        rng = self.rng
        qty = rng.randint(1, 400) if rng.random() < 0.6 else None
        price = self._price(symbol, 1_000) if rng.random() < 0.6 else None
        return ReplaceOrder(order_id, self.order_id, symbol, "", qty, price)

    def _other(self) -> Command:
        rng = self.rng
        account = self._account()
        symbol = rng.choice(list(SYMBOLS))
        choices: list[tuple[int, Callable[[], Command]]] = [
            (20, lambda: Deposit(account, rng.randint(-10, 20_000) * PRICE_SCALE)),
            (15, lambda: Withdraw(account, rng.randint(1, 20_000) * PRICE_SCALE)),
            (
                10,
                lambda: DepositShares(
                    account, symbol, rng.randint(1, 200), self._reference(symbol)
                ),
            ),
            (8, lambda: WithdrawShares(account, symbol, rng.randint(1, 200))),
            (8, lambda: SettleFunds()),
            (3, lambda: ExpireOrders()),
            (2, lambda: HaltTrading(symbol if rng.random() < 0.8 else None)),
            (10, lambda: ResumeTrading(symbol if rng.random() < 0.7 else None)),
            (
                2,
                lambda: UpdateMarketIndex(
                    rng.randint(3_900, 5_100) * PRICE_SCALE,
                    5_000 * PRICE_SCALE if rng.random() < 0.3 else None,
                ),
            ),
            (1, lambda: SetAccountStatus(account, rng.choice(list(AccountStatus)))),
            (10, lambda: SetAccountStatus(account, AccountStatus.ACTIVE)),
            (5, lambda: SetReferencePrice(symbol, self._price(symbol, 300))),
            (4, self._close_day),
            (4, self._settle_day),
            (2, lambda: self._record_break(account, symbol)),
            (2, self._resolve_break),
        ]
        weights = [weight for weight, _ in choices]
        return rng.choices([make for _, make in choices], weights)[0]()

    def _close_day(self) -> Command:
        """The next day to close (the previous session at first), or now and then another."""
        calendar = self.engine.calendar
        last = self.engine.days.last_closed
        index = calendar.session_index(self.ts) - 1 if last < 0 else last + 1
        index += self.rng.choice((0, 0, 0, 0, -1, 1))
        return CloseDay(calendar.session_date(index))

    def _settle_day(self) -> Command:
        calendar = self.engine.calendar
        index = calendar.session_index(self.ts) + self.rng.choice((0, 0, 0, -1, 1))
        return SettleDay(calendar.session_date(index))

    def _record_break(self, account: str, symbol: str) -> Command:
        break_id = f"b{self.rng.randint(0, 20)}"
        kind = self.rng.choice(list(BreakKind))
        return RecordBreak(break_id, "2026-11-23", kind, account, symbol, 0, 0, 0, 0, "")

    def _resolve_break(self) -> Command:
        risk = self.engine.risk
        opened = (
            [] if risk is None else sorted(risk.breaks.open.values(), key=lambda b: b.break_id)
        )
        rng = self.rng
        if not opened:
            return ResolveBreak(f"b{rng.randint(0, 20)}", "ops", "checked", "A", "XYZ")
        entry = rng.choice(opened)
        cash = rng.randint(-200, 200) * PRICE_SCALE if rng.random() < 0.5 else 0
        shares = rng.randint(-20, 20) if rng.random() < 0.5 else 0
        if not self.adjustments:
            cash = shares = 0
        return ResolveBreak(
            entry.break_id, "ops", "checked", entry.account, entry.symbol, cash, shares
        )


def random_stream(
    engine: Engine, seed: int, count: int, adjustments: bool = False
) -> Iterator[tuple[Command, int]]:
    """The setup, then `count` random commands, each with its timestamp. The stream reads the
    engine between commands, so the caller must apply each command before taking the next.
    Breaks are resolved without adjusting the account unless `adjustments` (readers that
    project the stream may not follow adjustments)."""
    market = RandomMarket(engine, random.Random(seed), adjustments=adjustments)
    for command in market.setup():
        yield command, market.ts
    for _ in range(count):
        yield market.next()


@dataclass(frozen=True)
class LongRunResult:
    commands: int
    checks: int
    events: int
    trades: int
    seconds: float


def long_run(
    count: int, seed: int = 1, progress: Callable[[int], None] | None = None
) -> LongRunResult:
    """Apply `count` random commands to a risk engine, checking the ledger after every one."""
    from tradingfloor.domain.events import TradeExecuted
    from tradingfloor.domain.settings import RiskSettings
    from tradingfloor.engine.check import check_balances
    from tradingfloor.ledger.postings import post_balances

    engine = Engine(RiskSettings())
    checks = events = trades = applied = 0
    derived: dict[tuple[str, str], int] = {}
    start = time.perf_counter()
    for seq, (command, ts) in enumerate(
        random_stream(engine, seed, count, adjustments=True), start=1
    ):
        out = engine.apply(command, seq, ts)
        events += len(out)
        for event in out:
            post_balances(derived, event)
            trades += type(event) is TradeExecuted
        checks += check_ledger(engine).checks
        for book in engine.books.values():
            book.check_invariants()
        applied += 1
        if progress is not None and applied % 1_000 == 0:
            progress(1_000)
            checks += check_balances(engine, derived)
    checks += check_balances(engine, derived)
    return LongRunResult(applied, checks, events, trades, time.perf_counter() - start)
