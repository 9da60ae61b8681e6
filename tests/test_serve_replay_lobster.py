"""A recorded NASDAQ day (LOBSTER's AMZN sample) as the platform's live market: the replay
role sends the day's commands through the command bus; quotes, trades and bars show on the
read paths; a bot on the official alpaca-py SDK trades against the recorded liquidity; what a
client took is skipped when the recording later cancels or executes it.

Every replay here is bounded (the first few thousand messages, at full speed)."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import websockets
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import (
    StockLatestBarRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
)
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.models import Clock, Order, Position, TradeAccount
from alpaca.trading.requests import LimitOrderRequest

from api_helpers import Served, served
from tradingfloor.bootstrap.replay_role import ReplaySource, parse_speed, start_replay_market
from tradingfloor.domain.enums import Side
from tradingfloor.replay.live import (
    ASKS_ACCOUNT,
    BIDS_ACCOUNT,
    LobsterMarket,
    read_day,
    setup_commands,
)
from tradingfloor.replay.lobster import LobsterReplay, read_book_rows, read_messages

LOBSTER_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lobster"
AMZN = "AMZN_2012-06-21_34200000_57600000"
PLAYED = 1_500
"""Messages the shared platform's replay plays (about the first 7 minutes of the day)."""
DOLLAR = 10_000
SATURDAY_NOON_NS = 1_796_472_000_000_000_000
"""2026-12-05 12:00 UTC, a Saturday."""
SKIPPED = "recorded shares skipped: other clients took them first"


def amzn_files() -> tuple[Path, Path]:
    messages = LOBSTER_DIR / f"{AMZN}_message_1.csv"
    orderbook = LOBSTER_DIR / f"{AMZN}_orderbook_1.csv"
    if not (messages.is_file() and orderbook.is_file()):
        reason = f"LOBSTER sample {AMZN} not found in {LOBSTER_DIR}"
        if os.environ.get("TRADINGFLOOR_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return messages, orderbook


def offline_replay(played: int) -> tuple[tuple[int, ...], LobsterReplay]:
    """The offline replay of the first `played` messages: its last row, and the replay."""
    messages, orderbook = amzn_files()
    flow = read_messages(messages)[:played]
    truth = read_book_rows(orderbook)[:played]
    replay = LobsterReplay(1, "AMZN")
    rows = list(replay.run(flow, truth))
    return rows[-1], replay


def price(text: str) -> int:
    return int(Decimal(text) * DOLLAR)


# ---------------------------------------------------------------------- files and options


def test_the_day_is_named_by_its_files(tmp_path: Path) -> None:
    messages, orderbook = amzn_files()

    day = read_day(messages, orderbook)

    assert (day.symbol, day.date, day.levels) == ("AMZN", "2012-06-21", 1)
    assert len(day.messages) == len(day.rows) == 57_515
    # the first row (ask 223.95, bid 223.18) seeds the book; the reference is its midpoint
    assert day.reference_price == 2_235_600
    commands = setup_commands(day, ["demo-alice"])
    assert [type(command).__name__ for command in commands][:2] == [
        "AddInstrument",
        "SetReferencePrice",
    ]


def test_files_of_two_days_or_misnamed_are_refused(tmp_path: Path) -> None:
    messages, orderbook = amzn_files()
    other = tmp_path / "AAPL_2012-06-21_34200000_57600000_orderbook_1.csv"
    other.write_text(orderbook.read_text().split("\n", 1)[0] + "\n")
    misnamed = tmp_path / "flow.csv"
    misnamed.write_text("34200.1,1,1,100,2238100,1\n")

    with pytest.raises(ValueError, match="not the same day"):
        read_day(messages, other)
    with pytest.raises(ValueError, match="not a LOBSTER message file name"):
        read_day(misnamed, orderbook)


def test_speed_is_a_factor_or_max() -> None:
    assert parse_speed("max") == parse_speed("0") == 0.0
    assert parse_speed("2.5") == 2.5
    for bad in ("fast", "-1", "inf", "nan"):
        with pytest.raises(ValueError, match="--speed"):
            parse_speed(bad)


# ---------------------------------------------------------------------- on a platform


@dataclass
class Replayed:
    api: Served
    market: LobsterMarket
    headers: dict[str, str]
    """An admin's API key: reads need one."""


on_replayed = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def replayed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Replayed]:
    """A platform (one process, SQLite) whose replay role played the first `PLAYED` messages
    at full speed; its market stays up, quiet."""
    messages, orderbook = amzn_files()
    data = tmp_path_factory.mktemp("replay") / "data"
    async with served(data, market_always_open=True) as api:
        assert api.platform is not None
        stop = asyncio.Event()
        source = ReplaySource(messages, orderbook, 0.0, PLAYED)
        market, task = await start_replay_market(api.platform.shard, stop, source)
        await asyncio.wait_for(market.done.wait(), timeout=300)
        await api.market_data_caught_up()
        try:
            yield Replayed(api, market, api.admin)
        finally:
            stop.set()
            await task


