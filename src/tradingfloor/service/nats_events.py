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

`EventPublisher` (`nats_events_publisher`) writes the stream from the shard's event log;
`follow_events` (`nats_events_feed`) reads it from a seq, for the projector and the gateways.
"""

from typing import Any

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from tradingfloor.service import wire
from tradingfloor.service.nats_subjects import NatsNames

api_timeout_s = 5.0
"""JetStream API calls (stream info, consumer creation, reading one message)."""
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
