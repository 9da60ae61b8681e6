"""Bracket, OCO and OTO orders through the official `alpaca-py` SDK (real HTTP, SQLite and
PostgreSQL, one process and processes: `api_helpers.SHARED_PLATFORMS`), and through `/v1`.
The legs are held until the entry fills, then live for what it filled; one leg's fill takes
the other down; `nested=true` rolls the legs up under their parent."""

from typing import Any

from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)

from alpaca_helpers import (
    call,
    on_shared_platform,
    order,
    refused,
    sdk,
    shared_platform_fixtures,
    submitted,
)
from api_helpers import Served

platform, api = shared_platform_fixtures()


def with_legs(
    symbol: str,
    side: OrderSide,
    qty: int,
    order_class: OrderClass,
    *,
    profit: float | None = None,
    stop: float | None = None,
    stop_limit: float | None = None,
    kind: type[OrderRequest] = LimitOrderRequest,
    **terms: Any,
) -> OrderRequest:
    """An order request of `kind` (GTC unless told) with its take-profit at `profit`, its
    stop-loss at `stop` (a stop limit at `stop_limit`)."""
    terms.setdefault("time_in_force", TimeInForce.GTC)
    if profit is not None:
        terms["take_profit"] = TakeProfitRequest(limit_price=profit)
    if stop is not None:
        terms["stop_loss"] = StopLossRequest(stop_price=stop, limit_price=stop_limit)
    return kind(symbol=symbol, qty=qty, side=side, order_class=order_class, **terms)


def limit(symbol: str, side: OrderSide, qty: int, price: float) -> LimitOrderRequest:
    return LimitOrderRequest(
        symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.GTC, limit_price=price
    )


