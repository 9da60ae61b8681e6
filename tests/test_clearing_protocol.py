"""The clearing protocol's record codec: round trips, and refusals that name record and field."""

import datetime
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradingfloor.settlement import protocol
from tradingfloor.settlement.layouts import LAYOUTS, FieldKind, Layout
from tradingfloor.settlement.protocol import (
    RECORD_BYTES,
    TYPES,
    Header,
    ProtocolError,
    Reject,
    Trailer,
    check_trailer,
    decode,
    decode_lines,
    encode,
    encode_lines,
    trailer_of,
)
from tradingfloor.settlement.records import ClearingTrade, Confirmation, Movement

TRADE = ClearingTrade(
    "s1:42", "2026-12-02", "2026-12-04", "BRK.B", "acct-1", "acct-2", 100, 1_502_500
)
MOVE = Movement("dep-7", "2026-12-02", "acct-1", "USD", -25_000_000)


def _text(width: int) -> st.SearchStrategy[str]:
    printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
    return st.text(printable, min_size=1, max_size=width).filter(
        lambda text: text[0] != " " and text[-1] != " "
    )


def _strategy(kind: FieldKind, width: int) -> st.SearchStrategy[Any]:
    if kind is FieldKind.TEXT:
        return _text(width)
    if kind is FieldKind.UNSIGNED:
        return st.integers(0, 10**width - 1)
    if kind is FieldKind.SIGNED:
        return st.integers(-(10 ** (width - 1)) + 1, 10 ** (width - 1) - 1)
    if kind is FieldKind.DATE:
        return st.dates(datetime.date(1, 1, 1)).map(datetime.date.isoformat)
    return st.booleans()


def _records(record_type: str) -> st.SearchStrategy[Any]:
    struct = next(struct for struct, name in TYPES.items() if name == record_type)
    fields = LAYOUTS[record_type].value_fields
    return st.builds(struct, *(_strategy(field.kind, field.width) for field in fields))


ANY_RECORD = st.one_of(*(_records(name) for name in LAYOUTS))


@settings(max_examples=300, deadline=None)
@given(st.lists(ANY_RECORD, max_size=20))
def test_every_record_survives_a_round_trip(values: list[Any]) -> None:
    data = encode_lines(values)
    assert len(data) == RECORD_BYTES * len(values)
    assert decode_lines(data) == values
    for number, value in enumerate(values, 1):
        line = encode(value, number)
        assert len(line) == 255
        assert decode(line, number) == value


def test_a_trade_record_is_laid_out_as_documented() -> None:
    line = encode(TRADE)
    assert line[:3] == "TRD"
    assert line[3:43] == "s1:42".ljust(40)
    assert line[43:51] == "20261202"
    assert line[59:75] == "BRK.B".ljust(16)
    assert line[203:213] == "0000000100"
    assert line[213:227] == "00000001502500"
    assert line[227:] == " " * 28
    assert encode(MOVE)[131:150] == "-000000000025000000"


def _documented(doc: str) -> dict[str, list[tuple[int, int, str]]]:
    tables: dict[str, list[tuple[int, int, str]]] = {}
    current = ""
    for line in doc.splitlines():
        heading = re.match(r"`?([A-Z]{3})`? ", line)
        if heading:
            current = heading.group(1)
        row = re.match(r"\| (\d+) \| (\d+) \| (\w+) \|", line)
        if row:
            tables.setdefault(current, []).append((int(row[1]), int(row[2]), row[3]))
    return tables


def _layout_rows(layout: Layout) -> list[tuple[int, int, str]]:
    return [
        (offset, field.width, field.name)
        for field, offset in zip(layout.fields, layout.offsets(), strict=True)
    ]


