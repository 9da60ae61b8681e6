"""Alpaca's real-time stock data stream at `/v2/iex`, received by the official SDK's
`StockDataStream` (msgpack) and by a plain WebSocket client (JSON): trades, quotes and minute
bars of the platform's market, Alpaca's control and error messages, its limits and its
slow-client rule; in one process and as processes."""

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from alpaca.data.live.stock import StockDataStream
from alpaca.data.models import Bar, Quote, Trade
from alpaca.data.requests import StockLatestBarRequest
from websockets.asyncio.client import ClientConnection

from alpaca_helpers import call, data_client, on_shared_platform, shared_platform_fixtures
from api_helpers import TOPOLOGIES, Served, served
from test_alpaca_market_data import trade_a_little
from tradingfloor.gateway import alpaca_data_fanout

QUOTES = [
    (99.5, 10, 0, 0),
    (100.0, 10, 0, 0),
    (100.25, 10, 0, 0),
    (99.5, 5, 0, 0),
    (0, 0, 0, 0),
    (98.0, 7, 0, 0),
    (98.0, 7, 102.0, 3),
]
"""The tops of book `trade_a_little` makes, one per command."""


platform, api = shared_platform_fixtures(
    [(topology, "sqlite") for topology in TOPOLOGIES], ids=lambda kind: kind[0]
)
"""In one process and as processes, on SQLite (test ids: the topology)."""


def stream_url(api: Served) -> str:
    return str(api.client.base_url).replace("http://", "ws://") + "/v2/iex"


async def until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


class SdkStream:
    """The SDK's stream run on the test's loop; `acked` once the server took the
    subscription (the SDK itself ignores the acknowledgement)."""

    def __init__(self, api: Served, headers: dict[str, str]) -> None:
        self.sdk = StockDataStream(
            headers["X-API-Key-Id"], headers["X-API-Secret"], url_override=stream_url(api)
        )
        self.received: list[Any] = []
        self.acks: list[dict[str, Any]] = []
        dispatch = self.sdk._dispatch

        async def observed(message: dict[str, Any]) -> None:
            if message.get("T") == "subscription":
                self.acks.append(message)
            await dispatch(message)

        self.sdk._dispatch = observed  # type: ignore[method-assign]
        self.task: asyncio.Task[None] | None = None

    async def on_data(self, item: Any) -> None:
        self.received.append(item)

    async def __aenter__(self) -> "SdkStream":
        self.task = asyncio.create_task(self.sdk._run_forever())
        await until(lambda: bool(self.acks))
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        await self.sdk.close()

    def of(self, kind: type) -> list[Any]:
        return [item for item in self.received if isinstance(item, kind)]


@on_shared_platform
async def test_the_sdk_receives_trades_and_quotes(api: Served) -> None:
    carol = await api.trader("carol")
    stream = SdkStream(api, carol)
    stream.sdk.subscribe_trades(stream.on_data, api.sym)
    stream.sdk.subscribe_quotes(stream.on_data, api.sym)
    async with stream:
        assert stream.acks[-1]["trades"] == [api.sym] and stream.acks[-1]["quotes"] == [api.sym]
        await trade_a_little(api)
        await until(lambda: len(stream.of(Trade)) == 4 and len(stream.of(Quote)) >= 1)
        await until(lambda: _top(stream.of(Quote)[-1]) == QUOTES[-1])

    trades = stream.of(Trade)
    assert [(t.symbol, t.price, t.size) for t in trades] == [
        (api.sym, 100.25, 10), (api.sym, 100.0, 10), (api.sym, 99.5, 5), (api.sym, 99.5, 5)
    ]  # fmt: skip
    client = data_client(api, carol)
    history = await call(client.get, "/stocks/trades", {"symbols": api.sym})
    assert [t.id for t in trades] == [row["i"] for row in history["trades"][api.sym]]
    assert trades[0].timestamp.tzinfo is not None and trades[0].exchange == "TF"
    tops = [_top(quote) for quote in stream.of(Quote)]
    assert _is_subsequence(tops, QUOTES) and tops[-1] == QUOTES[-1]


def _top(quote: Quote) -> tuple[float, float, float, float]:
    return (quote.bid_price, quote.bid_size, quote.ask_price, quote.ask_size)


def _is_subsequence(part: list[Any], whole: list[Any]) -> bool:
    rest = iter(whole)
    return all(item in rest for item in part)


async def receive(websocket: ClientConnection) -> list[dict[str, Any]]:
    frame = await asyncio.wait_for(websocket.recv(), 10)
    assert isinstance(frame, str)  # JSON: no msgpack header was sent
    messages: list[dict[str, Any]] = json.loads(frame)
    return messages


