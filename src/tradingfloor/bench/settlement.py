"""`tradingfloor bench settlement`: a day of fills through the whole end of day.

A trading day of `fills` fills over `accounts` accounts is made by the real engine (each
fill a resting sell taken by a buy, on a few hundred symbols, every account with cash and
shares of its own symbol). Then the settlement role (`settlement.role`) does what it does at a
close, on a clearinghouse simulator in a process of its own (`tradingfloor clearinghouse`,
on 127.0.0.1): it reads the event feed from seq 1, closes the day, nets and submits the
trades, reads the confirmations back and compares them, and at T+2 settles the platform and
the clearinghouse, compares the instructions with the netting and the ledger, and the
clearinghouse's holdings with every account's settled cash and shares.

The engine is reached through an in-memory port (`EnginePort`): the journal and its fsync
are measured by `bench journal`; here the figures are the settlement path's. Each
clearinghouse call is timed on its own (`TimedClearing`); what is left of a day's time is the
role's netting, reconciliation and commands. A clean day must give no break: the count is
printed, as a check that the figures are of a day that reconciled.
"""

import asyncio
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradingfloor.domain.commands import (
    AddInstrument,
    Command,
    Deposit,
    DepositShares,
    OpenAccount,
    PlaceOrder,
    SetReferencePrice,
)
from tradingfloor.domain.enums import AccountKind, OrderType, Side
from tradingfloor.domain.events import Event, TradeExecuted
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.origin import Origin
from tradingfloor.domain.prices import PRICE_SCALE
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.risk.calendar import calendar_for
from tradingfloor.service.ports import EventBatch
from tradingfloor.service.sequencer import Result
from tradingfloor.settlement.clearing_client import ClearingClient
from tradingfloor.settlement.day_report import ClearingPort, DayReport
from tradingfloor.settlement.role import SettlementRole

TRADE_DATE = "2026-12-01"
CASH_EACH = 100_000_000 * PRICE_SCALE
SHARES_EACH = 1_000_000
PRICE = 100 * PRICE_SCALE
MICROSECOND = 1_000
FEED_BATCH_MAX = 4_096
ready_wait_s = 60.0
"""How long the clearinghouse process may take to listen."""
clearing_timeout_s = 900.0
"""A clearing call on a million records takes tens of seconds on a shared machine."""


class EnginePort:
    """A shard port over an engine in this process: commands applied at once, stamped by
    `clock`; the feed from a list of every command's events."""

    def __init__(self, engine: Engine, clock: Callable[[], int]) -> None:
        self.engine = engine
        self.clock = clock
        self.log: list[tuple[int, int, list[Event]]] = []
        self._grown = asyncio.Event()

    def apply(self, command: Command) -> Result:
        seq = len(self.log) + 1
        ts = max(self.clock(), self.engine.last_ts)
        events = self.engine.apply(command, seq, ts)
        self.log.append((seq, ts, events))
        self._grown.set()
        return Result(seq, ts, command, events)

    async def submit(self, command: Command, origin: Origin | None = None) -> Result:
        return self.apply(command)

    async def last_seq(self) -> int:
        return len(self.log)

    async def follow(self, from_seq: int) -> AsyncGenerator[EventBatch, None]:
        next_seq = max(from_seq, 1)
        while True:
            if next_seq > len(self.log):
                self._grown.clear()
                await self._grown.wait()
                continue
            batch = self.log[next_seq - 1 : next_seq - 1 + FEED_BATCH_MAX]
            next_seq += len(batch)
            yield batch


@dataclass
class TimedClearing:
    """A clearing port that adds up the time of each kind of call."""

    inner: ClearingPort
    seconds: dict[str, float] = field(default_factory=dict)

    async def _timed(self, name: str, call: Any) -> Any:
        began = time.perf_counter()
        try:
            return await call
        finally:
            spent = time.perf_counter() - began
            self.seconds[name] = self.seconds.get(name, 0.0) + spent

    async def submit_trades(self, date: str, batch_id: str, trades: list[Any]) -> Any:
        return await self._timed(
            "submit+confirm", self.inner.submit_trades(date, batch_id, trades)
        )

    async def submit_movements(self, date: str, batch_id: str, movements: list[Any]) -> int:
        call = self.inner.submit_movements(date, batch_id, movements)
        result: int = await self._timed("movements", call)
        return result

    async def confirmations(self, trade_date: str) -> Any:
        return await self._timed("confirmations", self.inner.confirmations(trade_date))

    async def settle(self, settle_date: str) -> Any:
        return await self._timed("settle", self.inner.settle(settle_date))

    async def holdings(self, as_of: str) -> Any:
        return await self._timed("holdings", self.inner.holdings(as_of))