def test_the_module_docstring_and_the_readme_write_every_layout_as_it_is() -> None:
    expected = {name: _layout_rows(layout) for name, layout in LAYOUTS.items()}
    assert _documented(protocol.__doc__ or "") == expected
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("\n## Clearinghouse\n", 1)[1].split("\n## ", 1)[0]
    assert _documented(section) == expected


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"qty": -1}, "qty", "negative"),
        ({"price": 10**14}, "price", "more than 14 digits"),
        ({"symbol": ""}, "symbol", "empty"),
        ({"buyer": " acct"}, "buyer", "begins or ends with a space"),
        ({"seller": "acct "}, "seller", "begins or ends with a space"),
        ({"trade_ref": "x" * 41}, "trade_ref", "more than 40"),
        ({"symbol": "A\tB"}, "symbol", "not printable ASCII"),
        ({"seller": "acct-é"}, "seller", "not printable ASCII"),
        ({"trade_date": "2026-02-30"}, "trade_date", "day is out of range"),
        ({"settle_date": "20261204"}, "settle_date", "not an ISO date"),
        ({"qty": "100"}, "qty", "not an integer"),
    ],
)
def test_a_value_that_cannot_be_written_is_refused_by_record_and_field(
    change: dict[str, Any], field: str, reason: str
) -> None:
    bad = msgspec.structs.replace(TRADE, **change)
    with pytest.raises(ProtocolError) as refused:
        encode_lines([TRADE, TRADE, bad], first_record=2)
    assert (refused.value.record, refused.value.field) == (4, field)
    assert reason in refused.value.reason


def _spliced(offset: int, text: str) -> str:
    line = encode(TRADE)
    return line[:offset] + text + line[offset + len(text) :]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (_spliced(203, "00000001x0"), "qty"),
        (_spliced(213, "+0000001502500"), "price"),
        (_spliced(43, "20261301"), "trade_date"),
        (_spliced(51, "20260229"), "settle_date"),
        (_spliced(59, " BRK.B"), "symbol"),
        (_spliced(75, "\x00"), "buyer"),
        (_spliced(250, "x"), "filler"),
        (_spliced(0, "TRX"), "type"),
        (encode(TRADE)[:-1], "length"),
    ],
)
def test_a_bad_record_is_refused_by_record_and_field(line: str, field: str) -> None:
    data = encode_lines([TRADE]) + (line + "\n").encode("latin-1")
    with pytest.raises(ProtocolError) as refused:
        decode_lines(data, first_record=5)
    assert (refused.value.record, refused.value.field) == (6, field)


def test_a_record_without_its_newline_is_refused() -> None:
    with pytest.raises(ProtocolError) as refused:
        decode_lines(encode_lines([TRADE, TRADE])[:-1])
    assert refused.value.record == 2


def test_the_trailer_counts_and_hashes_the_records() -> None:
    confirmation = Confirmation(
        "s1:1", "C1", True, "2026-12-02", "2026-12-04", "AAPL", "a", "b", 5, 10**17, late=False
    )
    values = [TRADE, MOVE, confirmation, confirmation]
    trailer = trailer_of(values)
    assert trailer == Trailer(4, (100 - 25_000_000 + 10) % 10**18, 1_502_500 + 2 * 10**17)
    check_trailer(values, trailer, 6)
    for wrong, field in [
        (Trailer(3, trailer.hash_qty, trailer.hash_amount), "count"),
        (Trailer(4, trailer.hash_qty + 1, trailer.hash_amount), "hash_qty"),
        (Trailer(4, trailer.hash_qty, 0), "hash_amount"),
    ]:
        with pytest.raises(ProtocolError) as refused:
            check_trailer(values, wrong, 6)
        assert (refused.value.record, refused.value.field) == (6, field)


def test_header_and_refusal_records_round_trip() -> None:
    header = Header(1, "TRD", "platform", "2026-12-02", "2026-12-02/TRD")
    reject = Reject(12, "qty", "BAD_RECORD", "'00000001x0' is not 10 digits")
    assert decode_lines(encode_lines([header, reject])) == [header, reject]
