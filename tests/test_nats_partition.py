"""NATS down, or partitioned from a gateway: orders fail fast with a clear error, nothing
acknowledged is lost, service resumes by itself.

The roles run as processes (`tradingfloor shard|projector|gateway`, as in `test_nats_roles`)
on a NATS server of the test's own (`private_nats.PrivateNats`), PostgreSQL and Redis, under a
client that places orders one after another (`netns_orders.py`, a process of its own):

- NATS down: the server is stopped (SIGTERM, SIGKILL) under the load, then started again on
  the same store. Meanwhile every order is refused with 503, code 5031 and Retry-After, none
  waits beyond the request timeout; afterwards orders are taken again without any role being
  restarted.
- Partition: the gateway runs in a network namespace of its own, joined to the host by a
  veth pair; NATS listens on the host's end, the shard and the projector reach it from the
  host. The client runs in the namespace too, next to the gateway (`ip netns exec`): the
  gateway listens on 127.0.0.1 there, as it would behind its load balancer, and the client's
  traffic never crosses the link that is cut. The gateway reaches PostgreSQL and Redis through
  Unix sockets forwarded to them, so setting the host's end of the pair down partitions it
  from NATS alone, silently (no reset reaches either side). Orders are refused as above; the
  gateway notices the partition by its pings (`nats_ping_interval_ms`,
  `nats_pings_outstanding_max`) and says so in its log; a second gateway on the host keeps
  taking orders; healed, the gateway reconnects by itself and orders flow again.
- A connection cut with bytes it could not send (the server inside the namespace, this
  process on the host, a flood of messages): it is given up during the partition, its bytes
  dropped (`TCP_USER_TIMEOUT`), not once the link is back and the kernel's backed-off
  retransmission gets through; healed, it reconnects at once.
- A paused server (SIGSTOP: the kernel acknowledges every byte, nothing answers) is what a
  partition looks like to a client, without root: the client's pings notice it, requests are
  refused at once, and continued, it reconnects.

Afterwards every acknowledged order is in the shard's events stream exactly once, and the
journal, the event log, the stream and the projector's rows agree seq by seq. The time
refusals took, and how long noticing and resuming took, are printed, never asserted: a bound
only says when an answer counts as never coming.
"""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import nats
import pytest
from sqlalchemy.engine import make_url

from api_helpers import Clock, Served, _admin
from conftest import require_tcp_service
from nats_cluster import STEP_WAIT_S, Cluster
from nats_cluster import agree_seq_by_seq as _agree_seq_by_seq
from nats_cluster import until as _until
from nats_cluster import until_projected as _until_projected
from order_load import REQUEST_TIMEOUT_MS, OrderLoad, assert_every_answer_clear, print_figures
from private_nats import Namespace, PrivateNats, UnixForward, free_port, make_namespace
from tradingfloor.bootstrap.roles import reuse_port_socket
from tradingfloor.bootstrap.transport import NatsTransport
from tradingfloor.config import load_settings
from tradingfloor.domain.events import OrderAccepted
from tradingfloor.identity import AuthService
from tradingfloor.service.nats_events import decode_message
from tradingfloor.store.database import make_engine, upgrade