@dataclass
class SettlementBench:
    fills: int
    accounts: int
    trading_s: float
    feed_s: float
    day_s: float
    """Close, net, submit, confirm, compare (trade date)."""
    settle_s: float
    """Close the next day, settle T+2 on both sides, compare instructions and holdings."""
    clearing_s: dict[str, float]
    trades: int
    movements: int
    breaks: int
    peak_rss_mb: float
    clearinghouse_peak_rss_mb: float

    def lines(self) -> list[str]:
        role_s = self.day_s + self.settle_s - sum(self.clearing_s.values())
        out = [
            f"{self.fills:,} fills over {self.accounts:,} accounts (the trading day: "
            f"{self.trading_s:.1f} s in the engine, not counted below)",
            f"read the feed       {self.feed_s:8.2f} s  (the role rebuilds its state from seq 1)",
            f"end of day {TRADE_DATE} {self.day_s:8.2f} s  ({self.trades:,} trades netted, "
            "submitted, confirmed, compared)",
            f"settlement at T+2   {self.settle_s:8.2f} s  ({self.movements:,} movements; "
            "instructions, fails, holdings compared)",
        ]
        for name, seconds in sorted(self.clearing_s.items()):
            out.append(f"  clearinghouse {name:<15} {seconds:8.2f} s")
        out += [
            f"  the rest                  {role_s:8.2f} s  (netting, reconciliation, the "
            "engine's CloseDay and SettleDay, their events read)",
            f"total                {self.feed_s + self.day_s + self.settle_s:8.2f} s",
            f"breaks               {self.breaks:8d}  (a clean day: none expected)",
            f"peak memory          {self.peak_rss_mb:8.0f} MB  (engine, feed and role)",
            f"                     {self.clearinghouse_peak_rss_mb:8.0f} MB  (clearinghouse)",
        ]
        return out


def trading_day(port: EnginePort, fills: int, accounts: int, symbols: int, seed: int) -> None:
    """Accounts with cash and shares, then `fills` crossing pairs of limit orders."""
    rng = random.Random(seed)
    tickers = [f"S{number:04d}" for number in range(symbols)]
    for ticker in tickers:
        port.apply(AddInstrument(Instrument(ticker)))
        port.apply(SetReferencePrice(ticker, PRICE))
    names = [f"acct-{number:06d}" for number in range(accounts)]
    for number, name in enumerate(names):
        port.apply(OpenAccount(name, AccountKind.MARGIN if number % 2 else AccountKind.CASH))
        port.apply(Deposit(name, CASH_EACH))
        port.apply(DepositShares(name, tickers[number % symbols], SHARES_EACH, PRICE))
    holders = [names[index::symbols] for index in range(symbols)]
    order_id = 0
    for _ in range(fills):
        index = rng.randrange(symbols)
        seller = rng.choice(holders[index])
        buyer = rng.choice(names)
        while buyer == seller:
            buyer = rng.choice(names)
        price = PRICE + rng.randrange(-50, 51) * PRICE_SCALE // 100
        qty = rng.randrange(1, 200)
        for account, side in ((seller, Side.SELL), (buyer, Side.BUY)):
            order_id += 1
            port.apply(
                PlaceOrder(order_id, account, tickers[index], side, OrderType.LIMIT, qty, price)
            )


def _traded(port: EnginePort) -> int:
    return sum(type(event) is TradeExecuted for _, _, events in port.log for event in events)


def start_clearinghouse(data: Path) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tradingfloor", "clearinghouse", "--data", str(data),
         "--host", "127.0.0.1", "--port", "0", "--participant", "TFLOOR"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    began = time.monotonic()
    line = process.stdout.readline()
    found = re.search(r"listening on [\d.]+:(\d+)", line)
    if found is None or time.monotonic() - began > ready_wait_s:
        process.kill()
        raise RuntimeError(f"the clearinghouse did not start: {line!r}")
    return process, int(found.group(1))


def _children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


async def _settle_day(port: EnginePort, clearing: TimedClearing) -> tuple[Any, ...]:
    calendar = calendar_for()
    index = calendar.session_of_date(TRADE_DATE)
    next_day = calendar.session_date(index + 1)
    clock_ts = [calendar.session_times(index)[1] + 1]
    port.clock = lambda: clock_ts[0]
    role = SettlementRole({"main": port}, clearing, calendar, port.clock)  # type: ignore[dict-item]
    began = time.perf_counter()
    await role.start()
    fed = time.perf_counter()
    day: DayReport = await role.run_day(TRADE_DATE)
    closed = time.perf_counter()
    clock_ts[0] = calendar.session_times(index + 1)[1] + 1
    settled: DayReport = await role.run_day(next_day)
    done = time.perf_counter()
    await role.stop()
    breaks = len(day.breaks_new) + len(settled.breaks_new)
    return fed - began, closed - fed, done - closed, day, settled, breaks


def bench_settlement(
    fills: int = 1_000_000, accounts: int = 100_000, symbols: int = 500, seed: int = 1
) -> SettlementBench:
    calendar = calendar_for()
    ts = [calendar.session_times(calendar.session_of_date(TRADE_DATE))[0]]

    def clock() -> int:
        ts[0] += MICROSECOND
        return ts[0]

    port = EnginePort(Engine(RiskSettings()), clock)
    began = time.perf_counter()
    trading_day(port, fills, accounts, symbols, seed)
    trading_s = time.perf_counter() - began
    with tempfile.TemporaryDirectory(prefix="tf-settlement-bench-") as scratch:
        process, tcp_port = start_clearinghouse(Path(scratch))
        try:
            client = ClearingClient("127.0.0.1", tcp_port, "TFLOOR", clearing_timeout_s)
            clearing = TimedClearing(client)
            feed_s, day_s, settle_s, day, settled, breaks = asyncio.run(
                _settle_day(port, clearing)
            )
        finally:
            process.terminate()
            process.wait(timeout=60)
    return SettlementBench(
        fills=_traded(port),
        accounts=accounts,
        trading_s=trading_s,
        feed_s=feed_s,
        day_s=day_s,
        settle_s=settle_s,
        clearing_s=clearing.seconds,
        trades=day.trades,
        movements=day.movements + settled.movements,
        breaks=breaks,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        clearinghouse_peak_rss_mb=_children_peak_mb(),
    )
