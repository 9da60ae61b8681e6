"""Distributed mode end to end: `tradingfloor shard|projector|marketdata|gateway` as processes
of their own with transport nats (real NATS, a scratch PostgreSQL database, Redis), each role
with its own data directory, two gateways sharing one port of 127.0.0.1 and forwarding the
market-data WebSockets to the market-data role; driven through HTTP and WebSocket.

A gateway killed with SIGKILL leaves the other serving; a killed projector means 503 for the
reads that need it, then, restarted, it catches up with nothing lost; a killed shard, restarted,
has every acknowledged order, and its events stream, its journal, its event log and the
projector's rows agree seq by seq (no gap, no repeat); a killed market-data role closes the
streams with 1012, and, restarted, serves them again."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_helpers import Served
from nats_cluster import (
    ORDER,
    STEP_WAIT_S,
    Cluster,
    Placing,
    agree_seq_by_seq,
    listed,
    running_cluster,
    until,
    until_projected,
)


@pytest.fixture
async def cluster(
    tmp_path: Path, nats_url: str, postgres_url: str
) -> AsyncIterator[tuple[Cluster, Served]]:
    """Shard, projector, the market-data role and two gateways on one port."""
    async with running_cluster(tmp_path, nats_url, postgres_url) as running:
        yield running


async def test_orders_fill_and_read_back_through_either_gateway(
    cluster: tuple[Cluster, Served],
) -> None:
    _, here = cluster
    alice = await here.trader("alice", cash="100000")
    bob = await here.trader("bob", cash="0", shares={"XYZ": 100})
    base_url = str(here.client.base_url)
    for round_ in range(10):  # fresh connections: each request may reach either gateway
        async with httpx.AsyncClient(base_url=base_url, timeout=STEP_WAIT_S) as client:
            sell = {"symbol": "XYZ", "side": "sell", "type": "limit", "qty": 2}
            sold = await client.post(
                "/v1/orders", json={**sell, "limit_price": "100"}, headers=bob
            )
        assert sold.status_code == 200, sold.text
        async with httpx.AsyncClient(base_url=base_url, timeout=STEP_WAIT_S) as client:
            buy = {"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 2}
            bought = await client.post(
                "/v1/orders", json={**buy, "limit_price": "100"}, headers=alice
            )
        assert bought.status_code == 200, bought.text
        seq = bought.headers["TF-Seq"]
        async with httpx.AsyncClient(base_url=base_url, timeout=STEP_WAIT_S) as client:
            read = await client.get(
                f"/v1/orders/{bought.json()['id']}", headers={**alice, "TF-Min-Seq": seq}
            )
            assert read.status_code == 200, read.text
            assert read.json()["status"] == "filled"
            positions = await client.get("/v1/positions", headers={**alice, "TF-Min-Seq": seq})
        held = {p["symbol"]: p["qty"] for p in positions.json()}
        assert int(held["XYZ"]) == 2 * (round_ + 1)
    for _ in range(10):  # each gateway's own market data, fed by the events stream
        async with httpx.AsyncClient(base_url=base_url, timeout=STEP_WAIT_S) as client:

            async def traded(client: httpx.AsyncClient = client) -> bool:
                quote = await client.get("/v1/quotes/XYZ", headers=alice)
                assert quote.status_code == 200, quote.text
                last = quote.json()["last"]
                return last is not None and Decimal(last) == 100

            await until(traded, "the last trade in the quote")


async def test_market_data_streams_through_either_gateway_from_the_market_data_role(
    cluster: tuple[Cluster, Served],
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    processes, here = cluster
    alice = await here.trader("alice")
    bob = await here.trader("bob", cash="0", shares={"XYZ": 100})
    ws_url = str(here.client.base_url).replace("http://", "ws://") + "/v1/market-data/XYZ"

    async def next_trade(price: str) -> dict[str, Any]:
        """Trade at `price` and see it on a fresh stream (either gateway)."""
        async with connect(ws_url + "?channels=trades", additional_headers=here.admin) as stream:
            assert '"subscribed"' in str(await asyncio.wait_for(stream.recv(), STEP_WAIT_S))
            sell = {"symbol": "XYZ", "side": "sell", "type": "limit", "qty": 1}
            sold = await here.client.post(
                "/v1/orders", json={**sell, "limit_price": price}, headers=bob
            )
            bought = await here.client.post(
                "/v1/orders", json={**sell, "side": "buy", "limit_price": price}, headers=alice
            )
            assert sold.status_code == bought.status_code == 200, bought.text
            trade_id = bought.json()["fills"][0]["trade_id"] if bought.json()["fills"] else None
            deadline = time.monotonic() + STEP_WAIT_S
            while True:  # the update with this trade (others may come first)
                frame = await asyncio.wait_for(stream.recv(), deadline - time.monotonic())
                for message in json.loads(frame):
                    if message["type"] != "trades" or message["snapshot"]:
                        continue
                    if any(trade["trade_id"] == trade_id for trade in message["trades"]):
                        return dict(message)

    for _ in range(4):
        trade = await next_trade("100")
        assert trade["trades"][-1]["price"] == "100.00"
    async with connect(ws_url, additional_headers=here.admin) as stream:
        await asyncio.wait_for(stream.recv(), STEP_WAIT_S)
        processes.kill("marketdata")
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(stream.recv(), STEP_WAIT_S)
        assert stream.close_code == 1012
    processes.start("marketdata", "marketdata")
    await processes.ready("marketdata", "marketdata")
    after = await next_trade("101")
    assert after["trades"][-1]["price"] == "101.00"
    assert after["feed_seq"] > trade["feed_seq"]


async def test_a_killed_gateway_leaves_the_other_serving(cluster: tuple[Cluster, Served]) -> None:
    processes, here = cluster
    alice = await here.trader("alice")
    base_url = str(here.client.base_url)
    placing = Placing(base_url, alice)
    task = asyncio.create_task(placing.run())
    await placing.until_acknowledged(10)
    processes.kill("gateway-a")
    await placing.until_acknowledged(len(placing.acknowledged) + 10)
    placing.stop.set()
    await task
    after = []
    for _ in range(20):  # every new connection now reaches gateway-b
        async with httpx.AsyncClient(base_url=base_url, timeout=STEP_WAIT_S) as client:
            answer = await client.post("/v1/orders", json=ORDER, headers=alice)
        assert answer.status_code == 200, answer.text
        after.append(answer.json()["id"])
    assert set(placing.acknowledged) | set(after) <= await listed(here, alice)


async def test_a_killed_projector_means_503_for_reads_then_it_catches_up(
    cluster: tuple[Cluster, Served],
) -> None:
    processes, here = cluster
    alice = await here.trader("alice")
    processes.kill("projector")
    placed = []
    refused = None
    deadline = time.monotonic() + STEP_WAIT_S
    while refused is None:  # orders need no read models: taken while the projector is down
        assert time.monotonic() < deadline, "no read was refused while the projector was down"
        answer = await here.order(alice, side="buy", type="limit", qty=1, limit_price="90")
        assert answer.status_code == 200, answer.text
        placed.append(answer.json()["id"])
        read = await here.client.get(
            "/v1/orders", headers={**alice, "TF-Min-Seq": answer.headers["TF-Seq"]}
        )
        if read.status_code == 503:
            refused = read
    assert refused.json()["code"] == 5033 and int(refused.headers["Retry-After"]) >= 1
    processes.start("projector", "projector")
    await processes.ready("projector", "projector")
    assert set(placed) <= await listed(here, alice)


async def test_a_killed_shard_loses_no_acknowledged_order_and_the_stream_has_no_gap(
    cluster: tuple[Cluster, Served], postgres_url: str, nats_url: str
) -> None:
    processes, here = cluster
    alice = await here.trader("alice", cash="1000000")
    bob = await here.trader("bob", cash="0", shares={"XYZ": 100_000})
    base_url = str(here.client.base_url)
    buying, selling = Placing(base_url, alice), Placing(base_url, bob, "sell")
    tasks = [asyncio.create_task(placing.run()) for placing in (buying, selling)]
    await buying.until_acknowledged(10)
    processes.kill("shard")
    before_restart = len(buying.acknowledged)
    processes.start("shard", "shard")
    await processes.ready("shard", "shard")
    await buying.until_acknowledged(before_restart + 10)  # on the recovered shard
    buying.stop.set()
    selling.stop.set()
    await asyncio.gather(*tasks)
    bought = buying.acknowledged
    assert buying.failed > 0  # refused while the shard was down
    assert int(bought[-1]) > int(bought[before_restart - 1])
    assert set(bought) <= await listed(here, alice)
    assert set(selling.acknowledged) <= await listed(here, bob)
    last_seq = await here.shard.last_seq()
    await until_projected(postgres_url, last_seq)
    processes.stop_all()  # the journal and the event log are read once the shard is gone
    await agree_seq_by_seq(processes, postgres_url, nats_url, last_seq)
