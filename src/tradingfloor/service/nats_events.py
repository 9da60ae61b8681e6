"""A shard's events on NATS JetStream: one stream per shard, one message per command.

Stream `<stream_prefix>_<shard>` (`TF_EVENTS_main`) takes the subjects
`<prefix>.<shard>.events.>` (`nats_subjects` says what a subject means): file storage, no size
or age limits, `discard: new` and `deny_delete`, as the journal's stream. A message's payload
is the local transport's `wire.Batch` holding the one command's `(seq, ts, events)` (msgpack;
a command without events has an empty list); its headers:

    Nats-Msg-Id: <seq>                         dedup: a retried publish is stored once
    Nats-Expected-Last-Sequence: <seq - 1>     the stream must end at seq - 1, else refused

So stream seq N is command seq N, with no table to map them: the publisher creates the stream,
which numbers from 1 as the sequencer does, every command has exactly one message, and the
server refuses any message that does not continue the stream. It is checked where it matters:
at the publisher's start, the stream's last message must carry its own seq (`Nats-Msg-Id` and
payload) and be, byte for byte, what the shard's event log holds for that seq, and must not be
beyond the shard's last command (else `EventsConflict`: another shard's stream, or a shard
whose journal lost commands); a follower checks every message's stream seq against its
payload's.

`EventPublisher` runs in the shard's process and reads the shard's own event feed
(`ShardPort.follow`, i.e. the event log): the sequencer never waits for NATS, and a publisher
that falls behind reads the log's files. It resumes after the stream's last message, so a
restart gives no gap and no repeat. It publishes in windows of `publish_window_max` messages
on one connection and moves on once each is acknowledged; an unanswered message (NATS down,
a stream leader moving) is published again with the same headers after a wait that doubles
from 0.1 s to `publish_retry_max_s`, for as long as it takes (the event log keeps everything),
and a "duplicate" answer is checked against the stored message. A refused expected sequence
is looked into: a stream that ends before the message lost an earlier one on its way (a
reconnection), which is published again; a stream that holds the message already holds it from
an attempt whose id the server forgot (its dedup window is `duplicate_window_s`), if it is ours.
A stored message that is not ours means another publisher: `EventsConflict`, which stops the
publisher and the shard (two shards of one name must never both run).

`follow_events` is the feed on the other side (projector, gateways): an ephemeral push
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
from collections.abc import AsyncGenerator, Callable
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext

from tradingfloor.journal.jetstream import WRONG_LAST_SEQUENCE, _Ack, _ack_decoder, _Acks
from tradingfloor.service import wire
from tradingfloor.service.nats_subjects import NatsNames
from tradingfloor.service.ports import EventBatch, ShardPort

log = logging.getLogger("tradingfloor.nats_events")

publish_window_max = 1_000
"""Messages published before their acknowledgements are awaited."""
publish_ack_timeout_s = 5.0
publish_retry_first_s = 0.1
publish_retry_max_s = 5.0
api_timeout_s = 5.0
"""JetStream API calls (stream info, consumer creation, reading one message)."""
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
duplicate_window_s = 120.0


class EventsConflict(RuntimeError):
    """The events stream does not agree with the shard: another shard's, or another
    publisher's."""


def encode_message(seq: int, ts: int, events: list[Any]) -> bytes:
    return wire.encode(wire.Batch([(seq, ts, events)]))


def decode_message(payload: bytes) -> tuple[int, int, list[Any]]:
    message = wire.client_decoder.decode(payload)
    if type(message) is not wire.Batch or len(message.items) != 1:
        raise EventsConflict(f"an events message holds {type(message).__name__}, not one item")
    seq, ts, events = message.items[0]
    return seq, ts, events


def stream_config(names: NatsNames, replicas: int) -> StreamConfig:
    return StreamConfig(
        name=names.events_stream,
        description=f"tradingfloor events of shard {names.shard}: stream seq = command seq",
        subjects=[names.events],
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.NEW,
        storage=StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=duplicate_window_s,
        deny_delete=True,
    )


# ---------------------------------------------------------------------- the publisher


