"""The feed of a shard's events stream (`nats_events` says what the stream holds).

`follow_events` is the feed on the readers' side (projector, gateways): an ephemeral push
consumer from the seq asked for (flow-controlled, no acks, in memory, heartbeats, deleted by
the server once unused); a gap, a stall (no message and no heartbeat for
`follow_stall_heartbeats` intervals) or a lost connection re-creates it from the seq after the
last one given, so the feed has no gap and no repeat. Its position is the follower's own: the
projector's is the read models' `last_seq`, committed with the rows, which is what makes it
idempotent by seq; a JetStream durable consumer would keep a second position that could
disagree with the database.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from tradingfloor.service.nats_events import EventsConflict, api_timeout_s, decode_message
from tradingfloor.service.nats_subjects import NatsNames
from tradingfloor.service.ports import EventBatch

log = logging.getLogger("tradingfloor.nats_events")

follow_batch_max = 2_000
"""Commands in one batch of the feed, at most."""
follow_heartbeat_s = 1.0
follow_stall_heartbeats = 3
"""Heartbeat intervals without a word from the consumer after which it is re-created."""
follow_inactive_s = 30.0
"""How long the server keeps a consumer nobody listens to."""
follow_retry_s = 0.5
"""The wait before a lost consumer is re-created."""
follow_retry_max_s = 5.0
"""The wait after a conflict (a message at the wrong seq), repeated while it lasts."""


class _Restart(Exception):
    """The consumer must be re-created from the next seq due."""


class _Consumer:
    """One ephemeral push consumer of the stream from `start_seq`, read in order."""

    def __init__(self, nc: Client, names: NatsNames, start_seq: int) -> None:
        self.nc = nc
        self.names = names
        self.next_seq = start_seq
        self.received_seq = start_seq - 1
        """The newest stream seq delivered to us (a heartbeat naming a later one: a gap)."""
        self.queue: asyncio.Queue[tuple[int, bytes] | str | _Restart] = asyncio.Queue()
        """Messages (stream seq, payload), flow-control replies to send once what came
        before them is taken, and why to follow again (a gap, the consumer gone)."""
        self.flow_control_queued: set[str] = set()
        self.active_at = 0.0
        self.subscription: Any = None
        self.consumer: str | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.active_at = loop.time()
        inbox = self.nc.new_inbox()
        self.subscription = await self.nc.subscribe(inbox, cb=self._on_message)
        config = ConsumerConfig(
            description=f"tradingfloor feed of shard {self.names.shard}",
            deliver_subject=inbox,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.next_seq,
            ack_policy=AckPolicy.NONE,
            filter_subject=self.names.events,
            flow_control=True,
            idle_heartbeat=follow_heartbeat_s,
            inactive_threshold=follow_inactive_s,
            mem_storage=True,
            num_replicas=1,
        )
        js = self.nc.jetstream(timeout=api_timeout_s)
        info = await js.add_consumer(self.names.events_stream, config)
        self.consumer = info.name

    async def close(self) -> None:
        if self.subscription is not None:
            with contextlib.suppress(Exception):
                await self.subscription.unsubscribe()
        if self.consumer is not None and self.nc.is_connected:
            js = self.nc.jetstream(timeout=api_timeout_s)
            with contextlib.suppress(Exception):  # else the server drops it once unused
                await js.delete_consumer(self.names.events_stream, self.consumer)

    async def _on_message(self, msg: Msg) -> None:
        self.active_at = asyncio.get_running_loop().time()
        headers = msg.headers
        status = headers.get("Status") if headers and not msg.data else None
        if status is not None and status != "100":  # e.g. 409: the consumer was deleted
            description = headers.get("Description", "") if headers else ""
            self.queue.put_nowait(_Restart(f"the server says {status} {description}"))
            return
        if status == "100" and headers is not None:
            if msg.reply:  # flow control: answered once what came before it is taken
                self.flow_control_queued.add(msg.reply)
                self.queue.put_nowait(msg.reply)
                return
            stalled = headers.get("Nats-Consumer-Stalled")
            if stalled and stalled not in self.flow_control_queued:
                await self.nc.publish(stalled)  # its flow-control request was lost
            last = headers.get("Nats-Last-Stream")
            if last is not None and last.isdigit() and int(last) > self.received_seq:
                gap = _Restart(f"seq {last} was sent, {self.received_seq} received")
                self.queue.put_nowait(gap)  # the server sent what we never got
            return
        try:
            stream_seq = msg.metadata.sequence.stream
        except Exception:  # not a message of a JetStream consumer: ignore it
            return
        self.received_seq = max(self.received_seq, stream_seq)
        self.queue.put_nowait((stream_seq, msg.data))

    async def next_batch(self) -> EventBatch:
        """The next messages, in order, once there is at least one (raises `_Restart`)."""
        batch: EventBatch = []
        item = await self._first()
        while True:
            if isinstance(item, _Restart):
                raise item
            if isinstance(item, str):
                self.flow_control_queued.discard(item)
                await self.nc.publish(item)
            else:
                stream_seq, payload = item
                if stream_seq > self.next_seq:
                    raise _Restart(f"seq {stream_seq} delivered where {self.next_seq} is due")
                if stream_seq == self.next_seq:
                    seq, ts, events = decode_message(payload)
                    if seq != stream_seq:
                        raise EventsConflict(
                            f"stream seq {stream_seq} of {self.names.events_stream} holds "
                            f"command seq {seq}"
                        )
                    batch.append((seq, ts, events))
                    self.next_seq += 1
            if len(batch) >= follow_batch_max or self.queue.empty():
                if batch:
                    return batch
                item = await self._first()
            else:
                item = self.queue.get_nowait()

    async def _first(self) -> tuple[int, bytes] | str | _Restart:
        loop = asyncio.get_running_loop()
        while True:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for may swallow a cancellation
                # that comes as the item does, and the feed would then not stop.
                async with asyncio.timeout(follow_heartbeat_s):
                    return await self.queue.get()
            except TimeoutError:
                silent_s = loop.time() - self.active_at
                if silent_s > follow_heartbeat_s * follow_stall_heartbeats:
                    raise _Restart(f"no word from the consumer for {silent_s:.1f} s") from None


async def follow_events(
    nc: Client, names: NatsNames, from_seq: int
) -> AsyncGenerator[EventBatch, None]:
    """The shard's events from `from_seq`, then live, with no gap and no repeat, for ever
    (see the module)."""
    next_seq = from_seq
    failures = 0
    while True:
        consumer = _Consumer(nc, names, next_seq)
        try:
            if not nc.is_connected:
                raise _Restart("not connected to NATS")
            await consumer.open()
            failures = 0
            while True:
                batch = await consumer.next_batch()
                next_seq = consumer.next_seq
                yield batch
        except (_Restart, nats.errors.Error, OSError) as error:
            failures += 1
            if failures == 1 or failures % 20 == 0:
                log.warning(
                    "events feed of %s at seq %d: %r; following again",
                    names.events_stream,
                    next_seq,
                    error,
                )
            delay_s = follow_retry_s
        except EventsConflict as conflict:
            log.error("events feed of %s at seq %d: %s", names.events_stream, next_seq, conflict)
            delay_s = follow_retry_max_s
        finally:
            await consumer.close()
        await asyncio.sleep(delay_s)
