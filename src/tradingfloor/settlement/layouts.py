"""The field-by-field layouts of the clearing protocol's records (`settlement.protocol`).

Each layout is the record type, then its fields in order; the offsets follow from the widths.
`settlement.protocol`'s docstring writes the same tables out for readers, and a test holds the
two together. From a layout come the regular expression that checks a whole record at once and
the `%` format that writes one.
"""

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

RECORD_CHARS = 255


class FieldKind(Enum):
    TYPE = "type"
    TEXT = "text"
    UNSIGNED = "unsigned"
    SIGNED = "signed"
    DATE = "date"
    FLAG = "flag"
    FILLER = "spaces"


_TEXT_CHARS = re.compile(r"[ -~]*")


@dataclass(frozen=True)
class Field:
    name: str
    width: int
    kind: FieldKind

    def pattern(self, record_type: str) -> str:
        """The regular expression of the field (a group, unless it is the type or filler)."""
        width = self.width
        if self.kind is FieldKind.TYPE:
            return record_type
        if self.kind is FieldKind.FILLER:
            return f" {{{width}}}"
        return {
            FieldKind.TEXT: f"([!-~][ -~]{{{width - 1}}})",
            FieldKind.UNSIGNED: f"([0-9]{{{width}}})",
            FieldKind.SIGNED: f"([+-][0-9]{{{width - 1}}})",
            FieldKind.DATE: "([0-9]{8})",
            FieldKind.FLAG: "([YN])",
        }[self.kind]

    def format(self) -> str:
        """The `%` format that writes the field's (encoded) value at its width."""
        return {
            FieldKind.TEXT: f"%-{self.width}s",
            FieldKind.UNSIGNED: f"%0{self.width}d",
            FieldKind.SIGNED: f"%+0{self.width}d",
            FieldKind.DATE: "%s",
            FieldKind.FLAG: "%s",
        }[self.kind]

    def value_problem(self, value: Any) -> str | None:
        """Why `value` cannot be written in this field, or None."""
        kind = self.kind
        if kind is FieldKind.TEXT:
            if not isinstance(value, str):
                return f"{type(value).__name__}, not text"
            if not value or value[0] == " " or value[-1] == " ":
                return f"{value!r}: empty, or begins or ends with a space"
            if len(value) > self.width:
                return f"{len(value)} characters, more than {self.width}"
            if not value.isascii() or _TEXT_CHARS.fullmatch(value) is None:
                return f"{value!r} is not printable ASCII"
            return None
        if kind in (FieldKind.UNSIGNED, FieldKind.SIGNED):
            if type(value) is not int:
                return f"{type(value).__name__}, not an integer"
            digits = self.width - (kind is FieldKind.SIGNED)
            if value < 0 and kind is FieldKind.UNSIGNED:
                return f"{value} is negative"
            if abs(value) >= 10**digits:
                return f"{value} has more than {digits} digits"
            return None
        if kind is FieldKind.DATE and not isinstance(value, str):
            return f"{type(value).__name__}, not an ISO date"
        if kind is FieldKind.FLAG and not isinstance(value, bool):
            return f"{type(value).__name__}, not a flag"
        return None

    def raw_problem(self, raw: str) -> str | None:
        """Why the characters `raw` (exactly this field's slice of a record) are not valid."""
        if re.fullmatch(self.pattern("..."), raw) is not None:
            return None
        return {
            FieldKind.TYPE: f"{raw!r} is not the record type",
            FieldKind.TEXT: f"{raw!r} is not printable ASCII text, left-aligned",
            FieldKind.UNSIGNED: f"{raw!r} is not {self.width} digits",
            FieldKind.SIGNED: f"{raw!r} is not a sign and {self.width - 1} digits",
            FieldKind.DATE: f"{raw!r} is not a date YYYYMMDD",
            FieldKind.FLAG: f"{raw!r} is not Y or N",
            FieldKind.FILLER: "filler that is not spaces",
        }[self.kind]


