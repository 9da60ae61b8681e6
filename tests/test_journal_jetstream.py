"""The JetStream journal against the real NATS server (skipped, or failed in CI, without it)."""

import asyncio
import random
import uuid
from pathlib import Path

import msgspec
import nats
import nats.js.errors
import pytest

from tradingfloor.domain.commands import AddInstrument, CancelOrder, Command, PlaceOrder
from tradingfloor.domain.enums import OrderType, Side
from tradingfloor.domain.instruments import Instrument
from tradingfloor.engine import Engine
from tradingfloor.journal.codec import Entry
from tradingfloor.journal.jetstream import (
    JetStreamJournal,
    JetStreamSettings,
    JournalConflict,
    JournalDamaged,
    decode_record,
    encode_record,
)
from tradingfloor.journal.recovery import recover_from
from tradingfloor.journal.snapshots import SnapshotStore
from tradingfloor.service.node import Node, NodeSettings

SYMBOLS = ("XYZ", "ABC")


@pytest.fixture
def settings(jetstream_settings: JetStreamSettings) -> JetStreamSettings:
    """Settings of a stream of its own (see conftest), deleted at the end."""
    return jetstream_settings


def commands(count: int, seed: int = 7) -> list[Command]:
    """Instruments, then limit orders (some crossing) and cancels of earlier orders."""
    rng = random.Random(seed)
    out: list[Command] = [AddInstrument(Instrument(symbol, tick_size=1)) for symbol in SYMBOLS]
    placed: list[tuple[int, str, str]] = []
    while len(out) < count:
        if placed and rng.random() < 0.2:
            order_id, account, symbol = rng.choice(placed)
            out.append(CancelOrder(order_id, symbol, account))
            continue
        order_id = len(out) + 1  # the seq it will get, as the sequencer would give it
        account, symbol = f"acct-{rng.randint(1, 4)}", rng.choice(SYMBOLS)
        side = rng.choice((Side.BUY, Side.SELL))
        price = 10_000 + rng.randint(-20, 20)
        qty = rng.randint(1, 10) * 10
        out.append(PlaceOrder(order_id, account, symbol, side, OrderType.LIMIT, qty, price))
        placed.append((order_id, account, symbol))
    return out


def entries(items: list[Command], first_seq: int = 1, ts: int = 1_700_000_000_000_000_000):
    return [Entry(first_seq + i, ts + first_seq + i, command) for i, command in enumerate(items)]


async def append_in_batches(journal: JetStreamJournal, items: list[Entry], size: int) -> None:
    for start in range(0, len(items), size):
        await journal.append(items[start : start + size])


async def read_all(journal: JetStreamJournal, from_seq: int = 1) -> list[Entry]:
    return [entry async for entry in journal.replay(from_seq)]


async def stream_state(settings: JetStreamSettings) -> tuple[int, int, int]:
    """(messages, first_seq, last_seq) as the server tells them."""
    connection = await nats.connect(settings.url)
    try:
        state = (await connection.jetstream().stream_info(settings.stream_name)).state
        return state.messages, state.first_seq, state.last_seq
    finally:
        await connection.close()


def clean_hash(items: list[Entry]) -> str:
    engine = Engine()
    for entry in items:
        engine.apply(entry.command, entry.seq, entry.ts)
    return engine.state_hash()


def test_record_round_trip_and_checksum() -> None:
    entry = Entry(42, 1_700_000_000_000_000_001, commands(3)[2])
    payload = encode_record(entry)
    assert decode_record(payload) == entry
    damaged = bytearray(payload)
    damaged[-1] ^= 0x01
    with pytest.raises(JournalDamaged, match="checksum"):
        decode_record(bytes(damaged))


async def test_append_replay_round_trip(settings: JetStreamSettings) -> None:
    journal = JetStreamJournal(settings)
    await journal.open()
    written = entries(commands(1_000))
    try:
        assert journal.last_seq == 0
        assert await read_all(journal) == []
        await append_in_batches(journal, written, 97)
        assert journal.last_seq == 1_000
        assert await read_all(journal) == written
        assert await read_all(journal, 990) == written[989:]
        assert await read_all(journal, 1_001) == []
    finally:
        await journal.close()
    assert await stream_state(settings) == (1_000, 1, 1_000)


async def test_stream_seq_is_command_seq(settings: JetStreamSettings) -> None:
    journal = JetStreamJournal(settings)
    await journal.open()
    written = entries(commands(20))
    try:
        await journal.append(written)
        connection = await nats.connect(settings.url)
        try:
            js = connection.jetstream()
            for entry in (written[0], written[9], written[19]):
                stored = await js.get_msg(settings.stream_name, entry.seq)
                assert stored.data is not None
                assert decode_record(stored.data) == entry
        finally:
            await connection.close()
    finally:
        await journal.close()


class LosesFirstAcks(JetStreamJournal):
    """Publishes for real but behaves, the first time, as if no ack came back in time."""

    acks_lost = False

    async def _publish(self, records: list[tuple[int, bytes]]) -> int:
        confirmed = await super()._publish(records)
        if not self.acks_lost:
            self.acks_lost = True
            return 0
        return confirmed


async def test_retried_publish_is_stored_once(settings: JetStreamSettings) -> None:
    journal = LosesFirstAcks(settings)
    await journal.open()
    written = entries(commands(50))
    try:
        await journal.append(written)
        assert journal.acks_lost
        assert journal.publish_retries == 50
        assert journal.last_seq == 50
        assert await stream_state(settings) == (50, 1, 50)
        assert await read_all(journal) == written
        await journal.append(entries(commands(60)[50:], 51))
        assert await stream_state(settings) == (60, 1, 60)
    finally:
        await journal.close()


