"""The Alpaca-compatible `/v2` API driven by the official `alpaca-py` SDK, unchanged, against
a served platform (real HTTP). The SDK is synchronous: its calls run in a worker thread while
the server runs on the test's event loop. Against SQLite and the real PostgreSQL.

The tests on `api` share a platform per topology and database (`api_helpers`): each has its
own users and symbol."""

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alpaca.common.enums import Sort
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import (
    AssetClass,
    AssetStatus,
    OrderSide,
    OrderStatus,
    OrderType,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.models import (
    Asset,
    Clock,
    NonTradeActivity,
    Position,
    TradeAccount,
    TradeActivity,
)
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetAssetsRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopOrderRequest,
    TrailingStopOrderRequest,
)

from alpaca_helpers import (
    call,
    limit_buy,
    on_shared_platform,
    order,
    refused,
    sdk,
    shared_platform_fixtures,
)
from api_helpers import TOPOLOGIES, Served, served

platform, api = shared_platform_fixtures()


@pytest.fixture(params=TOPOLOGIES)
async def fresh_api(
    tmp_path: Path, database_url: str | None, request: pytest.FixtureRequest
) -> AsyncIterator[Served]:
    """A platform of the test's own (one that lists what the whole platform holds)."""
    async with served(tmp_path / "data", database_url, request.param) as here:
        await here.symbol("XYZ", "100")
        yield here


