"""Alpaca's Market Data API v2 for stocks driven by the official `alpaca-py` SDK, unchanged
(`StockHistoricalDataClient(key, secret, url_override=...)`), against a served platform on
SQLite and the real PostgreSQL, in one process and as processes: trades, quotes and bars of
any timeframe from the read models, pages, the latest of each, snapshots; and the history
still there after a restart."""

import datetime
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.data.models import Bar, Quote, Snapshot, Trade
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestBarRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockQuotesRequest,
    StockSnapshotRequest,
    StockTradesRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from sqlalchemy import func, select

from alpaca_helpers import call, data_client, on_shared_platform, shared_platform_fixtures
from api_helpers import Served, served
from tradingfloor.store import make_engine, minute_bars

NEW_YORK = ZoneInfo("America/New_York")

platform, api = shared_platform_fixtures()


async def trade_a_little(api: Served) -> None:
    """Four trades at three prices, then a bid of 7 at $98 and an ask of 3 at $102."""
    alice = await api.trader("alice", cash="100000")
    bob = await api.trader("bob", cash="0", shares={api.sym: 100})
    for price in ("99.50", "100.00", "100.25"):
        placed = await api.order(alice, side="buy", type="limit", qty=10, limit_price=price)
        assert placed.status_code == 200, placed.text
    for qty in (25, 5):
        sold = await api.order(bob, side="sell", type="market", qty=qty, time_in_force="day")
        assert sold.status_code == 200, sold.text
    bid = await api.order(alice, side="buy", type="limit", qty=7, limit_price="98")
    ask = await api.order(bob, side="sell", type="limit", qty=3, limit_price="102")
    assert bid.status_code == ask.status_code == 200, (bid.text, ask.text)


def since_yesterday() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)


def bars_of(trades: list[Trade], start: Callable[[datetime.datetime], datetime.datetime]):
    """Bars built here from the trades: (start, o, h, l, c, v, n, vwap) per bar."""
    grouped: dict[datetime.datetime, list[Trade]] = defaultdict(list)
    for trade in trades:
        grouped[start(trade.timestamp)].append(trade)
    found = []
    for moment, group in sorted(grouped.items()):
        prices = [Decimal(str(t.price)) for t in group]
        sizes = [int(t.size) for t in group]
        volume = sum(sizes)
        notional = sum(p * s for p, s in zip(prices, sizes, strict=True))
        found.append(
            (moment, prices[0], max(prices), min(prices), prices[-1], volume, len(group),
             round(notional / volume, 6))
        )  # fmt: skip
    return found


def as_tuples(bars: list[Bar]) -> list[tuple[Any, ...]]:
    return [
        (b.timestamp, Decimal(str(b.open)), Decimal(str(b.high)), Decimal(str(b.low)),
         Decimal(str(b.close)), int(b.volume), int(b.trade_count),
         round(Decimal(str(b.vwap)), 6))
        for b in bars
    ]  # fmt: skip


