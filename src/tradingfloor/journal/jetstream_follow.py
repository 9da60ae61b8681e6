"""Following a JetStream journal as it grows: what a shard's hot standby reads.

`follow_journal(journal, from_seq)` yields the stream's records from `from_seq` on, in chunks,
then each new one as the primary appends it, for as long as it is iterated. It reads with an
ordered consumer (push, flow-controlled, no acks; nats-py re-creates it from the last seq
delivered when a message goes missing), so a chunk continues the one before it: every record
is checked (crc, consecutive seq) and a gap raises `JournalDamaged`.

A chunk holds what the consumer had delivered when the reader asked, at most
`follow_chunk_max` records: a standby far behind applies large chunks, one close behind
applies each record as it comes.
"""

import asyncio
from collections.abc import AsyncIterator

from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from tradingfloor.journal.codec import Entry
from tradingfloor.journal.jetstream import JetStreamJournal, decode_next

follow_chunk_max = 1_024
"""Records handed to the reader at a time, at most."""
follow_buffered_max = 16_384
"""Records decoded and not yet taken; beyond it the consumer waits (flow control)."""


class _Follower:
    def __init__(self, from_seq: int) -> None:
        self.next_seq = from_seq
        self.queue: asyncio.Queue[Entry | BaseException] = asyncio.Queue(follow_buffered_max)
        self.failed = False

    async def on_message(self, msg: Msg) -> None:
        if self.failed:
            return
        try:
            entry = decode_next(msg.data, self.next_seq)
        except Exception as error:  # the callback's errors would only be logged: hand them on
            self.failed = True
            await self.queue.put(error)
            return
        self.next_seq += 1
        await self.queue.put(entry)

    async def chunk(self) -> list[Entry]:
        """The next records: waits for one, then takes what else is there already."""
        first = await self.queue.get()
        items = [first]
        while len(items) < follow_chunk_max and not self.queue.empty():
            items.append(self.queue.get_nowait())
        entries: list[Entry] = []
        for item in items:
            if isinstance(item, BaseException):
                raise item
            entries.append(item)
        return entries


async def follow_journal(journal: JetStreamJournal, from_seq: int) -> AsyncIterator[list[Entry]]:
    """The journal's records from `from_seq`, then live ones (see the module)."""
    follower = _Follower(from_seq)
    subscription = await journal.jetstream().subscribe(
        journal.subject,
        stream=journal.stream,
        cb=follower.on_message,
        ordered_consumer=True,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=from_seq
        ),
    )
    try:
        while True:
            yield await follower.chunk()
    finally:
        await subscription.unsubscribe()
