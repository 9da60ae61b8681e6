"""End to end over a real WebSocket: market data subscriptions, snapshots, updates, tiers, auth;
and the REST reads of bars, last trade and last quote. The tests share a platform per topology
(`api_helpers`): each has its own users and symbol."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api_helpers import TOPOLOGIES, Served, served

on_shared_platform = pytest.mark.asyncio(loop_scope="module")
"""The tests on `api`: they run in the event loop of the module's shared platforms."""


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=TOPOLOGIES)
async def platform(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Served]:
    """The platform in one process, then as processes."""
    async with served(tmp_path_factory.mktemp("platform") / "data", None, request.param) as here:
        await here.symbol("XYZ", "100")  # the refused callers' symbol
        yield here


@pytest_asyncio.fixture(loop_scope="module")
async def api(platform: Served) -> Served:
    """The test's share of the module's platform: its own users and symbol (`api.sym`)."""
    return await platform.share()


def ws_url(api: Served, path: str) -> str:
    return str(api.client.base_url).replace("http://", "ws://").rstrip("/") + path


class Stream:
    """A market data connection that hands out single messages (frames are JSON arrays)."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.pending: list[dict[str, Any]] = []

    async def next(self, timeout_s: float = 5.0) -> dict[str, Any]:
        while not self.pending:
            frame = await asyncio.wait_for(self.connection.recv(), timeout_s)
            messages = json.loads(frame)
            assert isinstance(messages, list), frame
            self.pending.extend(messages)
        return self.pending.pop(0)

    async def next_of(self, kind: str, timeout_s: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            message = await self.next(max(0.01, deadline - time.monotonic()))
            if message["type"] == kind:
                return message

    async def send(self, body: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(body))


async def open_stream(api: Served, path: str, headers: dict[str, str] | None) -> Stream:
    connection = await connect(ws_url(api, path), additional_headers=headers, compression=None)
    return Stream(connection)


@on_shared_platform
async def test_subscribe_snapshot_quote_and_trade_updates_then_unsubscribe(api: Served) -> None:
    alice = await api.trader("alice")
    bob = await api.trader("bob", cash="0", shares={api.sym: 100})
    await api.market_data_caught_up()  # bob's shares must not be the next quote's news
    stream = await open_stream(api, "/v1/market-data", api.admin)
    await stream.send(
        {"action": "subscribe", "symbols": [api.sym], "channels": ["quotes", "trades"]}
    )

    ack = await stream.next()
    assert ack == {"type": "subscribed", "symbols": [api.sym], "channels": ["quotes", "trades"]}
    snapshots = {m["type"]: m for m in [await stream.next(), await stream.next()]}
    assert snapshots["quote"]["snapshot"] and snapshots["quote"]["bid"] is None
    assert snapshots["trades"]["snapshot"] and snapshots["trades"]["trades"] == []
    quote_seq, trades_seq = snapshots["quote"]["seq"], snapshots["trades"]["seq"]

    placed = await api.order(alice, side="buy", type="limit", qty=100, limit_price="99.00")
    assert placed.status_code == 200, placed.text
    quote = await stream.next_of("quote")
    if quote["bid"] is None:  # the state at subscription, published once more (a flush came
        assert quote["seq"] == quote_seq + 1  # before the order reached this gateway's feed)
        quote_seq += 1
        quote = await stream.next_of("quote")
    assert quote["seq"] == quote_seq + 1 and not quote["snapshot"]
    assert quote["bid"] == {"price": "99.00", "qty": 100, "orders": 1} and quote["ask"] is None
    assert quote["ts"] > 0 and quote["published_ts"] >= quote["ts"]

    sold = await api.order(bob, side="sell", type="limit", qty=40, limit_price="99.00")
    assert sold.json()["status"] == "filled"
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < 2:
        message = await stream.next()
        seen[message["type"]] = message
    trades, quote = seen["trades"], seen["quote"]
    assert trades["seq"] == trades_seq + 1 and trades["gap"] == 0
    assert [(t["price"], t["qty"], t["aggressor"]) for t in trades["trades"]] == [
        ("99.00", 40, "sell")
    ]
    assert trades["trades"][0]["ts"] == trades["ts"]
    assert quote["seq"] == quote_seq + 2 and quote["bid"]["qty"] == 60

    await stream.send({"action": "unsubscribe", "symbols": [api.sym], "channels": ["quotes"]})
    assert (await stream.next_of("unsubscribed"))["channels"] == ["quotes"]
    await api.order(alice, side="buy", type="limit", qty=1, limit_price="99.50")
    await api.order(bob, side="sell", type="limit", qty=1, limit_price="99.50")
    trades = await stream.next_of("trades")  # still subscribed to trades, no more quotes
    assert trades["seq"] == trades_seq + 2 and trades["trades"][0]["price"] == "99.50"
    with pytest.raises(TimeoutError):
        await stream.next_of("quote", timeout_s=0.5)
    await stream.connection.close()


@on_shared_platform
async def test_unknown_symbol_gets_an_error_and_the_connection_stays(api: Served) -> None:
    stream = await open_stream(api, "/v1/market-data", api.admin)
    await stream.send({"action": "subscribe", "symbols": ["NOPE", api.sym], "channels": ["depth"]})
    error = await stream.next()
    assert error == {"type": "error", "message": "unknown symbol", "symbol": "NOPE"}
    assert (await stream.next_of("subscribed"))["symbols"] == [api.sym]
    depth = await stream.next_of("depth")
    assert depth["snapshot"] and depth["bids"] == [] and depth["asks"] == []
    await stream.send({"action": "dance"})
    assert (await stream.next_of("error"))["message"].startswith("malformed request")
    await stream.connection.close()

    single = await open_stream(api, "/v1/market-data/NOPE", api.admin)
    assert (await single.next())["type"] == "error"
    with pytest.raises(ConnectionClosed):
        await single.next()
    assert single.connection.close_code == 1000
    assert single.connection.close_reason == "unknown symbol"


@on_shared_platform
async def test_one_symbol_endpoint_and_query_credentials(api: Served) -> None:
    key_id, secret = api.admin["X-API-Key-Id"], api.admin["X-API-Secret"]
    path = f"/v1/market-data/{api.sym}?channels=quotes&key_id={key_id}&secret={secret}"
    stream = await open_stream(api, path, None)
    assert (await stream.next())["type"] == "subscribed"
    quote = await stream.next()
    assert quote["type"] == "quote" and quote["snapshot"] and quote["symbol"] == api.sym
    await stream.connection.close()


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/v1/market-data", None),
        ("/v1/market-data/XYZ?key_id=TFnope&secret=nope", None),
        ("/v1/market-data?tier=pro", "trader"),
    ],
)
@on_shared_platform
async def test_refused_callers_are_closed_with_policy_violation(
    api: Served, path: str, who: str | None
) -> None:
    headers = await api.trader("carol") if who == "trader" else None
    stream = await open_stream(api, path, headers)
    with pytest.raises(ConnectionClosed) as closed:
        await stream.next()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason


@on_shared_platform
async def test_retail_gets_one_update_a_second_pro_many(api: Served) -> None:
    alice = await api.trader("alice")
    retail = await open_stream(api, f"/v1/market-data/{api.sym}?channels=quotes", alice)
    pro = await open_stream(api, f"/v1/market-data/{api.sym}?channels=quotes", api.admin)
    for stream in (retail, pro):
        assert (await stream.next_of("quote"))["snapshot"]

    async def drive() -> None:  # the best bid moves with every order
        for index in range(100):
            answer = await api.order(
                alice, side="buy", type="limit", qty=1, limit_price=f"{90 + index / 100:.2f}"
            )
            assert answer.status_code == 200, answer.text
            await asyncio.sleep(0.025)

    async def count(stream: Stream, seconds: float) -> list[int]:
        seqs: list[int] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await stream.next_of("quote", timeout_s=left)
            except TimeoutError:
                break
            seqs.append(message["seq"])
        return seqs

    driver = asyncio.create_task(drive())
    retail_seqs, pro_seqs = await asyncio.gather(count(retail, 2.5), count(pro, 2.5))
    await driver
    assert 1 <= len(retail_seqs) <= 4, retail_seqs
    assert len(pro_seqs) >= 8, pro_seqs
    for seqs in (retail_seqs, pro_seqs):  # no gaps
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    for stream in (retail, pro):
        await stream.connection.close()


@on_shared_platform
async def test_bars_last_trade_and_last_quote(api: Served) -> None:
    alice = await api.trader("alice")
    bob = await api.trader("bob", cash="0", shares={api.sym: 100})
    last_trade = f"/v1/last-trade/{api.sym}"
    assert (await api.client.get(last_trade, headers=alice)).json()["trade"] is None
    for price, qty in (("100.00", 10), ("101.00", 5), ("99.50", 20), ("100.50", 1)):
        await api.order(alice, side="buy", type="limit", qty=qty, limit_price=price)
        sold = await api.order(bob, side="sell", type="limit", qty=qty, limit_price=price)
        assert sold.json()["status"] == "filled"
    await api.order(alice, side="buy", type="limit", qty=7, limit_price="98.00")

    bars = await api.client.get(f"/v1/bars/{api.sym}?timeframe=1Min&limit=10", headers=alice)
    assert bars.status_code == 200, bars.text
    found = bars.json()["bars"]
    assert 1 <= len(found) <= 2  # the trades may straddle a minute boundary
    assert sum(bar["volume"] for bar in found) == 36
    assert sum(bar["trade_count"] for bar in found) == 4
    assert found[0]["open"] == "100.00" and found[-1]["close"] == "100.50"
    daily = f"/v1/bars/{api.sym}?timeframe=1Day"
    day = (await api.client.get(daily, headers=alice)).json()["bars"]
    assert [(b["open"], b["high"], b["low"], b["close"], b["volume"]) for b in day] == [
        ("100.00", "101.00", "99.50", "100.50", 36)
    ]
    last = (await api.client.get(last_trade, headers=alice)).json()["trade"]
    assert (last["price"], last["qty"], last["aggressor"]) == ("100.50", 1, "sell")
    quote = (await api.client.get(f"/v1/last-quote/{api.sym}", headers=alice)).json()
    assert quote["bid"] == {"price": "98.00", "qty": 7, "orders": 1} and quote["ask"] is None

    two_minutes = f"/v1/bars/{api.sym}?timeframe=2Min"
    assert (await api.client.get(two_minutes, headers=alice)).status_code == 422
    assert (await api.client.get("/v1/bars/NOPE", headers=alice)).status_code == 404
    assert (await api.client.get(f"/v1/last-quote/{api.sym}")).status_code == 401
