"""`/v2`'s close of every position, the replace of every field Alpaca allows, and orders refused
as Alpaca answers them, driven by the official `alpaca-py` SDK against a served platform
(real HTTP), on SQLite and PostgreSQL."""

from alpaca.trading.enums import (
    OrderSide,
    OrderStatus,
    OrderType,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.models import ClosePositionResponse, FailedClosePositionDetails, Order
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    ReplaceOrderRequest,
    TrailingStopOrderRequest,
)

from alpaca_helpers import (
    call,
    limit_buy,
    on_shared_platform,
    order,
    refused,
    shared_platform_fixtures,
    submitted,
    trader,
)
from api_helpers import Served

platform, api = shared_platform_fixtures()


def trailing_sell(symbol: str, qty: int, **trail: float) -> TrailingStopOrderRequest:
    return TrailingStopOrderRequest(
        symbol=symbol, qty=qty, side="sell", time_in_force="gtc", **trail
    )


def by_symbol(answers: object) -> dict[str, ClosePositionResponse]:
    assert isinstance(answers, list)
    return {answer.symbol: answer for answer in answers}


@on_shared_platform
async def test_close_all_positions_with_and_without_canceling_orders(api: Served) -> None:
    other = f"{api.sym}X"
    await api.symbol(other, "50")
    alice = await trader(api, "alice", cash="0", shares={api.sym: 10, other: 5})
    bob = await trader(api, "bob", cash="100000")
    await call(bob.submit_order, limit_buy(api.sym, 10, 100))
    await call(bob.submit_order, limit_buy(other, 5, 50))
    resting = order(
        await call(
            alice.submit_order,
            LimitOrderRequest(
                symbol=api.sym, qty=3, side="sell", time_in_force="gtc", limit_price=200
            ),
        )
    )

    kept = by_symbol(await call(alice.close_all_positions, False))
    assert set(kept) == {api.sym, other}
    assert kept[other].status == 200 and isinstance(kept[other].body, Order)
    assert kept[other].body.status == OrderStatus.FILLED
    assert kept[other].order_id == kept[other].body.id
    held = kept[api.sym]
    assert held.status == 403 and isinstance(held.body, FailedClosePositionDetails)
    assert held.body.code == 2012 and held.body.held_for_orders == 3
    assert order(await call(alice.get_order_by_id, resting.id)).status == OrderStatus.NEW

    closed = by_symbol(await call(alice.close_all_positions, True))
    assert set(closed) == {api.sym} and closed[api.sym].status == 200
    sold = closed[api.sym].body
    assert isinstance(sold, Order)
    assert (sold.side, sold.type, sold.qty, sold.status) == (
        OrderSide.SELL,
        OrderType.MARKET,
        "10",
        OrderStatus.FILLED,
    )
    assert order(await call(alice.get_order_by_id, resting.id)).status == OrderStatus.CANCELED
    assert await call(alice.get_all_positions) == []
    assert await call(alice.close_all_positions, True) == []


@on_shared_platform
async def test_replace_changes_every_field_alpaca_allows(api: Served) -> None:
    alice = await trader(api, "alice", cash="100000", shares={api.sym: 50})
    day = order(await call(alice.submit_order, limit_buy(api.sym, 5, 99)))
    assert day.time_in_force == TimeInForce.DAY

    gtc = order(
        await call(
            alice.replace_order_by_id,
            day.id,
            ReplaceOrderRequest(time_in_force=TimeInForce.GTC, client_order_id="kept-open"),
        )
    )
    assert gtc.replaces == day.id and gtc.time_in_force == TimeInForce.GTC
    assert (gtc.client_order_id, gtc.qty, gtc.limit_price) == ("kept-open", "5", "99.00")
    again = order(await call(alice.get_order_by_client_id, "kept-open"))
    assert again.id == gtc.id and again.time_in_force == TimeInForce.GTC
    both = order(
        await call(
            alice.replace_order_by_id,
            gtc.id,
            ReplaceOrderRequest(qty=7, limit_price=98, time_in_force=TimeInForce.DAY),
        )
    )
    assert (both.qty, both.limit_price, both.time_in_force) == ("7", "98.00", TimeInForce.DAY)

    by_price = await submitted(alice, trailing_sell(api.sym, 3, trail_price=2))
    moved = order(
        await call(alice.replace_order_by_id, by_price.id, ReplaceOrderRequest(trail=3.5))
    )
    assert (moved.type, moved.trail_price, moved.qty) == (OrderType.TRAILING_STOP, "3.50", "3")
    assert moved.trail_percent is None
    by_percent = await submitted(alice, trailing_sell(api.sym, 4, trail_percent=1.5))
    wider = order(
        await call(alice.replace_order_by_id, by_percent.id, ReplaceOrderRequest(trail=2.25))
    )
    assert wider.trail_percent == "2.25" and wider.trail_price is None
    listed = order(await call(alice.get_order_by_id, wider.id))
    assert listed.trail_percent == "2.25" and listed.status == OrderStatus.NEW

    no_trail = await refused(alice.replace_order_by_id, both.id, ReplaceOrderRequest(trail=1))
    assert (no_trail.status_code, no_trail.code) == (422, 1000) and "trail" in no_trail.message
    bad_trail = await refused(alice.replace_order_by_id, wider.id, ReplaceOrderRequest(trail=100))
    assert (bad_trail.status_code, bad_trail.code) == (422, 1011)
    same = await refused(
        alice.replace_order_by_id, both.id, ReplaceOrderRequest(time_in_force=TimeInForce.DAY)
    )
    assert (same.status_code, same.code) == (422, 1015)
    assert order(await call(alice.get_order_by_id, both.id)).status == OrderStatus.NEW

    killed = order(
        await call(
            alice.replace_order_by_id, both.id, ReplaceOrderRequest(time_in_force=TimeInForce.FOK)
        )
    )
    # nothing to buy from: a fill-or-kill replacement ends unfilled at once
    assert killed.time_in_force == TimeInForce.FOK and killed.status == OrderStatus.CANCELED
    assert order(await call(alice.get_order_by_id, both.id)).status == OrderStatus.REPLACED


