"""`tradingfloor bench jetstream`: the JetStream journal on a real NATS server.

    tradingfloor bench jetstream [--url nats://127.0.0.1:4222] [--seconds 5] [--replay 100000]

1. Durable appends/s through the Sequencer (group commit) with 1, 16 and 256 concurrent
   callers, each awaiting its answer before sending the next command; ack latency p50/p99.
2. Replay of a 100,000-command stream: read only (commands/s), and recovery into a fresh
   engine from seq 1 (`recover_from`, no snapshot).

Each run uses a stream of its own and deletes it at the end.
"""

import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import msgspec
import nats

from tradingfloor.domain.commands import AddInstrument, Command, PlaceOrder
from tradingfloor.domain.enums import OrderType, Side
from tradingfloor.domain.instruments import Instrument
from tradingfloor.engine import Engine
from tradingfloor.journal.codec import Entry
from tradingfloor.journal.jetstream import JetStreamJournal, JetStreamSettings
from tradingfloor.journal.recovery import recover_from
from tradingfloor.journal.snapshots import SnapshotStore
from tradingfloor.service.sequencer import Sequencer


def order(index: int) -> PlaceOrder:
    """Resting orders on both sides of a wide spread: each one is journaled and applied."""
    side = Side.BUY if index % 2 else Side.SELL
    price = 9_000 - index % 50 if side is Side.BUY else 11_000 + index % 50
    return PlaceOrder(0, f"acct-{index % 8}", "XYZ", side, OrderType.LIMIT, 100, price)


async def appends(url: str, callers: int, seconds: float) -> None:
    settings = JetStreamSettings(url=url, shard=f"bench-{uuid.uuid4().hex[:8]}")
    journal = JetStreamJournal(settings)
    await journal.open()
    engine = Engine()
    sequencer = Sequencer(engine, journal)
    sequencer.start()
    await sequencer.submit(AddInstrument(Instrument("XYZ", tick_size=1)))
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def caller(number: int) -> None:
        index = number
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            await sequencer.submit(order(index))
            latencies.append(time.perf_counter() - start)
            index += callers

    sequencer.batch_sizes.clear()
    began = time.perf_counter()
    await asyncio.gather(*(caller(number) for number in range(callers)))
    elapsed = time.perf_counter() - began
    await sequencer.stop()
    batches = sequencer.batch_sizes
    latencies.sort()
    print(
        f"appends  callers {callers:>3}: {len(latencies) / elapsed:>8,.0f} commands/s  "
        f"ack p50 {latencies[len(latencies) // 2] * 1e3:6.2f} ms  "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1e3:6.2f} ms  "
        f"mean batch {statistics.fmean(batches):6.1f}  ({len(latencies):,} commands, "
        f"{journal.publish_retries} retries)"
    )
    await drop(journal)


async def replay(url: str, count: int) -> None:
    settings = JetStreamSettings(url=url, shard=f"bench-{uuid.uuid4().hex[:8]}")
    journal = JetStreamJournal(settings)
    await journal.open()
    commands: list[Command] = [AddInstrument(Instrument("XYZ", tick_size=1))]
    commands += [msgspec.structs.replace(order(seq), order_id=seq) for seq in range(2, count + 1)]
    ts = time.time_ns()
    entries = [Entry(seq, ts, command) for seq, command in enumerate(commands, 1)]
    began = time.perf_counter()
    for start in range(0, count, 4_096):
        await journal.append(entries[start : start + 4_096])
    written = time.perf_counter() - began
    print(f"append   batches of 4096: {count / written:>8,.0f} commands/s ({count:,} commands)")

    began = time.perf_counter()
    read = 0
    async for _ in journal.replay(1):
        read += 1
    elapsed = time.perf_counter() - began
    print(f"replay   read only:       {read / elapsed:>8,.0f} commands/s ({elapsed:.2f} s)")

    fresh = JetStreamJournal(settings)
    with tempfile.TemporaryDirectory() as empty:
        began = time.perf_counter()
        recovered = await recover_from(fresh, SnapshotStore(Path(empty)))
        elapsed = time.perf_counter() - began
    print(
        f"recover  read + apply:    {recovered.replayed / elapsed:>8,.0f} commands/s "
        f"({elapsed:.2f} s to seq {recovered.last_seq:,})"
    )
    await fresh.close()
    await drop(journal)


async def drop(journal: JetStreamJournal) -> None:
    await journal.close()
    connection = await nats.connect(journal.settings.url)
    try:
        await connection.jetstream().delete_stream(journal.stream)
    finally:
        await connection.close()


async def run(url: str, seconds: float, replay_count: int) -> None:
    """Appends at 1, 16 and 256 callers, then the replay figures. Prints, asserts nothing."""
    for callers in (1, 16, 256):
        await appends(url, callers, seconds)
    await replay(url, replay_count)
