"""Commands and events as journal payloads: msgpack of the tagged domain structs.

A payload's encoding is named by the record's version byte. Version 1 is msgpack of the
command (or list of events) as the tagged, array-like msgspec structs of `tradingfloor.domain`.
A reader refuses versions it does not know rather than guessing.

Version 2 is the same encoding with fields added at the end of some structs (a replace's
client order id; the account of every order event) and one event more (`OrderResubmitted`).
A version 1 record decodes as version 2 with those fields at their defaults; a reader that
knows only version 1 refuses version 2, whose records it would misread.
"""

from dataclasses import dataclass

import msgspec

from tradingfloor.domain.commands import ANY_COMMAND, Command
from tradingfloor.domain.events import ANY_EVENT, Event

COMMAND_VERSION = 2
EVENTS_VERSION = 2
COMMAND_VERSIONS_READ = frozenset({1, COMMAND_VERSION})
EVENTS_VERSIONS_READ = frozenset({1, EVENTS_VERSION})

_encoder = msgspec.msgpack.Encoder()
command_decoder = msgspec.msgpack.Decoder(ANY_COMMAND)
_events_decoder = msgspec.msgpack.Decoder(list[ANY_EVENT])


class UnknownRecordVersion(ValueError):
    """A record written by a newer (or foreign) codec."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled command with the sequence number and time the sequencer gave it."""

    seq: int
    ts: int
    command: Command


def encode_command(command: Command) -> bytes:
    return _encoder.encode(command)


def decode_command(version: int, payload: bytes | memoryview) -> Command:
    if version not in COMMAND_VERSIONS_READ:
        raise UnknownRecordVersion(f"command record version {version}")
    return command_decoder.decode(payload)  # type: ignore[no-any-return]


def encode_events(events: list[Event]) -> bytes:
    return _encoder.encode(events)


def decode_events(version: int, payload: bytes | memoryview) -> list[Event]:
    if version not in EVENTS_VERSIONS_READ:
        raise UnknownRecordVersion(f"events record version {version}")
    return list(_events_decoder.decode(payload))
