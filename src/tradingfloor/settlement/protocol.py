"""The clearing protocol's record codec: fixed-width ASCII records, NSCC trade-capture style.

Every record is 256 bytes: 255 characters, then `\\n`. It starts with a 3-letter record type;
then fixed fields. Text is printable ASCII, left-aligned and padded with spaces (a value is
never empty and never begins or ends with a space); unsigned numbers are right-aligned and
zero-padded; signed numbers are a sign (`+` or `-`) then zero-padded digits; dates are
`YYYYMMDD` (ISO `YYYY-MM-DD` in the values); flags are `Y` or `N`; filler is spaces. Offsets
count from 0. Quantities are shares, prices and cash 1/10,000 dollar (`settlement.records`).

One exchange is one TCP connection. The client sends `HDR`, its records (`TRD` for a trade
capture, `MOV` for movements, none for the queries), then `TRL`. The server answers with the
late confirmations it releases now (`CNF`, late flag `Y`), then `ACK` (for TRD and MOV: the
records received and taken; 0 and 0 for the queries), then the answer to the request (`CNF`s
for TRD and CNQ; none for MOV; `SIN`s then `FTD`s for SIR; `POS`s for POS), then `TRL`; or with
a single `REJ` when it refuses the request (then nothing changed, nothing was released).
Record numbers count from 1 (`HDR`) in the order sent; `TRL`'s count is the number of records
before it that are not `HDR`, its hash totals the sums, modulo 10**18, of the records'
`qty` (`received` in `ACK`) and of their `price` (`cash` in `SIN`; `taken` in `ACK`), 0 where
a record has none.

HDR header (request kinds: TRD trade capture, MOV movements, CNQ confirmations of a trade
date, SIR settle a date, POS holdings as of a date)

| offset | width | field | format |
| --- | --- | --- | --- |
| 0 | 3 | type | `HDR` |
| 3 | 2 | version | unsigned |
| 5 | 3 | kind | text |
| 8 | 64 | participant | text |
| 72 | 8 | date | date |
| 80 | 48 | batch_id | text |
| 128 | 127 | filler | spaces |

TRD trade (`ClearingTrade`)

| offset | width | field | format |
| --- | --- | --- | --- |
| 0 | 3 | type | `TRD` |
| 3 | 40 | trade_ref | text |
| 43 | 8 | trade_date | date |
| 51 | 8 | settle_date | date |
| 59 | 16 | symbol | text |
| 75 | 64 | buyer | text |
| 139 | 64 | seller | text |
| 203 | 10 | qty | unsigned |
| 213 | 14 | price | unsigned |
| 227 | 28 | filler | spaces |

MOV movement (`Movement`)

| offset | width | field | format |
| --- | --- | --- | --- |
| 0 | 3 | type | `MOV` |
| 3 | 40 | ref | text |
| 43 | 8 | date | date |
| 51 | 64 | participant | text |
| 115 | 16 | symbol | text |
| 131 | 19 | qty | signed |
| 150 | 105 | filler | spaces |

CNF confirmation (`Confirmation`)

| offset | width | field | format |
| --- | --- | --- | --- |
| 0 | 3 | type | `CNF` |
| 3 | 40 | trade_ref | text |
| 43 | 16 | clearing_ref | text |
| 59 | 1 | accepted | flag |
| 60 | 8 | trade_date | date |
| 68 | 8 | settle_date | date |
| 76 | 16 | symbol | text |
| 92 | 64 | buyer | text |
| 156 | 64 | seller | text |
| 220 | 10 | qty | unsigned |
| 230 | 14 | price | unsigned |
| 244 | 1 | late | flag |
| 245 | 10 | filler | spaces |

ACK batch taken (`Ack`: records received, records taken)

| offset | width | field | format |
| --- | --- | --- | --- |
| 0 | 3 | type | `ACK` |
| 3 | 48 | batch_id | text |
| 51 | 10 | received | unsigned |
| 61 | 10 | taken | unsigned |
| 71 | 184 | filler | spaces |

SIN settlement instruction (`Instruction`)

| offset | width | field | format |
| --- | --- | --- | --- |
| 0 | 3 | type | `SIN` |
| 3 | 8 | settle_date | date |
| 11 | 64 | participant | text |
| 75 | 16 | symbol | text |
| 91 | 19 | qty | signed |
| 110 | 23 | cash | signed |
| 133 | 122 | filler | spaces |

FTD fail to deliver (`Fail`)

| offset | width | field | format |
| --- | --- | --- | --- |
| 0 | 3 | type | `FTD` |
| 3 | 8 | settle_date | date |
| 11 | 64 | participant | text |
| 75 | 16 | symbol | text |
| 91 | 19 | qty | signed |
| 110 | 8 | from_date | date |
| 118 | 137 | filler | spaces |

POS holding (`Holding`)

| offset | width | field | format |
| --- | --- | --- | --- |
| 0 | 3 | type | `POS` |
| 3 | 64 | participant | text |
| 67 | 16 | symbol | text |
| 83 | 23 | qty | signed |
| 106 | 149 | filler | spaces |

TRL trailer (`Trailer`)

| offset | width | field | format |
| --- | --- | --- | --- |
| 0 | 3 | type | `TRL` |
| 3 | 10 | count | unsigned |
| 13 | 18 | hash_qty | unsigned |
| 31 | 18 | hash_amount | unsigned |
| 49 | 206 | filler | spaces |

REJ refusal (`Reject`: the record number, 0 for the batch as a whole, and its field)

| offset | width | field | format |
| --- | --- | --- | --- |
| 0 | 3 | type | `REJ` |
| 3 | 10 | record | unsigned |
| 13 | 16 | field | text |
| 29 | 16 | code | text |
| 45 | 210 | reason | text |

Speed (`settlement.codec`): a record is written by one `%` format generated from its layout,
and the lines of a batch are checked together (length, newlines, printable ASCII); a record is
read by one compiled regular expression of its whole layout. Only a record that fails is taken
apart field by field, to name the field that is wrong.
"""