@dataclass(frozen=True)
class Layout:
    record_type: str
    fields: tuple[Field, ...]

    @property
    def value_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.kind not in (FieldKind.TYPE, FieldKind.FILLER))

    def offsets(self) -> list[int]:
        offsets, offset = [], 0
        for field in self.fields:
            offsets.append(offset)
            offset += field.width
        return offsets

    def pattern(self) -> str:
        return "".join(field.pattern(self.record_type) for field in self.fields)

    def format(self) -> str:
        parts = []
        for field in self.fields:
            if field.kind is FieldKind.TYPE:
                parts.append(self.record_type)
            elif field.kind is FieldKind.FILLER:
                parts.append(" " * field.width)
            else:
                parts.append(field.format())
        return "".join(parts)


def _layout(record_type: str, *fields: tuple[str, int, FieldKind]) -> Layout:
    body = [Field(name, width, kind) for name, width, kind in fields]
    used = 3 + sum(field.width for field in body)
    if used < RECORD_CHARS:
        body.append(Field("filler", RECORD_CHARS - used, FieldKind.FILLER))
    layout = Layout(record_type, (Field("type", 3, FieldKind.TYPE), *body))
    if sum(field.width for field in layout.fields) != RECORD_CHARS:
        raise ValueError(f"layout {record_type} is not {RECORD_CHARS} characters")
    return layout


_T, _U, _S, _D, _F = (
    FieldKind.TEXT,
    FieldKind.UNSIGNED,
    FieldKind.SIGNED,
    FieldKind.DATE,
    FieldKind.FLAG,
)
PARTICIPANT = ("participant", 64, _T)
"""As wide as the platform's account ids (`domain.ids.ACCOUNT_ID_LENGTH_MAX`)."""
SYMBOL = ("symbol", 16, _T)
"""As wide as the platform's symbols (`domain.ids.SYMBOL_LENGTH_MAX`)."""
QTY = ("qty", 10, _U)
PRICE = ("price", 14, _U)
SIGNED_QTY = ("qty", 19, _S)
TERMS = (("symbol", 16, _T), ("buyer", 64, _T), ("seller", 64, _T), QTY, PRICE)

LAYOUTS: dict[str, Layout] = {
    layout.record_type: layout
    for layout in (
        _layout(
            "HDR",
            ("version", 2, _U),
            ("kind", 3, _T),
            PARTICIPANT,
            ("date", 8, _D),
            ("batch_id", 48, _T),
        ),
        _layout(
            "TRD", ("trade_ref", 40, _T), ("trade_date", 8, _D), ("settle_date", 8, _D), *TERMS
        ),
        _layout("MOV", ("ref", 40, _T), ("date", 8, _D), PARTICIPANT, SYMBOL, SIGNED_QTY),
        _layout(
            "CNF",
            ("trade_ref", 40, _T),
            ("clearing_ref", 16, _T),
            ("accepted", 1, _F),
            ("trade_date", 8, _D),
            ("settle_date", 8, _D),
            *TERMS,
            ("late", 1, _F),
        ),
        _layout("ACK", ("batch_id", 48, _T), ("received", 10, _U), ("taken", 10, _U)),
        _layout("SIN", ("settle_date", 8, _D), PARTICIPANT, SYMBOL, SIGNED_QTY, ("cash", 23, _S)),
        _layout(
            "FTD", ("settle_date", 8, _D), PARTICIPANT, SYMBOL, SIGNED_QTY, ("from_date", 8, _D)
        ),
        _layout("POS", PARTICIPANT, SYMBOL, ("qty", 23, _S)),
        _layout("TRL", ("count", 10, _U), ("hash_qty", 18, _U), ("hash_amount", 18, _U)),
        _layout(
            "REJ", ("record", 10, _U), ("field", 16, _T), ("code", 16, _T), ("reason", 210, _T)
        ),
    )
}
