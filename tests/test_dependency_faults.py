"""Failing dependencies under a served platform, with the real services.

PostgreSQL: the platform's connections are killed again and again under an order load, then
the database is made unreachable for a while; every acknowledged order ends up in the read
models, no answer is a 500, and everything catches up by itself. Redis: a private server is
stopped (SIGSTOP), continued, killed and started again on the same port; only order entry is
refused meanwhile (503, code 5034), market data keeps flowing, and service resumes by itself.

Every wait here is bounded; the bounds are generous and no test asserts a speed.
"""

import asyncio
import json
import logging
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool
from websockets.asyncio.client import ClientConnection, connect

from api_helpers import Served, served
from conftest import skip_or_fail
from postgres_db import POSTGRES_URL, scratch_database
from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.store.database import normalize_url

T = TypeVar("T")

PROMPT_S = 5.0
"""How long an answer may take while a dependency is down before the test calls it stuck."""
RECOVERY_S = 30.0
"""How long the platform may take to recover by itself once the dependency is back."""
UNLIMITED = {"orders_per_second_max": 100_000, "orders_burst_max": 100_000}
"""Rate limits out of the way of a load test."""


async def prompt(answer: Awaitable[T]) -> T:
    """`answer`, which must arrive within PROMPT_S (a stuck request fails the test)."""
    return await asyncio.wait_for(answer, PROMPT_S)


async def recovers(attempt: Callable[[], Awaitable[bool]], what: str) -> None:
    """Call `attempt` until it returns True, for at most RECOVERY_S."""
    deadline = time.monotonic() + RECOVERY_S
    while not await attempt():
        assert time.monotonic() < deadline, f"{what}: not recovered after {RECOVERY_S} s"
        await asyncio.sleep(0.05)


def assert_unavailable(answer: httpx.Response, code: int) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == code, answer.text
    assert int(answer.headers["retry-after"]) >= 1


# --------------------------------------------------------------------------- PostgreSQL


