"""The clearinghouse's TCP server: one exchange of the clearing protocol per connection.

A connection sends `HDR`, its records, `TRL`; the server reads them all (each read bounded by
`read_timeout_s`, the records by `records_per_batch_max`), checks the trailer, then runs the
request on the store's one worker thread (requests never interleave) and answers, and closes.
Any fault in the request (a bad record, count or hash total, a record the request kind does
not carry) is answered with one `REJ` and changes nothing. Beyond `connections_max`
connections at once, a new one is answered `REJ BUSY` at once.
"""

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tradingfloor.settlement.clearinghouse.store import ClearingStore, Refusal
from tradingfloor.settlement.protocol import (
    HASH_MODULUS,
    PROTOCOL_VERSION,
    RECORD_BYTES,
    RECORDS_PER_BATCH_MAX,
    Ack,
    Header,
    ProtocolError,
    Record,
    Reject,
    RequestKind,
    Trailer,
    check_trailer,
    decode_lines,
    encode_lines,
    trailer_of,
)
from tradingfloor.settlement.records import ClearingTrade, Movement

REASON_CHARS_MAX = 210
"""The width of `REJ`'s reason."""
TEXT_CHARS_MAX = 16
"""The width of `REJ`'s field and code."""
_NOT_PRINTABLE = re.compile(r"[^ -~]")


@dataclass(frozen=True)
class ServerLimits:
    connections_max: int = 32
    read_timeout_s: float = 30.0
    """How long the server waits for the next bytes of a request (or to hand off an answer)."""
    records_per_batch_max: int = RECORDS_PER_BATCH_MAX
    read_chunk_bytes: int = 1024 * RECORD_BYTES
    answer_page_records: int = 20_000
    """Records encoded and written per step of an answer (and read from the store per step
    of a CNQ answer)."""


@dataclass
class Request:
    header: Header
    records: list[Any] = field(default_factory=list)
    digest: str = ""


_CARRIES: dict[str, type[Any] | None] = {
    RequestKind.TRADES.value: ClearingTrade,
    RequestKind.MOVEMENTS.value: Movement,
    RequestKind.CONFIRMATIONS.value: None,
    RequestKind.SETTLE.value: None,
    RequestKind.HOLDINGS.value: None,
}
"""The record each request kind carries between `HDR` and `TRL` (None: none)."""