@on_replayed
async def test_the_replayed_book_and_tape_are_the_offline_replays(replayed: Replayed) -> None:
    api, market = replayed.api, replayed.market
    row, offline = offline_replay(PLAYED)

    quote = (await api.client.get("/v1/quotes/AMZN", headers=replayed.headers)).json()
    tape = (await api.client.get("/v1/trades/AMZN", headers=replayed.headers)).json()
    bars = (await api.client.get("/v1/bars/AMZN", headers=replayed.headers)).json()["bars"]

    ask, ask_size, bid, bid_size = row
    assert (price(quote["ask"]["price"]), quote["ask"]["qty"]) == (ask, ask_size)
    assert (price(quote["bid"]["price"]), quote["bid"]["qty"]) == (bid, bid_size)
    # the same fills, in the same order: the newest first on the tape
    fills = [(fill.qty, fill.price) for fill in offline.fills]
    newest = [(trade["qty"], price(trade["price"])) for trade in tape]
    assert newest == fills[::-1][: len(newest)] and newest
    assert sum(bar["volume"] for bar in bars) == sum(qty for qty, _ in fills)
    assert market.stats.finished and market.stats.commands_skipped == 0
    assert not [name for name in market.stats.flow if name.startswith("commands refused")]
    played = market.day.messages[: market.stats.messages_played]
    hidden = sum(1 for message in played if message.kind == 5)
    assert market.stats.flow["hidden executions not printed"] == hidden > 0
    market.flow.check_view()


@on_replayed
async def test_v2_reads_see_the_replayed_market(replayed: Replayed) -> None:
    api = replayed.api

    api.clock.frozen_ns = SATURDAY_NOON_NS  # the exchange's calendar is closed
    try:
        clock = (await api.client.get("/v2/clock", headers=replayed.headers)).json()
    finally:
        api.clock.frozen_ns = None
    asset = (await api.client.get("/v2/assets/AMZN", headers=replayed.headers)).json()
    makers = (await api.client.get("/v1/book/AMZN", headers=replayed.headers)).json()

    assert clock["is_open"] is True  # the replay plays whatever the hour
    assert asset["symbol"] == "AMZN" and asset["tradable"] is True
    assert makers["bids"] and makers["asks"], makers


@on_replayed
async def test_market_data_websocket_snapshots_the_replayed_quote_and_trades(
    replayed: Replayed,
) -> None:
    api, keys = replayed.api, replayed.headers
    row, _ = offline_replay(PLAYED)
    base = str(api.client.base_url).replace("http://", "ws://")
    url = f"{base}/v1/market-data/AMZN?channels=quotes,trades"
    url += f"&key_id={keys['X-API-Key-Id']}&secret={keys['X-API-Secret']}"

    seen: dict[str, Any] = {}
    async with websockets.connect(url) as socket:
        while len(seen) < 2:
            for message in json.loads(await asyncio.wait_for(socket.recv(), timeout=10)):
                seen.setdefault(message.get("channel") or message.get("type"), message)

    text = json.dumps(seen)
    assert str(Decimal(row[0]) / DOLLAR) in text  # the best ask, as the offline replay has it
    assert "trades" in seen, seen


def bot_client(api: Served, headers: dict[str, str]) -> TradingClient:
    """The official SDK on the bot's API key, pointed at the served platform."""
    base = str(api.client.base_url).rstrip("/")
    return TradingClient(headers["X-API-Key-Id"], headers["X-API-Secret"], url_override=base)