class Database:
    """A scratch database and, through the server's maintenance database, power over it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = normalize_url(url).database
        self.admin: Engine = create_engine(
            normalize_url(POSTGRES_URL).set(database="postgres"),
            isolation_level="AUTOCOMMIT",
            poolclass=NullPool,
        )

    def terminate_connections(self) -> int:
        """Kill every connection to the database; returns how many there were."""
        with self.admin.connect() as connection:
            killed = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": self.name},
            ).all()
        return len(killed)

    def allow_connections(self, allowed: bool) -> None:
        with self.admin.connect() as connection:
            value = "true" if allowed else "false"
            connection.exec_driver_sql(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS {value}')

    def query(self, sql: str) -> list[Any]:
        engine = create_engine(normalize_url(self.url), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(sql)).all())
        finally:
            engine.dispose()


@pytest.fixture
def database() -> Iterator[Database]:
    with scratch_database() as url:
        here = Database(url)
        try:
            yield here
        finally:
            here.allow_connections(True)  # or the drop of the scratch database waits in vain
            here.admin.dispose()


def buy(client_order_id: str | None = None) -> dict[str, Any]:
    """A bid below the market that rests (nobody sells): its status stays `new`."""
    body: dict[str, Any] = {
        "symbol": "XYZ",
        "side": "buy",
        "type": "limit",
        "qty": 1,
        "limit_price": "99.00",
        "time_in_force": "gtc",
    }
    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    return body


class Load:
    """Clients placing orders with client order ids, each retrying a 503 with the same id
    until it is answered; every answer is tallied."""

    def __init__(self, api: Served) -> None:
        self.api = api
        self.acknowledged: dict[str, tuple[str, str, str]] = {}
        """client order id -> (account, order id, status answered)."""
        self.answers: Counter[tuple[int, int | None]] = Counter()
        self.stop = asyncio.Event()

    async def client(self, name: str, headers: dict[str, str], account: str) -> None:
        number = 0
        while not self.stop.is_set():
            client_order_id = f"{name}-{number}"
            await self.place(headers, account, client_order_id)
            number += 1

    async def place(self, headers: dict[str, str], account: str, client_order_id: str) -> None:
        deadline = time.monotonic() + RECOVERY_S
        while True:
            answer = await self.api.client.post(
                "/v1/orders", json=buy(client_order_id), headers=headers
            )
            code = answer.json().get("code") if answer.status_code != 200 else None
            self.answers[(answer.status_code, code)] += 1
            if answer.status_code == 200:
                body = answer.json()
                self.acknowledged[client_order_id] = (account, body["id"], body["status"])
                return
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["retry-after"]) >= 1
            assert time.monotonic() < deadline, f"{client_order_id} never answered"
            await asyncio.sleep(0.05)


async def caught_up(api: Served) -> None:
    platform = api.platform

    async def done() -> bool:
        projected = platform.projection.projected_seq
        return projected == platform.engine.last_seq and not await platform.backend.problems()

    await recovers(done, "the read models")


async def test_killed_database_connections_under_load_lose_nothing(
    tmp_path: Path, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with served(tmp_path / "data", database.url, **UNLIMITED) as api:
        await api.symbol("XYZ", "100")
        traders = {f"t{n}": await api.trader(f"t{n}", cash="1000000") for n in range(4)}
        load = Load(api)
        clients = [
            asyncio.create_task(load.client(name, headers, name))
            for name, headers in traders.items()
        ]
        killed = []
        for _ in range(6):
            await asyncio.sleep(0.3)
            killed.append(await asyncio.to_thread(database.terminate_connections))
        load.stop.set()
        await asyncio.wait_for(asyncio.gather(*clients), RECOVERY_S)
        await caught_up(api)

        async def reads_answer() -> bool:
            answer = await api.client.get("/v1/orders?limit=1", headers=traders["t0"])
            return answer.status_code == 200

        await recovers(reads_answer, "reads")
        stored = await asyncio.to_thread(
            database.query, "SELECT account, order_id, client_order_id, status FROM orders"
        )
        (last_seq,) = await asyncio.to_thread(
            database.query, "SELECT last_seq FROM projection_state WHERE name = 'main'"
        )
        engine_last_seq = api.platform.engine.last_seq

    failures = sum(1 for r in caplog.records if "projection failed" in r.getMessage())
    print(
        f"killed {killed} connections; answers {dict(load.answers)}; {failures} failed projections"
    )
    assert sum(killed) > 0
    assert all(status == 200 or status == 503 for status, _ in load.answers)
    assert {code for status, code in load.answers if status == 503} <= {5032, 5033}
    assert load.acknowledged, "the load placed orders"
    by_client_order_id = {row.client_order_id: row for row in stored if row.client_order_id}
    assert len(by_client_order_id) == len([row for row in stored if row.client_order_id]), (
        "a client order id placed twice"
    )
    for client_order_id, (account, order_id, status) in load.acknowledged.items():
        row = by_client_order_id[client_order_id]
        assert (row.account, str(row.order_id), row.status) == (account, order_id, status)
    assert set(by_client_order_id) == set(load.acknowledged)
    assert last_seq[0] == engine_last_seq


async def test_an_unreachable_database_refuses_reads_not_orders_and_catches_up(
    tmp_path: Path, database: Database
) -> None:
    token = "operator-token-" + "x" * 16
    operator = {"Authorization": f"Bearer {token}"}
    async with served(
        tmp_path / "data", database.url, api_key_cache_ttl_s=3_600, metrics_token=token
    ) as api:
        await api.symbol("XYZ", "100")
        alice = await api.trader("alice")
        placed = await api.client.post("/v1/orders", json=buy("first"), headers=alice)
        assert placed.status_code == 200, placed.text
        bob = await api.trader("bob")  # a key never used yet: not in the cache
        seq_before = api.platform.engine.last_seq

        await asyncio.to_thread(database.allow_connections, False)
        await asyncio.to_thread(database.terminate_connections)

        read = await prompt(api.client.get("/v1/orders", headers=alice))
        assert_unavailable(read, 5033)
        read_v2 = await prompt(api.client.get("/v2/orders", headers=alice))
        assert_unavailable(read_v2, 5033)
        accepted = []
        for _ in range(3):  # no client order id: no read model needed
            answer = await prompt(api.client.post("/v1/orders", json=buy(), headers=alice))
            assert answer.status_code == 200, answer.text
            accepted.append(answer.json()["id"])
        # a new client order id is the engine's to check: no read model needed either
        with_id = await prompt(api.client.post("/v1/orders", json=buy("second"), headers=alice))
        assert with_id.status_code == 200, with_id.text
        # a resubmission is answered with the first order, which the read models hold
        again = await prompt(api.client.post("/v1/orders", json=buy("first"), headers=alice))
        assert_unavailable(again, 5033)
        unknown_key = await prompt(api.client.get("/v1/account", headers=bob))
        assert_unavailable(unknown_key, 5033)
        order_v2 = await prompt(
            api.client.post("/v2/orders", json={**buy(), "qty": "1"}, headers=alice)
        )
        assert order_v2.status_code == 200, order_v2.text
        ready = await prompt(api.client.get("/readyz", headers=operator))
        assert ready.status_code == 503 and "read models failing" in ready.text
        public = await prompt(api.client.get("/readyz"))
        assert public.json() == {"status": "not ready"}  # no internals for the public
        assert (await prompt(api.client.get("/healthz"))).status_code == 200
        assert api.platform.engine.last_seq == seq_before + 6  # the node went on

        await asyncio.to_thread(database.allow_connections, True)
        await caught_up(api)

        async def reads_answer() -> bool:
            answer = await api.client.get("/v1/orders?status=all", headers=alice)
            return answer.status_code == 200

        await recovers(reads_answer, "reads")
        listed = (await api.client.get("/v1/orders?status=all", headers=alice)).json()["orders"]
        assert {order["id"] for order in listed} >= {placed.json()["id"], *accepted}
        assert len(listed) == 6
        retried = await api.client.post("/v1/orders", json=buy("second"), headers=alice)
        assert retried.status_code == 200, retried.text
        assert retried.json()["id"] == with_id.json()["id"]
        assert (await api.client.get("/v1/account", headers=bob)).status_code == 200
        assert (await api.client.get("/readyz")).status_code == 200
        (last_seq,) = await asyncio.to_thread(
            database.query, "SELECT last_seq FROM projection_state WHERE name = 'main'"
        )
        assert last_seq[0] == api.platform.engine.last_seq


# --------------------------------------------------------------------------- Redis

WATCHDOG_S = 60.0
"""A stopped Redis is continued after this long whatever happens: a platform that froze on
it gets its answer and the test ends (failing) rather than hang."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server of this test's own on 127.0.0.1, to stop, continue, kill and restart."""

    def __init__(self, executable: str, port: int) -> None:
        self.executable, self.port = executable, port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self._watchdog: threading.Timer | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.executable,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + RECOVERY_S
        while not self._answers():
            assert self.process.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)
        self._watchdog = threading.Timer(WATCHDOG_S, self.resume)
        self._watchdog.start()

    def resume(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(RECOVERY_S)

    def _signal(self, number: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(number)

    def close(self) -> None:
        self.resume()
        self.kill()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    executable = shutil.which("redis-server")
    if executable is None:
        skip_or_fail("redis-server is not installed")
        raise AssertionError("unreachable")
    server = PrivateRedis(executable, free_port())
    server.start()
    try:
        yield server
    finally:
        server.close()


class Quotes:
    """A market-data WebSocket (pro tier) reduced to its latest bid per quote message."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def bid_reaches(self, price: str) -> None:
        """Read quote messages until one bids `price` (at most PROMPT_S)."""

        async def read() -> None:
            while True:
                for message in json.loads(await self.connection.recv()):
                    bid = message.get("bid") if message.get("type") == "quote" else None
                    if bid is not None and bid["price"] == price:
                        return

        await prompt(read())


@pytest.fixture
async def redis_api(tmp_path: Path, private_redis: PrivateRedis) -> AsyncIterator[Served]:
    async with served(
        tmp_path / "data", None, redis_url=private_redis.url, redis_retry_s=0.5
    ) as api:
        await api.symbol("XYZ", "100")
        yield api


async def bid_directly(api: Served, account: str, price: int) -> None:
    """A resting bid through the node itself, past the gateway's rate limit."""
    bid = PlaceOrder(0, account, "XYZ", Side.BUY, OrderType.LIMIT, 1, price, tif=TimeInForce.GTC)
    await api.platform.submit(bid)


async def orders_succeed_again(api: Served, headers: dict[str, str]) -> None:
    async def placed() -> bool:
        answer = await prompt(api.client.post("/v1/orders", json=buy(), headers=headers))
        if answer.status_code != 200:
            assert_unavailable(answer, 5034)
        return answer.status_code == 200

    await recovers(placed, "order entry")


async def test_a_stopped_redis_refuses_orders_only_and_resumes_by_itself(
    redis_api: Served, private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    api = redis_api
    caplog.set_level(logging.WARNING)
    alice = await api.trader("alice")
    placed = await api.client.post("/v1/orders", json=buy(), headers=alice)
    assert placed.status_code == 200, placed.text
    url = str(api.client.base_url).replace("http://", "ws://")
    async with connect(
        f"{url}/v1/market-data/XYZ?channels=quotes", additional_headers=api.admin
    ) as connection:
        quotes = Quotes(connection)
        await quotes.bid_reaches("99.00")

        private_redis.pause()
        for path in ("/healthz", f"/v1/orders/{placed.json()['id']}", "/v1/quotes/XYZ"):
            answer = await prompt(api.client.get(path, headers=alice))
            assert answer.status_code == 200, (path, answer.text)
        for _ in range(5):
            refused = await prompt(api.client.post("/v1/orders", json=buy(), headers=alice))
            assert_unavailable(refused, 5034)
        refused_v2 = await prompt(
            api.client.post("/v2/orders", json={**buy(), "qty": "1"}, headers=alice)
        )
        assert_unavailable(refused_v2, 5034)
        await bid_directly(api, "alice", 995_000)
        await quotes.bid_reaches("99.50")  # market data flows while Redis is stopped
        assert (await prompt(api.client.get("/healthz"))).status_code == 200

        private_redis.resume()
        await orders_succeed_again(api, alice)

        cache = api.platform.backend.marketdata.cache
        assert cache is not None

        async def cache_has_latest() -> bool:
            quote = await cache.quote("XYZ")
            return quote is not None and quote["bid"]["price"] == "99.50"

        await recovers(cache_has_latest, "market data cache")

    logged = [record.getMessage() for record in caplog.records]
    down = [line for line in logged if "Redis (rate limits) is down" in line]
    assert len(down) == 1, down  # once per outage, however many requests it refused
    assert any("Redis (rate limits) is back" in line for line in logged)


async def test_a_killed_redis_refuses_orders_until_it_is_started_again(
    redis_api: Served, private_redis: PrivateRedis
) -> None:
    api = redis_api
    alice = await api.trader("alice")
    assert (await api.client.post("/v1/orders", json=buy(), headers=alice)).status_code == 200
    cache = api.platform.backend.marketdata.cache
    assert cache is not None

    await asyncio.to_thread(private_redis.kill)
    for _ in range(3):
        refused = await prompt(api.client.post("/v1/orders", json=buy(), headers=alice))
        assert_unavailable(refused, 5034)
    assert (await prompt(api.client.get("/v1/account", headers=alice))).status_code == 200
    await bid_directly(api, "alice", 995_000)

    await asyncio.sleep(0.3)  # a pro flush or two: the cache write fails meanwhile
    await asyncio.to_thread(private_redis.start)  # an empty Redis on the same port
    await orders_succeed_again(api, alice)

    async def cache_written_again() -> bool:
        quote = await cache.quote("XYZ")
        return quote is not None and quote["bid"]["price"] == "99.50"

    await recovers(cache_written_again, "market data cache")
