"""The cash allocator over NATS: two shards served on real NATS, the allocator and the router
holding their NATS ports, as `tradingfloor allocator` runs them."""

import contextlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import nats
import nats.js.errors
import pytest
from nats.aio.client import Client

from tradingfloor.domain.commands import AddInstrument, Deposit, OpenAccount, PlaceOrder
from tradingfloor.domain.enums import OrderType, Side
from tradingfloor.domain.events import CashAllocatedIn, CommandRejected, OrderAccepted
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.prices import PRICE_SCALE
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.domain.shards import ShardMap
from tradingfloor.engine.check import check_ledger
from tradingfloor.service.allocator import CashAllocator
from tradingfloor.service.nats_shard import NatsShardServer
from tradingfloor.service.nats_shard_client import NatsShardClient
from tradingfloor.service.nats_subjects import NatsNames
from tradingfloor.service.node import NodeSettings
from tradingfloor.service.ports import ShardPort
from tradingfloor.service.sequencer import InvalidCommand
from tradingfloor.service.shard import ShardRole
from tradingfloor.service.shard_router import ShardRouter, home_shard, shard_of

DOLLAR = PRICE_SCALE
WAIT_S = 20.0


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_url)
    yield connection
    await connection.close()


@contextlib.asynccontextmanager
async def two_shards(
    root: Path, nc: Client
) -> AsyncIterator[tuple[dict[str, ShardRole], dict[str, ShardPort], ShardMap]]:
    tag = uuid.uuid4().hex[:10]
    shard_map = ShardMap((f"e{tag}", f"w{tag}"), {"AAA": f"e{tag}", "BBB": f"w{tag}"})
    roles: dict[str, ShardRole] = {}
    servers: list[NatsShardServer] = []
    ports: dict[str, ShardPort] = {}
    try:
        for index, name in enumerate(shard_map.names):
            role = ShardRole(
                NodeSettings(root / name, fsync=False, shard_index=index, risk=RiskSettings())
            )
            await role.start()
            await role.node.configure_risk()
            roles[name] = role
            names = NatsNames("tf", name, "TF_EVENTS")
            owner = partial(shard_of, shard_map)
            server = NatsShardServer(role, nc, names, owner=owner)
            await server.start()
            servers.append(server)
            ports[name] = NatsShardClient(nc, names, request_timeout_s=5.0)
        yield roles, ports, shard_map
    finally:
        for server in servers:
            await server.stop()
        for role in roles.values():
            await role.stop()
        for name in shard_map.names:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await nc.jetstream().delete_stream(f"TF_EVENTS_{name}")


async def test_cash_moves_between_shards_over_nats_once_across_a_restart(
    tmp_path: Path, nc: Client
) -> None:
    async with two_shards(tmp_path, nc) as (roles, ports, shard_map):
        router = ShardRouter(shard_map, ports)
        for symbol in ("AAA", "BBB"):
            await router.submit(AddInstrument(Instrument(symbol)))
        await router.submit(OpenAccount("carol"))
        await router.submit(Deposit("carol", 10_000 * DOLLAR))
        home = home_shard(shard_map, "carol")
        away = next(name for name in shard_map.names if name != home)
        away_symbol = next(s for s, shard in shard_map.symbols.items() if shard == away)

        allocator = CashAllocator(ports)
        await allocator.start()
        try:
            moved = await allocator.move("carol", 4_000 * DOLLAR, home, away)
            assert not any(isinstance(e, CommandRejected) for e in moved.events)
            await allocator.settled(WAIT_S)
        finally:
            await allocator.stop()
        buy = PlaceOrder(0, "carol", away_symbol, Side.BUY, OrderType.LIMIT, 30, 100 * DOLLAR)
        assert any(isinstance(e, OrderAccepted) for e in (await router.submit(buy)).events)

        # A new allocator learns from the feeds what was taken in: it sends nothing again.
        again = CashAllocator(ports)
        await again.start()
        try:
            await again.settled(WAIT_S)
            assert again.taken == {(home, away): moved.seq}
        finally:
            await again.stop()
        taken_in = [
            event
            for _, _, events in roles[away].node.events.read(1)
            for event in events
            if isinstance(event, CashAllocatedIn | CommandRejected)
        ]
        assert [type(event) for event in taken_in] == [CashAllocatedIn]
        summary = await router.account("carol", 0)
        assert summary is not None and summary.cash == 10_000 * DOLLAR
        for role in roles.values():
            check_ledger(role.engine)


async def test_a_shard_refuses_what_belongs_to_another(tmp_path: Path, nc: Client) -> None:
    """A gateway whose shard map differs cannot list a symbol on a second shard, nor place
    an order for it there, nor cancel another shard's order there."""
    async with two_shards(tmp_path, nc) as (roles, ports, shard_map):
        east, west = shard_map.names
        before = await roles[east].last_seq()
        with pytest.raises(InvalidCommand, match=f"the command is {west}'s"):
            await ports[east].submit(AddInstrument(Instrument("BBB")))
        buy = PlaceOrder(0, "x", "BBB", Side.BUY, OrderType.LIMIT, 1, 100 * DOLLAR)
        with pytest.raises(InvalidCommand):
            await ports[east].submit(buy)
        assert await roles[east].last_seq() == before  # refused before it was sequenced
        assert "BBB" not in roles[east].engine.books
        listed = await ports[west].submit(AddInstrument(Instrument("BBB")))
        assert not any(isinstance(e, CommandRejected) for e in listed.events)


def test_the_allocator_command_refuses_a_platform_it_cannot_serve(tmp_path: Path) -> None:
    config = tmp_path / "tf.toml"
    config.write_text(f'data_dir = "{tmp_path}"\ntransport = "nats"\n')
    done = subprocess.run(
        [sys.executable, "-m", "tradingfloor", "allocator", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "two shards or more" in done.stderr
