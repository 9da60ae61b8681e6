"""A minimal order-entry port: newline-delimited JSON commands over TCP, for tools and tests.

Each request line is one command as msgspec encodes the tagged domain structs to JSON
(`["PlaceOrder", 0, "acct-1", "XYZ", 1, 1, 100, 1000000, null, 2, null, null, null, ""]`),
optionally wrapped as `{"ref": <anything>, "command": [...]}`. The answer, one line per
request in the same order, comes only once the command is durable and applied:
`{"ref": ..., "seq": N, "ts": T, "events": [...]}`, or `{"ref": ..., "error": "..."}` for a line
that is not a command (nothing is journaled then). Listens on 127.0.0.1 unless told otherwise.
"""

import asyncio
from typing import Any

import msgspec

from tradingfloor.domain.commands import ANY_COMMAND
from tradingfloor.service.sequencer import Sequencer

line_bytes_max = 64 * 1024


class Request(msgspec.Struct):
    command: ANY_COMMAND
    ref: Any = None


_wrapped = msgspec.json.Decoder(Request)
_bare = msgspec.json.Decoder(ANY_COMMAND)
_encoder = msgspec.json.Encoder()


async def serve_lines(
    sequencer: Sequencer, host: str = "127.0.0.1", port: int = 0
) -> asyncio.Server:
    """Start the port; `server.sockets[0].getsockname()` tells the port when 0 was asked."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pending: asyncio.Queue[asyncio.Task[bytes] | None] = asyncio.Queue()
        answers = asyncio.create_task(_answer(pending, writer))
        try:
            while line := await reader.readline():
                pending.put_nowait(asyncio.create_task(_one(sequencer, line)))
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            pending.put_nowait(None)
            await answers
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=line_bytes_max)


async def _answer(
    pending: "asyncio.Queue[asyncio.Task[bytes] | None]", writer: asyncio.StreamWriter
) -> None:
    """Write answers in request order, each once its command is durable."""
    while (task := await pending.get()) is not None:
        try:
            writer.write(await task)
            await writer.drain()
        except ConnectionError:
            return


async def _one(sequencer: Sequencer, line: bytes) -> bytes:
    ref = None
    try:
        request = _wrapped.decode(line) if line.lstrip().startswith(b"{") else _bare.decode(line)
    except msgspec.ValidationError as error:
        return _encoder.encode({"ref": ref, "error": f"not a command: {error}"}) + b"\n"
    except msgspec.DecodeError as error:
        return _encoder.encode({"ref": ref, "error": f"not JSON: {error}"}) + b"\n"
    if isinstance(request, Request):
        ref, command = request.ref, request.command
    else:
        command = request
    try:
        result = await sequencer.submit(command)
    except Exception as error:  # Overloaded or SequencerStopped: say so, journal nothing
        return _encoder.encode({"ref": ref, "error": str(error)}) + b"\n"
    answer = {"ref": ref, "seq": result.seq, "ts": result.ts, "events": result.events}
    return _encoder.encode(answer) + b"\n"