class EventPublisher:
    """The shard's events into its stream (see the module)."""

    def __init__(
        self,
        nc: Client,
        names: NatsNames,
        shard: ShardPort,
        replicas: int = 1,
        on_conflict: Callable[[EventsConflict], None] = lambda error: None,
    ) -> None:
        self.nc = nc
        self.names = names
        self.shard = shard
        self.replicas = replicas
        self.on_conflict = on_conflict
        self.js: JetStreamContext = nc.jetstream(timeout=api_timeout_s)
        self.published_seq = 0
        """The newest seq the stream holds (acknowledged)."""
        self.publish_retries = 0
        """Messages published again after a failed attempt."""
        self.failure: BaseException | None = None
        """Why publishing is stuck now (None while it works)."""
        self.conflict: EventsConflict | None = None
        self._acks = _Acks()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create or check the stream (`EventsConflict` if it disagrees), then publish."""
        await self._acks.start(self.nc)
        self.published_seq = await self._checked_stream()
        log.info(
            "publishing events to %s after seq %d", self.names.events_stream, self.published_seq
        )
        self._task = asyncio.create_task(self._run(), name="events-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def problem(self) -> str | None:
        """Readiness: the publisher stuck or stopped."""
        if self.conflict is not None:
            return f"events are not published (stopped): {self.conflict}"
        if self.failure is not None:
            return (
                f"events are not published after seq {self.published_seq} "
                f"(retrying): {self.failure!r}"
            )
        return None

    async def _checked_stream(self) -> int:
        """The stream's last seq, once checked against the shard (see the module)."""
        names = self.names
        try:
            info = await self.js.stream_info(names.events_stream)
        except nats.js.errors.NotFoundError:
            info = await self.js.add_stream(stream_config(names, self.replicas))
        subjects = info.config.subjects or []
        if names.events not in subjects:
            raise EventsConflict(
                f"stream {names.events_stream} takes {subjects}, not {names.events}"
            )
        last = info.state.last_seq
        if last == 0:
            return 0
        shard_last = await self.shard.last_seq()
        if last > shard_last:
            raise EventsConflict(
                f"stream {names.events_stream} ends at seq {last}, after the shard's last "
                f"command {shard_last}: another shard's stream, or a journal that lost commands"
            )
        stored = await self.js.get_msg(names.events_stream, last)
        msg_id = (stored.headers or {}).get("Nats-Msg-Id")
        if msg_id != str(last) or decode_message(stored.data or b"")[0] != last:
            raise EventsConflict(
                f"stream {names.events_stream} holds command seq {msg_id} at stream seq {last}"
            )
        async with contextlib.aclosing(self.shard.follow(last)) as feed:
            async for batch in feed:
                seq, ts, events = batch[0]
                if seq != last or encode_message(seq, ts, events) != stored.data:
                    raise EventsConflict(
                        f"seq {last} of stream {names.events_stream} is not the shard's "
                        "events of that seq: another shard's stream?"
                    )
                break
        return last

    async def _run(self) -> None:
        while True:
            try:
                async with contextlib.aclosing(self.shard.follow(self.published_seq + 1)) as feed:
                    async for batch in feed:
                        for start in range(0, len(batch), publish_window_max):
                            await self._publish_until_stored(
                                batch[start : start + publish_window_max]
                            )
            except asyncio.CancelledError:
                raise
            except EventsConflict as conflict:
                self.conflict = conflict
                log.error("the events publisher stops: %s", conflict)
                self.on_conflict(conflict)
                return
            except Exception as error:  # the event log stopped: the next start rebuilds it
                log.warning("event feed ended after seq %d: %r", self.published_seq, error)
                await asyncio.sleep(publish_retry_max_s)

    async def _publish_until_stored(self, batch: EventBatch) -> None:
        names = self.names
        pending = [
            (seq, names.subject_of(events), encode_message(seq, ts, events))
            for seq, ts, events in batch
            if seq > self.published_seq
        ]
        delay_s = publish_retry_first_s
        while pending:
            try:
                confirmed = await self._publish(pending)
            except (nats.errors.Error, OSError) as error:
                confirmed, failure = 0, error
            else:
                failure = TimeoutError(f"no ack in {publish_ack_timeout_s} s")
            if confirmed:
                self.published_seq = pending[confirmed - 1][0]
                pending = pending[confirmed:]
            if not pending:
                break
            if self.failure is None:
                log.warning(
                    "publishing seq %d to %s failed, retrying: %r",
                    pending[0][0],
                    names.events_stream,
                    failure,
                )
            self.failure = failure
            self.publish_retries += len(pending)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, publish_retry_max_s)
        if self.failure is not None:
            log.warning("events published again, up to seq %d", self.published_seq)
            self.failure = None

    async def _publish(self, pending: list[tuple[int, str, bytes]]) -> int:
        """Publish in order; how many, from the first, are confirmed stored."""
        if not self.nc.is_connected:
            raise nats.errors.ConnectionClosedError
        acks = self._acks
        futures: list[asyncio.Future[bytes]] = []
        tokens: list[str] = []
        try:
            for seq, subject, payload in pending:
                reply, token, future = acks.expect()
                tokens.append(token)
                futures.append(future)
                headers = {"Nats-Msg-Id": str(seq), "Nats-Expected-Last-Sequence": str(seq - 1)}
                await self.nc.publish(subject, payload, reply=reply, headers=headers)
            await asyncio.wait(futures, timeout=publish_ack_timeout_s)
            confirmed = 0
            for (seq, _, payload), future in zip(pending, futures, strict=True):
                if not future.done() or not await self._stored(seq, payload, future.result()):
                    break
                confirmed += 1
            return confirmed
        finally:
            acks.forget(tokens)

    async def _stored(self, seq: int, payload: bytes, answer: bytes) -> bool:
        """Whether the stream's answer says `seq` is stored (as ours); a refusal by another
        publisher raises `EventsConflict`, an unavailable stream is False (retried)."""
        try:
            ack: _Ack = _ack_decoder.decode(answer)
        except msgspec.DecodeError:
            return False
        stream = self.names.events_stream
        if ack.error is not None:
            if ack.error.err_code == WRONG_LAST_SEQUENCE:
                return await self._refused_yet_stored(seq, payload)
            return False  # no stream answered (a server restarting), or a passing refusal
        if ack.stream != stream or ack.seq != seq:
            raise EventsConflict(f"seq {seq} was stored as {ack.stream} seq {ack.seq}")
        if ack.duplicate:  # stored before under this id: by our earlier attempt, or not?
            await self._check_ours(seq, payload)
        return True

    async def _refused_yet_stored(self, seq: int, payload: bytes) -> bool:
        """After a refused expected sequence: whether `seq` is stored as ours (published by an
        earlier attempt, its id forgotten since: the dedup window is finite). A stream that
        ends before it lost an earlier message of ours on its way (a reconnection): False,
        published again. Another message at `seq` is another publisher's: `EventsConflict`."""
        info = await self.js.stream_info(self.names.events_stream)
        if info.state.last_seq < seq:
            return False
        await self._check_ours(seq, payload)
        return True

    async def _check_ours(self, seq: int, payload: bytes) -> None:
        stream = self.names.events_stream
        stored = await self.js.get_msg(stream, seq)
        if stored.data != payload:
            raise EventsConflict(f"seq {seq} of {stream} holds other events than ours")


# ---------------------------------------------------------------------- the feed


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
