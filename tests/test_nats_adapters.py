"""The NATS adapters of the ports against the real NATS server (skipped, or failed in CI,
without it): the events stream (one message per command at its own seq, publish resumed after
a restart, dedup by Nats-Msg-Id, conflicts refused, the feed from any seq), commands and
questions by request/reply, and the projector's status."""

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import pytest
from nats.aio.client import Client

from tradingfloor.bootstrap.transport import check_gateway_settings, make_journal
from tradingfloor.config import ConfigError, load_settings
from tradingfloor.domain.commands import AddInstrument, Command, PlaceOrder
from tradingfloor.domain.enums import HaltReason, OrderType, Side, TimeInForce
from tradingfloor.domain.events import (
    CommandRejected,
    InstrumentAdded,
    OrderAccepted,
    TradeExecuted,
    TradingHalted,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.service.nats_events import EventsConflict, decode_message, encode_message
from tradingfloor.service.nats_events_feed import follow_events
from tradingfloor.service.nats_events_publisher import EventPublisher
from tradingfloor.service.nats_projection import NatsProjectionClient, ProjectionStatusPublisher
from tradingfloor.service.nats_shard import NatsShardServer
from tradingfloor.service.nats_shard_client import NatsShardClient
from tradingfloor.service.nats_subjects import NatsNames
from tradingfloor.service.node import NodeSettings
from tradingfloor.service.ports import EventBatch, ProjectionStatus
from tradingfloor.service.sequencer import InvalidCommand
from tradingfloor.service.shard import ShardRole
from tradingfloor.service.shard_client import ShardUnavailable

WAIT_S = 20.0
"""The longest any step may take before the test fails (it never waits this long when
things work)."""


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_url)
    yield connection
    await connection.close()


@pytest.fixture
async def names(nc: Client) -> AsyncIterator[NatsNames]:
    """A shard name of its own; its events stream is deleted at the end."""
    names = NatsNames("tf", f"test-{uuid.uuid4().hex[:12]}", "TF_EVENTS")
    yield names
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await nc.jetstream().delete_stream(names.events_stream)


@contextlib.asynccontextmanager
async def running_shard(data: Path) -> AsyncIterator[ShardRole]:
    shard = ShardRole(NodeSettings(data, fsync=False))
    await shard.start()
    try:
        yield shard
    finally:
        await shard.stop()


@contextlib.asynccontextmanager
async def publishing(
    shard: ShardRole, nc: Client, names: NatsNames, conflicts: list[BaseException] | None = None
) -> AsyncIterator[EventPublisher]:
    told = conflicts if conflicts is not None else []
    publisher = EventPublisher(nc, names, shard, on_conflict=told.append)
    await publisher.start()
    try:
        yield publisher
    finally:
        await publisher.stop()


def order(account: str, side: Side, qty: int, price: int = 10_000) -> PlaceOrder:
    return PlaceOrder(0, account, "XYZ", side, OrderType.LIMIT, qty, price, tif=TimeInForce.GTC)


def trading(count: int) -> list[Command]:
    """A listing, then orders of two accounts, some crossing."""
    out: list[Command] = [AddInstrument(Instrument("XYZ", tick_size=1))]
    for index in range(count - 1):
        side = Side.SELL if index % 2 == 0 else Side.BUY
        out.append(order("alice" if side is Side.SELL else "bob", side, 1 + index % 3))
    return out


async def submit_all(shard: ShardRole, commands: list[Command]) -> None:
    for command in commands:
        await shard.submit(command)