def bot_data_client(api: Served, headers: dict[str, str]) -> StockHistoricalDataClient:
    """The SDK's market data client on the same key and base URL."""
    base = str(api.client.base_url).rstrip("/")
    key, secret = headers["X-API-Key-Id"], headers["X-API-Secret"]
    return StockHistoricalDataClient(key, secret, url_override=base)


@on_replayed
async def test_a_bot_on_the_sdk_takes_recorded_liquidity(replayed: Replayed) -> None:
    api = replayed.api
    keys = await api.trader("bot", cash="100000")
    bot, data = bot_client(api, keys), bot_data_client(api, keys)
    quote = (await api.client.get("/v1/quotes/AMZN", headers=keys)).json()
    ask, ask_size = quote["ask"]["price"], quote["ask"]["qty"]
    qty = min(ask_size, 10)
    latest = await asyncio.to_thread(
        data.get_stock_latest_quote, StockLatestQuoteRequest(symbol_or_symbols="AMZN")
    )
    assert (Decimal(str(latest["AMZN"].ask_price)), latest["AMZN"].ask_size) == (
        Decimal(ask),
        ask_size,
    )  # the bot sees the recorded book through the SDK's market data client

    clock = await asyncio.to_thread(bot.get_clock)
    placed = await asyncio.to_thread(
        bot.submit_order,
        LimitOrderRequest(
            symbol="AMZN",
            qty=qty,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            limit_price=float(ask),
        ),
    )
    await api.market_data_caught_up()
    position = await asyncio.to_thread(bot.get_open_position, "AMZN")
    account = await asyncio.to_thread(bot.get_account)
    after = (await api.client.get("/v1/quotes/AMZN", headers=keys)).json()
    tape = (await api.client.get("/v1/trades/AMZN", headers=keys)).json()
    own_trade = await asyncio.to_thread(
        data.get_stock_latest_trade, StockLatestTradeRequest(symbol_or_symbols="AMZN")
    )
    bar = await asyncio.to_thread(
        data.get_stock_latest_bar, StockLatestBarRequest(symbol_or_symbols="AMZN")
    )

    assert isinstance(clock, Clock) and clock.is_open
    assert isinstance(placed, Order) and placed.status == OrderStatus.FILLED
    assert Decimal(str(placed.filled_avg_price)) == Decimal(ask)
    assert isinstance(position, Position) and int(position.qty) == qty
    assert isinstance(account, TradeAccount)
    assert Decimal(str(account.cash)) == Decimal(100_000) - qty * Decimal(ask)
    remaining = after["ask"]["qty"] if after["ask"]["price"] == ask else 0
    assert remaining == ask_size - qty  # taken from the recorded sell side
    assert (tape[0]["qty"], tape[0]["price"], tape[0]["aggressor"]) == (qty, ask, "buy")
    assert (own_trade["AMZN"].size, Decimal(str(own_trade["AMZN"].price))) == (qty, Decimal(ask))
    assert bar["AMZN"].volume >= qty and bar["AMZN"].timestamp <= own_trade["AMZN"].timestamp


async def test_recorded_cancels_of_what_a_client_took_are_skipped(tmp_path: Path) -> None:
    messages, orderbook = amzn_files()
    day = read_day(messages, orderbook)
    async with served(tmp_path / "data") as api:
        assert api.platform is not None
        shard = api.platform.shard
        for command in setup_commands(day):
            await shard.submit(command)

        async def submit(command: Any) -> Any:
            return (await shard.submit(command)).events

        market = LobsterMarket(day, submit, shard.engine, speed=0.0)
        keys = await api.trader("bot", cash="1000000")
        skipped = []
        # at 300 the best ask is two recorded orders, the first deleted by message 301; at
        # 1200 one recorded order, executed by message 1200 (the offline replay shows both)
        for taken_at, played_to in ((300, 400), (1_200, 1_300)):
            await market.play(taken_at)
            quote = (await api.client.get("/v1/quotes/AMZN", headers=keys)).json()
            whole_ask = {"symbol": "AMZN", "side": "buy", "type": "limit"}
            whole_ask |= {"qty": quote["ask"]["qty"], "limit_price": quote["ask"]["price"]}
            taken = await api.client.post(
                "/v1/orders", json={**whole_ask, "time_in_force": "ioc"}, headers=keys
            )
            assert taken.status_code == 200 and taken.json()["status"] == "filled", taken.text
            await market.play(played_to)
            skipped.append(market.stats.flow[SKIPPED])

        flow = market.stats.flow
        assert flow["recorded shares other clients took"] >= 300
        assert skipped[0] >= 200 and skipped[1] > skipped[0], flow
        assert market.stats.commands_skipped == 0
        assert not [name for name in flow if name.startswith("commands refused")]
        market.flow.check_view()
        shard.engine.books["AMZN"].check_invariants()