from collections.abc import Callable, Sequence
from enum import Enum
from operator import attrgetter
from typing import Any

import msgspec

from tradingfloor.settlement.codec import Codec, compile_codec, line_problem, value_problem
from tradingfloor.settlement.layouts import LAYOUTS, RECORD_CHARS
from tradingfloor.settlement.records import (
    ClearingTrade,
    Confirmation,
    Fail,
    Holding,
    Instruction,
    Movement,
)

PROTOCOL_VERSION = 1
RECORD_BYTES = RECORD_CHARS + 1
"""A record and its `\\n`."""
RECORDS_PER_BATCH_MAX = 50_000
"""Records a request may carry between `HDR` and `TRL`; the client splits a longer list. At
this size one exchange takes a few seconds even on a busy machine, well inside the client's
default timeout (10 s)."""
HASH_MODULUS = 10**18
"""Hash totals are sums modulo this, so they fit their 18 digits."""
_PRINTABLE_BYTES = bytes(range(0x20, 0x7F)) + b"\n"
"""What a line of records may hold: deleted from it, nothing must remain."""


class RequestKind(Enum):
    TRADES = "TRD"
    MOVEMENTS = "MOV"
    CONFIRMATIONS = "CNQ"
    SETTLE = "SIR"
    HOLDINGS = "POS"


class ProtocolError(ValueError):
    """A record that is not what the protocol says: which record, which field, why."""

    def __init__(self, record: int, field: str, reason: str) -> None:
        super().__init__(f"record {record}, field {field}: {reason}")
        self.record = record
        self.field = field
        self.reason = reason


class Header(msgspec.Struct, frozen=True, array_like=True):
    version: int
    kind: str
    participant: str
    date: str
    batch_id: str


class Ack(msgspec.Struct, frozen=True, array_like=True):
    batch_id: str
    received: int
    taken: int


class Trailer(msgspec.Struct, frozen=True, array_like=True):
    count: int
    hash_qty: int
    hash_amount: int


class Reject(msgspec.Struct, frozen=True, array_like=True):
    record: int
    field: str
    code: str
    reason: str


Record = (
    Header | ClearingTrade | Movement | Confirmation | Ack | Instruction | Fail | Holding
) | (Trailer | Reject)

TYPES: dict[type[Any], str] = {
    Header: "HDR",
    ClearingTrade: "TRD",
    Movement: "MOV",
    Confirmation: "CNF",
    Ack: "ACK",
    Instruction: "SIN",
    Fail: "FTD",
    Holding: "POS",
    Trailer: "TRL",
    Reject: "REJ",
}
"""The record type of each value; every layout's value fields are the struct's, in order."""
_HASHED: dict[str, tuple[str | None, str | None]] = {
    "TRD": ("qty", "price"),
    "MOV": ("qty", None),
    "CNF": ("qty", "price"),
    "ACK": ("received", "taken"),
    "SIN": ("qty", "cash"),
    "FTD": ("qty", None),
    "POS": ("qty", None),
}


_CODECS: dict[str, Codec] = {
    record_type: compile_codec(LAYOUTS[record_type], struct)
    for struct, record_type in TYPES.items()
}


