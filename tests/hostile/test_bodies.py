"""Hostile bodies, strings and numbers: each gets a clear 4xx, nothing of it is journaled, the
read models keep projecting, and other clients are served meanwhile. On SQLite and on a real
PostgreSQL (whose text cannot hold a NUL byte: one such value once stopped its projection)."""

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from api_helpers import Served, served

ORDER = {"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, "time_in_force": "day"}
V1 = {**ORDER, "limit_price": "99"}
V2 = {**ORDER, "qty": "1", "limit_price": "99"}
DEEP = "[" * 1000 + "]" * 1000

# (path, raw JSON body, expected status, expected code): every one is refused.
HOSTILE_BODIES: list[tuple[str, bytes, int, int]] = [
    (
        "/v1/orders",
        b'{"symbol": "AC\\u0000ME", "side": "buy", "type": "market", "qty": 1}',
        422,
        1000,
    ),
    (
        "/v2/orders",
        b'{"symbol": "AC\\u0000ME", "side": "buy", "type": "market", "qty": 1, '
        b'"time_in_force": "day"}',
        422,
        1000,
    ),
    (
        "/v1/orders",
        b'{"symbol": "XYZ\\n", "side": "buy", "type": "limit", "qty": 1, "limit_price": "99"}',
        422,
        1000,
    ),
    (
        "/v2/orders",
        b'{"symbol": "XYZ\\n", "side": "buy", "type": "limit", "qty": 1, '
        b'"limit_price": 99, "time_in_force": "day"}',
        422,
        1000,
    ),
    (
        "/v2/orders",
        b'{"symbol": "' + b"A" * 20_000 + b'", "side": "buy", "type": "market", '
        b'"qty": 1, "time_in_force": "day"}',
        422,
        1000,
    ),
    (
        "/v1/orders",
        b'{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, '
        b'"limit_price": "99", "client_order_id": "a\\u202eb"}',
        422,
        1000,
    ),
    (
        "/v2/orders",
        b'{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, '
        b'"limit_price": 99, "time_in_force": "day", "client_order_id": "x\\u0000y"}',
        422,
        1000,
    ),
    (
        "/v2/orders",
        b'{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, '
        b'"limit_price": 99, "time_in_force": "day", "client_order_id": "two words"}',
        422,
        1000,
    ),
    (
        "/v2/orders",
        b'{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, '
        b'"limit_price": 99, "time_in_force": "day", "client_order_id": "' + b"c" * 129 + b'"}',
        422,
        1000,
    ),
    ("/v1/orders", b'{"symbol": "\xff\xfe", "side": "buy"}', 422, 1000),
    ("/v2/orders", b'{"symbol": "\xff\xfe", "side": "buy"}', 422, 1000),
    (
        "/v2/orders",
        b'{"symbol": "XYZ", "side": "buy", "type": "market", "qty": 1, '
        b'"time_in_force": "day", "legs": ' + DEEP.encode() + b"}",
        422,
        1000,
    ),
    (
        "/v2/orders",
        b'{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, '
        b'"limit_price": 1e999999999, "time_in_force": "day"}',
        422,
        1000,
    ),
    (
        "/v2/orders",
        b'{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, '
        b'"limit_price": 1e-999999999, "time_in_force": "day"}',
        422,
        1000,
    ),
    (
        "/v2/orders",
        b'{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, '
        b'"limit_price": 1e9999999999999999999, "time_in_force": "day"}',
        422,
        1000,
    ),
    (
        "/v2/orders",
        b'{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1e999999999, '
        b'"limit_price": 99, "time_in_force": "day"}',
        422,
        1000,
    ),
    (
        "/v2/orders",
        b'{"symbol": "XYZ", "side": "sell", "type": "trailing_stop", "qty": 1, '
        b'"trail_percent": 1e999999999, "time_in_force": "day"}',
        422,
        1000,
    ),
    (
        "/v2/orders",
        b'{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, '
        b'"limit_price": ' + b"9" * 5_000 + b', "time_in_force": "day"}',
        422,
        1000,
    ),
    (
        "/v1/orders",
        b'{"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, "limit_price": "1e3"}',
        422,
        1000,
    ),
    ("/v1/orders", DEEP.encode(), 422, 1000),
    ("/v1/auth/login", b'{"username": ' + DEEP.encode() + b', "password": "x"}', 422, 1000),
    ("/v1/auth/login", b'{"username": "\xff\xfe", "password": "x"}', 422, 1000),
    ("/v1/auth/login", b'{"username": "root\\u0000", "password": "wrong password"}', 401, 4001),
    ("/v1/admin/symbols", b'{"symbol": "AB\\u0000"}', 422, 1000),
    ("/v1/admin/accounts/al%00ice/deposits", b'{"amount": "100"}', 422, 1000),
    ("/v1/admin/accounts/alice/deposits", b'{"amount": "1e999999999"}', 422, 1000),
]

HOSTILE_QUERIES: list[tuple[str, int, int]] = [
    ("/v1/orders?symbol=X%00Y", 422, 1000),
    ("/v1/orders?symbol=XYZ%0A", 422, 1000),
    ("/v1/activities?kind=tr%00ade", 422, 1000),
    ("/v2/orders?symbols=XYZ,A%00B", 422, 1000),
    ("/v2/orders:by_client_order_id?client_order_id=a%00b", 422, 1000),
    ("/v1/orders/99999999999999999999999", 404, 3001),
    ("/v1/admin/users/al%00ice", 422, 4015),
    ("/v1/admin/auth-events?kind=%00", 422, 1000),
]


def caller(api: Served, trader: dict[str, str], path: str) -> dict[str, str]:
    return api.admin if path.startswith("/v1/admin/") else trader


async def journaled(api: Served) -> int:
    return api.platform.engine.last_seq


async def others_are_served(api: Served, bob: dict[str, str]) -> None:
    """Another client's order and reads go through, and the read models keep up."""
    answer = await api.client.post("/v1/orders", json=V1, headers=bob)
    assert answer.status_code == 200, answer.text
    listed = await api.client.get("/v1/orders", headers=bob)
    assert answer.json()["id"] in [order["id"] for order in listed.json()["orders"]]
    assert await api.platform.backend.problems() == []


@pytest.mark.parametrize("path", ["/v1/orders", "/v2/orders"])
async def test_a_clean_order_is_taken_on_both_apis(tmp_path: Path, path: str) -> None:
    """The control of the table below: the same shapes, well formed, are accepted."""
    async with served(tmp_path / "data") as api:
        await api.symbol()
        alice = await api.trader("alice")
        body = V1 if path == "/v1/orders" else {**V2, "client_order_id": "my-order_1.A"}
        answer = await api.client.post(path, json=body, headers=alice)
        assert answer.status_code == 200, answer.text


async def test_hostile_bodies_get_a_clear_refusal_and_journal_nothing(
    tmp_path: Path, database_url: str | None
) -> None:
    async with served(tmp_path / "data", database_url) as api:
        await api.symbol()
        alice = await api.trader("alice")
        bob = await api.trader("bob")
        before = await journaled(api)
        for path, body, status, code in HOSTILE_BODIES:
            headers = {**caller(api, alice, path), "content-type": "application/json"}
            started = time.perf_counter()
            answer = await api.client.post(path, content=body, headers=headers)
            took_s = time.perf_counter() - started
            assert (answer.status_code, answer.json()["code"]) == (status, code), (
                path,
                body[:120],
                answer.text[:300],
            )
            assert answer.json()["message"]
            # A refusal is cheap: not a freeze of the server (a generous bound, not a speed).
            assert took_s < 5, (path, body[:120], took_s)
        assert await journaled(api) == before
        await others_are_served(api, bob)


async def test_hostile_query_strings_get_a_clear_refusal(
    tmp_path: Path, database_url: str | None
) -> None:
    async with served(tmp_path / "data", database_url) as api:
        await api.symbol()
        alice = await api.trader("alice")
        bob = await api.trader("bob")
        before = await journaled(api)
        for path, status, code in HOSTILE_QUERIES:
            answer = await api.client.get(path, headers=caller(api, alice, path))
            assert (answer.status_code, answer.json()["code"]) == (status, code), (
                path,
                answer.text[:300],
            )
        assert await journaled(api) == before
        await others_are_served(api, bob)


async def test_a_command_with_a_nul_is_refused_before_it_is_sequenced(tmp_path: Path) -> None:
    """Below the gateway: whatever edge sends it, the sequencer refuses it, so no reader of
    the journal (a projection into PostgreSQL) ever has to hold it."""
    from tradingfloor.domain.commands import AddInstrument, Deposit, OpenAccount, PlaceOrder
    from tradingfloor.domain.enums import OrderType, Side
    from tradingfloor.domain.instruments import Instrument
    from tradingfloor.service.sequencer import InvalidCommand

    async with served(tmp_path / "data") as api:
        before = api.platform.engine.last_seq
        for command in (
            PlaceOrder(0, "alice", "AC\x00ME", Side.BUY, OrderType.MARKET, 1),
            PlaceOrder(0, "alice", "XYZ", Side.BUY, OrderType.MARKET, 1, client_order_id="\n"),
            OpenAccount("a/b"),
            Deposit("al\u202eice", 100),
            AddInstrument(Instrument("NEW\n")),
        ):
            with pytest.raises(InvalidCommand):
                await api.platform.submit(command)
        assert api.platform.engine.last_seq == before


async def test_websocket_garbage_is_answered_and_never_takes_the_stream_down(
    tmp_path: Path,
) -> None:
    import websockets

    async with served(tmp_path / "data") as api:
        await api.symbol()
        alice = await api.trader("alice")
        url = str(api.client.base_url).replace("http", "ws") + "/v1/market-data"
        async with websockets.connect(url, additional_headers=alice) as socket:
            await socket.send(b"\xff\xfe not utf-8")
            await socket.send('{"action": "subscribe", "symbols": ["XY\\u0000Z"]}')
            await socket.send(
                '{"action": "subscribe", "symbols": ["XYZ"], "channels": ["quotes"]}'
            )
            seen: list[Any] = []
            async with asyncio.timeout(10):
                while not any('"quote"' in frame for frame in seen):
                    seen.append(await socket.recv())
        assert any("malformed request" in frame for frame in seen)
        for query in (
            "?key_id=%E2%82%AC&secret=x",
            "?token=%00%E2%82%AC",
            "?key_id=TF%00&secret=y",
        ):
            async with websockets.connect(url + query) as socket:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    async with asyncio.timeout(10):
                        await socket.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