REDIS_URL = os.environ.get("TRADINGFLOOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
INSIDE_PORT = 8000
"""The gateway's port inside its namespace, where nothing else listens."""
ORDERS_PER_PHASE = 20
REFUSALS_PER_OUTAGE = 100


def write_config(path: Path, values: dict[str, Any]) -> Path:
    lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Roles(Cluster):
    """The cluster of `test_nats_roles`, a process of which may run inside a namespace
    (`prefix`) on a config of its own."""

    def start(
        self, name: str, role: str, prefix: Sequence[str] = (), config: Path | None = None
    ) -> None:
        mark = self._mark(name, role)
        mark.unlink(missing_ok=True)
        env = {**os.environ, "TRADINGFLOOR_DATA_DIR": str(self.data_dir(name))}
        command = [*prefix, sys.executable, "-m", "tradingfloor", role, "--config"]
        command.append(str(config or self.config))
        with (self.root / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(command, env=env, stdout=log, stderr=log)

    def full_log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    """A network namespace and veth pair, removed at the end whatever happened."""
    made = make_namespace()
    try:
        yield made
    finally:
        made.remove()


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[Callable[[str], PrivateNats]]:
    """Make (and start) a private NATS server on an address; each stopped at the end."""
    made: list[PrivateNats] = []

    def make(host: str) -> PrivateNats:
        server = PrivateNats(tmp_path, host, free_port(host))
        made.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in made:
            server.stop(signal.SIGKILL)


@pytest.fixture
async def forwarded(postgres_url: str) -> AsyncIterator[tuple[str, str]]:
    """The database and Redis URLs through Unix sockets (see `private_nats.UnixForward`)."""
    require_tcp_service("Redis", REDIS_URL, 6379)
    sockets = Path(tempfile.mkdtemp(prefix="tf-sockets-", dir="/tmp"))  # short: 107 bytes max
    database = make_url(postgres_url)
    redis = urlsplit(REDIS_URL)
    forwards = [
        UnixForward(sockets / "pg" / ".s.PGSQL.5432", database.host or "", database.port or 5432),
        UnixForward(sockets / "redis.sock", redis.hostname or "", redis.port or 6379),
    ]
    try:
        for forward in forwards:
            await forward.start()
        inside = database.set(host=None, port=None, query={"host": str(sockets / "pg")})
        yield (
            inside.render_as_string(hide_password=False),
            f"unix://{sockets / 'redis.sock'}?db={redis.path.strip('/') or 0}",
        )
    finally:
        for forward in forwards:
            await forward.stop()
        shutil.rmtree(sockets, ignore_errors=True)


def _settings_of(nats_url: str, postgres_url: str, port: int) -> dict[str, Any]:
    return {
        "transport": "nats",
        "nats_url": nats_url,
        "shard_name": f"outage-{uuid.uuid4().hex[:12]}",
        "database_url": postgres_url,
        "redis_url": REDIS_URL,
        "jwt_secret": uuid.uuid4().hex + uuid.uuid4().hex,
        "host": "127.0.0.1",
        "port": port,
        "fsync": False,
        "projection_status_interval_ms": 100,
        "nats_request_timeout_ms": REQUEST_TIMEOUT_MS,
        # Other tests share the Redis server and number users alike: no limit to meet here.
        "orders_per_second_max": 1_000_000,
        "orders_burst_max": 1_000_000,
    }


@contextlib.asynccontextmanager
async def running_roles(
    root: Path, nats_url: str, postgres_url: str
) -> AsyncIterator[tuple[Roles, Served, dict[str, Any]]]:
    """Shard, projector and a gateway on the host, the admin made as tests make it, XYZ
    listed; the roles' settings with them. Every role is stopped at the end."""
    reserved = reuse_port_socket("127.0.0.1", 0)  # held (not listening) until the end
    values = _settings_of(nats_url, postgres_url, reserved.getsockname()[1])
    config = write_config(root / "tradingfloor.toml", values)
    settings = load_settings(config)
    await asyncio.to_thread(upgrade, postgres_url)
    roles = Roles(root, config, settings)
    transport = NatsTransport(settings, "test")
    store = make_engine(postgres_url)
    try:
        roles.start("shard", "shard")
        await roles.ready("shard", "shard")
        await transport.start()
        base_url = f"http://127.0.0.1:{settings.port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=STEP_WAIT_S) as http:
            auth = AuthService(store, settings, clock=Clock())
            served = Served(None, http, Clock(), None, auth, transport.shard_port())
            await _admin(served)
            for name in ("projector", "gateway"):
                roles.start(name, name)
            for name in ("projector", "gateway"):
                await roles.ready(name, name)
            await served.symbol("XYZ", "100")
            yield roles, served, values
    finally:
        roles.stop_all()
        await transport.close()
        store.dispose()
        reserved.close()


async def placements(served: Served) -> list[Any]:
    """Alice buys one XYZ at 100, Bob sells one: in turn, each pair trades."""
    alice = await served.trader("alice", cash="10000000")
    bob = await served.trader("bob", cash="0", shares={"XYZ": 1_000_000})
    order = {"symbol": "XYZ", "type": "limit", "qty": 1, "limit_price": "100"}
    return [[alice, {**order, "side": "buy"}], [bob, {**order, "side": "sell"}]]


async def in_stream_exactly_once(nats_url: str, stream: str, acknowledged: list[str]) -> None:
    """Each acknowledged order is accepted in exactly one message of the events stream."""
    assert len(set(acknowledged)) == len(acknowledged), "an id acknowledged twice"
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        state = (await js.stream_info(stream)).state
        accepted: Counter[str] = Counter()
        for seq in range(state.first_seq, state.last_seq + 1):
            _, _, events = decode_message((await js.get_msg(stream, seq)).data or b"")
            accepted.update(str(e.order_id) for e in events if isinstance(e, OrderAccepted))
    finally:
        await connection.close()
    missing = [order_id for order_id in acknowledged if accepted[order_id] != 1]
    assert not missing, f"acknowledged, not accepted once in {stream}: {missing[:10]}"


async def nothing_acknowledged_lost(
    roles: Roles, served: Served, nats_url: str, postgres_url: str, acknowledged: list[str]
) -> None:
    """Stop the roles, then: every acknowledged order in the stream once, and the journal,
    event log, stream and read models agree seq by seq."""
    last_seq = await served.shard.last_seq()
    await _until_projected(postgres_url, last_seq)
    roles.stop_all()  # the journal and the event log are read once the shard is gone
    stream = f"TF_EVENTS_{roles.settings.shard_name}"
    await in_stream_exactly_once(nats_url, stream, acknowledged)
    await _agree_seq_by_seq(roles, postgres_url, nats_url, last_seq)


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
async def test_orders_fail_fast_while_nats_is_down_and_flow_again_once_it_is_back(
    tmp_path: Path,
    postgres_url: str,
    private_nats: Callable[[str], PrivateNats],
    stop_signal: signal.Signals,
) -> None:
    require_tcp_service("Redis", REDIS_URL, 6379)
    server = private_nats("127.0.0.1")
    await server.ready()
    async with running_roles(tmp_path, server.url, postgres_url) as (roles, served, _):
        load = OrderLoad([], str(served.client.base_url), await placements(served))
        await load.start()
        try:
            await load.until(lambda: len(load.acknowledged()) >= ORDERS_PER_PHASE, "orders")
            down = (len(load.answers), time.monotonic())
            server.stop(stop_signal)
            await load.until(
                lambda: len(load.refused(down[0])) >= REFUSALS_PER_OUTAGE, "orders refused"
            )
            server.start()
            await server.ready()
            back = (len(load.answers), time.monotonic())
            await load.until(
                lambda: len(load.acknowledged(back[0])) >= ORDERS_PER_PHASE,
                "orders taken again, no role restarted",
            )
        finally:
            await load.stop()
        assert_every_answer_clear(load.answers)
        print_figures(f"NATS stopped ({stop_signal.name})", load, down, back)
        assert all(process.poll() is None for process in roles.processes.values())
        acknowledged = load.acknowledged()
        await nothing_acknowledged_lost(roles, served, server.url, postgres_url, acknowledged)


async def test_a_gateway_partitioned_from_nats_refuses_fast_and_resumes_by_itself(
    tmp_path: Path,
    postgres_url: str,
    namespace: Namespace,
    private_nats: Callable[[str], PrivateNats],
    forwarded: tuple[str, str],
) -> None:
    server = private_nats(namespace.host_address)
    await server.ready()
    async with running_roles(tmp_path, server.url, postgres_url) as (roles, served, values):
        database_url, redis_url = forwarded
        inside = {**values, "database_url": database_url, "redis_url": redis_url}
        config = write_config(tmp_path / "inside.toml", {**inside, "port": INSIDE_PORT})
        roles.start("gateway-inside", "gateway", namespace.prefix, config)
        await roles.ready("gateway-inside", "gateway")
        base_url = f"http://127.0.0.1:{INSIDE_PORT}"
        ordered = await placements(served)
        load = OrderLoad(namespace.prefix, base_url, ordered)
        await load.start()
        outside: list[str] = []
        try:
            await load.until(lambda: len(load.acknowledged()) >= ORDERS_PER_PHASE, "orders")
            logged = len(roles.full_log("gateway-inside"))  # what it said before the cut
            cut = (len(load.answers), time.monotonic())
            namespace.cut()
            await load.until(
                lambda: "disconnected from NATS" in roles.full_log("gateway-inside")[logged:],
                "the gateway to notice the partition (its pings unanswered)",
            )
            noticed = len(load.answers)
            await load.until(
                lambda: len(load.refused(noticed)) >= REFUSALS_PER_OUTAGE, "orders refused"
            )
            headers, order = ordered[0]
            answer = await served.client.post("/v1/orders", json=order, headers=headers)
            assert answer.status_code == 200, answer.text  # the gateway outside takes orders
            outside.append(answer.json()["id"])
            namespace.heal()
            healed = (len(load.answers), time.monotonic())
            await load.until(
                lambda: len(load.acknowledged(healed[0])) >= ORDERS_PER_PHASE,
                "orders taken again by the gateway, reconnected by itself",
            )
        finally:
            await load.stop()
        assert_every_answer_clear(load.answers)
        assert all(answer["status"] != 200 for answer in load.answers[noticed : healed[0]])
        print_figures("gateway partitioned from NATS", load, cut, healed)
        log = roles.full_log("gateway-inside")[logged:]
        assert "again after" in log[log.index("disconnected from NATS") :], log[-4_000:]
        acknowledged = load.acknowledged() + outside
        await nothing_acknowledged_lost(roles, served, server.url, postgres_url, acknowledged)


async def test_a_silent_server_is_noticed_by_pings_and_requests_are_refused_at_once(
    private_nats: Callable[[str], PrivateNats],
) -> None:
    from tradingfloor.domain.commands import OpenAccount
    from tradingfloor.service.nats_connection import connect
    from tradingfloor.service.nats_shard_client import NatsShardClient
    from tradingfloor.service.nats_subjects import NatsNames
    from tradingfloor.service.shard_client import ShardUnavailable

    server = private_nats("127.0.0.1")
    await server.ready()
    nc = await connect(server.url, "test", ping_interval_ms=200, pings_outstanding_max=2)
    client = NatsShardClient(nc, NatsNames("tf", "silent", "TF_EVENTS"), request_timeout_s=1.0)
    try:
        with pytest.raises(ShardUnavailable, match="no shard answers"):  # NATS answers
            await client.submit(OpenAccount("alice"))
        paused_at = time.monotonic()
        server.send(signal.SIGSTOP)  # its connections stay open, with nobody answering

        async def noticed() -> bool:
            return not nc.is_connected

        await _until(noticed, "the client to notice the silent server by its pings")
        print(f"\na silent server noticed after {time.monotonic() - paused_at:.2f} s")
        started = time.monotonic()
        with pytest.raises(ShardUnavailable, match="NATS is disconnected"):
            await client.submit(OpenAccount("alice"))
        print(f"a request refused in {(time.monotonic() - started) * 1000:.2f} ms")
        server.send(signal.SIGCONT)

        async def reconnected() -> bool:
            return bool(nc.is_connected)

        await _until(reconnected, "the client to reconnect by itself")
        with pytest.raises(ShardUnavailable, match="no shard answers"):
            await client.submit(OpenAccount("alice"))
    finally:
        server.send(signal.SIGCONT)
        await nc.close()


async def test_a_connection_cut_with_bytes_unsent_is_given_up_during_the_partition(
    tmp_path: Path, namespace: Namespace, caplog: pytest.LogCaptureFixture
) -> None:
    from tradingfloor.service.nats_connection import connect

    server = PrivateNats(tmp_path, namespace.inside_address, 4222, namespace.prefix)
    server.start()
    try:
        await server.ready()
        nc = await connect(server.url, "flooding")  # the settings' defaults: 1 s, 3 pings
        flooding = None
        try:
            namespace.cut()
            cut_at = time.monotonic()
            published = [0]
            flooding = asyncio.create_task(flood(nc, published))

            async def given_up() -> bool:
                return "disconnected from NATS" in caplog.text

            await _until(given_up, "the connection to be given up while the link is down")
            print(
                f"\na connection given up {time.monotonic() - cut_at:.2f} s after the cut, "
                f"with {published[0]} bytes published into it"
            )
            assert published[0] > 0
            assert not nc.is_connected
            namespace.heal()
            healed_at = time.monotonic()

            async def reconnected() -> bool:
                return bool(nc.is_connected)

            await _until(reconnected, "the connection to be made again once the link is up")
            print(f"reconnected {time.monotonic() - healed_at:.2f} s after the link was up")
        finally:
            if flooding is not None:
                flooding.cancel()
            # Bounded: closing a connection that still holds bytes waits until they are sent.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(nc.close(), STEP_WAIT_S)
    finally:
        server.stop(signal.SIGKILL)


async def flood(nc: Any, published: list[int]) -> None:
    """Publish 1 kB messages while the connection lasts, at most 8 MB (twice what the kernel
    buffers at most, `tcp_wmem`): the bytes a busy gateway would have written when its link
    went down. `published[0]`: how many so far."""
    while nc.is_connected and published[0] < 8_000_000:
        try:
            await nc.publish("tf.flood", b"x" * 1_000)
        except nats.errors.Error:
            return
        published[0] += 1_000
