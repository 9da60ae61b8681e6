"""The publisher of a shard's events stream (`nats_events` says what the stream holds).

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
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from tradingfloor.journal.jetstream import WRONG_LAST_SEQUENCE, _Ack, _ack_decoder, _Acks
from tradingfloor.service.nats_events import (
    EventsConflict,
    api_timeout_s,
    decode_message,
    encode_message,
    stream_config,
)
from tradingfloor.service.nats_subjects import NatsNames
from tradingfloor.service.ports import EventBatch, ShardPort

log = logging.getLogger("tradingfloor.nats_events")

publish_window_max = 1_000
"""Messages published before their acknowledgements are awaited."""
publish_ack_timeout_s = 5.0
publish_retry_first_s = 0.1
publish_retry_max_s = 5.0


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
