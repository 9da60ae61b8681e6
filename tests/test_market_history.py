"""Minute bars and the quote history projected from a real engine's random market, on SQLite
and PostgreSQL: equal to what independent readers of the same events make of them (the
market-data hub's bars, the market-data view's books), in batches of any size, idempotent,
and summed into longer bars by the query exactly as bars built from the trades."""

import datetime
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from postgres_db import scratch_database
from tradingfloor.bench.ledger import random_stream
from tradingfloor.domain.events import Event, TradeExecuted
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine as TradingEngine
from tradingfloor.gateway.alpaca_data_params import NEW_YORK, Timeframe, timeframe_of
from tradingfloor.marketdata.bars import BarBook
from tradingfloor.marketdata.view import Applied, MarketDataView
from tradingfloor.store import make_engine, minute_bars, quote_history, upgrade
from tradingfloor.store.market_history_queries import Buckets, Window, bars, trades
from tradingfloor.store.projector import Projector

Batch = list[tuple[int, int, list[Event]]]
MINUTE = 60_000_000_000


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()
        return
    with scratch_database() as url:
        upgrade(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


def recorded(seed: int, count: int) -> Batch:
    engine = TradingEngine(RiskSettings())
    commands: Batch = []
    for seq, (command, ts) in enumerate(random_stream(engine, seed, count), start=1):
        commands.append((seq, ts, engine.apply(command, seq, ts)))
    return commands


def project(database: Engine, commands: Batch, seed: int) -> None:
    rng = random.Random(seed)
    projector = Projector(database)
    start = 0
    while start < len(commands):
        size = rng.randint(1, 40)
        projector.apply(commands[start : start + size])
        start += size


def expected_minutes(commands: Batch) -> dict[tuple[str, int], tuple[int, ...]]:
    book = BarBook(limit=1_000_000)
    for _, _, events in commands:
        for event in events:
            if type(event) is TradeExecuted:
                book.add(event.symbol, event.ts, event.price, event.qty)
    found = {}
    symbols = {e.symbol for _, _, events in commands for e in events if type(e) is TradeExecuted}
    for symbol in symbols:
        for bar in book.bars(symbol, "1Min", 1_000_000):
            found[(symbol, bar.start_ts)] = (
                bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trade_count,
                bar.notional,
            )  # fmt: skip
    return found


def expected_tops(commands: Batch) -> dict[str, list[tuple[int, ...]]]:
    """Each symbol's (seq, bid, bid shares, ask, ask shares) at every change, by the view."""
    view = MarketDataView()
    last: dict[str, tuple[int | None, int, int | None, int]] = {}
    found: dict[str, list[tuple[int, ...]]] = {}
    for seq, ts, events in commands:
        view.on_batch([Applied(seq, ts, events)])
        for symbol in sorted(view.symbols()):
            quote = view.quote(symbol)
            top = (
                quote.bid.price if quote.bid else None, quote.bid.qty if quote.bid else 0,
                quote.ask.price if quote.ask else None, quote.ask.qty if quote.ask else 0,
            )  # fmt: skip
            if top != last.get(symbol, (None, 0, None, 0)):
                last[symbol] = top
                found.setdefault(symbol, []).append((seq, *top))  # type: ignore[arg-type]
    return found


def test_bars_and_quotes_equal_what_other_readers_make_of_the_events(database: Engine) -> None:
    commands = recorded(seed=11, count=3_000)
    assert sum(type(e) is TradeExecuted for _, _, events in commands for e in events) > 60

    project(database, commands, seed=3)
    project(database, commands[: len(commands) // 2], seed=4)  # again: changes nothing

    with database.connect() as connection:
        rows = connection.execute(select(minute_bars).order_by("symbol", "start_ts")).all()
        quotes = connection.execute(
            select(quote_history.c.symbol, quote_history.c.seq, quote_history.c.bid,
                   quote_history.c.bid_qty, quote_history.c.ask, quote_history.c.ask_qty)
            .order_by(quote_history.c.symbol, quote_history.c.seq)
        ).all()  # fmt: skip
    minutes = {(row.symbol, row.start_ts): tuple(row)[2:9] for row in rows}
    assert minutes == expected_minutes(commands)
    tops: dict[str, list[tuple[int, ...]]] = {}
    for symbol, *rest in quotes:
        tops.setdefault(symbol, []).append(tuple(rest))
    assert tops == expected_tops(commands)


def test_longer_bars_are_sums_of_minutes_and_pages_cover_them_once(database: Engine) -> None:
    commands = recorded(seed=5, count=1_200)
    project(database, commands, seed=1)
    trades_of = [e for _, _, events in commands for e in events if type(e) is TradeExecuted]
    symbols = tuple(sorted({trade.symbol for trade in trades_of}))
    everything = Window(symbols, 0, 2**62, limit=100_000)
    hour = Buckets(60 * MINUTE)

    with database.connect() as connection:
        hours = bars(connection, everything, hour)
        paged = []
        after = None
        while True:
            page = bars(connection, Window(symbols, 0, 2**62, 7, after=after), hour)
            paged.extend(page)
            if len(page) < 7:
                break
            after = (page[-1].symbol, page[-1].key)
        newest = bars(connection, Window(symbols, 0, 2**62, 100_000, descending=True), hour)
        tape = trades(connection, everything)

    book = BarBook(limit=1_000_000)
    for trade in trades_of:
        book.add(trade.symbol, trade.ts, trade.price, trade.qty)
    wanted = [
        (symbol, bar.start_ts // (60 * MINUTE), bar.open, bar.high, bar.low, bar.close,
         bar.volume, bar.trade_count, bar.notional)
        for symbol in symbols
        for bar in book.bars(symbol, "1Hour", 1_000_000)
    ]  # fmt: skip
    assert [tuple(row) for row in hours] == wanted
    assert paged == hours
    assert [tuple(row) for row in newest] == sorted(wanted, key=lambda row: (row[0], -row[1]))
    assert sorted((t.symbol, t.trade_id) for t in tape) == sorted(
        (t.symbol, t.trade_id) for t in trades_of
    )


def new_york(day: int, hour: int, minute: int) -> int:
    """ns of a March 2026 New York wall-clock time (clocks went forward on the 8th)."""
    moment = datetime.datetime(2026, 3, day, hour, minute, tzinfo=NEW_YORK)
    return int(moment.timestamp()) * 1_000_000_000


def test_day_bars_are_new_york_days_across_a_clock_change(database: Engine) -> None:
    minutes = [  # (New York time, volume)
        ((7, 23, 30), 1),  # the 7th, EST
        ((8, 0, 30), 2),  # the 8th, still EST
        ((8, 23, 30), 4),  # the 8th, EDT: 03:30 UTC on the 9th
        ((9, 0, 10), 8),  # the 9th
    ]
    rows = [
        {"symbol": "D", "start_ts": new_york(*when), "open": volume, "high": volume,
         "low": volume, "close": volume, "volume": volume, "trade_count": 1,
         "notional": volume * volume, "updated_seq": 1}
        for when, volume in minutes
    ]  # fmt: skip
    with database.begin() as connection:
        connection.execute(insert(minute_bars), rows)
    day = timeframe_of("1Day")
    start, end = new_york(1, 0, 0), new_york(20, 0, 0)

    with database.connect() as connection:
        found = bars(connection, Window(("D",), start, end, 10), day.buckets(start, end))

    assert [(day.start_of(row.key), row.open, row.close, row.volume) for row in found] == [
        (new_york(7, 0, 0), 1, 1, 1),
        (new_york(8, 0, 0), 2, 4, 6),
        (new_york(9, 0, 0), 8, 8, 8),
    ]
    assert timeframe_of("15Min") == Timeframe(15 * MINUTE, False)