class ClearinghouseServer:
    """Serves `store` over TCP; `participant`, when given, is the only one it answers."""

    def __init__(
        self,
        store: ClearingStore,
        participant: str | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        self.store = store
        self.participant = participant
        self.limits = limits or ServerLimits()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clearinghouse")
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.failed = asyncio.Event()
        """Set when an exchange failed for a reason other than its client (`failure`): the
        clearinghouse must stop, not go on answering from a state it cannot trust."""
        self.failure: Exception | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on host:port (0: any free port); the address bound."""
        self._server = await asyncio.start_server(self._accept, host, port)
        bound = self._server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def stop(self, wait_s: float = 5.0) -> None:
        """Stop listening, give open exchanges `wait_s` to end, then cancel them."""
        if self._server is not None:
            self._server.close()
        if self._connections:
            _, pending = await asyncio.wait(set(self._connections), timeout=wait_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._worker.shutdown(wait=True)
        self.store.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        busy = len(self._connections) >= self.limits.connections_max
        if task is not None and not busy:
            self._connections.add(task)
        try:
            if busy:
                await self._refuse(writer, Refusal("BUSY", "too many connections at once"))
            else:
                await self._exchange(reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or stalled: nothing was changed for it
        except Exception as error:  # a bug (a broken invariant, a store that fails): stop
            if self.failure is None:
                self.failure = error
            self.failed.set()
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(self.limits.read_timeout_s):
                    await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await self._read_request(reader)
        except ProtocolError as error:
            await self._refuse(
                writer, Refusal("BAD_RECORD", error.reason, error.record, error.field)
            )
            return
        except Refusal as refusal:
            await self._refuse(writer, refusal)
            return
        try:
            if request.header.kind == RequestKind.CONFIRMATIONS.value:
                await self._answer_confirmations(writer, request.header)
                return
            answer = await self._run(self._answer, request)
        except Refusal as refusal:
            await self._refuse(writer, refusal)
            return
        await self._write(writer, [*answer, trailer_of(answer)])

    async def _read_request(self, reader: asyncio.StreamReader) -> Request:
        timeout_s = self.limits.read_timeout_s
        async with asyncio.timeout(timeout_s):
            head = await reader.readexactly(RECORD_BYTES)
        request = Request(self._checked_header(decode_lines(head)[0]))
        carries = _CARRIES[request.header.kind]
        digest = hashlib.sha256()
        pending = b""
        number = 2
        while True:
            async with asyncio.timeout(timeout_s):
                chunk = await reader.read(self.limits.read_chunk_bytes)
            if not chunk:
                raise ProtocolError(number, "type", "the connection ended before TRL")
            pending += chunk
            whole = len(pending) - len(pending) % RECORD_BYTES
            if not whole:
                continue
            data, pending = pending[:whole], pending[whole:]
            values = decode_lines(data, number)
            trailer = values[-1] if isinstance(values[-1], Trailer) else None
            body = values[:-1] if trailer is not None else values
            for offset, value in enumerate(body):
                if type(value) is not carries:
                    raise ProtocolError(number + offset, "type", "not a record of this request")
            request.records.extend(body)
            if len(request.records) > self.limits.records_per_batch_max:
                raise Refusal(
                    "BATCH_TOO_LARGE",
                    f"more than {self.limits.records_per_batch_max} records",
                    number,
                    "type",
                )
            if trailer is None:
                digest.update(data)
                number += len(values)
                continue
            if pending:
                raise ProtocolError(number + len(values), "type", "a record after TRL")
            digest.update(data[:-RECORD_BYTES])
            check_trailer(request.records, trailer, number + len(values) - 1)
            request.digest = digest.hexdigest()
            return request

    def _checked_header(self, header: Record) -> Header:
        if not isinstance(header, Header):
            raise ProtocolError(1, "type", "the first record is not HDR")
        if header.version != PROTOCOL_VERSION:
            raise ProtocolError(1, "version", f"version {header.version} is not spoken here")
        if header.kind not in _CARRIES:
            raise ProtocolError(1, "kind", f"{header.kind!r} is not a request kind")
        if self.participant is not None and header.participant != self.participant:
            raise Refusal(
                "BAD_PARTICIPANT", f"{header.participant!r} is not served", 1, "participant"
            )
        return header

    def _answer(self, request: Request) -> list[Any]:
        """The answer's records (before `TRL`), on the store's thread."""
        header, store = request.header, self.store
        kind = header.kind
        if kind == RequestKind.TRADES.value:
            return store.capture_trades(
                header.batch_id, header.participant, header.date, request.digest, request.records
            )
        if kind == RequestKind.MOVEMENTS.value:
            return store.record_movements(
                header.batch_id, header.participant, header.date, request.digest, request.records
            )
        done = Ack(header.batch_id, 0, 0)
        if kind == RequestKind.SETTLE.value:
            released, settled = store.settle(header.date)
            return [*released, done, *settled]
        released, holdings = store.holdings(header.date)
        return [*released, done, *holdings]

    async def _answer_confirmations(self, writer: asyncio.StreamWriter, header: Header) -> None:
        """CNQ, page by page: the memory of an answer stays bounded however long it is."""
        released = [*await self._run(self.store.release), Ack(header.batch_id, 0, 0)]
        total = trailer_of(released)
        await self._write(writer, released)
        after = 0
        while True:
            page, after = await self._run(
                self.store.confirmations_page, header.date, after, self.limits.answer_page_records
            )
            if not page:
                break
            total = _sum(total, trailer_of(page))
            await self._write(writer, page)
        await self._write(writer, [total])

    async def _refuse(self, writer: asyncio.StreamWriter, refusal: Refusal) -> None:
        """`REJ`, its texts made printable ASCII that fits: a reason may quote the bytes it
        refused, whatever they were."""
        reject = Reject(
            refusal.record,
            _printable(refusal.field, TEXT_CHARS_MAX) or "batch",
            _printable(refusal.code, TEXT_CHARS_MAX) or "REFUSED",
            _printable(refusal.reason, REASON_CHARS_MAX) or "refused",
        )
        await self._write(writer, [reject])

    async def _write(self, writer: asyncio.StreamWriter, records: Sequence[Record]) -> None:
        """`records`, a page at a time: the text of an answer of millions of instructions is
        never in memory whole."""
        page = self.limits.answer_page_records
        for start in range(0, max(len(records), 1), page):
            if records:
                writer.write(encode_lines(records[start : start + page]))
            async with asyncio.timeout(self.limits.read_timeout_s):
                await writer.drain()

    async def _run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._worker, function, *args)


def _printable(text: str, width: int) -> str:
    escaped = text.encode("ascii", "backslashreplace").decode("ascii")
    return _NOT_PRINTABLE.sub("?", escaped)[:width].strip()


def _sum(first: Trailer, second: Trailer) -> Trailer:
    return Trailer(
        first.count + second.count,
        (first.hash_qty + second.hash_qty) % HASH_MODULUS,
        (first.hash_amount + second.hash_amount) % HASH_MODULUS,
    )