async def published(publisher: EventPublisher, seq: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while publisher.published_seq < seq:
        assert time.monotonic() < deadline, f"not published up to {seq}"
        await asyncio.sleep(0.01)


async def collect(feed: Any, last_seq: int) -> EventBatch:
    """What `feed` gives up to `last_seq` (in time)."""
    items: EventBatch = []

    async def take() -> None:
        async for batch in feed:
            items.extend(batch)
            if items[-1][0] >= last_seq:
                return

    await asyncio.wait_for(take(), WAIT_S)
    return items


async def stream_messages(nc: Client, names: NatsNames) -> tuple[int, int]:
    state = (await nc.jetstream().stream_info(names.events_stream)).state
    return state.messages, state.last_seq


# ---------------------------------------------------------------------- subjects


def test_an_events_subject_names_the_one_symbol_and_account() -> None:
    names = NatsNames("tf", "main", "TF_EVENTS")
    accepted = OrderAccepted(
        3, 1, 3, "alice", "BRK.B", Side.BUY, OrderType.LIMIT, TimeInForce.DAY, 1, 1, None, ""
    )
    fill = TradeExecuted(3, 1, "BRK.B", 1, 100, 1, 2, 3, "bob", "alice", Side.BUY, 0, 0)
    assert names.subject_of([accepted, fill]) == "tf.main.events.BRK~B.alice"  # the taker
    halt = TradingHalted(4, 1, None, HaltReason.MANUAL, None)
    assert names.subject_of([halt]) == "tf.main.events._._"
    listing = InstrumentAdded(5, 1, Instrument("XYZ"))
    assert names.subject_of([listing]) == "tf.main.events.XYZ._"
    other = OrderAccepted(
        6, 1, 6, "carol", "ABC", Side.BUY, OrderType.LIMIT, TimeInForce.DAY, 1, 1, None, ""
    )
    assert names.subject_of([accepted, other]) == "tf.main.events._._"  # several: `_`
    rejected = CommandRejected(7, 1, "Deposit", "dave", RejectReason.INVALID_QUANTITY)
    assert names.subject_of([rejected]) == "tf.main.events._._"
    assert names.subject_of([]) == "tf.main.events._._"
    assert names.events == "tf.main.events.>"
    assert names.events_stream == "TF_EVENTS_main"


def test_an_events_message_round_trips() -> None:
    listing = InstrumentAdded(5, 1, Instrument("XYZ"))
    assert decode_message(encode_message(5, 1, [listing])) == (5, 1, [listing])
    assert decode_message(encode_message(6, 2, [])) == (6, 2, [])


# ---------------------------------------------------------------------- the publisher


async def test_every_command_is_one_message_at_its_own_seq(
    tmp_path: Path, nc: Client, names: NatsNames
) -> None:
    async with running_shard(tmp_path) as shard, publishing(shard, nc, names) as publisher:
        await submit_all(shard, trading(20))
        await published(publisher, 20)
        written = list(shard.node.events.read(1))
    assert await stream_messages(nc, names) == (20, 20)
    js = nc.jetstream()
    for seq, ts, events in written:
        stored = await js.get_msg(names.events_stream, seq)
        assert stored.headers is not None and stored.headers["Nats-Msg-Id"] == str(seq)
        assert stored.data == encode_message(seq, ts, events)
        assert stored.subject == names.subject_of(events)
    first = await js.get_msg(names.events_stream, 1)
    assert first.subject == f"tf.{names.shard}.events.XYZ._"
    second = await js.get_msg(names.events_stream, 2)
    assert second.subject == f"tf.{names.shard}.events.XYZ.alice"


async def test_a_restarted_shard_publishes_on_with_no_gap_and_no_repeat(
    tmp_path: Path, nc: Client, names: NatsNames
) -> None:
    async with running_shard(tmp_path) as shard, publishing(shard, nc, names) as publisher:
        await submit_all(shard, trading(10))
        await published(publisher, 10)
    # Commands while nothing publishes: the next publisher reads them from the event log.
    async with running_shard(tmp_path) as shard:
        await submit_all(shard, trading(8)[1:])
    async with running_shard(tmp_path) as shard, publishing(shard, nc, names) as publisher:
        assert shard.engine.last_seq == 17
        await published(publisher, 17)
        await submit_all(shard, trading(4)[1:])
        await published(publisher, 20)
        written = list(shard.node.events.read(1))
    assert await stream_messages(nc, names) == (20, 20)
    feed = follow_events(nc, names, 1)
    try:
        followed = await collect(feed, 20)
    finally:
        await feed.aclose()
    assert followed == written


async def test_a_retried_publish_is_stored_once(
    tmp_path: Path, nc: Client, names: NatsNames
) -> None:
    """As when an ack is lost: the same message again is a duplicate, checked and kept once;
    another message under a stored seq is a conflict."""
    async with running_shard(tmp_path) as shard, publishing(shard, nc, names) as publisher:
        await submit_all(shard, trading(5))
        await published(publisher, 5)
        seq, ts, events = next(iter(shard.node.events.read(3)))
        again = [(seq, names.subject_of(events), encode_message(seq, ts, events))]
        assert await publisher._publish(again) == 1
        assert await stream_messages(nc, names) == (5, 5)
        other = [(seq, names.subject_of(events), encode_message(seq, ts + 1, events))]
        with pytest.raises(EventsConflict, match="other events"):
            await publisher._publish(other)
    ack = await nc.jetstream().publish(
        names.subject_of(events), b"another", headers={"Nats-Msg-Id": "3"}
    )
    assert ack.duplicate and ack.seq == 3
    assert await stream_messages(nc, names) == (5, 5)


async def test_a_refused_expected_sequence_is_looked_into(
    tmp_path: Path, nc: Client, names: NatsNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message whose predecessor was lost on its way is published again, not a conflict;
    a message stored by an attempt whose id the server forgot is ours, confirmed."""
    from tradingfloor.service import nats_events

    monkeypatch.setattr(nats_events, "duplicate_window_s", 0.2)
    async with running_shard(tmp_path) as shard, publishing(shard, nc, names) as publisher:
        await submit_all(shard, trading(5))
        await published(publisher, 5)
        after_a_lost_one = [(7, f"tf.{names.shard}.events._._", encode_message(7, 0, []))]
        assert await publisher._publish(after_a_lost_one) == 0  # retried, no conflict
        looked_into: list[int] = []
        refused_yet_stored = publisher._refused_yet_stored

        async def spied(seq: int, payload: bytes) -> bool:
            looked_into.append(seq)
            return await refused_yet_stored(seq, payload)

        monkeypatch.setattr(publisher, "_refused_yet_stored", spied)
        await asyncio.sleep(1.0)  # five dedup windows: the server forgets the ids
        seq, ts, events = next(iter(shard.node.events.read(3)))
        again = [(seq, names.subject_of(events), encode_message(seq, ts, events))]
        assert await publisher._publish(again) == 1
        assert looked_into == [3]  # not a duplicate any more: refused, then found ours
        other = [(seq, names.subject_of(events), encode_message(seq, ts + 1, events))]
        with pytest.raises(EventsConflict, match="other events"):
            await publisher._publish(other)
    assert await stream_messages(nc, names) == (5, 5)


async def test_a_stream_that_is_not_the_shards_is_refused(
    tmp_path: Path, nc: Client, names: NatsNames
) -> None:
    async with running_shard(tmp_path / "a") as shard, publishing(shard, nc, names) as publisher:
        await submit_all(shard, trading(6))
        await published(publisher, 6)
    async with running_shard(tmp_path / "b") as other:  # another history of as many commands
        await submit_all(other, [*trading(5), order("carol", Side.BUY, 7)])
        with pytest.raises(EventsConflict, match="not the shard's events"):
            await EventPublisher(nc, names, other).start()
    async with running_shard(tmp_path / "c") as behind:  # a journal that lost commands
        await submit_all(behind, trading(4))
        with pytest.raises(EventsConflict, match="after the shard's last command 4"):
            await EventPublisher(nc, names, behind).start()


async def test_another_publisher_on_the_stream_stops_this_one(
    tmp_path: Path, nc: Client, names: NatsNames
) -> None:
    conflicts: list[BaseException] = []
    async with (
        running_shard(tmp_path) as shard,
        publishing(shard, nc, names, conflicts) as publisher,
    ):
        await submit_all(shard, trading(3))
        await published(publisher, 3)
        intruder = {"Nats-Msg-Id": "4", "Nats-Expected-Last-Sequence": "3"}
        await nc.jetstream().publish(
            f"tf.{names.shard}.events._._", encode_message(4, 0, []), headers=intruder
        )
        await shard.submit(order("bob", Side.BUY, 1))
        deadline = time.monotonic() + WAIT_S
        while not conflicts:
            assert time.monotonic() < deadline, "no conflict"
            await asyncio.sleep(0.01)
        assert isinstance(conflicts[0], EventsConflict)
        assert "stopped" in (publisher.problem() or "")
        assert publisher.published_seq == 3


# ---------------------------------------------------------------------- the feed


async def test_the_feed_from_a_seq_then_live_survives_a_lost_consumer(
    tmp_path: Path, nc: Client, names: NatsNames
) -> None:
    async with running_shard(tmp_path) as shard, publishing(shard, nc, names) as publisher:
        await submit_all(shard, trading(10))
        await published(publisher, 10)
        feed = follow_events(nc, names, 7)
        try:
            first = await collect(feed, 10)
            assert [seq for seq, _, _ in first] == [7, 8, 9, 10]
            await submit_all(shard, trading(3)[1:])
            live = await collect(feed, 12)
            assert [seq for seq, _, _ in live] == [11, 12]
            js = nc.jetstream()
            for consumer in await js.consumers_info(names.events_stream):
                await js.delete_consumer(names.events_stream, consumer.name)  # the server's loss
            await submit_all(shard, trading(4)[1:])
            after = await collect(feed, 15)  # a new consumer, from the seq after the last given
            assert [seq for seq, _, _ in after] == [13, 14, 15]
        finally:
            await feed.aclose()
        assert list(shard.node.events.read(7)) == first + live + after


async def test_a_feed_waits_for_a_stream_not_made_yet(
    tmp_path: Path, nc: Client, names: NatsNames
) -> None:
    feed = follow_events(nc, names, 1)
    try:
        waiting = asyncio.ensure_future(collect(feed, 2))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        async with running_shard(tmp_path) as shard, publishing(shard, nc, names) as publisher:
            await submit_all(shard, trading(2))
            await published(publisher, 2)
            assert [seq for seq, _, _ in await waiting] == [1, 2]
    finally:
        await feed.aclose()


# ---------------------------------------------------------------------- commands and questions


async def test_commands_and_questions_by_request_reply(
    tmp_path: Path, nc: Client, names: NatsNames
) -> None:
    client = NatsShardClient(nc, names, request_timeout_s=5.0)
    with pytest.raises(ShardUnavailable, match="no shard answers"):
        await client.last_seq()
    assert (await client.problems())[0].startswith("no shard answers")
    async with running_shard(tmp_path) as shard:
        server = NatsShardServer(shard, nc, names)
        await server.start()
        try:
            listed = await client.submit(AddInstrument(Instrument("XYZ", tick_size=1)))
            assert listed.seq == 1 and isinstance(listed.events[0], InstrumentAdded)
            answers = await asyncio.gather(
                *(client.submit(order("alice", Side.SELL, 1, 10_000 + i)) for i in range(50))
            )
            assert sorted(answer.seq for answer in answers) == list(range(2, 52))
            assert await client.last_seq() == 51
            assert [i.symbol for i in await client.instruments()] == ["XYZ"]
            live = await client.live_order(answers[0].seq)
            assert live is not None and live.symbol == "XYZ"
            assert await client.problems() == []
            with pytest.raises(InvalidCommand):  # refused by the shard, raised as locally
                await client.submit(order("bad account!", Side.BUY, 1))
            feed = client.follow(50)
            try:
                assert [seq for seq, _, _ in await collect(feed, 51)] == [50, 51]
            finally:
                await feed.aclose()
        finally:
            await server.stop()
    with pytest.raises(ShardUnavailable):
        await client.submit(order("alice", Side.SELL, 1))


# ---------------------------------------------------------------------- the projector's status


class FakeProjection:
    """What the status publisher reads of a `ProjectionRole`."""

    def __init__(self) -> None:
        self.listeners: list[Any] = []
        self.now = ProjectionStatus(0)

    def status(self) -> ProjectionStatus:
        return self.now

    def move(self, status: ProjectionStatus) -> None:
        self.now = status
        for listener in self.listeners:
            listener(status)


async def heard(client: NatsProjectionClient, status: ProjectionStatus) -> None:
    deadline = time.monotonic() + WAIT_S
    while client.status() != status:
        assert time.monotonic() < deadline, f"{status} not heard"
        await asyncio.sleep(0.01)


async def test_the_projection_status_is_heard_and_its_silence_too(
    nc: Client, names: NatsNames
) -> None:
    interval_s = 0.05
    role = FakeProjection()
    role.now = ProjectionStatus(5)
    publisher = ProjectionStatusPublisher(role, nc, names, interval_s)  # type: ignore[arg-type]
    await publisher.start()
    client = NatsProjectionClient(nc, names, interval_s)
    await client.start()
    try:
        assert client.status() == ProjectionStatus(5)  # asked at its start
        waiting = asyncio.ensure_future(client.wait_for(7, WAIT_S))
        await asyncio.sleep(0.01)
        role.move(ProjectionStatus(6))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        role.move(ProjectionStatus(7))
        assert await asyncio.wait_for(waiting, WAIT_S) == ProjectionStatus(7)
        role.move(ProjectionStatus(7, "the database is down", 0.4))
        failing = await client.wait_for(8, WAIT_S)
        assert failing is not None and failing.failure == "the database is down"
        role.move(ProjectionStatus(7))
        await heard(client, ProjectionStatus(7))
        await publisher.stop()  # the projector is gone: silence
        assert await client.wait_for(8, WAIT_S) is None  # woken when it counts as gone
        assert client.status() is None
        await publisher.start()  # it is back
        await heard(client, ProjectionStatus(7))
    finally:
        await client.stop()
        await publisher.stop()


# ---------------------------------------------------------------------- the role's wiring


async def test_a_shard_on_the_jetstream_journal_publishes_on_after_a_restart(
    tmp_path: Path, nc: Client, names: NatsNames, nats_url: str
) -> None:
    """`journal = "jetstream"`: both the commands and the events are streams of the shard."""
    settings = load_settings(
        None, journal="jetstream", nats_url=nats_url, shard_name=names.shard, data_dir=tmp_path
    )
    journal_stream = f"TF_JOURNAL_{names.shard}"
    try:
        for commands in (trading(6), trading(5)[1:]):
            shard = ShardRole(
                NodeSettings(tmp_path / "node", fsync=False), journal=make_journal(settings)
            )
            await shard.start()
            try:
                async with publishing(shard, nc, names) as publisher:
                    await submit_all(shard, commands)
                    await published(publisher, shard.engine.last_seq)
            finally:
                await shard.stop()
        journal = (await nc.jetstream().stream_info(journal_stream)).state
        assert (journal.messages, journal.last_seq) == (10, 10)
        assert await stream_messages(nc, names) == (10, 10)
    finally:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(journal_stream)


def test_a_gateway_run_alone_needs_redis_and_serve_stays_local(tmp_path: Path) -> None:
    settings = load_settings(None, transport="nats", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="redis_url"):
        check_gateway_settings(settings)
    check_gateway_settings(settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"}))
    refusals = (
        ("nats", ["gateway"], "needs redis_url"),
        ("local", ["gateway"], "needs redis_url"),
        ("nats", ["serve", "--port", "0", "--data", str(tmp_path)], "transport = nats"),
    )
    for transport, command, said in refusals:
        env = {
            **os.environ,
            "TRADINGFLOOR_TRANSPORT": transport,
            "TRADINGFLOOR_DATA_DIR": str(tmp_path),
        }
        env.pop("TRADINGFLOOR_REDIS_URL", None)
        ran = subprocess.run(
            [sys.executable, "-m", "tradingfloor", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 2, ran.stdout + ran.stderr
        assert said in " ".join((ran.stdout + ran.stderr).split()), ran.stdout + ran.stderr
    assert not (tmp_path / "run").exists()  # refused before it made anything
