"""Two symbol shards end to end on NATS: each shard and its projector as processes of their
own, the cash allocator, the market-data role and a gateway in front of both (real NATS, a
scratch PostgreSQL database, Redis), driven over HTTP as a client would.

Orders of one account on both shards: each goes to its symbol's shard (its id in that shard's
range), a buy on the shard that holds none of the account's cash is refused for buying power
and, once the allocator has brought the cash, accepted; both fill; the orders, positions,
account and quotes read back over HTTP are those of both shards, read your writes included.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_helpers import Served
from nats_cluster import STEP_WAIT_S, Cluster, running_cluster
from tradingfloor.domain.shards import ORDER_ID_SHARD_SPAN, ShardMap
from tradingfloor.service.shard_router import home_shard


@pytest.fixture
async def two_shards(
    tmp_path: Path, nats_url: str, postgres_url: str
) -> AsyncIterator[tuple[Cluster, Served, ShardMap]]:
    """Shards east and west with their projectors, the allocator and a gateway; AAA listed
    on east at $100, BBB on west at $50."""
    tag = uuid.uuid4().hex[:10]
    east, west = f"e{tag}", f"w{tag}"
    settings = {
        "shard_name": east,
        "shards": [east, west],
        "symbol_shards": {"AAA": east, "BBB": west},
    }
    role_env = {
        name: {"TRADINGFLOOR_SHARD_NAME": shard}
        for name, shard in (
            ("shard-east", east),
            ("shard-west", west),
            ("projector-east", east),
            ("projector-west", west),
        )
    }
    roles = [
        ("projector-east", "projector"),
        ("projector-west", "projector"),
        ("allocator", "allocator"),
        ("gateway", "gateway"),
    ]
    async with running_cluster(
        tmp_path,
        nats_url,
        postgres_url,
        settings=settings,
        role_env=role_env,
        shards=("shard-east", "shard-west"),
        roles=roles,
        symbols={"AAA": "100", "BBB": "50"},
    ) as (here, served):
        yield here, served, ShardMap.of_settings(here.settings)


async def _accepted(client: httpx.AsyncClient, headers: dict[str, str], **order: Any) -> Any:
    """Place `order` until it is accepted (a refusal for buying power brings the account's
    cash to the order's shard: the allocator's policy); the answer."""
    body = {"time_in_force": "gtc", "type": "limit", **order}
    deadline = time.monotonic() + STEP_WAIT_S
    while True:
        answer = await client.post("/v1/orders", json=body, headers=headers)
        if answer.status_code == 200:
            return answer
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == 2011, answer.text  # insufficient buying power
        assert time.monotonic() < deadline, "the allocator never brought the cash"
        await asyncio.sleep(0.1)


async def test_one_account_trades_on_both_shards_through_one_gateway(
    two_shards: tuple[Cluster, Served, ShardMap],
) -> None:
    _, served, shard_map = two_shards
    client = served.client
    alice = await served.trader("alice", cash="10000")
    bob = await served.trader("bob", cash="0", shares={"AAA": 100, "BBB": 100})
    away_symbol = next(
        symbol
        for symbol in ("AAA", "BBB")
        if shard_map.shard_of_symbol(symbol) != home_shard(shard_map, "alice")
    )
    first = await client.post(
        "/v1/orders",
        json={"symbol": away_symbol, "side": "buy", "type": "limit", "qty": 10,
              "limit_price": "100", "time_in_force": "gtc"},
        headers=alice,
    )  # fmt: skip
    assert first.status_code == 403 and first.json()["code"] == 2011, first.text

    placed = {}
    for symbol, price in (("AAA", "100"), ("BBB", "50")):
        sold = await client.post(
            "/v1/orders",
            json={"symbol": symbol, "side": "sell", "type": "limit", "qty": 10,
                  "limit_price": price, "time_in_force": "gtc"},
            headers=bob,
        )  # fmt: skip
        assert sold.status_code == 200, sold.text
        bought = await _accepted(
            client, alice, symbol=symbol, side="buy", qty=10, limit_price=price
        )
        placed[symbol] = bought
        order_id = int(bought.json()["id"])
        index = shard_map.index(shard_map.shard_of_symbol(symbol))
        assert order_id // ORDER_ID_SHARD_SPAN == index
        assert int(bought.headers["tf-seq"]) // ORDER_ID_SHARD_SPAN == index
        assert bought.json()["status"] == "filled", bought.text

    # Read your writes: each order, by id, right after its answer, with its token.
    for symbol, bought in placed.items():
        answer = await client.get(
            f"/v1/orders/{bought.json()['id']}",
            headers={**alice, "TF-Min-Seq": bought.headers["tf-seq"]},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "filled" and answer.json()["symbol"] == symbol

    listed = await client.get("/v1/orders?status=all&limit=100", headers=alice)
    assert listed.status_code == 200, listed.text
    assert {order["id"] for order in listed.json()["orders"]} >= {
        bought.json()["id"] for bought in placed.values()
    }
    positions = await client.get("/v1/positions", headers=alice)
    assert positions.status_code == 200, positions.text
    held = {row["symbol"]: row["qty"] for row in positions.json()}
    assert held == {"AAA": 10, "BBB": 10}, positions.text
    account = await client.get("/v1/account", headers=alice)
    assert account.status_code == 200, account.text
    assert Decimal(account.json()["cash"]) == Decimal("10000") - 10 * 100 - 10 * 50

    async def quoted() -> bool:
        prices = []
        for symbol in ("AAA", "BBB"):
            quote = await client.get(f"/v1/quotes/{symbol}", headers=alice)
            assert quote.status_code == 200, quote.text
            prices.append(quote.json()["last"])
            index = shard_map.index(shard_map.shard_of_symbol(symbol))
            assert quote.json()["seq"] // ORDER_ID_SHARD_SPAN == index  # its shard's token
        return prices == ["100.00", "50.00"]

    deadline = time.monotonic() + STEP_WAIT_S
    while not await quoted():
        assert time.monotonic() < deadline, "the gateway's market data missed a shard"
        await asyncio.sleep(0.05)


async def test_a_symbol_moves_to_the_other_shard_with_its_orders_in_priority(
    two_shards: tuple[Cluster, Served, ShardMap],
) -> None:
    _, served, shard_map = two_shards
    client = served.client
    east, west = shard_map.names
    alice = await served.trader("alice", cash="10000")
    bob = await served.trader("bob", cash="10000")
    carol = await served.trader("carol", cash="0", shares={"AAA": 100})
    bids = []
    for who in (alice, bob):  # alice's bid first: first in time priority at $99
        placed = await _accepted(client, who, symbol="AAA", side="buy", qty=10, limit_price="99")
        bids.append(placed.json()["id"])
    before = {}
    for name, who in (("alice", alice), ("bob", bob)):
        before[name] = (await client.get("/v1/account", headers=who)).json()

    moved = await client.post(
        "/v1/admin/symbols/AAA/move", json={"to_shard": west}, headers=served.admin
    )
    assert moved.status_code == 200, moved.text
    assert moved.json() == {
        "symbol": "AAA", "from_shard": east, "to_shard": west, "status": "moved",
        "resumed": True,
    }  # fmt: skip
    listed = await client.get("/v1/admin/shards", headers=served.admin)
    assert listed.json()["symbols"]["AAA"] == west, listed.text
    again = await client.post(
        "/v1/admin/symbols/AAA/move", json={"to_shard": west}, headers=served.admin
    )
    assert again.status_code == 422 and again.json()["code"] == 1017, again.text

    # The same orders, the same ids, the same priority, on the new shard.
    for name, who in (("alice", alice), ("bob", bob)):
        after = (await client.get("/v1/account", headers=who)).json()
        assert (after["cash"], after["buying_power"]) == (
            before[name]["cash"],
            before[name]["buying_power"],
        ), after
    sold = await client.post(
        "/v1/orders",
        json={"symbol": "AAA", "side": "sell", "type": "limit", "qty": 10,
              "limit_price": "99", "time_in_force": "gtc"},
        headers=carol,
    )  # fmt: skip
    assert sold.status_code == 200 and sold.json()["status"] == "filled", sold.text
    assert int(sold.json()["id"]) // ORDER_ID_SHARD_SPAN == shard_map.index(west)
    first = await client.get(
        f"/v1/orders/{bids[0]}", headers={**alice, "TF-Min-Seq": sold.headers["tf-seq"]}
    )
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "filled", first.text  # alice's, first in time
    canceled = await client.delete(f"/v1/orders/{bids[1]}", headers=bob)
    assert canceled.status_code in (200, 204), canceled.text
    positions = (await client.get("/v1/positions", headers=alice)).json()
    assert {row["symbol"]: row["qty"] for row in positions} == {"AAA": 10}
    quote = (await client.get("/v1/quotes/AAA", headers=alice)).json()
    assert quote["seq"] // ORDER_ID_SHARD_SPAN == shard_map.index(west), quote
