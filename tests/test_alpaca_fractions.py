"""Fractional and notional orders through the official `alpaca-py` SDK against a served
platform with a fractional desk (real HTTP), on SQLite and PostgreSQL, one process and as
processes: the whole shares trade on the book, the fraction against the desk, and orders,
positions and the account show it to the nano-share and the cent."""

from decimal import Decimal

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.models import Asset, Order, Position, TradeAccount
from alpaca.trading.requests import (
    ClosePositionRequest,
    LimitOrderRequest,
    MarketOrderRequest,
)

from alpaca_helpers import (
    call,
    on_shared_platform,
    refused,
    shared_platform_fixtures,
    submitted,
    trader,
)
from api_helpers import PASSWORD, Served

DESK = "fractional-desk"
platform, api = shared_platform_fixtures(fractional_desk_account=DESK)


async def funded_desk(api: Served, shares: int = 10) -> None:
    """The platform's desk (opened by the first test that needs it), with `shares` of the
    test's symbol and cash."""
    created = await api.client.post(
        "/v1/admin/users",
        json={"username": DESK, "password": PASSWORD, "account_kind": "cash"},
        headers=api.admin,
    )
    assert created.status_code in (201, 409), created.text
    for path, body in (
        ("deposits", {"amount": "100000"}),
        ("shares", {"symbol": api.sym, "qty": shares, "cost_price": "100"}),
    ):
        answer = await api.client.post(
            f"/v1/admin/accounts/{DESK}/{path}", json=body, headers=api.admin
        )
        assert answer.status_code == 200, answer.text


def market(symbol: str, side: OrderSide, **size: float) -> MarketOrderRequest:
    return MarketOrderRequest(symbol=symbol, side=side, time_in_force=TimeInForce.DAY, **size)


async def asks_and_buyer(api: Served, price: float) -> TradingClient:
    """The desk funded, bob's 10 shares offered at `price`, and alice with $1,000."""
    await funded_desk(api)
    bob = await trader(api, "bob", cash="0", shares={api.sym: 10})
    offer = LimitOrderRequest(
        symbol=api.sym, qty=10, side="sell", time_in_force="day", limit_price=price
    )
    await call(bob.submit_order, offer)
    return await trader(api, "alice", cash="1000")


@on_shared_platform
async def test_fractional_buy_and_sell(api: Served) -> None:
    alice = await asks_and_buyer(api, 100)
    bought = await submitted(alice, market(api.sym, OrderSide.BUY, qty=2.5))
    assert bought.status == OrderStatus.FILLED, bought
    assert Decimal(str(bought.qty)) == Decimal("2.5")
    assert Decimal(str(bought.filled_qty)) == Decimal("2.5")
    assert Decimal(str(bought.filled_avg_price)) == 100

    position = await call(alice.get_open_position, api.sym)
    assert isinstance(position, Position)
    assert (position.qty, position.qty_available) == ("2.5", "2.5")
    assert Decimal(position.market_value or "0") == 250
    account = await call(alice.get_account)
    assert isinstance(account, TradeAccount) and Decimal(account.cash or "0") == 750

    sold = await submitted(alice, market(api.sym, OrderSide.SELL, qty=0.123456789))
    assert sold.status == OrderStatus.CANCELED  # no bid: nothing to price the fraction at
    carol = await trader(api, "carol", cash="1000")
    await call(
        carol.submit_order,
        LimitOrderRequest(symbol=api.sym, qty=1, side="buy", time_in_force="day", limit_price=99),
    )
    sold = await submitted(alice, market(api.sym, OrderSide.SELL, qty=0.5))
    assert sold.status == OrderStatus.FILLED and Decimal(str(sold.filled_qty)) == Decimal("0.5")
    position = await call(alice.get_open_position, api.sym)
    assert isinstance(position, Position) and position.qty == "2"
    account = await call(alice.get_account)
    assert isinstance(account, TradeAccount)
    assert Decimal(account.cash or "0") == Decimal("750") + Decimal("49.5")


@on_shared_platform
async def test_notional_order_is_sized_at_the_best_price(api: Served) -> None:
    alice = await asks_and_buyer(api, 96)
    bought = await submitted(alice, market(api.sym, OrderSide.BUY, notional=150))
    assert bought.status == OrderStatus.FILLED, bought
    assert Decimal(str(bought.notional)) == 150 and bought.qty is None
    assert Decimal(str(bought.filled_qty)) == Decimal("1.5625")  # 150 / 96
    fetched = await call(alice.get_order_by_id, bought.id)
    assert isinstance(fetched, Order) and Decimal(str(fetched.filled_qty)) == Decimal("1.5625")
    account = await call(alice.get_account)
    assert isinstance(account, TradeAccount) and Decimal(account.cash or "0") == 850


@on_shared_platform
async def test_fractional_refusals_and_assets(api: Served) -> None:
    await funded_desk(api)
    alice = await trader(api, "alice", cash="1000")
    gtc = MarketOrderRequest(symbol=api.sym, side="buy", time_in_force="gtc", qty=0.5)
    error = await refused(alice.submit_order, gtc)
    assert (error.status_code, error.code) == (422, 1036)
    nine = LimitOrderRequest(
        symbol=api.sym, side="buy", time_in_force="day", qty=0.0000000001, limit_price=1
    )
    error = await refused(alice.submit_order, nine)
    assert error.status_code == 422 and "9 decimals" in str(error)
    asset = await call(alice.get_asset, api.sym)
    assert isinstance(asset, Asset) and asset.fractionable is True


@on_shared_platform
async def test_a_position_below_one_share_shows_and_closes(api: Served) -> None:
    alice = await asks_and_buyer(api, 100)
    bought = await submitted(alice, market(api.sym, OrderSide.BUY, qty=0.75))
    assert bought.status == OrderStatus.FILLED, bought
    position = await call(alice.get_open_position, api.sym)
    assert isinstance(position, Position) and position.qty == "0.75"
    carol = await trader(api, "carol", cash="1000")
    bid = LimitOrderRequest(symbol=api.sym, qty=1, side="buy", time_in_force="day", limit_price=99)
    await call(carol.submit_order, bid)
    half = await call(alice.close_position, api.sym, ClosePositionRequest(percentage="50"))
    assert isinstance(half, Order) and Decimal(str(half.filled_qty)) == Decimal("0.375")
    closed = await call(alice.close_position, api.sym)
    assert isinstance(closed, Order) and closed.status == OrderStatus.FILLED
    assert Decimal(str(closed.filled_qty)) == Decimal("0.375")
    assert await call(alice.get_all_positions) == []


@on_shared_platform
async def test_a_fraction_fill_is_a_fill_activity(api: Served) -> None:
    alice = await asks_and_buyer(api, 100)
    bought = await submitted(alice, market(api.sym, OrderSide.BUY, qty=1.25))
    assert bought.status == OrderStatus.FILLED, bought
    fills = await call(alice.get, "/account/activities/FILL")
    assert isinstance(fills, list)
    mine = [fill for fill in fills if fill["order_id"] == str(bought.id)]
    assert sorted((fill["qty"], fill["cum_qty"]) for fill in mine) == [
        ("0.25", "1.25"),
        ("1", "1"),
    ]
    assert {fill["price"] for fill in mine} == {"100.00"}