async def ask(websocket: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    await websocket.send(json.dumps(message))
    (answer,) = await receive(websocket)
    return answer


@on_shared_platform
async def test_the_protocol_in_json_and_its_errors(api: Served) -> None:
    carol = await api.trader("carol")
    async with websockets.connect(stream_url(api)) as websocket:
        assert await receive(websocket) == [{"T": "success", "msg": "connected"}]
        early = await ask(websocket, {"action": "subscribe", "trades": [api.sym]})
        assert early == {"T": "error", "code": 401, "msg": "not authenticated"}
        wrong = await ask(websocket, {"action": "auth", "key": "nope", "secret": "nope"})
        assert wrong == {"T": "error", "code": 402, "msg": "auth failed"}
        with pytest.raises(websockets.ConnectionClosed):
            await receive(websocket)
        assert websocket.close_code == 1008

    key = {"action": "auth", "key": carol["X-API-Key-Id"], "secret": carol["X-API-Secret"]}
    async with websockets.connect(stream_url(api)) as websocket:
        await receive(websocket)
        assert await ask(websocket, key) == {"T": "success", "msg": "authenticated"}
        assert (await ask(websocket, key))["code"] == 403
        await websocket.send("{not json")
        assert (await receive(websocket))[0]["code"] == 400
        assert (await ask(websocket, {"action": "subscribe", "options": ["X"]}))["code"] == 410
        many = [f"S{n}" for n in range(1_001)]
        assert (await ask(websocket, {"action": "subscribe", "trades": many}))["code"] == 405
        subscribed = await ask(
            websocket, {"action": "subscribe", "trades": ["*"], "bars": [api.sym]}
        )
        assert subscribed["T"] == "subscription"
        assert (subscribed["trades"], subscribed["quotes"], subscribed["bars"]) == (
            ["*"], [], [api.sym]
        )  # fmt: skip
        await trade_a_little(api)
        trades: list[dict[str, Any]] = []
        while len(trades) < 4:
            trades += [m for m in await receive(websocket) if m["S"] == api.sym]
        assert [(m["T"], m["p"], m["s"]) for m in trades] == [
            ("t", 100.25, 10), ("t", 100.0, 10), ("t", 99.5, 5), ("t", 99.5, 5)
        ]  # fmt: skip
        assert set(trades[0]) == {"T", "S", "i", "x", "p", "s", "t", "c", "z"}
        assert trades[0]["t"].endswith("Z")
        left = await ask(websocket, {"action": "unsubscribe", "trades": ["*"]})
        assert (left["trades"], left["bars"]) == ([], [api.sym])
        async with websockets.connect(stream_url(api), max_size=None) as big:
            await receive(big)
            await big.send("x" * (64 * 1024 + 1))
            with pytest.raises(websockets.ConnectionClosed):
                await receive(big)
            assert big.close_code == 1009


async def test_a_minute_bar_when_its_minute_closes(tmp_path: Path) -> None:
    async with served(tmp_path / "data", websocket_auth_timeout_s=0.5) as api:
        await api.symbol()
        carol = await api.trader("carol")
        stream = SdkStream(api, carol)
        stream.sdk.subscribe_bars(stream.on_data, api.sym)
        async with stream:
            await trade_a_little(api)
            await asyncio.sleep(0.3)  # a few bar checks: the minute is still open
            assert stream.of(Bar) == []
            api.clock.offset_ns += 62 * 1_000_000_000  # the gateway's clock: past the minute
            await until(lambda: bool(stream.of(Bar)))
        client = data_client(api, carol)
        latest = await call(
            client.get_stock_latest_bar, StockLatestBarRequest(symbol_or_symbols=api.sym)
        )
        (bar,) = stream.of(Bar)
        assert bar == latest[api.sym]  # the stream's bar is the one in SQL
        assert (bar.volume, bar.trade_count, bar.open, bar.close) == (30, 4, 100.25, 99.5)

        async with websockets.connect(stream_url(api)) as silent:
            assert await receive(silent) == [{"T": "success", "msg": "connected"}]
            assert await receive(silent) == [{"T": "error", "code": 404, "msg": "auth timeout"}]
            with pytest.raises(websockets.ConnectionClosed):
                await receive(silent)


async def test_a_slow_client_is_told_and_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alpaca_data_fanout, "messages_queued_max", 2)
    async with served(tmp_path / "data") as api:
        await api.symbol()
        carol = await api.trader("carol")
        async with websockets.connect(stream_url(api)) as websocket:
            await receive(websocket)
            key = {"action": "auth", "key": carol["X-API-Key-Id"], "secret": carol["X-API-Secret"]}
            await ask(websocket, key)
            await ask(websocket, {"action": "subscribe", "trades": [api.sym]})
            await trade_a_little(api)  # 25 sold in one command: three trades at once, then one
            messages: list[dict[str, Any]] = []
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    messages += await receive(websocket)
            assert websocket.close_code == 1013
            assert messages[-1] == {"T": "error", "code": 407, "msg": "slow client"}
