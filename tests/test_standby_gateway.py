"""What a gateway sees when a shard's primary dies and its hot standby takes over.

Two `tradingfloor shard` candidates (`shard_standby`, the JetStream journal), a projector and a
gateway as processes on real NATS, PostgreSQL and Redis, orders placed continuously over HTTP.
The primary is killed with SIGKILL: orders are refused with 503 (5031) while no shard answers,
then acknowledged again once the standby serves, with no change to the gateway; every
acknowledged order is listed by the read models, and the events stream the new primary goes on
publishing has every seq once.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
import nats.js.errors
import pytest

from api_helpers import Clock, Served, _admin
from conftest import require_tcp_service
from nats_cluster import REDIS_URL, STEP_WAIT_S, Cluster, Placing
from nats_cluster import drop_stream as _drop_stream
from nats_cluster import listed as _listed
from tradingfloor.bootstrap.roles import reuse_port_socket
from tradingfloor.bootstrap.run_paths import ready_mark
from tradingfloor.bootstrap.transport import NatsTransport
from tradingfloor.config import load_settings
from tradingfloor.identity import AuthService
from tradingfloor.store.database import make_engine, upgrade


@pytest.fixture
async def standby_cluster(
    tmp_path: Path, nats_url: str, postgres_url: str
) -> AsyncIterator[tuple[Cluster, Served]]:
    """A primary (shard-a), its standby (shard-b), a projector and a gateway."""
    require_tcp_service("Redis", REDIS_URL, 6379)
    reserved = reuse_port_socket("127.0.0.1", 0)  # held (not listening) until the end
    port = reserved.getsockname()[1]
    run_id = uuid.uuid4().hex[:12]
    shard_name = f"sb-{run_id}"
    config = tmp_path / "tradingfloor.toml"
    config.write_text(
        "\n".join(
            (
                'transport = "nats"',
                'journal = "jetstream"',
                "shard_standby = true",
                # A primary only slow (this machine shared) must not be replaced before the kill
                "shard_lease_ttl_ms = 3000",
                f'nats_lease_bucket = "TFL_{run_id}"',
                f'nats_roles_bucket = "TFR_{run_id}"',
                f'nats_url = "{nats_url}"',
                f'shard_name = "{shard_name}"',
                f'database_url = "{postgres_url}"',
                f'redis_url = "{REDIS_URL}"',
                f'jwt_secret = "{uuid.uuid4().hex}{uuid.uuid4().hex}"',
                'host = "127.0.0.1"',
                f"port = {port}",
                "fsync = false",
                "projection_status_interval_ms = 100",
                "orders_per_second_max = 1000000",
                "orders_burst_max = 1000000",
                f'rate_limit_key_prefix = "tf:{run_id}:"',
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
        here.start("shard-a", "shard")
        await here.ready("shard-a", "shard")
        here.start("shard-b", "shard")
        await transport.start()
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=STEP_WAIT_S
        ) as client:
            auth = AuthService(store, settings, clock=Clock())
            served = Served(None, client, Clock(), None, auth, transport.shard_port())
            await _admin(served)
            for name, role in (("projector", "projector"), ("gateway", "gateway")):
                here.start(name, role)
                await here.ready(name, role)
            await served.symbol("XYZ", "100")
            yield here, served
    finally:
        here.stop_all()
        await transport.close()
        store.dispose()
        reserved.close()
        connection = await nats.connect(nats_url)
        try:
            for stream in (f"TF_JOURNAL_{shard_name}", f"KV_TFL_{run_id}", f"KV_TFR_{run_id}"):
                await _drop(connection, stream)
        finally:
            await connection.close()
        await _drop_stream(nats_url, f"TF_EVENTS_{shard_name}")


async def _drop(connection: nats.NATS, stream: str) -> None:
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await connection.jetstream().delete_stream(stream)


async def _marked(cluster: Cluster, name: str, what: str) -> None:
    """Until `name` follows as a standby (`shard-standby`) or serves as primary (`shard`)."""
    settings = cluster.settings.model_copy(update={"data_dir": cluster.data_dir(name)})
    mark = ready_mark(settings, what)
    deadline = asyncio.get_running_loop().time() + STEP_WAIT_S
    while not mark.exists():
        assert asyncio.get_running_loop().time() < deadline, cluster.log(name)
        await asyncio.sleep(0.02)


async def test_the_gateway_finds_the_new_primary_and_no_acknowledged_order_is_lost(
    standby_cluster: tuple[Cluster, Served], nats_url: str
) -> None:
    processes, here = standby_cluster
    alice = await here.trader("alice", cash="1000000")
    placing = Placing(str(here.client.base_url), alice)
    task = asyncio.create_task(placing.run())
    await _marked(processes, "shard-b", "shard-standby")
    await placing.until_acknowledged(20)
    processes.kill("shard-a")
    before = len(placing.acknowledged)
    await _marked(processes, "shard-b", "shard")
    await placing.until_acknowledged(before + 20)  # through the same gateway, unchanged
    placing.stop.set()
    await task

    assert placing.failed > 0  # 503 while no shard answered
    assert set(placing.acknowledged) <= await _listed(here, alice)
    last_seq = await here.shard.last_seq()
    connection = await nats.connect(nats_url)
    try:
        stream = f"TF_EVENTS_{processes.settings.shard_name}"
        deadline = asyncio.get_running_loop().time() + STEP_WAIT_S
        while True:  # the new primary publishes what the old one had not
            state = (await connection.jetstream().stream_info(stream)).state
            if state.last_seq >= last_seq:
                break
            assert asyncio.get_running_loop().time() < deadline, state
            await asyncio.sleep(0.05)
        assert (state.messages, state.first_seq) == (state.last_seq, 1)
    finally:
        await connection.close()
