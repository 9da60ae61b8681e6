"""The local transport between roles: answers by id, the feed without gap or repeat across a
reconnect, and a peer that sends what is not a message cut off with nothing applied."""

import asyncio
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tradingfloor.domain.commands import Deposit, OpenAccount
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.service import wire
from tradingfloor.service.node import NodeSettings
from tradingfloor.service.sequencer import InvalidCommand
from tradingfloor.service.shard import ShardRole, ShardServer
from tradingfloor.service.shard_client import ShardClient, ShardUnavailable


@pytest.fixture
async def shard(tmp_path: Path) -> AsyncIterator[tuple[ShardRole, ShardServer, Path]]:
    role = ShardRole(NodeSettings(tmp_path / "node", fsync=False, risk=RiskSettings()))
    await role.start()
    path = tmp_path / "run" / "shard.sock"
    server = ShardServer(role, path)
    await server.start()
    try:
        yield role, server, path
    finally:
        await server.stop()
        await role.stop()


async def test_commands_and_questions_are_answered_by_id(
    shard: tuple[ShardRole, ShardServer, Path],
) -> None:
    role, _, path = shard
    client = ShardClient(path)
    opened = await asyncio.gather(*(client.submit(OpenAccount(f"a{n}")) for n in range(50)))
    assert sorted(result.seq for result in opened) == list(range(2, 52))
    assert [type(result.events[0]).__name__ for result in opened] == ["AccountOpened"] * 50
    await client.submit(Deposit("a1", 1_000_0000))
    summary = await client.account("a1", time.time_ns())
    assert summary is not None and summary.cash == 1_000_0000
    assert await client.account("nobody", 0) is None
    assert await client.last_seq() == role.engine.last_seq
    with pytest.raises(InvalidCommand):  # refused by the sequencer, told as itself
        await client.submit(OpenAccount("bad\x00name"))
    with pytest.raises(ValueError):
        await client.ask("state_of_everything")  # not a question the shard answers
    client.close()


async def test_the_feed_has_no_gap_and_no_repeat_across_a_reconnect(
    shard: tuple[ShardRole, ShardServer, Path],
) -> None:
    role, server, path = shard
    client = ShardClient(path)
    for n in range(20):
        await client.submit(OpenAccount(f"a{n}"))
    seen: list[int] = []

    async def follow() -> None:
        async for batch in client.follow(5):
            seen.extend(seq for seq, _, _ in batch)
            if seen[-1] >= 41:  # risk settings, then 40 accounts
                return

    following = asyncio.create_task(follow())
    while not seen or seen[-1] < 21:
        await asyncio.sleep(0.01)
    for connection in list(server.connections):
        connection.close()  # every connection drops: the feed reconnects by itself
    for n in range(20, 40):
        await _submit_retrying(client, OpenAccount(f"a{n}"))
    await asyncio.wait_for(following, 10)
    assert seen == list(range(5, role.engine.last_seq + 1))
    client.close()


async def _submit_retrying(client: ShardClient, command: OpenAccount) -> None:
    for _ in range(100):
        try:
            await client.submit(command)
            return
        except ShardUnavailable:
            await asyncio.sleep(0.05)
    raise AssertionError("the shard never answered again")


@pytest.mark.parametrize(
    "frame",
    [
        struct.pack(">I", wire.frame_bytes_max + 1),  # a length beyond the limit
        struct.pack(">I", 3) + b"\xc1\xc1\xc1",  # not msgpack
        struct.pack(">I", 2) + b"\x92\x01",  # msgpack, but no message of the transport
    ],
)
async def test_a_frame_that_is_not_a_message_ends_the_connection(
    shard: tuple[ShardRole, ShardServer, Path], frame: bytes
) -> None:
    role, _, path = shard
    before = role.engine.last_seq
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(frame)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing answered
    writer.close()
    assert role.engine.last_seq == before
    client = ShardClient(path)  # others are served
    assert (await client.submit(OpenAccount("after"))).seq == before + 1
    client.close()
