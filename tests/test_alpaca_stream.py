"""The `trade_updates` stream at `/stream`, received by the official SDK's `TradingStream`:
new, partial_fill, fill, canceled, replaced and rejected for the account's own orders."""

import asyncio
import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import websockets
from alpaca.trading.models import TradeUpdate
from alpaca.trading.stream import TradingStream

from api_helpers import served
from tradingfloor.gateway import alpaca_stream
from tradingfloor.store import queries


async def test_the_sdk_receives_trade_updates_of_its_own_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []  # orders the stream read from the read models

    def get_order(connection: Any, order_id: int) -> Any:
        reads.append(order_id)
        return queries.get_order(connection, order_id)

    monkeypatch.setattr(alpaca_stream, "queries", SimpleNamespace(get_order=get_order))
    async with served(tmp_path / "data") as api:
        await api.symbol("XYZ", "100")
        alice = await api.trader("alice", cash="100000")
        bob = await api.trader("bob", cash="0", shares={"XYZ": 100})
        url = str(api.client.base_url).replace("http://", "ws://") + "/stream"
        stream = TradingStream(alice["X-API-Key-Id"], alice["X-API-Secret"], url_override=url)
        received: list[TradeUpdate] = []

        async def on_update(update: TradeUpdate) -> None:
            received.append(update)

        stream.subscribe_trade_updates(on_update)
        thread = threading.Thread(target=stream.run, daemon=True)
        thread.start()
        try:
            await _until(lambda: len(_listeners(api)) >= 1)
            placed = await api.order(alice, side="buy", type="limit", qty=10, limit_price="100")
            await api.order(bob, side="sell", type="limit", qty=4, limit_price="100")
            await api.order(bob, side="sell", type="limit", qty=6, limit_price="100")
            resting = await api.order(alice, side="buy", type="limit", qty=5, limit_price="99")
            await api.client.patch(
                f"/v1/orders/{resting.json()['id']}", json={"limit_price": "98"}, headers=alice
            )
            other = await api.order(alice, side="buy", type="limit", qty=1, limit_price="97")
            await api.client.delete(f"/v1/orders/{other.json()['id']}", headers=alice)
            await api.order(alice, side="buy", type="limit", qty=1, limit_price="100.001")
            await api.order(bob, side="sell", type="limit", qty=1, limit_price="150")  # not hers
            await _until(lambda: len(received) >= 8)
            await asyncio.sleep(0.5)  # room for an update that should not come
        finally:
            await asyncio.to_thread(stream.stop)
            thread.join(10)
    events = [update.event for update in received]
    assert events == [
        "new",
        "partial_fill",
        "fill",
        "new",
        "replaced",
        "new",
        "canceled",
        "rejected",
    ]  # nothing of bob's order
    first_fill = received[1]
    assert str(first_fill.order.id).endswith(f"{int(placed.json()['id']):012x}")
    assert (first_fill.price, first_fill.qty) == (100.0, 4.0)
    assert first_fill.position_qty in (4.0, 10.0)  # the position when the update is sent
    assert received[2].order.status == "filled"
    assert reads == []  # every order was made while it listened: its events are enough


async def test_an_order_made_before_listening_is_read_once_then_follows_its_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []

    def get_order(connection: Any, order_id: int) -> Any:
        reads.append(order_id)
        return queries.get_order(connection, order_id)

    monkeypatch.setattr(alpaca_stream, "queries", SimpleNamespace(get_order=get_order))
    async with served(tmp_path / "data") as api:
        await api.symbol("XYZ", "100")
        alice = await api.trader("alice", cash="100000")
        bob = await api.trader("bob", cash="0", shares={"XYZ": 100})
        resting = await api.order(alice, side="buy", type="limit", qty=10, limit_price="100")
        url = str(api.client.base_url).replace("http://", "ws://") + "/stream"
        async with websockets.connect(url) as socket:
            credentials = {"key_id": alice["X-API-Key-Id"], "secret_key": alice["X-API-Secret"]}
            await socket.send(json.dumps({"action": "authenticate", "data": credentials}))
            await socket.recv()
            await socket.send(
                json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}})
            )
            await socket.recv()
            await _until(lambda: len(_listeners(api)) >= 1)
            updates = []
            for qty in (4, 6):  # one at a time: the read shows the order as it stands then
                await api.order(bob, side="sell", type="limit", qty=qty, limit_price="100")
                async with asyncio.timeout(15):
                    updates.append(json.loads(await socket.recv())["data"])

    assert [(u["event"], u["qty"], u["order"]["filled_qty"]) for u in updates] == [
        ("partial_fill", "4", "4"),
        ("fill", "6", "10"),
    ]
    assert reads == [int(resting.json()["id"])]  # once, at its first event here