@on_shared_platform
async def test_v1_replace_takes_the_time_in_force_and_the_trail(api: Served) -> None:
    headers = await api.trader("alice", shares={api.sym: 10})
    placed = await api.order(headers, side="buy", type="limit", qty=2, limit_price="90")
    trailing = await api.order(headers, side="sell", type="trailing_stop", qty=2, trail_price="1")
    assert placed.status_code == 200 and trailing.status_code == 200, trailing.text

    day = await api.client.patch(
        f"/v1/orders/{placed.json()['id']}", json={"time_in_force": "day"}, headers=headers
    )
    wider = await api.client.patch(
        f"/v1/orders/{trailing.json()['id']}", json={"trail_price": "2"}, headers=headers
    )
    wrong_kind = await api.client.patch(
        f"/v1/orders/{wider.json()['id']}", json={"trail_percent": "2"}, headers=headers
    )

    assert day.status_code == 200 and day.json()["time_in_force"] == "day", day.text
    assert wider.status_code == 200, wider.text
    assert (wrong_kind.status_code, wrong_kind.json()["code"]) == (422, 1014)


@on_shared_platform
async def test_a_refused_order_keeps_its_terms_and_answers_as_alpaca(api: Served) -> None:
    alice = await trader(api, "alice", cash="1000")
    unknown = await refused(
        alice.submit_order, limit_buy("NOPE", 2, 10, client_order_id="unknown-symbol")
    )
    assert (unknown.status_code, unknown.code) == (422, 1012)
    assert unknown.message == 'could not find asset "NOPE"'
    unfillable = await refused(
        alice.submit_order,
        limit_buy(api.sym, 3, 99.5, time_in_force=TimeInForce.FOK, client_order_id="all-or-none"),
    )
    assert (unfillable.status_code, unfillable.code) == (422, 3003)
    assert "fill" in unfillable.message
    too_big = await refused(
        alice.submit_order, limit_buy(api.sym, 100, 100, client_order_id="too-big")
    )
    assert (too_big.status_code, too_big.code) == (403, 2011)

    rows = {
        o.client_order_id: o
        for o in await call(alice.get_orders, GetOrdersRequest(status=QueryOrderStatus.ALL))
    }
    assert set(rows) == {"unknown-symbol", "all-or-none", "too-big"}
    symbol = rows["unknown-symbol"]
    assert (symbol.status, symbol.symbol, symbol.side, symbol.type) == (
        OrderStatus.REJECTED,
        "NOPE",
        OrderSide.BUY,
        OrderType.LIMIT,
    )
    assert (symbol.qty, symbol.limit_price, symbol.filled_qty) == ("2", "10.00", "0")
    assert symbol.failed_at is not None
    fok = rows["all-or-none"]
    assert (fok.status, fok.time_in_force, fok.qty, fok.limit_price) == (
        OrderStatus.REJECTED,
        TimeInForce.FOK,
        "3",
        "99.50",
    )
    raw = await call(alice.get, f"/orders/{fok.id}")
    assert isinstance(raw, dict) and raw["reject_code"] == 3003 and raw["side"] == "buy"
    assert rows["too-big"].qty == "100" and rows["too-big"].status == OrderStatus.REJECTED
