"""The distributed journal: one NATS JetStream stream per shard, stream seq N = command seq N.

Stream and subject: `TF_JOURNAL_<shard>` and `tf.journal.<shard>` unless set otherwise; file
storage, no size or age limits, `discard: new` (a full stream refuses a record rather than drop
an old one) and `deny_delete` (no holes). Nothing but the shard's sequencer may publish to it.

Message (one per command). Payload, integers little-endian:

    version u8 | seq u64 | ts i64 | crc u32 | command (msgpack, `codec.encode_entry`)

`crc` is CRC32C of `version | seq | ts` followed by the command bytes: an end-to-end check
across the client, the network and the server. The payload alone carries seq and ts, so replay
never reads a header. Headers, for the server to enforce:

    Nats-Msg-Id: <seq>                         dedup: a retried publish is stored once
    Nats-Expected-Last-Sequence: <seq - 1>     the stream must end at seq - 1, else refused

Appends are a group commit: every record of a batch is published at once (in order, on one
connection, each with its own reply subject under one inbox subscription) and the batch returns
once all of them are acknowledged, each with stream seq equal to its command seq. A record
without an answer in `ack_timeout_ms` is published again with the same headers (up to
`publish_attempts_max` times): if the first copy was stored, the server answers "duplicate"
with the stored seq, and the stored payload is read back and compared, so another writer's
record at that seq is never taken for ours. A "wrong last sequence" refusal (another writer, or
a gap) raises `JournalConflict`; the sequencer then stops.

Replay reads with an ordered consumer (push, flow-controlled, no acks, it re-creates itself
from the last seq seen if a message goes missing) from `from_seq` up to the stream's last
seq when the replay began; every record is checked (crc, consecutive seq).

Durability is the stream's: an ack means the record is in the server's store (with `replicas`
> 1, on a quorum of servers), not that it was fsynced. On one server (R1) an acknowledged record
outlives a crash of this process; to outlive the loss of the NATS host it takes R3, or
NATS >= 2.10 with `sync_interval: always`.
"""

import asyncio
import re
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec
import nats
import nats.errors
import nats.js.errors
from crc32c import crc32c
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext

from tradingfloor.journal.base import Journal
from tradingfloor.journal.codec import COMMAND_VERSION, Entry, decode_entry, encode_entry

RECORD_HEAD = struct.Struct("<BQq")
CRC = struct.Struct("<I")
PAYLOAD_OVERHEAD = RECORD_HEAD.size + CRC.size
WRONG_LAST_SEQUENCE = 10071
"""JetStream's error code for a refused `Nats-Expected-Last-Sequence`."""
_NAME = re.compile(r"[A-Za-z0-9_-]+")


class JournalConflict(RuntimeError):
    """The stream does not continue where this journal expects: another writer, or a gap."""


class JournalWriteError(RuntimeError):
    """A batch could not be made durable (no ack, or an error from the server)."""


class JournalDamaged(RuntimeError):
    """A stored record fails its checks (checksum, sequence, format)."""


@dataclass(frozen=True)
class JetStreamSettings:
    url: str = "nats://127.0.0.1:4222"
    shard: str = "0"
    stream: str = ""
    """Empty: `TF_JOURNAL_<shard>`."""
    subject: str = ""
    """Empty: `tf.journal.<shard>`."""
    replicas: int = 1
    duplicate_window_ms: int = 120_000
    """How long the server remembers a seq for dedup; retries happen well within it."""
    ack_timeout_ms: int = 5_000
    publish_attempts_max: int = 3
    connect_timeout_ms: int = 2_000
    reconnect_attempts_max: int = 10
    """Also the attempts of the first connection."""
    reconnect_wait_ms: int = 500
    record_bytes_max: int = 1024 * 1024
    replay_chunk_max: int = 1_024
    """Records handed from the consumer to the replay loop at a time."""
    replay_chunks_buffered_max: int = 64
    replay_idle_timeout_ms: int = 10_000
    """Replay fails if no record arrives for this long while more are due."""

    @property
    def stream_name(self) -> str:
        return self.stream or f"TF_JOURNAL_{self.shard}"

    @property
    def subject_name(self) -> str:
        return self.subject or f"tf.journal.{self.shard}"


