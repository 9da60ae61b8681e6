"""`serve` as processes: a role killed with SIGKILL under load is started again, the others
ride it out, and nothing acknowledged is lost; Ctrl-C stops every role cleanly."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api_helpers import Served, served
from test_streams import Stream, open_stream

ORDER = {"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, "limit_price": "90"}


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Served]:
    async with served(tmp_path / "data", None, "processes", workers=2) as here:
        await here.symbol("XYZ", "100")
        yield here


async def _orders(here: Served, headers: dict[str, str], stop: asyncio.Event) -> list[str]:
    """Place orders on fresh connections until `stop`; the ids of those acknowledged (a
    request that fails on its way is not acknowledged, whatever became of it)."""
    acknowledged = []
    base_url = str(here.client.base_url)
    while not stop.is_set():
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
                for _ in range(5):
                    answer = await client.post("/v1/orders", json=ORDER, headers=headers)
                    if answer.status_code == 200:
                        acknowledged.append(answer.json()["id"])
        except httpx.TransportError:
            await asyncio.sleep(0.01)
    return acknowledged


async def _all_listed(here: Served, headers: dict[str, str]) -> set[str]:
    """Every order of the account, as the read models list them (503s retried, as a client
    told Retry-After would)."""
    listed: set[str] = set()
    token = None
    deadline = time.monotonic() + 30
    while True:
        query = "/v1/orders?limit=500" + (f"&page_token={token}" if token else "")
        answer = await here.client.get(query, headers=headers)
        if answer.status_code == 503 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            continue
        page = answer.json()
        listed.update(order["id"] for order in page["orders"])
        token = page["next_page_token"]
        if token is None:
            return listed


async def _until(predicate: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.05)


def _kill(here: Served, name: str) -> int:
    process = here.supervisor.children[name].process
    os.kill(process.pid, signal.SIGKILL)
    return int(process.pid)


def _restarted(here: Served, name: str, old_pid: int) -> bool:
    child = here.supervisor.children[name]
    from tradingfloor.bootstrap.roles import ready_mark

    alive = child.process is not None and child.process.returncode is None
    return (
        alive
        and child.process.pid != old_pid
        and ready_mark(here.supervisor.settings, name).exists()
    )


async def test_a_killed_gateway_worker_comes_back_and_the_others_keep_serving(
    cluster: Served,
) -> None:
    alice = await cluster.trader("alice")
    stop = asyncio.Event()
    placing = asyncio.create_task(_orders(cluster, alice, stop))
    await asyncio.sleep(0.5)
    old_pid = _kill(cluster, "gateway-0")
    await _until(lambda: _restarted(cluster, "gateway-0", old_pid))
    await asyncio.sleep(0.5)
    stop.set()
    acknowledged = await placing
    assert len(acknowledged) > 10
    assert set(acknowledged) <= await _all_listed(cluster, alice)  # none lost
    assert cluster.supervisor.children["gateway-0"].restarts == 1


async def test_a_killed_projector_means_503_for_reads_then_it_catches_up(
    cluster: Served,
) -> None:
    alice = await cluster.trader("alice")
    old_pid = _kill(cluster, "projector")
    placed = []
    refused = None
    for _ in range(20):  # orders need no read models: taken while the projector is down
        answer = await cluster.order(alice, side="buy", type="limit", qty=1, limit_price="90")
        assert answer.status_code == 200, answer.text
        placed.append(answer.json()["id"])
        read = await cluster.client.get("/v1/orders", headers=alice)
        if read.status_code == 503:
            refused = read
    assert refused is not None, "no read was refused while the projector was down"
    assert refused.json()["code"] == 5033 and int(refused.headers["Retry-After"]) >= 1
    await _until(lambda: _restarted(cluster, "projector", old_pid))
    assert set(placed) <= await _all_listed(cluster, alice)


async def test_a_killed_shard_recovers_every_acknowledged_order(cluster: Served) -> None:
    alice = await cluster.trader("alice")
    stop = asyncio.Event()
    placing = asyncio.create_task(_orders(cluster, alice, stop))
    await asyncio.sleep(0.5)
    old_pid = _kill(cluster, "shard")
    await _until(lambda: _restarted(cluster, "shard", old_pid))
    await asyncio.sleep(0.5)  # orders again, on the recovered shard
    stop.set()
    acknowledged = await placing
    assert len(acknowledged) > 10
    assert set(acknowledged) <= await _all_listed(cluster, alice)
    assert int(acknowledged[-1]) > int(acknowledged[0])


async def _trading(
    here: Served, buyer: dict[str, str], seller: dict[str, str], stop: asyncio.Event
) -> int:
    """Cross one share at a time until `stop`; the trades made."""
    trades = 0
    order = {"symbol": "XYZ", "type": "limit", "qty": 1, "limit_price": "95"}
    while not stop.is_set():
        sold = await here.client.post("/v1/orders", json={**order, "side": "sell"}, headers=seller)
        bought = await here.client.post("/v1/orders", json={**order, "side": "buy"}, headers=buyer)
        assert sold.status_code == bought.status_code == 200, (sold.text, bought.text)
        trades += 1
        await asyncio.sleep(0.01)
    return trades


async def _newest_trade(stream: Stream, after: int = 0) -> dict[str, object]:
    """The next trades message whose newest trade is newer than trade id `after`."""
    while True:
        message = await stream.next_of("trades", timeout_s=10)
        if message["trades"] and message["trades"][-1]["trade_id"] > after:
            return message


async def test_a_killed_market_data_role_closes_streams_with_1012_then_serves_fresh_snapshots(
    cluster: Served,
) -> None:
    from websockets.exceptions import ConnectionClosed

    alice = await cluster.trader("alice")
    bob = await cluster.trader("bob", cash="0", shares={"XYZ": 1_000})
    stop = asyncio.Event()
    trading = asyncio.create_task(_trading(cluster, alice, bob, stop))
    path = "/v1/market-data/XYZ?channels=trades"
    stream = await open_stream(cluster, path, cluster.admin)
    before = await _newest_trade(stream)
    old_pid = _kill(cluster, "marketdata")
    with pytest.raises(ConnectionClosed):
        while True:
            await stream.next(timeout_s=10)
    assert stream.connection.close_code == 1012  # service restart: reconnect
    await _until(lambda: _restarted(cluster, "marketdata", old_pid))
    await asyncio.sleep(0.3)  # trades after its restart too
    stop.set()
    assert await trading > 5
    again = await open_stream(cluster, path, cluster.admin)
    assert (await again.next())["type"] == "subscribed"
    snapshot = await again.next_of("trades")
    assert snapshot["snapshot"]
    newest_before = before["trades"][-1]["trade_id"]  # type: ignore[index]
    # The restarted role rebuilt the tape from the event log: the trades made while it was
    # down are in the snapshot, and feed_seq shows how far the market moved meanwhile.
    assert snapshot["trades"][-1]["trade_id"] > newest_before
    assert snapshot["feed_seq"] > before["feed_seq"]  # type: ignore[operator]
    await again.connection.close()
    assert cluster.supervisor.children["marketdata"].restarts == 1


def test_ctrl_c_stops_every_role(tmp_path: Path) -> None:
    """The real command: `serve` on a free port, then SIGINT; it and its roles exit."""
    command = [sys.executable, "-m", "tradingfloor", "serve", "--port", "0"]
    command += ["--data", str(tmp_path / "data"), "--no-fsync", "--workers", "2"]
    environment = {**os.environ, "TRADINGFLOOR_CLEARINGHOUSE_PORT": "0"}  # any free port
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 120
        line = ""
        while "listening on" not in line:
            assert time.monotonic() < deadline and server.poll() is None, line
            line = server.stdout.readline()
        children = _children(server.pid)
        # shard, projector, market data, settlement, clearinghouse, audit, surveillance,
        # reporting, two gateways
        assert len(children) == 10
        server.send_signal(signal.SIGINT)
        assert server.wait(60) == 0
        for pid in children:
            assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    finally:
        if server.poll() is None:
            server.kill()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


async def test_a_read_on_another_worker_sees_the_write(cluster: Served) -> None:
    """Each request on a connection of its own (the kernel spreads them over both workers):
    a read right after an order's answer lists it, whichever worker answers it."""
    alice = await cluster.trader("alice")
    base_url = str(cluster.client.base_url)
    for _ in range(20):
        async with httpx.AsyncClient(base_url=base_url) as placing:
            answer = await placing.post("/v1/orders", json=ORDER, headers=alice)
        assert answer.status_code == 200
        assert int(answer.headers["TF-Seq"]) > 0
        async with httpx.AsyncClient(base_url=base_url) as reading:
            order = await reading.get(f"/v1/orders/{answer.json()['id']}", headers=alice)
        assert order.status_code == 200, order.text
