"""What the tests of the Alpaca-compatible API share: the official `alpaca-py` clients on one
of a served platform's API keys, their calls run in a worker thread (the SDK is synchronous;
the server runs on the test's event loop), and the platforms a module's tests share.

A module takes its shared platforms with `platform, api = shared_platform_fixtures(...)` and
marks the tests on `api` with `on_shared_platform`."""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from alpaca.common.exceptions import APIError
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import LimitOrderRequest, OrderRequest

from api_helpers import SHARED_PLATFORMS, Served, shared_platform, shared_platform_id

T = TypeVar("T")

on_shared_platform = pytest.mark.asyncio(loop_scope="module")
"""The tests on `api`: they run in the event loop of the module's shared platforms."""


def shared_platform_fixtures(
    kinds: Sequence[tuple[str, str]] = SHARED_PLATFORMS,
    ids: Callable[[tuple[str, str]], str] = shared_platform_id,
    **settings: Any,
) -> tuple[Any, Any]:
    """The `platform` and `api` fixtures of a module, to assign at its top level: one platform
    per (topology, database) of `kinds` (with `settings`), shared by the module's tests, and
    each test's share of it. Made per module so that each module has platforms of its own."""

    @pytest_asyncio.fixture(scope="module", loop_scope="module", params=list(kinds), ids=ids)
    async def platform(
        tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
    ) -> AsyncIterator[Served]:
        """The platform of one (topology, database), on a database of its own."""
        data = tmp_path_factory.mktemp("platform") / "data"
        async with shared_platform(data, request.param, **settings) as here:
            yield here

    @pytest_asyncio.fixture(loop_scope="module")
    async def api(platform: Served) -> Served:
        """The test's share of the module's platform: its own users and symbol (`api.sym`)."""
        return await platform.share()

    return platform, api


def base_url(api: Served) -> str:
    return str(api.client.base_url).rstrip("/")


def sdk(api: Served, headers: dict[str, str]) -> TradingClient:
    """The official trading client on one of our API keys, pointed at the served platform."""
    return TradingClient(
        headers["X-API-Key-Id"], headers["X-API-Secret"], url_override=base_url(api)
    )


def data_client(api: Served, headers: dict[str, str]) -> StockHistoricalDataClient:
    """The official market data client on one of our API keys, pointed at the platform."""
    return StockHistoricalDataClient(
        headers["X-API-Key-Id"], headers["X-API-Secret"], url_override=base_url(api)
    )


async def trader(api: Served, name: str, **terms: object) -> TradingClient:
    """A new trader of the test's share (`Served.trader`) on the official trading client."""
    return sdk(api, await api.trader(name, **terms))  # type: ignore[arg-type]


async def call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(function, *args, **kwargs)


async def refused(function: Callable[..., Any], *args: Any) -> APIError:
    """The SDK's `APIError` the call raises (fails the test if it succeeds)."""
    with pytest.raises(APIError) as caught:
        await call(function, *args)
    return caught.value


def order(value: Any) -> Order:
    assert isinstance(value, Order), value
    return value


async def submitted(client: TradingClient, request: OrderRequest) -> Order:
    """The order the client's submit answers with."""
    return order(await call(client.submit_order, request))


def limit_buy(symbol: str, qty: float, price: float, **terms: Any) -> LimitOrderRequest:
    return LimitOrderRequest(
        symbol=symbol,
        qty=qty,
        side=OrderSide.BUY,
        time_in_force=terms.pop("time_in_force", TimeInForce.DAY),
        limit_price=price,
        **terms,
    )
