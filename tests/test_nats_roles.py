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
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.js.errors
import pytest
from sqlalchemy import select

from api_helpers import Clock, Served, _admin
from conftest import require_tcp_service
from tradingfloor.bootstrap.roles import ready_mark, reuse_port_socket
from tradingfloor.bootstrap.transport import NatsTransport
from tradingfloor.config import Settings, load_settings
from tradingfloor.domain.events import OrderAccepted, OrderRejected, TradeExecuted
from tradingfloor.identity import AuthService
from tradingfloor.journal.file import FileJournal
from tradingfloor.service.eventlog import EventLog
from tradingfloor.service.nats_events import encode_message
from tradingfloor.store.database import make_engine, upgrade
from tradingfloor.store.readmodels import fills, orders, projection_state

REDIS_URL = os.environ.get("TRADINGFLOOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROLE_WAIT_S = 120.0
"""The longest a role may take to be ready (imports, recovery); never waited when it is."""
STEP_WAIT_S = 30.0
"""The longest any other step may take before the test fails."""
STOP_WAIT_S = 30.0
ORDER = {"symbol": "XYZ", "side": "buy", "type": "limit", "qty": 1, "limit_price": "90"}


class Cluster:
    """The roles' processes, each in its own data directory under `root`, on one config."""

    def __init__(self, root: Path, config: Path, settings: Settings) -> None:
        self.root = root
        self.config = config
        self.settings = settings
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def data_dir(self, name: str) -> Path:
        return self.root / name

    def start(self, name: str, role: str) -> None:
        """Start `role` as process `name` (its ready mark removed first: a killed process
        leaves its own)."""
        mark = self._mark(name, role)
        mark.unlink(missing_ok=True)
        env = {**os.environ, "TRADINGFLOOR_DATA_DIR": str(self.data_dir(name))}
        log = (self.root / f"{name}.log").open("ab")
        command = [sys.executable, "-m", "tradingfloor", role, "--config", str(self.config)]
        self.processes[name] = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        log.close()

    def _mark(self, name: str, role: str) -> Path:
        settings = self.settings.model_copy(update={"data_dir": self.data_dir(name)})
        return ready_mark(settings, "gateway-0" if role == "gateway" else role)

    async def ready(self, name: str, role: str) -> None:
        mark = self._mark(name, role)
        deadline = time.monotonic() + ROLE_WAIT_S
        while not mark.exists():
            process = self.processes[name]
            if process.poll() is not None:
                raise AssertionError(f"{name} exited ({process.returncode}):\n{self.log(name)}")
            assert time.monotonic() < deadline, f"{name} not ready:\n{self.log(name)}"
            await asyncio.sleep(0.05)

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")[-4_000:]

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(STOP_WAIT_S)

    def stop(self, name: str) -> int:
        """SIGTERM, as an operator would; its exit code (killed if it does not stop)."""
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(f"{name} did not stop:\n{self.log(name)}") from None
        return process.returncode

    def stop_all(self) -> None:
        """Gateways, then the projector, then the shard."""
        for name in sorted(self.processes, key=lambda name: ("gateway" not in name, name)):
            with contextlib.suppress(AssertionError):
                self.stop(name)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    from postgres_db import scratch_database

    with scratch_database() as url:
        yield url


@pytest.fixture
async def cluster(
    tmp_path: Path, nats_url: str, postgres_url: str
) -> AsyncIterator[tuple[Cluster, Served]]:
    """Shard, projector and two gateways on one port; the admin made as tests make it."""
    require_tcp_service("Redis", REDIS_URL, 6379)
    reserved = reuse_port_socket("127.0.0.1", 0)  # held (not listening) until the end
    port = reserved.getsockname()[1]
    reserved_marketdata = reuse_port_socket("127.0.0.1", 0)
    marketdata_port = reserved_marketdata.getsockname()[1]
    shard_name = f"e2e-{uuid.uuid4().hex[:12]}"
    config = tmp_path / "tradingfloor.toml"
    config.write_text(
        "\n".join(
            (
                'transport = "nats"',
                f'nats_url = "{nats_url}"',
                f'shard_name = "{shard_name}"',
                f'database_url = "{postgres_url}"',
                f'redis_url = "{REDIS_URL}"',
                f'jwt_secret = "{uuid.uuid4().hex}{uuid.uuid4().hex}"',
                'host = "127.0.0.1"',
                f"port = {port}",
                f"marketdata_port = {marketdata_port}",
                f'marketdata_url = "ws://127.0.0.1:{marketdata_port}"',
                "fsync = false",
                "projection_status_interval_ms = 100",
                # Tests elsewhere share the Redis server and number users alike: no limit to
                # meet here, whatever their buckets hold.
                "orders_per_second_max = 1000000",
                "orders_burst_max = 1000000",
                "",
            )
        ),
        encoding="utf-8",
    )
    settings = load_settings(config)
    await asyncio.to_thread(upgrade, postgres_url)
    here = Cluster(tmp_path, config, settings)
    transport = NatsTransport(settings, "test")
    store = make_engine(postgres_url)
    try:
        here.start("shard", "shard")
        await here.ready("shard", "shard")
        await transport.start()
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=STEP_WAIT_S) as client:
            auth = AuthService(store, settings, clock=Clock())
            served = Served(None, client, Clock(), None, auth, transport.shard_port())
            await _admin(served)  # first: the gateways then make no admin of their own
            started = (("projector", "projector"), ("marketdata", "marketdata"))
            started += (("gateway-a", "gateway"), ("gateway-b", "gateway"))
            for name, role in started:
                here.start(name, role)
            for name, role in started:
                await here.ready(name, role)
            await served.symbol("XYZ", "100")
            yield here, served
    finally:
        here.stop_all()
        await transport.close()
        store.dispose()
        reserved.close()
        reserved_marketdata.close()
        await _drop_stream(nats_url, f"TF_EVENTS_{shard_name}")