def encode(value: Record, record: int = 0) -> str:
    """One record as its 255 characters (no `\\n`); `record` names it in a refusal."""
    codec = _CODECS[TYPES[type(value)]]
    try:
        line = codec.encode(value)
    except (TypeError, ValueError, IndexError):
        line = None
    if line is None or len(line) != RECORD_CHARS or not (line.isascii() and line.isprintable()):
        raise ProtocolError(record, *value_problem(codec, value))
    return line


def encode_lines(values: Sequence[Record], first_record: int = 1) -> bytes:
    """Records as the bytes sent, each with its `\\n`; numbered from `first_record` in a
    refusal. The lines are checked together (length, newlines, printable ASCII) in a few
    passes over the whole text; only when that fails is each taken again to find the one."""
    lines: list[str | None] = []
    append = lines.append
    last_type: type[Any] | None = None
    encode_one: Callable[[Any], str | None] = _CODECS["TRL"].encode
    try:
        for value in values:
            if type(value) is not last_type:
                last_type = type(value)
                encode_one = _CODECS[TYPES[last_type]].encode
            append(encode_one(value))
        complete = None not in lines
        lines.append("")
        text = "\n".join(lines) if complete else ""  # type: ignore[arg-type]
    except (TypeError, ValueError, KeyError, IndexError):
        text = ""
    count = len(values)
    if (
        len(text) != count * RECORD_BYTES
        or text.count("\n") != count
        or not text.isascii()
        or (data := text.encode("ascii")).translate(None, _PRINTABLE_BYTES)
    ):
        for number, value in enumerate(values, first_record):
            encode(value, number)
        raise ProtocolError(first_record, "type", "cannot be encoded")
    return data


def decode_lines(data: bytes, first_record: int = 1) -> list[Record]:
    """Every record of `data` (whole records, each with its `\\n`), or `ProtocolError`
    naming the first bad one (numbered from `first_record`) and its field."""
    values: list[Record] = []
    append = values.append
    codecs = _CODECS
    for number, line in enumerate(split_records(data, first_record), first_record):
        codec = codecs.get(line[:3])
        match = None if codec is None else codec.line.fullmatch(line)
        if match is None:
            decode(line, number)  # raises, naming the field
        try:
            append(codec.decode(match.groups()))  # type: ignore[union-attr]
        except ValueError:
            decode(line, number)
    return values


def decode(line: str, record: int = 0) -> Record:
    """One record from its 255 characters (no `\\n`), or `ProtocolError` naming the field."""
    codec = _CODECS.get(line[:3])
    if codec is None:
        raise ProtocolError(record, "type", f"unknown record type {line[:3]!r}")
    match = codec.line.fullmatch(line)
    if match is None:
        raise ProtocolError(record, *line_problem(codec, line))
    try:
        value: Record = codec.decode(match.groups())
    except ValueError:  # only a date can still be wrong: 20261302
        raise ProtocolError(record, *line_problem(codec, line)) from None
    return value


def split_records(data: bytes, first_record: int = 1) -> list[str]:
    """Whole records from `data` (a multiple of 256 bytes), each without its `\\n`."""
    text = data.decode("latin-1")
    lines = text.split("\n")
    if lines[-1] != "":
        raise ProtocolError(first_record + len(lines) - 1, "end", "record without its newline")
    lines.pop()
    for offset, line in enumerate(lines):
        if len(line) != RECORD_CHARS:
            raise ProtocolError(
                first_record + offset, "length", f"{len(line)} characters, not {RECORD_CHARS}"
            )
    return lines


def trailer_of(values: Sequence[Record]) -> Trailer:
    """The `TRL` closing `values`: their count and hash totals."""
    qty_total = amount_total = 0
    start, count = 0, len(values)
    while start < count:  # runs of one record type, each summed at C speed
        kind = type(values[start])
        end = start + 1
        while end < count and type(values[end]) is kind:
            end += 1
        qty_name, amount_name = _HASHED.get(TYPES[kind], (None, None))
        run = values[start:end]
        if qty_name is not None:
            qty_total += sum(map(attrgetter(qty_name), run))
        if amount_name is not None:
            amount_total += sum(map(attrgetter(amount_name), run))
        start = end
    return Trailer(count, qty_total % HASH_MODULUS, amount_total % HASH_MODULUS)


def check_trailer(values: Sequence[Record], trailer: Trailer, record: int) -> None:
    """`ProtocolError` (record `record`, the `TRL`) unless it closes `values` exactly."""
    expected = trailer_of(values)
    if trailer.count != expected.count:
        raise ProtocolError(
            record, "count", f"{trailer.count} records said, {expected.count} sent"
        )
    if trailer.hash_qty != expected.hash_qty:
        raise ProtocolError(record, "hash_qty", "hash total of the quantities differs")
    if trailer.hash_amount != expected.hash_amount:
        raise ProtocolError(record, "hash_amount", "hash total of the amounts differs")
