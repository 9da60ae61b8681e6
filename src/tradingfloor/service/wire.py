"""The local transport between a platform's processes: framed msgpack over Unix sockets.

A frame is a 4-byte big-endian length, then one message encoded with msgspec's msgpack (the
domain's commands and events are tagged structs, so they cross as they are). A frame longer
than `frame_bytes_max` ends the connection: a peer that sends one is broken or hostile.

Messages, each a tagged array:
- to a server: `Submit(id, command)` (answered `Answered` once durable and applied, or
  `Failed`), `Ask(id, question, args)` (answered `Told` with the value, or `Failed`), and
  `Follow(from_seq)` (the connection then carries `Batch`es of the event feed from `from_seq`,
  with no gap and no repeat, for as long as it lives);
- to a client: `Answered`, `Told`, `Failed(id, kind, message, retry_after_s)` and `Batch`.

Writes are coalesced: every frame sent in one turn of the event loop leaves in one system call.
A peer that does not read stops its writer (`writable` waits) rather than growing a buffer
without end.
"""

import asyncio
import contextlib
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import msgspec

from tradingfloor.domain.commands import ANY_COMMAND
from tradingfloor.domain.events import ANY_EVENT
from tradingfloor.domain.origin import Origin

frame_bytes_max = 64 * 1024 * 1024
"""The longest frame taken; a longer one ends the connection."""
write_buffer_bytes_high = 4 * 1024 * 1024
"""Unsent bytes past which a writer waits for the peer to read."""

_LENGTH = struct.Struct(">I")


class Submit(msgspec.Struct, frozen=True, tag=True, array_like=True):
    id: int
    command: ANY_COMMAND
    origin: Origin | None = None


class Ask(msgspec.Struct, frozen=True, tag=True, array_like=True):
    id: int
    question: str
    args: list[Any]


class Follow(msgspec.Struct, frozen=True, tag=True, array_like=True):
    from_seq: int


class Answered(msgspec.Struct, frozen=True, tag=True, array_like=True):
    id: int
    seq: int
    ts: int
    command: ANY_COMMAND
    events: list[ANY_EVENT]


class Told(msgspec.Struct, frozen=True, tag=True, array_like=True):
    id: int
    value: msgspec.Raw


class Failed(msgspec.Struct, frozen=True, tag=True, array_like=True):
    id: int
    kind: str
    message: str
    retry_after_s: float = 0.0


class Batch(msgspec.Struct, frozen=True, tag=True, array_like=True):
    items: list[tuple[int, int, list[ANY_EVENT]]]


ToServer = Submit | Ask | Follow
ToClient = Answered | Told | Failed | Batch

encode = msgspec.msgpack.Encoder().encode
server_decoder = msgspec.msgpack.Decoder(ToServer)
client_decoder = msgspec.msgpack.Decoder(ToClient)


class FrameError(Exception):
    """A frame that cannot be a message of this transport."""


class Framed(asyncio.Protocol):
    """One connection's framing: whole messages to `on_message`, coalesced writes."""

    def __init__(self, decoder: msgspec.msgpack.Decoder[Any]) -> None:
        self.decoder = decoder
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self._flush_scheduled = False

    # ------------------------------------------------------------------ to override

    def on_message(self, message: Any) -> None:
        raise NotImplementedError

    def on_closed(self) -> None:
        """The connection is gone (either side, or a broken frame)."""

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.writable.set()  # a waiting writer finds the connection closed
        if not self.closed.is_set():
            self.closed.set()
            self.on_closed()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        size = len(buffer)
        try:
            while size - start >= 4:
                (length,) = _LENGTH.unpack_from(buffer, start)
                if length > frame_bytes_max:
                    raise FrameError(f"a frame of {length} bytes")
                end = start + 4 + length
                if end > size:
                    break
                message = self.decoder.decode(bytes(buffer[start + 4 : end]))
                start = end
                self.on_message(message)
        except (FrameError, msgspec.DecodeError) as error:
            self.close(repr(error))
            return
        finally:
            if start:
                del buffer[:start]

    # ------------------------------------------------------------------ sending

    def send(self, message: Any) -> None:
        """Queue one message; everything queued in this turn of the loop leaves together."""
        self.send_encoded(encode(message))

    def send_encoded(self, payload: bytes) -> None:
        """`send` of a message encoded already (one encoding for many peers)."""
        if self.transport is None:
            return
        self._out.append(_LENGTH.pack(len(payload)))
        self._out.append(payload)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out, self._out = self._out, []
        if self.transport is not None and out:
            self.transport.write(b"".join(out))

    def close(self, reason: str = "") -> None:
        if self.transport is not None:
            self._flush()
            self.transport.close()


async def listen(path: Path, protocol: Callable[[], asyncio.Protocol]) -> asyncio.AbstractServer:
    """A Unix socket server at `path`, in a directory only its owner may enter (0700); a
    socket file left by a process that died (nobody listens on it) is replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return await asyncio.get_running_loop().create_unix_server(protocol, str(path))


def failure_of(error: BaseException) -> tuple[str, float]:
    """The `Failed` kind (and retry wait) of an exception a server answers with."""
    from tradingfloor.service.sequencer import (
        InvalidCommand,
        JournalUnavailable,
        Overloaded,
        SequencerStopped,
    )

    if isinstance(error, JournalUnavailable):
        return "journal", error.retry_after_s
    if isinstance(error, SequencerStopped):
        return "stopped", 0.0
    if isinstance(error, Overloaded):
        return "overloaded", 0.0
    if isinstance(error, InvalidCommand):
        return "invalid", 0.0
    if isinstance(error, LookupError | ValueError | TypeError):
        return "question", 0.0
    return "error", 0.0


def error_of(failed: Failed) -> Exception:
    """The exception a client raises for a `Failed` answer (the server's, by kind)."""
    from tradingfloor.service.sequencer import (
        InvalidCommand,
        JournalUnavailable,
        Overloaded,
        SequencerStopped,
    )

    makers: dict[str, Callable[[], Exception]] = {
        "journal": lambda: JournalUnavailable(failed.message, failed.retry_after_s),
        "stopped": lambda: SequencerStopped(failed.message),
        "overloaded": lambda: Overloaded(failed.message),
        "invalid": lambda: InvalidCommand(failed.message),
        "question": lambda: ValueError(failed.message),
    }
    maker = makers.get(failed.kind)
    return maker() if maker is not None else RuntimeError(failed.message)