@on_shared_platform
async def test_a_fill_between_two_accounts_seen_through_the_sdk(api: Served) -> None:
    alice = sdk(api, await api.trader("alice", cash="100000"))
    bob = sdk(api, await api.trader("bob", cash="0", shares={api.sym: 100}))

    bid = order(
        await call(
            alice.submit_order,
            LimitOrderRequest(
                symbol=api.sym,
                qty=100,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.GTC,
                limit_price=100,
                client_order_id="alice-1",
            ),
        )
    )
    assert (bid.status, bid.type, bid.side) == (OrderStatus.NEW, OrderType.LIMIT, OrderSide.BUY)
    assert (bid.qty, bid.filled_qty, bid.limit_price) == ("100", "0", "100.00")
    assert bid.client_order_id == "alice-1" and bid.asset_class == AssetClass.US_EQUITY

    sold = order(
        await call(
            bob.submit_order,
            MarketOrderRequest(
                symbol=api.sym, qty=40, side=OrderSide.SELL, time_in_force=TimeInForce.DAY
            ),
        )
    )
    assert sold.status == OrderStatus.FILLED and sold.filled_avg_price == "100.00"
    assert sold.filled_at is not None and uuid.UUID(sold.client_order_id)  # generated

    got = order(await call(alice.get_order_by_id, bid.id))
    assert (got.status, got.filled_qty, got.filled_avg_price) == (
        OrderStatus.PARTIALLY_FILLED,
        "40",
        "100.00",
    )
    assert got.created_at.tzinfo is not None and got.updated_at >= got.created_at
    by_client = order(await call(alice.get_order_by_client_id, "alice-1"))
    assert by_client.id == bid.id
    open_orders = await call(alice.get_orders, GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert [o.id for o in open_orders] == [bid.id]  # type: ignore[union-attr]

    positions = await call(alice.get_all_positions)
    assert isinstance(positions, list) and len(positions) == 1
    position = positions[0]
    assert isinstance(position, Position)
    assert (position.symbol, position.qty, position.side.value) == (api.sym, "40", "long")
    assert (position.avg_entry_price, position.market_value) == ("100.00", "4000.00")
    assert position.asset_id == bid.asset_id
    by_asset = await call(alice.get_open_position, bid.asset_id)
    assert isinstance(by_asset, Position) and by_asset.qty == "40"

    account = await call(alice.get_account)
    assert isinstance(account, TradeAccount)
    assert (account.cash, account.buying_power) == ("96000.00", "90000.00")
    assert account.status.value == "ACTIVE" and account.currency == "USD"
    assert account.equity == "100000.00" and account.trading_blocked is False

    fills = await call(alice.get, "/account/activities", {"activity_types": "FILL"})
    assert isinstance(fills, list) and len(fills) == 1
    fill = TradeActivity(**fills[0])
    assert (fill.type.value, fill.qty, fill.leaves_qty, fill.cum_qty) == (
        "partial_fill",
        40,
        60,
        40,
    )
    assert fill.order_id == bid.id and fill.price == 100 and fill.side == OrderSide.BUY
    bob_fill = TradeActivity(**(await call(bob.get, "/account/activities/FILL"))[0])
    assert bob_fill.type.value == "fill" and bob_fill.order_status == OrderStatus.FILLED
    deposits = await call(alice.get, "/account/activities", {"activity_types": "CSD"})
    assert NonTradeActivity(**deposits[0]).net_amount == 100000


@on_shared_platform
async def test_every_order_type_replace_and_cancel(api: Served) -> None:
    alice = sdk(api, await api.trader("alice", cash="100000", shares={api.sym: 50}))
    gtc = TimeInForce.GTC
    stop = order(
        await call(
            alice.submit_order,
            StopOrderRequest(symbol=api.sym, qty=1, side="buy", time_in_force=gtc, stop_price=105),
        )
    )
    assert (stop.type, stop.status, stop.stop_price) == (OrderType.STOP, OrderStatus.NEW, "105.00")
    stop_limit = order(
        await call(
            alice.submit_order,
            StopLimitOrderRequest(
                symbol=api.sym,
                qty=2,
                side="buy",
                time_in_force=gtc,
                stop_price=104,
                limit_price=104.5,
            ),
        )
    )
    assert (stop_limit.type, stop_limit.limit_price) == (OrderType.STOP_LIMIT, "104.50")
    by_price = order(
        await call(
            alice.submit_order,
            TrailingStopOrderRequest(
                symbol=api.sym, qty=3, side="sell", time_in_force=gtc, trail_price=2
            ),
        )
    )
    assert by_price.type == OrderType.TRAILING_STOP and by_price.trail_price == "2.00"
    by_percent = order(
        await call(
            alice.submit_order,
            TrailingStopOrderRequest(
                symbol=api.sym, qty=4, side="sell", time_in_force=gtc, trail_percent=1.5
            ),
        )
    )
    assert by_percent.trail_percent == "1.5"
    got = order(await call(alice.get_order_by_id, by_percent.id))
    assert got.trail_percent == "1.5" and got.status == OrderStatus.NEW
    limit = order(
        await call(
            alice.submit_order,
            LimitOrderRequest(
                symbol=api.sym, qty=10, side="buy", time_in_force=TimeInForce.DAY, limit_price=99
            ),
        )
    )

    replaced = order(
        await call(alice.replace_order_by_id, limit.id, ReplaceOrderRequest(limit_price=98.5))
    )
    assert replaced.id != limit.id and replaced.replaces == limit.id
    # a replacement is a new order: a client order id of its own (Alpaca's rule)
    assert replaced.limit_price == "98.50" and replaced.client_order_id != limit.client_order_id
    assert uuid.UUID(replaced.client_order_id)  # generated
    old = order(await call(alice.get_order_by_id, limit.id))
    assert old.status == OrderStatus.REPLACED and old.replaced_by == replaced.id
    assert old.replaced_at is not None

    await call(alice.cancel_order_by_id, replaced.id)  # 204: no body
    canceled = order(await call(alice.get_order_by_id, replaced.id))
    assert canceled.status == OrderStatus.CANCELED and canceled.canceled_at is not None
    again = await refused(alice.cancel_order_by_id, replaced.id)
    assert (again.status_code, again.code) == (422, 3002)

    everything = await call(alice.cancel_orders)
    assert isinstance(everything, list)
    assert {answer.id for answer in everything} == {
        stop.id,
        stop_limit.id,
        by_price.id,
        by_percent.id,
    }
    assert {answer.status for answer in everything} == {200}
    assert await call(alice.get_orders, GetOrdersRequest()) == []  # open ones: none left

    closed = await call(
        alice.get_orders,
        GetOrdersRequest(status=QueryOrderStatus.CLOSED, direction=Sort.ASC, symbols=[api.sym]),
    )
    assert isinstance(closed, list)
    assert [o.id for o in closed] == [
        stop.id,
        stop_limit.id,
        by_price.id,
        by_percent.id,
        limit.id,
        replaced.id,
    ]
    limited = await call(alice.get_orders, GetOrdersRequest(status=QueryOrderStatus.ALL, limit=2))
    assert [o.id for o in limited] == [replaced.id, limit.id]  # type: ignore[union-attr]
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    after = await call(
        alice.get_orders, GetOrdersRequest(status=QueryOrderStatus.ALL, after=later)
    )
    until = await call(
        alice.get_orders, GetOrdersRequest(status=QueryOrderStatus.ALL, until=later, limit=500)
    )
    assert after == [] and isinstance(until, list) and len(until) == 6
    assert (
        await call(
            alice.get_orders, GetOrdersRequest(status=QueryOrderStatus.ALL, symbols=["ABC"])
        )
        == []
    )
    sells = await call(
        alice.get_orders, GetOrdersRequest(status=QueryOrderStatus.ALL, side=OrderSide.SELL)
    )
    assert {o.id for o in sells} == {by_price.id, by_percent.id}  # type: ignore[union-attr]


@on_shared_platform
async def test_a_replacement_answers_to_its_own_client_order_id(api: Served) -> None:
    alice = sdk(api, await api.trader("alice", cash="10000"))
    placed = order(
        await call(alice.submit_order, limit_buy(api.sym, 1, 99, client_order_id="first"))
    )

    generated = order(
        await call(alice.replace_order_by_id, placed.id, ReplaceOrderRequest(limit_price=98))
    )
    named = order(
        await call(
            alice.replace_order_by_id,
            generated.id,
            ReplaceOrderRequest(limit_price=97, client_order_id="moved"),
        )
    )
    reused = await refused(
        alice.replace_order_by_id,
        named.id,
        ReplaceOrderRequest(limit_price=96, client_order_id="first"),
    )

    assert generated.client_order_id not in ("first", "moved")
    assert uuid.UUID(generated.client_order_id)
    assert named.client_order_id == "moved"
    assert order(await call(alice.get_order_by_client_id, "moved")).id == named.id
    first = order(await call(alice.get_order_by_client_id, "first"))
    assert (first.id, first.status) == (placed.id, OrderStatus.REPLACED)
    assert (reused.status_code, reused.code) == (422, 1016)


@on_shared_platform
async def test_refusals_are_api_errors_with_our_code_and_message(api: Served) -> None:
    alice = sdk(api, await api.trader("alice", cash="1000"))
    eve = sdk(api, await api.trader("eve"))
    cases = [
        (limit_buy(api.sym, 100, 100), 403, 2011, "insufficient buying power"),
        (limit_buy("NOPE", 1, 1), 422, 1012, 'could not find asset "NOPE"'),
        (limit_buy(api.sym, 1, 99.995), 422, 1004, "price is not a multiple of the tick size"),
        (limit_buy(api.sym, 1.5, 99), 403, 2027, "fractional trading is not offered"),
        (limit_buy(api.sym, 1.0000000001, 99), 422, 1000, "qty: at most 9 decimals"),
        (limit_buy(api.sym, 1, 99, time_in_force=TimeInForce.OPG), 422, 1000, None),
        (limit_buy(api.sym, 1, 99, extended_hours=True), 422, 1000, None),
        (
            MarketOrderRequest(symbol=api.sym, notional=50, side="buy", time_in_force="day"),
            403,
            2027,
            None,
        ),
    ]
    for request, status, code, message in cases:
        error = await refused(alice.submit_order, request)
        assert (error.status_code, error.code) == (status, code), (request, error)
        assert error.message == message if message else error.message

    placed = order(
        await call(alice.submit_order, limit_buy(api.sym, 1, 99, client_order_id="once"))
    )
    retried = order(
        await call(alice.submit_order, limit_buy(api.sym, 1, 99, client_order_id="once"))
    )
    assert retried.id == placed.id  # a retry: the first order, as on /v1
    other = await refused(alice.submit_order, limit_buy(api.sym, 1, 98, client_order_id="once"))
    assert (other.status_code, other.code) == (422, 1016)  # other terms, as /v1 says

    for function, args in (
        (eve.get_order_by_id, (placed.id,)),
        (eve.cancel_order_by_id, (placed.id,)),
        (eve.get_order_by_client_id, ("once",)),
        (alice.get_order_by_id, (uuid.uuid4(),)),
    ):
        error = await refused(function, *args)
        assert (error.status_code, error.code) == (404, 3001)
    missing = await refused(alice.get_open_position, api.sym)
    assert (missing.status_code, missing.code) == (404, 4040)
    unknown = await refused(alice.get_asset, "NOPE")
    assert (unknown.status_code, unknown.code) == (404, 1012)
    stranger = TradingClient("TFnope", "x" * 43, url_override=str(api.client.base_url))
    denied = await refused(stranger.get_account)
    assert (denied.status_code, denied.code) == (401, 4001)


@on_shared_platform
async def test_close_a_position_with_a_market_order(api: Served) -> None:
    alice = sdk(api, await api.trader("alice", cash="0", shares={api.sym: 10}))
    bob = sdk(api, await api.trader("bob", cash="100000"))
    await call(bob.submit_order, limit_buy(api.sym, 20, 100))

    part = order(await call(alice.close_position, api.sym, ClosePositionRequest(percentage="30")))
    assert (part.side, part.type, part.qty, part.status) == (
        OrderSide.SELL,
        OrderType.MARKET,
        "3",
        OrderStatus.FILLED,
    )
    rest = order(await call(alice.close_position, api.sym))
    assert (rest.qty, rest.filled_qty, rest.status) == ("7", "7", OrderStatus.FILLED)
    assert await call(alice.get_all_positions) == []
    gone = await refused(alice.close_position, api.sym)
    assert (gone.status_code, gone.code) == (404, 4040)
    bob_position = await call(bob.get_open_position, api.sym)
    assert isinstance(bob_position, Position) and bob_position.qty == "10"


async def test_assets_and_the_clock(fresh_api: Served) -> None:
    api = fresh_api
    alice = sdk(api, await api.trader("alice"))
    await api.symbol("ABC", "50", tick_size="0.05", lot_size=10)
    assets = await call(alice.get_all_assets)
    assert isinstance(assets, list)
    assert [a.symbol for a in assets] == ["ABC", "XYZ"]
    abc = await call(alice.get_asset, "ABC")
    assert isinstance(abc, Asset) and abc.tradable and abc.asset_class == AssetClass.US_EQUITY
    assert (abc.price_increment, abc.min_order_size) == (0.05, 10)
    same = await call(alice.get_asset, abc.id)
    assert isinstance(same, Asset) and same.symbol == "ABC"
    inactive = await call(alice.get_all_assets, GetAssetsRequest(status=AssetStatus.INACTIVE))
    assert inactive == []

    clock = await call(alice.get_clock)
    assert isinstance(clock, Clock)
    assert clock.next_close > clock.timestamp and clock.next_open.tzinfo is not None
    assert clock.is_open == (clock.next_close < clock.next_open)
    assert clock.next_open.astimezone(clock.timestamp.tzinfo).strftime("%H:%M") == "09:30"


async def test_order_entry_needs_the_second_factor_and_the_rate_limit(
    tmp_path: Path,
) -> None:
    limits: dict[str, Any] = {"orders_per_second_max": 1, "orders_burst_max": 1}
    async with served(tmp_path / "data", None, **limits) as api:
        await api.symbol()
        headers = await api.trader("alice")
        token = await api.login("alice")
        body = {
            "symbol": "XYZ",
            "qty": "1",
            "side": "buy",
            "type": "limit",
            "limit_price": "99",
            "time_in_force": "day",
        }
        no_mfa = {"Authorization": f"Bearer {token}"}
        answer = await api.client.post("/v2/orders", json=body, headers=no_mfa)
        assert (answer.status_code, answer.json()["code"]) == (401, 4004)
        answer = await api.client.get("/v2/account", headers=no_mfa)
        assert (answer.status_code, answer.json()["code"]) == (401, 4004)
        api.clock.freeze()
        alpaca = {
            "APCA-API-KEY-ID": headers["X-API-Key-Id"],
            "APCA-API-SECRET-KEY": headers["X-API-Secret"],
        }
        first = await api.client.post("/v2/orders", json=body, headers=alpaca)
        second = await api.client.post("/v2/orders", json=body, headers=alpaca)
        assert first.status_code == 200, first.text
        assert (second.status_code, second.json()["code"]) == (429, 4007)
        assert int(second.headers["Retry-After"]) >= 1


@on_shared_platform
async def test_concurrent_submits_with_one_client_order_id_make_one_order(api: Served) -> None:
    headers = await api.trader("carol", cash="100000")
    alpaca = {
        "APCA-API-KEY-ID": headers["X-API-Key-Id"],
        "APCA-API-SECRET-KEY": headers["X-API-Secret"],
    }
    body = {
        "symbol": api.sym,
        "side": "buy",
        "type": "limit",
        "qty": "1",
        "limit_price": "99",
        "time_in_force": "gtc",
        "client_order_id": "only-once",
    }
    answers = await asyncio.gather(
        *(api.client.post("/v2/orders", json=body, headers=alpaca) for _ in range(5))
    )
    assert [answer.status_code for answer in answers] == [200] * 5
    assert len({answer.json()["id"] for answer in answers}) == 1  # each is the one order
    listed = await api.client.get("/v2/orders?status=all", headers=alpaca)
    assert [order["client_order_id"] for order in listed.json()] == ["only-once"]