def encode_record(entry: Entry) -> bytes:
    head = RECORD_HEAD.pack(COMMAND_VERSION, entry.seq, entry.ts)
    command = encode_entry(entry)
    return head + CRC.pack(crc32c(command, crc32c(head))) + command


def decode_next(payload: bytes, seq: int) -> Entry:
    """The record `payload` holds, which must be the one of `seq` (`JournalDamaged` if not)."""
    entry = decode_record(payload)
    if entry.seq != seq:
        raise JournalDamaged(f"record of seq {entry.seq} where {seq} is due")
    return entry


def decode_record(payload: bytes) -> Entry:
    if len(payload) < PAYLOAD_OVERHEAD:
        raise JournalDamaged(f"record of {len(payload)} bytes is too short")
    version, seq, ts = RECORD_HEAD.unpack_from(payload)
    (checksum,) = CRC.unpack_from(payload, RECORD_HEAD.size)
    view = memoryview(payload)
    command = view[PAYLOAD_OVERHEAD:]
    if crc32c(command, crc32c(view[: RECORD_HEAD.size])) != checksum:
        raise JournalDamaged(f"checksum mismatch in the record of seq {seq}")
    decoded, origin = decode_entry(version, command)
    return Entry(seq, ts, decoded, origin)


class JetStreamJournal(Journal):
    """Commands as messages of one JetStream stream; see the module docstring for the format."""

    def __init__(self, settings: JetStreamSettings | None = None) -> None:
        self.settings = settings or JetStreamSettings()
        for name in (self.settings.shard, self.settings.stream_name):
            if not _NAME.fullmatch(name):
                raise ValueError(f"{name!r}: use letters, digits, '_' and '-' only")
        self.stream = self.settings.stream_name
        self.subject = self.settings.subject_name
        self.publish_retries = 0
        """Records published again after an ack timeout (each stored once, by dedup)."""
        self.connection_error: Exception | None = None
        """The connection's latest error (the client reconnects by itself)."""
        self._last_seq = 0
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._acks = _Acks()

    @property
    def last_seq(self) -> int:
        return self._last_seq

    # ------------------------------------------------------------------ open

    async def open(self, after_seq: int = 0) -> None:
        """Connect, create the stream if missing and read where it ends.

        An empty stream continues after `after_seq` only if its own last seq is `after_seq`
        (JetStream numbers messages itself): a snapshot newer than the stream's end raises
        `JournalConflict`, since its records would be missing.
        """
        if self._nc is None:
            settings = self.settings
            try:
                self._nc = await nats.connect(
                    settings.url,
                    name=f"tradingfloor-journal-{settings.shard}",
                    connect_timeout=settings.connect_timeout_ms / 1000,
                    max_reconnect_attempts=settings.reconnect_attempts_max,
                    reconnect_time_wait=settings.reconnect_wait_ms / 1000,
                    error_cb=self._on_connection_error,
                )
            except nats.errors.NoServersError as error:
                raise ConnectionError(
                    f"cannot reach NATS at {settings.url}: {self.connection_error!r}"
                ) from error
            self._js = self._nc.jetstream(timeout=settings.ack_timeout_ms / 1000)
            await self._acks.start(self._nc)
        last_seq = await self._ensure_stream()
        if last_seq < after_seq:
            raise JournalConflict(
                f"stream {self.stream} ends at seq {last_seq}, before the snapshot at "
                f"{after_seq}: the records in between are missing (wrong stream?)"
            )
        self._last_seq = last_seq

    async def _on_connection_error(self, error: Exception) -> None:
        self.connection_error = error  # the client's default handler prints a traceback

    async def _ensure_stream(self) -> int:
        js = self._jetstream()
        try:
            info = await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            info = await js.add_stream(self._stream_config())
        subjects = info.config.subjects or []
        if self.subject not in subjects:
            raise JournalConflict(
                f"stream {self.stream} takes {subjects}, not the journal's {self.subject}"
            )
        return info.state.last_seq

    def _stream_config(self) -> StreamConfig:
        settings = self.settings
        return StreamConfig(
            name=self.stream,
            description="tradingfloor command journal: stream seq = command seq",
            subjects=[self.subject],
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.NEW,
            storage=StorageType.FILE,
            num_replicas=settings.replicas,
            duplicate_window=settings.duplicate_window_ms / 1000,
            max_msg_size=settings.record_bytes_max,
            deny_delete=True,
        )

    def continue_after(self, seq: int) -> None:
        """The next append continues the stream after `seq`: a standby that applied the
        stream up to `seq` and now writes (its append is refused if the stream went on)."""
        self._last_seq = seq

    def jetstream(self) -> JetStreamContext:
        """The open journal's JetStream context (a follower of the stream reads with it)."""
        return self._jetstream()

    def _connection(self) -> Client:
        if self._nc is None:
            raise RuntimeError("journal is not open")
        return self._nc

    def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("journal is not open")
        return self._js

    # ------------------------------------------------------------------ write

    async def append(self, entries: list[Entry]) -> None:
        """Publish the batch and return once every record is acknowledged at its own seq."""
        if not entries:
            return
        expected = self._last_seq + 1
        if entries[0].seq != expected or entries[-1].seq != expected + len(entries) - 1:
            raise ValueError(f"entries must continue the journal at seq {expected}")
        records = [(entry.seq, encode_record(entry)) for entry in entries]
        for _, payload in records:
            if len(payload) > self.settings.record_bytes_max:
                raise ValueError(f"record of {len(payload)} bytes exceeds record_bytes_max")
        pending = records
        for attempt in range(1, self.settings.publish_attempts_max + 1):
            if attempt > 1:
                self.publish_retries += len(pending)
            confirmed = await self._publish(pending)
            pending = pending[confirmed:]
            if not pending:
                break
        else:
            raise JournalWriteError(
                f"no ack for seq {pending[0][0]} after {self.settings.publish_attempts_max} "
                f"attempts of {self.settings.ack_timeout_ms} ms"
            )
        self._last_seq = entries[-1].seq

    async def _publish(self, records: list[tuple[int, bytes]]) -> int:
        """Publish records in order; how many, from the first, are confirmed stored."""
        nc, acks = self._connection(), self._acks
        futures: list[asyncio.Future[bytes]] = []
        tokens: list[str] = []
        try:
            for seq, payload in records:
                reply, token, future = acks.expect()
                tokens.append(token)
                futures.append(future)
                await nc.publish(self.subject, payload, reply=reply, headers=_headers(seq))
            await asyncio.wait(futures, timeout=self.settings.ack_timeout_ms / 1000)
            confirmed = 0
            for (seq, payload), future in zip(records, futures, strict=True):
                if not future.done():
                    break  # no answer in time: publish it again (dedup makes that safe)
                ack = _ack_decoder.decode(future.result())
                if ack.error is not None:
                    if ack.error.err_code == WRONG_LAST_SEQUENCE:
                        raise JournalConflict(
                            f"stream {self.stream} refused seq {seq}: {ack.error.description}"
                        )
                    if ack.error.code == 503:
                        break  # no stream answered (a server restarting?): try again
                    raise JournalWriteError(f"stream {self.stream} refused seq {seq}: {ack.error}")
                await self._check_ack(ack, seq, payload)
                confirmed += 1
            return confirmed
        except nats.errors.Error as error:
            raise JournalWriteError(f"publish of seq {records[0][0]} failed: {error!r}") from error
        except msgspec.DecodeError as error:
            raise JournalWriteError(f"unreadable ack from {self.stream}: {error}") from error
        finally:
            acks.forget(tokens)

    async def _check_ack(self, ack: "_Ack", seq: int, payload: bytes) -> None:
        if ack.stream != self.stream or ack.seq != seq:
            raise JournalConflict(
                f"seq {seq} was stored as {ack.stream} seq {ack.seq}: the stream and the "
                "journal disagree"
            )
        if ack.duplicate:
            # Stored before, under this msg id: by us (a retry) or by another writer.
            stored = await self._jetstream().get_msg(self.stream, seq)
            if stored.data != payload:
                raise JournalConflict(f"seq {seq} holds another record than ours")

    # ------------------------------------------------------------------ read

    async def replay(self, from_seq: int = 1) -> AsyncIterator[Entry]:
        """Entries with seq >= from_seq up to the stream's end when the replay starts."""
        js = self._jetstream()
        state = (await js.stream_info(self.stream)).state
        start = max(from_seq, state.first_seq, 1)
        last = state.last_seq
        # Normally a no-op; if the stream grew since `open` (a writer that had not finished
        # dying), what is replayed must also be what the next append continues.
        self._last_seq = max(self._last_seq, last)
        if start > last:
            return
        chunks: asyncio.Queue[list[Entry] | BaseException] = asyncio.Queue(
            self.settings.replay_chunks_buffered_max
        )
        reader = _ReplayReader(start, last, self.settings.replay_chunk_max, chunks)
        subscription = await js.subscribe(
            self.subject,
            stream=self.stream,
            cb=reader.on_message,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start
            ),
        )
        timeout = self.settings.replay_idle_timeout_ms / 1000
        try:
            next_seq = start
            while next_seq <= last:
                try:
                    item = await asyncio.wait_for(chunks.get(), timeout)
                except TimeoutError:
                    raise JournalDamaged(
                        f"replay of {self.stream} got nothing for {timeout} s at seq {next_seq}"
                    ) from None
                if isinstance(item, BaseException):
                    raise item
                for entry in item:
                    yield entry
                next_seq = item[-1].seq + 1
        finally:
            await subscription.unsubscribe()

    async def close(self) -> None:
        if self._nc is not None:
            nc, self._nc, self._js, self._acks = self._nc, None, None, _Acks()
            if not nc.is_closed:
                await nc.close()


