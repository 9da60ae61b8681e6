"""The platform's roles as processes on real NATS, PostgreSQL and Redis, for end-to-end
tests of distributed mode (`tests/test_nats_roles.py`, `tests/test_failure_table.py`).

`running_cluster` writes one `tradingfloor.toml` (transport nats, a shard name of its own, a
scratch database, Redis), starts the shard, makes the admin, then the projector, the
market-data role and the gateways on one port of 127.0.0.1, and stops them all and deletes the
events stream at the end. A role may get environment variables of its own (`role_env`), e.g.
a URL through a `tcp_proxy.TcpProxy` that the test can cut. The checks after a run (the
journal, the event log, the stream and the read models agree seq by seq) are here too.
"""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.js.errors
from sqlalchemy import select

from api_helpers import PASSWORD_HASHING_FAST, Clock, Served, _admin
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
UNLIMITED = {"orders_per_second_max": 1_000_000, "orders_burst_max": 1_000_000}
"""No limit to meet unless a test sets one (its keys are in a space of the cluster's own)."""


class Cluster:
    """The roles' processes, each in its own data directory under `root`, on one config."""

    def __init__(
        self,
        root: Path,
        config: Path,
        settings: Settings,
        role_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.root = root
        self.config = config
        self.settings = settings
        self.role_env = dict(role_env or {})
        """Environment variables of a process of its own, by its name (e.g. a proxied URL)."""
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def data_dir(self, name: str) -> Path:
        return self.root / name

    def start(self, name: str, role: str) -> None:
        """Start `role` as process `name` (its ready mark removed first: a killed process
        leaves its own)."""
        mark = self._mark(name, role)
        mark.unlink(missing_ok=True)
        env = {**os.environ, "TRADINGFLOOR_DATA_DIR": str(self.data_dir(name))}
        env.update(self.role_env.get(name, {}))
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


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):  # an inline table
        return "{ " + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + " }"
    return json.dumps(str(value))  # a TOML basic string


@contextlib.asynccontextmanager
async def running_cluster(
    root: Path,
    nats_url: str,
    postgres_url: str,
    *,
    gateways: int = 2,
    settings: Mapping[str, Any] | None = None,
    role_env: Mapping[str, Mapping[str, str]] | None = None,
    shards: Sequence[str] = ("shard",),
    roles: Sequence[tuple[str, str]] | None = None,
    symbols: Mapping[str, str] | None = None,
) -> AsyncIterator[tuple[Cluster, Served]]:
    """The shard, the projector, the market-data role and `gateways` gateways (named
    gateway-a, gateway-b, ...) on one port; `settings` added to (or replacing) the config's;
    the admin made as tests make it, and the symbol XYZ listed at $100. `shards`: the shard
    processes started (and ready) first; `roles`: (name, role) of the others, instead of the
    projector, market data and gateways; `symbols`: symbol -> reference price, instead."""
    require_tcp_service("Redis", REDIS_URL, 6379)
    reserved = reuse_port_socket("127.0.0.1", 0)  # held (not listening) until the end
    port = reserved.getsockname()[1]
    reserved_marketdata = reuse_port_socket("127.0.0.1", 0)
    marketdata_port = reserved_marketdata.getsockname()[1]
    shard_name = f"e2e-{uuid.uuid4().hex[:12]}"
    values: dict[str, Any] = {
        "transport": "nats",
        "nats_url": nats_url,
        "shard_name": shard_name,
        "database_url": postgres_url,
        "redis_url": REDIS_URL,
        "jwt_secret": f"{uuid.uuid4().hex}{uuid.uuid4().hex}",
        "host": "127.0.0.1",
        "port": port,
        "marketdata_port": marketdata_port,
        "marketdata_url": f"ws://127.0.0.1:{marketdata_port}",
        "fsync": False,
        "projection_status_interval_ms": 100,
        "rate_limit_key_prefix": f"tf:{shard_name}:",  # no other test's users in its buckets
        **UNLIMITED,
        **PASSWORD_HASHING_FAST,
        **(settings or {}),
    }
    config = root / "tradingfloor.toml"
    lines = [f"{name} = {_toml(value)}" for name, value in values.items()]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    loaded = load_settings(config)
    await asyncio.to_thread(upgrade, postgres_url)
    here = Cluster(root, config, loaded, role_env)
    transport = NatsTransport(loaded, "test")
    store = make_engine(postgres_url)
    try:
        for name in shards:
            here.start(name, "shard")
        for name in shards:
            await here.ready(name, "shard")
        await transport.start()
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=STEP_WAIT_S) as client:
            auth = AuthService(store, loaded, clock=Clock())
            served = Served(None, client, Clock(), None, auth, transport.shard_port())
            await _admin(served)  # first: the gateways then make no admin of their own
            started = [("projector", "projector"), ("marketdata", "marketdata")]
            started += [(f"gateway-{chr(ord('a') + n)}", "gateway") for n in range(gateways)]
            for name, role in roles or started:
                here.start(name, role)
            for name, role in roles or started:
                await here.ready(name, role)
            for symbol, reference in (symbols or {"XYZ": "100"}).items():
                await served.symbol(symbol, reference)
            yield here, served
    finally:
        here.stop_all()
        await transport.close()
        store.dispose()
        reserved.close()
        reserved_marketdata.close()
        for name in values.get("shards") or [values["shard_name"]]:
            await drop_stream(nats_url, f"TF_EVENTS_{name}")


async def drop_stream(nats_url: str, stream: str) -> None:
    connection = await nats.connect(nats_url)
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await connection.jetstream().delete_stream(stream)
    finally:
        await connection.close()


async def until(predicate: Any, what: str, timeout_s: float = STEP_WAIT_S) -> None:
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

        await until(enough, f"{count} orders acknowledged")


async def listed(here: Served, headers: dict[str, str]) -> set[str]:
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


def projected_seq(database_url: str) -> int:
    from tradingfloor.store.projector import Projector

    store = make_engine(database_url)
    try:
        return Projector(store).last_seq()
    finally:
        store.dispose()


async def until_projected(database_url: str, seq: int) -> None:
    async def projected() -> bool:
        return await asyncio.to_thread(projected_seq, database_url) >= seq

    await until(projected, f"the read models at seq {seq}")


async def agree_seq_by_seq(
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