async def _drop_stream(nats_url: str, stream: str) -> None:
    connection = await nats.connect(nats_url)
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await connection.jetstream().delete_stream(stream)
    finally:
        await connection.close()


async def _until(predicate: Any, what: str, timeout_s: float = STEP_WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.05)


class Placing:
    """Orders on fresh connections (the kernel spreads them over the gateways), five per
    connection, until `stop`: the ids of those acknowledged, and how many were refused (503)
    or lost on their way (those are not acknowledged, whatever became of them)."""

    def __init__(self, base_url: str, headers: dict[str, str], side: str = "buy") -> None:
        self.base_url = base_url
        self.headers = headers
        self.order = {**ORDER, "side": side}
        self.acknowledged: list[str] = []
        self.failed = 0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        while not self.stop.is_set():
            try:
                async with httpx.AsyncClient(base_url=self.base_url, timeout=STEP_WAIT_S) as http:
                    for _ in range(5):
                        await self._place(http)
            except httpx.TransportError:
                self.failed += 1
                await asyncio.sleep(0.02)

    async def _place(self, http: httpx.AsyncClient) -> None:
        answer = await http.post("/v1/orders", json=self.order, headers=self.headers)
        if answer.status_code == 200:
            self.acknowledged.append(answer.json()["id"])
        else:
            assert answer.status_code == 503, answer.text
            self.failed += 1
            await asyncio.sleep(0.02)

    async def until_acknowledged(self, count: int) -> None:
        async def enough() -> bool:
            return len(self.acknowledged) >= count

        await _until(enough, f"{count} orders acknowledged")


async def _listed(here: Served, headers: dict[str, str]) -> set[str]:
    """Every order of the account the read models list (503s retried, as told)."""
    listed: set[str] = set()
    token = None
    deadline = time.monotonic() + STEP_WAIT_S
    while True:
        query = "/v1/orders?limit=500" + (f"&page_token={token}" if token else "")
        answer = await here.client.get(query, headers=headers)
        if answer.status_code == 503:
            assert time.monotonic() < deadline, answer.text
            await asyncio.sleep(0.1)
            continue
        assert answer.status_code == 200, answer.text
        page = answer.json()
        listed.update(order["id"] for order in page["orders"])
        token = page["next_page_token"]
        if token is None:
            return listed


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

            await _until(traded, "the last trade in the quote")


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
    assert set(placing.acknowledged) | set(after) <= await _listed(here, alice)


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
    assert set(placed) <= await _listed(here, alice)


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
    assert set(bought) <= await _listed(here, alice)
    assert set(selling.acknowledged) <= await _listed(here, bob)
    last_seq = await here.shard.last_seq()
    await _until_projected(postgres_url, last_seq)
    processes.stop_all()  # the journal and the event log are read once the shard is gone
    await _agree_seq_by_seq(processes, postgres_url, nats_url, last_seq)


def _projected_seq(database_url: str) -> int:
    from tradingfloor.store.projector import Projector

    store = make_engine(database_url)
    try:
        return Projector(store).last_seq()
    finally:
        store.dispose()


async def _until_projected(database_url: str, seq: int) -> None:
    async def projected() -> bool:
        return await asyncio.to_thread(_projected_seq, database_url) >= seq

    await _until(projected, f"the read models at seq {seq}")


async def _agree_seq_by_seq(
    processes: Cluster, database_url: str, nats_url: str, last_seq: int
) -> None:
    """The shard's journal and event log, its events stream and the projector's rows hold
    the same commands, each once."""
    node = processes.data_dir("shard") / "node"
    journal = FileJournal(node / "journal", fsync=False)
    await journal.open()
    try:
        journaled = [entry.seq async for entry in journal.replay(1)]
    finally:
        await journal.close()
    assert journaled == list(range(journaled[0], last_seq + 1))
    events = EventLog(node / "events")
    events.open()
    try:
        logged = list(events.read(1))
    finally:
        events.close()
    assert [seq for seq, _, _ in logged] == list(range(1, last_seq + 1))

    settings = processes.settings
    connection = await nats.connect(nats_url)
    try:
        stream = f"TF_EVENTS_{settings.shard_name}"
        state = (await connection.jetstream().stream_info(stream)).state
        assert (state.messages, state.first_seq, state.last_seq) == (last_seq, 1, last_seq)
        for seq, ts, items in logged:
            stored = await connection.jetstream().get_msg(stream, seq)
            assert stored.data == encode_message(seq, ts, items), f"seq {seq}"
    finally:
        await connection.close()

    expected_fills = sorted(
        (seq, event.trade_id, order_id, account)
        for seq, _, items in logged
        for event in items
        if isinstance(event, TradeExecuted)
        for order_id, account in (
            (event.maker_order_id, event.maker_account),
            (event.taker_order_id, event.taker_account),
        )
    )
    expected_orders = {
        event.order_id
        for _, _, items in logged
        for event in items
        if isinstance(event, OrderAccepted | OrderRejected)
    }
    store = make_engine(database_url)
    try:
        with store.connect() as connection_:
            rows = connection_.execute(
                select(fills.c.seq, fills.c.trade_id, fills.c.order_id, fills.c.account)
            ).all()
            order_ids = connection_.execute(select(orders.c.order_id)).scalars().all()
            projected = connection_.execute(select(projection_state.c.last_seq)).scalar()
    finally:
        store.dispose()
    assert expected_fills, "no fill to compare"
    assert sorted(tuple(row) for row in rows) == expected_fills
    assert sorted(order_ids) == sorted(expected_orders)
    assert projected == last_seq