async def test_the_stream_refuses_a_bad_key_and_asks_for_listen(tmp_path: Path) -> None:
    async with served(tmp_path / "data") as api:
        alice = await api.trader("alice")
        url = str(api.client.base_url).replace("http://", "ws://") + "/stream"
        async with websockets.connect(url) as socket:
            await socket.send(
                json.dumps({"action": "authenticate", "data": {"key_id": "x", "secret_key": "y"}})
            )
            answer = json.loads(await socket.recv())
            assert answer == {
                "stream": "authorization",
                "data": {"status": "unauthorized", "action": "authenticate"},
            }
        async with websockets.connect(url) as socket:
            credentials = {"key_id": alice["X-API-Key-Id"], "secret_key": alice["X-API-Secret"]}
            await socket.send(json.dumps({"action": "authenticate", "data": credentials}))
            assert json.loads(await socket.recv())["data"]["status"] == "authorized"
            await socket.send(json.dumps({"action": "subscribe"}))
            assert json.loads(await socket.recv())["stream"] == "error"
            await socket.send(
                json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}})
            )
            assert json.loads(await socket.recv()) == {
                "stream": "listening",
                "data": {"streams": ["trade_updates"]},
            }


def _listeners(api: Any) -> list[object]:
    """The stream's registered listeners (found through the app's routes)."""
    for listener in api.platform.backend.feed_listeners:
        owner = getattr(listener, "__self__", None)
        if type(owner).__name__ == "TradeUpdates":
            return [item for group in owner.listeners.values() for item in group]
    return []


async def _until(condition: Any, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


async def test_a_fractional_order_fills_last_with_its_fraction(tmp_path: Path) -> None:
    async with served(tmp_path / "data", fractional_desk_account="desk") as api:
        await api.symbol("XYZ", "100")
        await api.trader("desk", cash="100000", shares={"XYZ": 10})
        alice = await api.trader("alice", cash="100000")
        bob = await api.trader("bob", cash="0", shares={"XYZ": 100})
        url = str(api.client.base_url).replace("http://", "ws://") + "/stream"
        async with websockets.connect(url) as socket:
            credentials = {"key_id": alice["X-API-Key-Id"], "secret_key": alice["X-API-Secret"]}
            await socket.send(json.dumps({"action": "authenticate", "data": credentials}))
            await socket.recv()
            listen = {"action": "listen", "data": {"streams": ["trade_updates"]}}
            await socket.send(json.dumps(listen))
            await socket.recv()
            await _until(lambda: len(_listeners(api)) >= 1)
            await api.order(bob, side="sell", type="limit", qty=2, limit_price="100")
            placed = await api.order(
                alice, side="buy", type="limit", qty=2, fraction=250_000_000, limit_price="101",
                time_in_force="day",
            )  # fmt: skip
            assert placed.status_code == 200, placed.text
            answer = placed.json()
            assert (answer["status"], answer["filled_qty"], answer["filled_fraction"]) == (
                "filled",
                2,
                250_000_000,
            )
            updates = []
            while len(updates) < 3:
                message = json.loads(await asyncio.wait_for(socket.recv(), 15))
                updates.append(message["data"])
        assert [(u["event"], u.get("qty")) for u in updates] == [
            ("new", None),
            ("partial_fill", "2"),
            ("fill", "0.25"),
        ]
        assert updates[-1]["order"]["filled_qty"] == "2.25"
        assert updates[-1]["order"]["status"] == "filled"

        waiting = await api.order(
            alice, side="buy", type="limit", qty=None, fraction=500_000_000, limit_price="95",
            time_in_force="day",
        )  # fmt: skip
        assert waiting.status_code == 200 and waiting.json()["status"] == "new", waiting.text
        canceled = await api.client.delete(f"/v1/orders/{waiting.json()['id']}", headers=alice)
        assert canceled.status_code in (200, 204), canceled.text
        got = await api.client.get(f"/v1/orders/{waiting.json()['id']}", headers=alice)
        assert got.json()["status"] == "canceled", got.text
        position = await api.client.get("/v1/positions", headers=alice)
        assert [(p["qty"], p["fraction"]) for p in position.json()] == [(2, 250_000_000)]
