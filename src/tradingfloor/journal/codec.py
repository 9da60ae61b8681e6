"""Commands and events as journal payloads: msgpack of the tagged domain structs.

A payload's encoding is named by the record's version byte. Version 1 is msgpack of the
command (or list of events) as the tagged, array-like msgspec structs of `tradingfloor.domain`.
A reader refuses versions it does not know rather than guessing.

Version 2 is the same encoding with fields added at the end of some structs (a replace's
client order id; the account of every order event) and one event more (`OrderResubmitted`).
A version 1 record decodes as version 2 with those fields at their defaults; a reader that
knows only version 1 refuses version 2, whose records it would misread.

Version 3 adds who sent the command: its payload is msgpack of `[command, origin]`
(`domain.origin.Origin`, or nil for none). Versions 1 and 2 read with no origin.
"""

from dataclasses import dataclass
from typing import Any

import msgspec

from tradingfloor.domain.commands import ANY_COMMAND, Command
from tradingfloor.domain.events import ANY_EVENT, CommandEntered, Event
from tradingfloor.domain.origin import NO_ORIGIN, Origin

COMMAND_VERSION = 3
EVENTS_VERSION = 2
COMMAND_VERSIONS_READ = frozenset({1, 2, COMMAND_VERSION})
EVENTS_VERSIONS_READ = frozenset({1, EVENTS_VERSION})

_encoder = msgspec.msgpack.Encoder()
command_decoder = msgspec.msgpack.Decoder(ANY_COMMAND)


class Journaled(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A version 3 payload: the command and who sent it."""

    command: ANY_COMMAND
    origin: Origin | None = None


journaled_decoder = msgspec.msgpack.Decoder(Journaled)
_events_decoder = msgspec.msgpack.Decoder(list[ANY_EVENT])


class UnknownRecordVersion(ValueError):
    """A record written by a newer (or foreign) codec."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled command with the sequence number and time the sequencer gave it."""

    seq: int
    ts: int
    command: Command
    origin: Origin | None = None


def encode_command(command: Command) -> bytes:
    return _encoder.encode(command)


def encode_entry(entry: Entry) -> bytes:
    """The payload of `entry`'s record, at `COMMAND_VERSION`."""
    known: Any = entry.command  # every command is one of ANY_COMMAND
    return _encoder.encode(Journaled(known, entry.origin))


def decode_entry(version: int, payload: bytes | memoryview) -> tuple[Command, Origin | None]:
    """The command and origin of a record's payload, at any version read."""
    if version == COMMAND_VERSION:
        journaled = journaled_decoder.decode(payload)
        return journaled.command, journaled.origin
    if version not in COMMAND_VERSIONS_READ:
        raise UnknownRecordVersion(f"command record version {version}")
    return command_decoder.decode(payload), None


def decode_command(version: int, payload: bytes | memoryview) -> Command:
    return decode_entry(version, payload)[0]


def on_the_feed(
    seq: int, ts: int, command: Command, origin: Origin | None, events: list[Event]
) -> list[Event]:
    """A seq's events as its feed carries them: `CommandEntered` first, then the engine's."""
    known: Any = command  # every command is one of ANY_COMMAND
    return [CommandEntered(seq, ts, known, origin or NO_ORIGIN), *events]


def encode_events(events: list[Event]) -> bytes:
    return _encoder.encode(events)


def decode_events(version: int, payload: bytes | memoryview) -> list[Event]:
    if version not in EVENTS_VERSIONS_READ:
        raise UnknownRecordVersion(f"events record version {version}")
    return list(_events_decoder.decode(payload))