class _ReplayReader:
    """Decodes messages as the consumer delivers them and hands them on in chunks."""

    def __init__(
        self,
        start: int,
        last: int,
        chunk_max: int,
        out: "asyncio.Queue[list[Entry] | BaseException]",
    ) -> None:
        self.next_seq = start
        self.last = last
        self.chunk_max = chunk_max
        self.out = out
        self.chunk: list[Entry] = []
        self.failed = False

    async def on_message(self, msg: Msg) -> None:
        if self.failed or self.next_seq > self.last:
            return  # appended after the replay began, or after a failure
        try:
            entry = decode_next(msg.data, self.next_seq)
        except Exception as error:  # the callback's errors would only be logged: hand them on
            self.failed = True
            await self.out.put(error)
            return
        self.next_seq += 1
        self.chunk.append(entry)
        if len(self.chunk) >= self.chunk_max or entry.seq == self.last:
            chunk, self.chunk = self.chunk, []
            await self.out.put(chunk)


def _headers(seq: int) -> dict[str, str]:
    return {"Nats-Msg-Id": str(seq), "Nats-Expected-Last-Sequence": str(seq - 1)}


class _ApiError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _Ack(msgspec.Struct):
    """JetStream's answer to a publish: a PubAck, or an error."""

    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: _ApiError | None = None