@on_shared_platform
async def test_a_bracket_holds_its_legs_then_arms_them_with_the_fills(api: Served) -> None:
    alice = sdk(api, await api.trader("alice", cash="100000"))
    bob = sdk(api, await api.trader("bob", cash="100000", shares={api.sym: 100}))
    await call(bob.submit_order, limit(api.sym, OrderSide.SELL, 4, 100))

    entry = await submitted(
        alice,
        with_legs(
            api.sym,
            OrderSide.BUY,
            10,
            OrderClass.BRACKET,
            profit=110,
            stop=95,
            kind=MarketOrderRequest,
        ),
    )
    assert entry.order_class == OrderClass.BRACKET
    assert entry.filled_qty == "4"  # the market order took what was offered
    legs = entry.legs or []
    assert [(leg.type, leg.side, leg.qty, leg.status) for leg in legs] == [
        ("limit", OrderSide.SELL, "4", OrderStatus.NEW),
        ("stop", OrderSide.SELL, "4", OrderStatus.NEW),
    ]
    assert [leg.limit_price for leg in legs] == ["110.00", None]
    assert legs[1].stop_price == "95.00"

    await call(alice.submit_order, limit(api.sym, OrderSide.BUY, 1, 100))  # a plain order
    await call(bob.submit_order, limit(api.sym, OrderSide.BUY, 3, 110))  # the take-profit
    nested = await call(
        alice.get_orders, GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True)
    )
    parents = [o for o in nested if o.order_class == OrderClass.BRACKET]  # type: ignore[union-attr]
    assert len(parents) == 1
    rolled = parents[0].legs or []  # type: ignore[union-attr]
    assert [(leg.filled_qty, leg.qty) for leg in rolled] == [("3", "4"), ("0", "1")]
    flat = await call(alice.get_orders, GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert {o.id for o in flat} >= {leg.id for leg in legs}  # type: ignore[union-attr]
    stop_loss = order(await call(alice.get_order_by_id, legs[1].id))
    assert (stop_loss.qty, stop_loss.status) == ("1", OrderStatus.NEW)  # cut to what is left


@on_shared_platform
async def test_a_limit_bracket_keeps_its_legs_held_and_cancels_them_with_it(api: Served) -> None:
    alice = sdk(api, await api.trader("alice", cash="100000"))
    entry = await submitted(
        alice,
        with_legs(
            api.sym,
            OrderSide.BUY,
            5,
            OrderClass.BRACKET,
            profit=105,
            stop=95,
            stop_limit=94,
            time_in_force=TimeInForce.DAY,
            limit_price=99,
        ),
    )
    legs = entry.legs or []
    assert [(leg.status, leg.type) for leg in legs] == [
        (OrderStatus.HELD, "limit"),
        (OrderStatus.HELD, "stop_limit"),
    ]
    by_id = order(await call(alice.get_order_by_id, entry.id, GetOrderByIdRequest(nested=True)))
    assert [leg.status for leg in by_id.legs or []] == [OrderStatus.HELD, OrderStatus.HELD]
    await call(alice.cancel_order_by_id, entry.id)
    after = order(await call(alice.get_order_by_id, legs[0].id))
    assert after.status == OrderStatus.CANCELED


@on_shared_platform
async def test_oco_and_oto_through_the_sdk(api: Served) -> None:
    bob = sdk(api, await api.trader("bob", cash="100000", shares={api.sym: 50}))
    carol = sdk(api, await api.trader("carol", cash="100000"))
    oco = await submitted(
        bob,
        with_legs(api.sym, OrderSide.SELL, 50, OrderClass.OCO, profit=104, stop=96),
    )
    assert (oco.order_class, oco.limit_price, oco.status) == (
        OrderClass.OCO,
        "104.00",
        OrderStatus.NEW,
    )
    assert [(leg.type, leg.qty, leg.status) for leg in oco.legs or []] == [
        ("stop", "50", OrderStatus.NEW)
    ]
    await call(carol.submit_order, limit(api.sym, OrderSide.BUY, 20, 104))
    stop = order(await call(bob.get_order_by_id, (oco.legs or [])[0].id))
    assert stop.status == OrderStatus.NEW and int(stop.qty or 0) == 30  # type: ignore[arg-type]

    oto = await submitted(
        carol,
        with_legs(api.sym, OrderSide.BUY, 5, OrderClass.OTO, stop=90, limit_price=100),
    )
    assert [(leg.type, leg.status) for leg in oto.legs or []] == [("stop", OrderStatus.HELD)]


@on_shared_platform
async def test_order_class_refusals_name_their_reason(api: Served) -> None:
    alice = sdk(api, await api.trader("alice", cash="100000"))
    caught = await refused(
        alice.submit_order,
        with_legs(
            api.sym, OrderSide.BUY, 5, OrderClass.BRACKET, profit=95, stop=90, limit_price=100
        ),
    )
    assert '"code":1034' in str(caught).replace(" ", "")


@on_shared_platform
async def test_a_bracket_on_v1_answers_with_its_legs(api: Served) -> None:
    headers = await api.trader("alice", cash="100000")
    answer = await api.client.post(
        "/v1/orders",
        json={
            "symbol": api.sym,
            "side": "buy",
            "type": "limit",
            "qty": 10,
            "limit_price": "100",
            "time_in_force": "gtc",
            "order_class": "bracket",
            "take_profit": {"limit_price": "110"},
            "stop_loss": {"stop_price": "90"},
        },
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["order_class"] == "bracket" and body["status"] == "new"
    assert [(leg["type"], leg["status"], leg["parent_id"]) for leg in body["legs"]] == [
        ("limit", "held", body["id"]),
        ("stop", "held", body["id"]),
    ]
    leg = body["legs"][1]["id"]
    canceled = await api.client.delete(f"/v1/orders/{leg}", headers=headers)
    assert canceled.status_code in (200, 204), canceled.text
    shown = await api.client.get(f"/v1/orders/{body['id']}", headers=headers)
    assert shown.json()["status"] == "new"
    assert [leg["status"] for leg in shown.json()["legs"]] == ["canceled", "canceled"]
