"""`tradingfloor bench quality`: the projector with arrival quotes, and the monthly reports.

The real engine makes a flow of `commands` commands: limit orders of 200 accounts on 20
symbols around $100 (a few cents apart, so books hold tens of levels), a third of them
canceled later, the rest resting or trading. The projector projects it into a SQLite read
model in a temporary directory (every event, arrival quotes and price levels included), then
the month's Rule 605 and 606 reports are made from it. Printed: the projector's commands per
second (wall and CPU of this process) and each report's time, rows and what it read.
"""

import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from tradingfloor.compliance.quality_report import execution_quality_report
from tradingfloor.compliance.trade_dates import TradeDates, month_range
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
from tradingfloor.domain.events import Event
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.prices import CENT, ONE_DOLLAR
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.risk.calendar import ts_at
from tradingfloor.store.database import make_engine, upgrade
from tradingfloor.store.projector import Projector
from tradingfloor.store.readmodels import fills, orders

SYMBOLS = 20
ACCOUNTS = 200


@dataclass(frozen=True)
class QualityFigures:
    commands: int
    orders: int
    fills: int
    project_s: float
    project_cpu_s: float
    reports: list[tuple[str, int, float]]
    """(rule, rows, seconds)."""

    def lines(self) -> list[str]:
        found = [
            f"flow: {self.commands:,} commands, {self.orders:,} orders, {self.fills:,} fills",
            f"projector: {self.project_s:.2f} s ({self.commands / self.project_s:,.0f} "
            f"commands/s), CPU {self.project_cpu_s:.2f} s "
            f"({self.commands / self.project_cpu_s:,.0f} commands/s of CPU)",
        ]
        found += [f"rule {rule}: {rows} rows in {seconds:.2f} s" for rule, rows, seconds in
                  self.reports]  # fmt: skip
        return found


def flow(commands: int, seed: int) -> list[tuple[int, int, list[Event]]]:
    """(seq, ts, events) of `commands` commands of the engine, a millisecond apart."""
    rng = random.Random(seed)
    engine = Engine(RiskSettings())
    log: list[tuple[int, int, list[Event]]] = []
    ts = ts_at("2026-11-23 09:30")

    def do(command: Command) -> None:
        nonlocal ts
        ts += 1_000_000
        log.append((len(log) + 1, ts, engine.apply(command, len(log) + 1, ts)))

    symbols = [f"S{index:02d}" for index in range(SYMBOLS)]
    for symbol in symbols:
        do(AddInstrument(Instrument(symbol)))
        do(SetReferencePrice(symbol, 100 * ONE_DOLLAR))
    accounts = [f"A{index:03d}" for index in range(ACCOUNTS)]
    for account in accounts:
        do(OpenAccount(account))
        do(Deposit(account, 10_000_000 * ONE_DOLLAR))
        for symbol in symbols:
            do(DepositShares(account, symbol, 1_000_000, 100 * ONE_DOLLAR))
    live: list[tuple[int, str, str]] = []
    order_id = 0
    while len(log) < commands:
        if live and rng.random() < 0.3:
            do(CancelOrder(*live.pop(rng.randrange(len(live)))))
            continue
        order_id += 1
        symbol, account = rng.choice(symbols), rng.choice(accounts)
        side = rng.choice((Side.BUY, Side.SELL))
        price = 100 * ONE_DOLLAR + rng.randint(-20, 20) * CENT
        do(PlaceOrder(order_id, account, symbol, side, OrderType.LIMIT, rng.randint(1, 300),
                      price, tif=TimeInForce.GTC))  # fmt: skip
        live.append((order_id, symbol, account))
    return log


def bench_quality(commands: int, seed: int) -> QualityFigures:
    log = flow(commands, seed)
    with tempfile.TemporaryDirectory(prefix="tf-bench-quality-") as directory:
        url = f"sqlite:///{Path(directory) / 'tradingfloor.db'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            started, cpu = time.perf_counter(), time.process_time()
            Projector(engine).apply_stream(log)
            project_s = time.perf_counter() - started
            project_cpu_s = time.process_time() - cpu
            month = month_range(TradeDates().of(log[-1][1])[:7])
            reports = []
            with engine.connect() as connection:
                counted = [connection.execute(select(func.count()).select_from(table)).scalar()
                           for table in (orders, fills)]  # fmt: skip
                for rule in ("605", "606"):
                    started = time.perf_counter()
                    report = execution_quality_report(connection, month, rule)
                    reports.append((rule, len(report["rows"]), time.perf_counter() - started))
        finally:
            engine.dispose()
    return QualityFigures(
        len(log), int(counted[0] or 0), int(counted[1] or 0), project_s, project_cpu_s, reports
    )