def minute_of(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(second=0, microsecond=0)


def five_minutes_of(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


def new_york_day_of(moment: datetime.datetime) -> datetime.datetime:
    local = moment.astimezone(NEW_YORK)
    midnight = datetime.datetime.combine(local.date(), datetime.time(), tzinfo=NEW_YORK)
    return midnight.astimezone(datetime.UTC)


@on_shared_platform
async def test_trades_and_bars_of_every_timeframe_through_the_sdk(api: Served) -> None:
    await trade_a_little(api)
    client = data_client(api, await api.trader("carol"))
    start = since_yesterday()

    trades = (await call(client.get_stock_trades, StockTradesRequest(
        symbol_or_symbols=api.sym, start=start)))[api.sym]  # fmt: skip
    assert [(t.price, t.size) for t in trades] == [
        (100.25, 10), (100.0, 10), (99.5, 5), (99.5, 5)
    ]  # fmt: skip
    assert all(isinstance(t, Trade) and t.timestamp.tzinfo is not None for t in trades)
    assert [t.id for t in trades] == sorted(t.id for t in trades)  # type: ignore[type-var]

    for frame, start_of in (
        (TimeFrame.Minute, minute_of),
        (TimeFrame(5, TimeFrameUnit.Minute), five_minutes_of),
        (TimeFrame.Day, new_york_day_of),
    ):
        request = StockBarsRequest(symbol_or_symbols=api.sym, timeframe=frame, start=start)
        bars = (await call(client.get_stock_bars, request))[api.sym]
        assert as_tuples(bars) == bars_of(trades, start_of), frame
    hourly = StockBarsRequest(symbol_or_symbols=api.sym, timeframe=TimeFrame.Hour, start=start)
    (hour,) = (await call(client.get_stock_bars, hourly))[api.sym]
    assert (hour.volume, hour.trade_count, hour.high, hour.low) == (30, 4, 100.25, 99.5)
    assert hour.vwap == pytest.approx((1002.5 + 1000 + 497.5 + 497.5) / 30)

    newest_first = StockTradesRequest(symbol_or_symbols=api.sym, start=start, sort=Sort.DESC)
    backwards = (await call(client.get_stock_trades, newest_first))[api.sym]
    assert [t.id for t in backwards] == [t.id for t in reversed(trades)]
    two = StockTradesRequest(symbol_or_symbols=api.sym, start=start, limit=2)
    assert [t.id for t in (await call(client.get_stock_trades, two))[api.sym]] == [
        t.id for t in trades[:2]
    ]


@on_shared_platform
async def test_pages_follow_the_token_across_symbols(api: Served) -> None:
    await trade_a_little(api)
    other = await api.share()
    await trade_a_little(other)
    client = data_client(api, await api.trader("carol"))
    symbols = sorted([api.sym, other.sym])
    params = {"symbols": ",".join(symbols), "start": since_yesterday().isoformat()}

    # The SDK's own paging loop, two rows a page: every trade once, symbol by symbol.
    paged = await call(
        client._get_marketdata, path="/stocks/trades", params=dict(params), page_limit=2,
        page_size=2,
    )  # fmt: skip
    whole = await call(client._get_marketdata, path="/stocks/trades", params=dict(params))
    assert sorted(paged) == symbols and paged == whole
    assert [len(paged[symbol]) for symbol in symbols] == [4, 4]
    first = await call(client.get, "/stocks/trades", {**params, "limit": 3})
    assert first["next_page_token"] and list(first["trades"]) == [symbols[0]]
    following = {**params, "limit": 5, "page_token": first["next_page_token"]}
    last = await call(client.get, "/stocks/trades", following)
    assert last["next_page_token"] is None
    assert [len(last["trades"][s]) for s in symbols] == [1, 4]

    quotes = await call(client._get_marketdata, path="/stocks/quotes", params={
        **params, "limit": None}, page_limit=3, page_size=3)  # fmt: skip
    whole_quotes = await call(client.get_stock_quotes, StockQuotesRequest(
        symbol_or_symbols=symbols, start=since_yesterday()))  # fmt: skip
    assert {s: len(q) for s, q in quotes.items()} == {
        s: len(q) for s, q in whole_quotes.data.items()
    }


@on_shared_platform
async def test_quotes_latest_and_snapshots(api: Served) -> None:
    await trade_a_little(api)
    client = data_client(api, await api.trader("carol"))
    sym = api.sym

    quotes = (await call(client.get_stock_quotes, StockQuotesRequest(
        symbol_or_symbols=sym, start=since_yesterday())))[sym]  # fmt: skip
    tops = [(q.bid_price, q.bid_size, q.ask_price, q.ask_size) for q in quotes]
    assert tops == [
        (99.5, 10, 0, 0),
        (100.0, 10, 0, 0),
        (100.25, 10, 0, 0),
        (99.5, 5, 0, 0),  # 25 sold: 100.25 and 100 taken, 5 of 99.50
        (0, 0, 0, 0),
        (98.0, 7, 0, 0),
        (98.0, 7, 102.0, 3),
    ]
    assert [q.timestamp for q in quotes] == sorted(q.timestamp for q in quotes)

    quote = (await call(client.get_stock_latest_quote, StockLatestQuoteRequest(
        symbol_or_symbols=sym)))[sym]  # fmt: skip
    assert isinstance(quote, Quote)
    assert (quote.bid_price, quote.bid_size, quote.ask_price, quote.ask_size) == (98, 7, 102, 3)
    trade = (await call(client.get_stock_latest_trade, StockLatestTradeRequest(
        symbol_or_symbols=sym)))[sym]  # fmt: skip
    assert (trade.price, trade.size) == (99.5, 5)
    bar = (await call(client.get_stock_latest_bar, StockLatestBarRequest(
        symbol_or_symbols=sym)))[sym]  # fmt: skip
    assert isinstance(bar, Bar) and bar.close == 99.5 and bar.timestamp <= trade.timestamp

    snapshot = (await call(client.get_stock_snapshot, StockSnapshotRequest(
        symbol_or_symbols=[sym, "NOPE"])))  # fmt: skip
    assert list(snapshot) == [sym]
    shot = snapshot[sym]
    assert isinstance(shot, Snapshot)
    assert shot.latest_trade is not None and shot.latest_trade.id == trade.id
    assert shot.latest_quote is not None and shot.latest_quote.ask_price == 102
    assert shot.minute_bar is not None and shot.minute_bar.close == 99.5
    assert shot.daily_bar is not None and shot.daily_bar.volume == 30
    assert shot.daily_bar.timestamp == new_york_day_of(trade.timestamp)
    assert shot.previous_daily_bar is None

    # The same for one symbol, on its own path.
    since = {"start": since_yesterday().isoformat()}
    one = await call(client.get, f"/stocks/{sym}/trades", since)
    assert one["symbol"] == sym and [t["i"] for t in one["trades"]][-1] == trade.id
    hourly = await call(client.get, f"/stocks/{sym}/bars", {**since, "timeframe": "1Hour"})
    assert [b["v"] for b in hourly["bars"]] == [30] and hourly["next_page_token"] is None
    assert len((await call(client.get, f"/stocks/{sym}/quotes", since))["quotes"]) == 7
    latest = await call(client.get, f"/stocks/{sym}/quotes/latest")
    assert (latest["quote"]["bp"], latest["quote"]["as"]) == (98, 3)
    assert (await call(client.get, f"/stocks/{sym}/trades/latest"))["trade"]["i"] == trade.id
    assert (await call(client.get, f"/stocks/{sym}/bars/latest"))["bar"]["c"] == 99.5
    alone = await call(client.get, f"/stocks/{sym}/snapshot")
    assert alone["dailyBar"]["v"] == 30 and alone["latestQuote"]["ap"] == 102
    with pytest.raises(APIError) as caught:
        await call(client.get, "/stocks/NOPE/trades/latest")
    assert caught.value.status_code == 404


@on_shared_platform
async def test_refusals(api: Served) -> None:
    client = data_client(api, await api.trader("carol"))
    bad = [
        {"symbols": api.sym, "timeframe": "1Week"},
        {"symbols": api.sym, "timeframe": "60Min"},
        {"symbols": api.sym, "timeframe": "1Min", "limit": 10_001},
        {"symbols": api.sym, "timeframe": "1Min", "limit": 0},
        {"symbols": api.sym, "timeframe": "1Min", "start": "yesterday"},
        {"symbols": api.sym, "timeframe": "1Min", "page_token": "bm90IG91cnM="},
        {"symbols": api.sym, "timeframe": "1Min", "sort": "up"},
        {"symbols": ",".join(f"S{n}" for n in range(101)), "timeframe": "1Min"},
        {"symbols": "", "timeframe": "1Min"},
    ]
    for params in bad:
        with pytest.raises(APIError) as caught:
            await call(client.get, "/stocks/bars", params)
        assert caught.value.status_code == 422, params
    answer = await api.client.get("/v2/stocks/trades", params={"symbols": api.sym})
    assert answer.status_code == 401
    wrong = {"APCA-API-KEY-ID": "nope", "APCA-API-SECRET-KEY": "nope"}
    answer = await api.client.get("/v2/stocks/trades", params={"symbols": api.sym}, headers=wrong)
    assert answer.status_code == 401
    empty = await call(client.get, "/stocks/trades", {"symbols": "NOPE"})
    assert empty == {"trades": {}, "next_page_token": None}


async def test_the_history_survives_a_restart(tmp_path: Path, database_url: str | None) -> None:
    data = tmp_path / "data"
    async with served(data, database_url) as api:
        await api.symbol()
        await trade_a_little(api)
        headers = await api.trader("carol")
        client = data_client(api, headers)
        request = StockBarsRequest(
            symbol_or_symbols=api.sym, timeframe=TimeFrame.Day, start=since_yesterday()
        )
        before = (await call(client.get_stock_bars, request))[api.sym]
    async with served(data, database_url) as again:
        client = data_client(again, headers)
        after = (await call(client.get_stock_bars, request))[again.sym]
        url = database_url or f"sqlite:///{data / 'tradingfloor.db'}"
    assert after == before and after[0].volume == 30
    engine = make_engine(url)
    with engine.connect() as connection:
        volume = connection.execute(select(func.sum(minute_bars.c.volume))).scalar()
    engine.dispose()
    assert volume == 30