async def test_a_restarted_replay_plays_the_day_again_from_its_start(tmp_path: Path) -> None:
    messages, orderbook = amzn_files()
    source = ReplaySource(messages, orderbook, 0.0, 300)
    books = []
    for _ in range(2):
        async with served(tmp_path / "data") as api:
            assert api.platform is not None
            stop = asyncio.Event()
            market, task = await start_replay_market(api.platform.shard, stop, source)
            await asyncio.wait_for(market.done.wait(), timeout=120)
            engine = api.platform.shard.engine
            book = engine.books["AMZN"]
            books.append(
                [(o.side, o.price, o.leaves) for s in Side for o in book.resting_orders(s)]
            )
            accounts = engine.risk.ledger.accounts if engine.risk is not None else {}
            api.clock.frozen_ns = SATURDAY_NOON_NS
            closed = (await api.client.get("/v2/clock", headers=api.admin)).json()
            api.clock.frozen_ns = None
            stop.set()
            await task
            market.flow.check_view()
    # the second run canceled the first's resting orders, then rebuilt the same book
    assert market.stats.flow["leftover orders canceled at start"] > 0
    assert books[0] == books[1] and books[0]
    assert BIDS_ACCOUNT in accounts and ASKS_ACCOUNT in accounts
    assert closed["is_open"] is False  # without `market_always_open`: the calendar's hours


# ---------------------------------------------------------------------- the command line


def test_serve_replay_from_the_command_line(tmp_path: Path) -> None:
    """`python -m tradingfloor serve --replay lobster ...` as processes (serve's default),
    bounded by `--limit`; then the quote and the clock through the demo login's API key."""
    import httpx

    messages, orderbook = amzn_files()
    command = [
        *(sys.executable, "-m", "tradingfloor", "serve", "--replay", "lobster"),
        *("--messages", str(messages), "--orderbook", str(orderbook)),
        *("--speed", "max", "--limit", "500", "--port", "0", "--workers", "1"),
        *("--data", str(tmp_path / "data"), "--no-fsync"),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for role in ("SETTLEMENT", "AUDIT", "SURVEILLANCE", "REPORTING"):  # not this test's
        env[f"TRADINGFLOOR_{role}_ENABLED"] = "false"
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        wanted = ("finished after", "listening on")
        while not all(any(word in line for line in output) for word in wanted):
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
        text = "".join(output)
        url = re.search(r"listening on (http://\S+)", text)
        alice = re.search(r"alice .*API key (\S+) secret (\S+)", text)
        assert url and alice and "finished after 500 messages" in text, text
        headers = {"X-API-Key-Id": alice.group(1), "X-API-Secret": alice.group(2)}
        with httpx.Client(base_url=url.group(1), headers=headers, timeout=10) as client:
            quote = client.get("/v1/quotes/AMZN").json()
            clock = client.get("/v2/clock").json()
            account = client.get("/v2/account").json()
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        output.append(rest)
    row, _ = offline_replay(500)
    assert price(quote["ask"]["price"]) == row[0] and price(quote["bid"]["price"]) == row[2]
    assert clock["is_open"] is True
    assert Decimal(account["cash"]) == 100_000  # alice's demo account, funded for the day
    assert process.returncode == 0, "".join(output)


def test_serve_refuses_a_replay_without_its_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tradingfloor", "serve", "--replay", "lobster"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "needs --messages and --orderbook" in result.stdout + result.stderr