async def test_a_duplicate_publish_acks_the_stored_seq(settings: JetStreamSettings) -> None:
    journal = JetStreamJournal(settings)
    await journal.open()
    written = entries(commands(5))
    try:
        await journal.append(written)
        connection = await nats.connect(settings.url)
        try:
            ack = await connection.jetstream().publish(
                settings.subject_name,
                encode_record(written[2]),
                headers={"Nats-Msg-Id": "3", "Nats-Expected-Last-Sequence": "2"},
            )
        finally:
            await connection.close()
        assert (ack.seq, ack.duplicate) == (3, True)
        assert await stream_state(settings) == (5, 1, 5)
    finally:
        await journal.close()


async def test_another_writers_record_at_our_seq_is_refused(settings: JetStreamSettings) -> None:
    ours, theirs = JetStreamJournal(settings), JetStreamJournal(settings)
    await ours.open()
    await theirs.open()
    items = commands(10)
    try:
        await ours.append(entries(items[:5]))
        # `theirs` still believes the stream is empty: its seq 1 is a duplicate msg id, but
        # the stored record is not its record.
        other = [Entry(1, 5, AddInstrument(Instrument("OTHER", tick_size=1)))]
        with pytest.raises(JournalConflict, match="another record"):
            await theirs.append(other)
        assert theirs.last_seq == 0
        assert await stream_state(settings) == (5, 1, 5)
        assert await read_all(ours) == entries(items[:5])
    finally:
        await ours.close()
        await theirs.close()


async def test_a_stale_expected_sequence_is_refused(nats_url: str) -> None:
    shard = f"test-{uuid.uuid4().hex[:12]}"
    settings = JetStreamSettings(url=nats_url, shard=shard, duplicate_window_ms=300)
    ours, stale = JetStreamJournal(settings), JetStreamJournal(settings)
    connection = await nats.connect(nats_url)
    try:
        await ours.open()
        await stale.open()
        written = entries(commands(3))
        await ours.append(written)
        js = connection.jetstream()
        # A new msg id whose expected last seq is stale: refused, whatever the window.
        with pytest.raises(nats.js.errors.APIError, match="wrong last sequence") as raised:
            await js.publish(
                settings.subject_name,
                b"never stored",
                headers={"Nats-Msg-Id": "99", "Nats-Expected-Last-Sequence": "2"},
            )
        assert raised.value.err_code == 10071
        # Past the dedup window, seq 1 from a writer that missed 1..3 is not a duplicate any
        # more: the expected-last-sequence check alone refuses it.
        await asyncio.sleep(0.6)
        with pytest.raises(JournalConflict, match="wrong last sequence"):
            await stale.append(entries(commands(1, seed=99)))
        assert await stream_state(settings) == (3, 1, 3)
        assert await read_all(ours) == written
    finally:
        await ours.close()
        await stale.close()
        await connection.jetstream().delete_stream(settings.stream_name)
        await connection.close()


async def test_reopen_continues_numbering(settings: JetStreamSettings) -> None:
    items = commands(30)
    first = JetStreamJournal(settings)
    await first.open()
    await first.append(entries(items[:10]))
    await first.close()

    again = JetStreamJournal(settings)
    await again.open()
    try:
        assert again.last_seq == 10
        with pytest.raises(ValueError, match="continue the journal at seq 11"):
            await again.append(entries(items[9:12], 10))
        await again.append(entries(items[10:30], 11))
        assert again.last_seq == 30
        assert await read_all(again) == entries(items)
    finally:
        await again.close()
    with pytest.raises(JournalConflict, match="before the snapshot at 31"):
        late = JetStreamJournal(settings)
        try:
            await late.open(after_seq=31)
        finally:
            await late.close()


async def test_replay_refuses_a_foreign_record(settings: JetStreamSettings) -> None:
    journal = JetStreamJournal(settings)
    await journal.open()
    try:
        await journal.append(entries(commands(3)))
        connection = await nats.connect(settings.url)
        try:
            await connection.jetstream().publish(settings.subject_name, b"\x01 not a record")
        finally:
            await connection.close()
        with pytest.raises(JournalDamaged):
            await read_all(journal)
    finally:
        await journal.close()


async def test_node_recovery_matches_a_clean_replay(
    settings: JetStreamSettings, tmp_path: Path
) -> None:
    """A node on JetStream; recovery (snapshot + replay) equals a replay from seq 1."""
    # The sequencer gives order ids (the seq): the cancels' ids stay right.
    items = [
        msgspec.structs.replace(c, order_id=0) if isinstance(c, PlaceOrder) else c
        for c in commands(600, seed=11)
    ]
    node = Node(NodeSettings(tmp_path), journal=JetStreamJournal(settings))
    await node.start()
    results = await asyncio.gather(*(node.submit(command) for command in items[:300]))
    snapshot_seq = await node.snapshot()
    results += await asyncio.gather(*(node.submit(command) for command in items[300:]))
    assert node.sequencer is not None
    live_hash = node.sequencer.engine.state_hash()
    await node.stop(snapshot=False)
    assert [r.seq for r in results] == list(range(1, 601))

    journal = JetStreamJournal(settings)
    try:
        recovered = await recover_from(journal, SnapshotStore(tmp_path / "snapshots"))
        assert recovered.snapshot_seq == snapshot_seq
        assert recovered.replayed == 600 - snapshot_seq
        replayed = await read_all(journal)
    finally:
        await journal.close()
    assert [entry.command for entry in replayed] == [r.command for r in results]
    assert recovered.engine.state_hash() == clean_hash(replayed) == live_hash
