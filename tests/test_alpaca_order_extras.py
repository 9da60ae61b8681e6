"""`/v2`'s close of every position, the replace of every field Alpaca allows, and orders refused
as Alpaca answers them, driven by the official `alpaca-py` SDK against a served platform
(real HTTP), on SQLite and PostgreSQL."""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, OrderType
from alpaca.trading.models import ClosePositionResponse, FailedClosePositionDetails, Order
from alpaca.trading.requests import LimitOrderRequest

from api_helpers import SHARED_PLATFORMS, Served, shared_platform, shared_platform_id
from test_alpaca import call, limit_buy, order, sdk

on_shared_platform = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=SHARED_PLATFORMS, ids=shared_platform_id
)
async def platform(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Served]:
    async with shared_platform(
        tmp_path_factory.mktemp("platform") / "data", request.param
    ) as here:
        yield here


@pytest_asyncio.fixture(loop_scope="module")
async def api(platform: Served) -> Served:
    return await platform.share()


async def trader(api: Served, name: str, **terms: object) -> TradingClient:
    return sdk(api, await api.trader(name, **terms))  # type: ignore[arg-type]


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
