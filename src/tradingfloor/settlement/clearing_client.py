"""The platform's side of the clearing protocol (`settlement.protocol`): one call, one exchange.

Every call opens a connection to the clearinghouse, sends `HDR`, its records and `TRL`, reads
the answer up to its `TRL` (checking its count and hash totals) and closes; all of it bounded
by `timeout_s`. A clearinghouse that cannot be reached, stalls, or answers out of protocol
raises `ClearingUnavailable`; one that refuses the request (`REJ`) raises `ClearingRejected`,
a kind of `ClearingUnavailable` that says which record and field it refused.

Late confirmations: a clearinghouse may release held-back confirmations at the start of any
answer. `submit_trades` returns them with its batch's; those that came with another call
(movements, a settlement, holdings, or confirmations of another date) are kept by the client
and returned by its next `submit_trades`. `confirmations(date)` returns every confirmation
released so far for that date, late ones included (flagged), so a process that lost the
client (a restart) finds them again there.

A list of trades longer than `protocol.RECORDS_PER_BATCH_MAX` is sent as several batches, the
`n`th (from 1) under the id `<batch_id>.<n>`: resubmitting the same list under the same id is
still idempotent, batch by batch.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

from tradingfloor.settlement.protocol import (
    PROTOCOL_VERSION,
    RECORD_BYTES,
    RECORDS_PER_BATCH_MAX,
    Ack,
    Header,
    ProtocolError,
    Reject,
    RequestKind,
    Trailer,
    check_trailer,
    decode_lines,
    encode_lines,
    trailer_of,
)
from tradingfloor.settlement.records import (
    ClearingTrade,
    Confirmation,
    Fail,
    Holding,
    Instruction,
    Movement,
)

ANSWER_RECORDS_MAX = 20_000_000
"""Records an answer may hold before the client gives up on it (5 GB of them)."""
READ_CHUNK_BYTES = 1024 * RECORD_BYTES


class ClearingUnavailable(Exception):
    """The clearinghouse could not be reached, did not answer in time, or answered out of
    protocol."""


class ClearingRejected(ClearingUnavailable):
    """The clearinghouse refused the request (`REJ`): nothing of it was stored."""

    def __init__(self, reject: Reject) -> None:
        super().__init__(
            f"refused ({reject.code}) at record {reject.record}, field {reject.field}: "
            f"{reject.reason}"
        )
        self.reject = reject


class ClearingClient:
    """Talks to the clearinghouse at host:port as participant `participant`."""

    def __init__(self, host: str, port: int, participant: str, timeout_s: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.participant = participant
        self.timeout_s = timeout_s
        self._late: list[Confirmation] = []

    async def submit_trades(
        self, date: str, batch_id: str, trades: list[ClearingTrade]
    ) -> list[Confirmation]:
        """Trade capture: the confirmations released now, this batch's not held back and the
        late ones of earlier batches (first)."""
        confirmations: list[Confirmation] = []
        for part, chunk in _batches(batch_id, trades):
            late, _, answer = await self._exchange(RequestKind.TRADES, date, part, chunk)
            confirmations.extend(self._take_late())
            confirmations.extend(late)
            confirmations.extend(_only(answer, Confirmation))
        return confirmations

    async def submit_movements(self, date: str, batch_id: str, movements: list[Movement]) -> int:
        """Movements of settled cash and shares: how many records were taken (a ref sent
        before is not taken again)."""
        taken = 0
        for part, chunk in _batches(batch_id, movements):
            late, ack, _ = await self._exchange(RequestKind.MOVEMENTS, date, part, chunk)
            self._late.extend(late)
            taken += ack.taken
        return taken

    async def confirmations(self, trade_date: str) -> list[Confirmation]:
        """Every confirmation released so far of the trades of `trade_date`."""
        late, _, answer = await self._exchange(
            RequestKind.CONFIRMATIONS, trade_date, f"CNQ/{trade_date}", []
        )
        self._late.extend(c for c in late if c.trade_date != trade_date)
        return _only(answer, Confirmation)

    async def settle(self, settle_date: str) -> tuple[list[Instruction], list[Fail]]:
        """Settle `settle_date` (once; a repeat answers the stored result)."""
        late, _, answer = await self._exchange(
            RequestKind.SETTLE, settle_date, f"SIR/{settle_date}", []
        )
        self._late.extend(late)
        return _only(answer, Instruction), _only(answer, Fail)

    async def holdings(self, as_of: str) -> list[Holding]:
        """Every participant's non-zero shares and cash after the settlements and movements
        dated up to `as_of`."""
        late, _, answer = await self._exchange(RequestKind.HOLDINGS, as_of, f"POS/{as_of}", [])
        self._late.extend(late)
        return _only(answer, Holding)

    def _take_late(self) -> list[Confirmation]:
        late, self._late = self._late, []
        return late

    async def _exchange(
        self, kind: RequestKind, date: str, batch_id: str, records: Sequence[Any]
    ) -> tuple[list[Confirmation], Ack, list[Any]]:
        """One exchange: (late confirmations released, the ACK, the answer's records)."""
        header = Header(PROTOCOL_VERSION, kind.value, self.participant, date, batch_id)
        request = encode_lines([header, *records, trailer_of(records)])
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(request)
                await writer.drain()
                values = await _read_answer(reader)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            raise ClearingUnavailable(
                f"clearinghouse at {self.host}:{self.port}: {str(error) or type(error).__name__}"
            ) from error
        except ProtocolError as error:
            raise ClearingUnavailable(
                f"clearinghouse answered out of protocol: {error}"
            ) from error
        finally:
            if writer is not None:
                writer.close()
        return _split_answer(values)


async def _read_answer(reader: asyncio.StreamReader) -> list[Any]:
    values: list[Any] = []
    pending = b""
    while True:
        chunk = await reader.read(READ_CHUNK_BYTES)
        if not chunk:
            raise ProtocolError(len(values) + 1, "type", "the answer ended before TRL")
        pending += chunk
        whole = len(pending) - len(pending) % RECORD_BYTES
        if not whole:
            continue
        data, pending = pending[:whole], pending[whole:]
        values.extend(decode_lines(data, len(values) + 1))
        if len(values) > ANSWER_RECORDS_MAX:
            raise ProtocolError(len(values), "type", f"more than {ANSWER_RECORDS_MAX} records")
        if len(values) == 1 and isinstance(values[0], Reject):
            raise ClearingRejected(values[0])
        if isinstance(values[-1], Trailer):
            if pending:
                raise ProtocolError(len(values) + 1, "type", "a record after TRL")
            check_trailer(values[:-1], values[-1], len(values))
            return values[:-1]


def _split_answer(values: list[Any]) -> tuple[list[Confirmation], Ack, list[Any]]:
    for index, value in enumerate(values):
        if isinstance(value, Ack):
            late = values[:index]
            if not all(isinstance(v, Confirmation) for v in late):
                raise ClearingUnavailable("clearinghouse answered out of protocol: before ACK")
            return late, value, values[index + 1 :]
    raise ClearingUnavailable("clearinghouse answered out of protocol: no ACK")


def _only(values: list[Any], kind: type[Any]) -> list[Any]:
    return [value for value in values if type(value) is kind]


def _batches(batch_id: str, records: Sequence[Any]) -> list[tuple[str, Sequence[Any]]]:
    size = RECORDS_PER_BATCH_MAX
    if len(records) <= size:
        return [(batch_id, records)]
    return [
        (f"{batch_id}.{number}", records[start : start + size])
        for number, start in enumerate(range(0, len(records), size), 1)
    ]