_ack_decoder = msgspec.json.Decoder(_Ack)
_NO_RESPONDERS = b'{"error": {"code": 503, "description": "no stream answered"}}'


class _Acks:
    """The answers to our publishes, on one wildcard inbox: reply subject -> future.

    (nats-py 2.16's `publish_async` leaves the future of a refused publish unresolved: its
    reply handler raises the error instead of setting it. So the journal routes its own.)
    """

    def __init__(self) -> None:
        self.prefix = ""
        self.pending: dict[str, asyncio.Future[bytes]] = {}
        self._count = 0

    async def start(self, nc: Client) -> None:
        self.prefix = nc.new_inbox() + "."
        await nc.subscribe(self.prefix + "*", cb=self._on_reply)

    def expect(self) -> tuple[str, str, "asyncio.Future[bytes]"]:
        """A fresh reply subject, its token, and the future of its answer."""
        self._count += 1
        token = str(self._count)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[token] = future
        return self.prefix + token, token, future

    def forget(self, tokens: list[str]) -> None:
        for token in tokens:
            future = self.pending.pop(token, None)
            if future is not None and not future.done():
                future.cancel()

    async def _on_reply(self, msg: Msg) -> None:
        future = self.pending.pop(msg.subject[len(self.prefix) :], None)
        if future is None or future.done():
            return  # an answer that came too late: that publish is published again
        if not msg.data and msg.headers and msg.headers.get("Status") == "503":
            future.set_result(_NO_RESPONDERS)
        else:
            future.set_result(msg.data)
