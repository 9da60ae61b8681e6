"""A bot's whole session on the official `alpaca-py` SDK, unchanged: every call of its
`TradingClient` and `StockHistoricalDataClient` is made against a served platform (SQLite and
PostgreSQL), none is refused for want of a route, and the test knows when the SDK grows a call
it does not make (the set of calls made is the SDK's public API).

The calls' own rules are tested where each is built (`test_alpaca*.py`); this is the drop-in
check, in the order a bot would make them."""

import asyncio
import datetime
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alpaca.common.exceptions import APIError
from alpaca.common.rest import RESTClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestBarRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockQuotesRequest,
    StockSnapshotRequest,
    StockTradesRequest,
)
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import (
    CorporateActionType,
    OrderClass,
    OrderSide,
    OrderStatus,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.models import AccountConfiguration, Order
from alpaca.trading.requests import (
    ClosePositionRequest,
    CreateWatchlistRequest,
    GetCalendarRequest,
    GetCorporateAnnouncementsRequest,
    GetOptionContractsRequest,
    GetOrderByIdRequest,
    GetOrdersRequest,
    GetPortfolioHistoryRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
    UpdateWatchlistRequest,
)

from alpaca_helpers import data_client, sdk, trader
from api_helpers import Served, served
from tradingfloor.risk.calendar import calendar_for

GENERIC = {name for name in dir(RESTClient) if not name.startswith("_")}
"""The SDK's plain HTTP helpers (`get`, `post`, ...): not calls of the API."""


def api_calls(client_class: type) -> set[str]:
    names = {name for name in dir(client_class) if not name.startswith("_")}
    return {name for name in names - GENERIC if callable(getattr(client_class, name))}


class Recorded:
    """A client whose API calls run in a worker thread (the server runs on the test's loop)
    and are remembered by name."""

    def __init__(self, client: Any) -> None:
        self.client, self.made = client, set[str]()

    async def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.made.add(name)
        with warnings.catch_warnings():  # announcements: deprecated by the SDK, still served
            warnings.simplefilter("ignore", DeprecationWarning)
            return await asyncio.to_thread(getattr(self.client, name), *args, **kwargs)

    async def refused(self, name: str, *args: Any) -> APIError:
        with pytest.raises(APIError) as caught:
            await self(name, *args)
        return caught.value


@pytest.fixture
async def api(tmp_path: Path, database_url: str | None) -> AsyncIterator[Served]:
    async with served(tmp_path / "data", database_url) as here:
        await here.symbol("XYZ", "100")
        await here.symbol("ABC", "50")
        yield here


async def test_every_sdk_call_a_bot_makes(api: Served) -> None:
    alice_keys = await api.trader("alice", cash="100000", shares={"XYZ": 20})
    alice = Recorded(sdk(api, alice_keys))
    data = Recorded(data_client(api, alice_keys))
    bob = await trader(api, "bob", cash="100000", shares={"XYZ": 500, "ABC": 100})
    gtc, day = TimeInForce.GTC, TimeInForce.DAY

    # The market and the account, before trading.
    assert (await alice("get_clock")).timestamp is not None
    today = datetime.date.today()
    days = await alice("get_calendar", GetCalendarRequest(start=today, end=today.replace(day=28)))
    assert isinstance(days, list)
    assert {asset.symbol for asset in await alice("get_all_assets")} >= {"XYZ", "ABC"}
    assert (await alice("get_asset", "XYZ")).tradable is True
    account = await alice("get_account")
    assert account.cash == "100000.00"
    settings = await alice("get_account_configurations")
    assert isinstance(settings, AccountConfiguration)
    settings.trade_confirm_email = "none"  # type: ignore[assignment]
    changed = await alice("set_account_configurations", settings)
    assert changed.trade_confirm_email == "none"
    announced = await alice(
        "get_corporate_announcements",
        GetCorporateAnnouncementsRequest(
            ca_types=[CorporateActionType.SPLIT], since=today, until=today
        ),
    )
    assert announced == []
    contracts = await alice("get_option_contracts", GetOptionContractsRequest())
    assert contracts.option_contracts == []
    assert (await alice.refused("get_option_contract", "XYZ261218C00100000")).status_code == 404

    # A watchlist.
    listed = await alice("create_watchlist", CreateWatchlistRequest(name="tech", symbols=["XYZ"]))
    assert [asset.symbol for asset in listed.assets] == ["XYZ"]
    assert [each.id for each in await alice("get_watchlists")] == [listed.id]
    await alice("add_asset_to_watchlist_by_id", listed.id, "ABC")
    await alice("remove_asset_from_watchlist_by_id", listed.id, "XYZ")
    renamed = await alice("update_watchlist_by_id", listed.id, UpdateWatchlistRequest(name="t"))
    assert renamed.name == "t"
    got = await alice("get_watchlist_by_id", listed.id)
    assert [asset.symbol for asset in got.assets] == ["ABC"]
    await alice("delete_watchlist_by_id", listed.id)

    # Trading: bob makes a market, alice takes it, brackets and replaces.
    await asyncio.to_thread(
        bob.submit_order,
        LimitOrderRequest(symbol="XYZ", qty=300, side=OrderSide.SELL, time_in_force=gtc,
                          limit_price=100),
    )  # fmt: skip
    await asyncio.to_thread(
        bob.submit_order,
        LimitOrderRequest(symbol="ABC", qty=50, side=OrderSide.SELL, time_in_force=gtc,
                          limit_price=50),
    )  # fmt: skip
    bought = await alice(
        "submit_order",
        MarketOrderRequest(
            symbol="XYZ", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
        ),
    )
    assert bought.status == OrderStatus.FILLED
    await alice(
        "submit_order",
        MarketOrderRequest(symbol="ABC", qty=5, side=OrderSide.BUY, time_in_force=day),
    )
    bracket = await alice(
        "submit_order",
        LimitOrderRequest(
            symbol="XYZ", qty=5, side=OrderSide.BUY, time_in_force=gtc, limit_price=99,
            order_class=OrderClass.BRACKET, take_profit=TakeProfitRequest(limit_price=120),
            stop_loss=StopLossRequest(stop_price=80),
        ),
    )  # fmt: skip
    assert isinstance(bracket, Order) and len(bracket.legs or []) == 2
    resting = await alice(
        "submit_order",
        LimitOrderRequest(symbol="XYZ", qty=1, side=OrderSide.BUY, time_in_force=gtc,
                          limit_price=90, client_order_id="low-bid"),
    )  # fmt: skip
    moved = await alice(
        "replace_order_by_id",
        resting.id,
        ReplaceOrderRequest(limit_price=91, qty=2, client_order_id="low-bid-2"),
    )
    assert (moved.limit_price, moved.qty) == ("91.00", "2")
    assert (await alice("get_order_by_id", moved.id, GetOrderByIdRequest(nested=True))).id == (
        moved.id
    )
    by_client = await alice("get_order_by_client_id", moved.client_order_id)
    assert by_client.id == moved.id
    open_orders = await alice("get_orders", GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert moved.id in {order.id for order in open_orders}
    await alice("cancel_order_by_id", moved.id)
    canceled = await alice("cancel_orders")
    assert isinstance(canceled, list)

    # Positions.
    positions = await alice("get_all_positions")
    assert {position.symbol: position.qty for position in positions} == {"XYZ": "30", "ABC": "5"}
    assert (await alice("get_open_position", "ABC")).qty == "5"
    closed = await alice("close_position", "XYZ", ClosePositionRequest(qty="5"))
    assert closed.qty == "5"
    history = await alice("get_portfolio_history", GetPortfolioHistoryRequest(period="1W"))
    assert history.equity
    exercised = await alice.refused("exercise_options_position", "XYZ261218C00100000")
    assert exercised.status_code == 404
    everything = await alice("close_all_positions", True)
    assert {each.symbol for each in everything} == {"XYZ", "ABC"}

    # Market data on the platform's own trades.
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    xyz: dict[str, Any] = {"symbol_or_symbols": "XYZ", "start": since}
    trades = await data("get_stock_trades", StockTradesRequest(**xyz))
    assert trades.data["XYZ"]
    bars = await data(
        "get_stock_bars",
        StockBarsRequest(timeframe=TimeFrame.Minute, **xyz),
    )
    assert sum(bar.volume for bar in bars.data["XYZ"]) == sum(t.size for t in trades.data["XYZ"])
    quotes = await data("get_stock_quotes", StockQuotesRequest(**xyz))
    assert quotes.data["XYZ"]
    latest_trade = await data(
        "get_stock_latest_trade", StockLatestTradeRequest(symbol_or_symbols="XYZ")
    )
    assert latest_trade["XYZ"].price == 100
    latest_quote = await data(
        "get_stock_latest_quote", StockLatestQuoteRequest(symbol_or_symbols="XYZ")
    )
    assert latest_quote["XYZ"].ask_price == 100
    latest_bar = await data("get_stock_latest_bar", StockLatestBarRequest(symbol_or_symbols="XYZ"))
    assert latest_bar["XYZ"].close == 100
    snapshot = await data("get_stock_snapshot", StockSnapshotRequest(symbol_or_symbols="XYZ"))
    assert snapshot["XYZ"].latest_trade.price == 100

    # The announcement by id needs one: a split of ABC, announced by the admin.
    await announce_split(api)
    found = await alice(
        "get_corporate_announcements",
        GetCorporateAnnouncementsRequest(
            ca_types=[CorporateActionType.SPLIT], since=today,
            until=today + datetime.timedelta(days=60),
        ),
    )  # fmt: skip
    assert (await alice("get_corporate_announcement_by_id", found[0].id)).id == found[0].id

    assert alice.made == api_calls(TradingClient)
    assert data.made == api_calls(StockHistoricalDataClient)


async def announce_split(api: Served) -> None:
    calendar = calendar_for()
    ex_date = calendar.session_date(calendar.session_index(time.time_ns()) + 3)
    body = {"kind": "split", "id": "ABC-2for1", "symbol": "ABC", "old_shares": 1,
            "new_shares": 2, "ex_date": ex_date}  # fmt: skip
    answer = await api.client.post("/v1/admin/corporate-actions", json=body, headers=api.admin)
    assert answer.status_code == 201, answer.text
