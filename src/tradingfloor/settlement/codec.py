"""A layout compiled into code: the functions that write and read one record type.

`settlement.protocol` keeps one `Codec` per record type. Its `encode` and `decode` are generated
from the layout (as `dataclasses` generates `__init__`): one `%` format or one constructor call
per record, no loop over fields, which makes a million records about three times faster each
way. The field-by-field checks (`value_problem`, `line_problem`) run only for a record that
failed, to say which field is wrong.
"""

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tradingfloor.settlement.layouts import RECORD_CHARS, FieldKind, Layout

_DATE_CACHE_MAX = 4096
"""Distinct dates remembered by the date conversions before they start afresh."""
_TEXT = FieldKind.TEXT


@dataclass(frozen=True)
class Codec:
    layout: Layout
    struct: type[Any]
    line: re.Pattern[str]
    encode: Callable[[Any], str | None]
    """The record's line, or None for a value the line would not tell (an empty text, one
    that begins or ends with a space, a negative unsigned number); the line may still hold
    a number or a text too wide or a character that is not printable ASCII."""
    decode: Callable[[tuple[str, ...]], Any]
    """The value from the groups of `line`'s match."""


_TEXT = FieldKind.TEXT
_ISO: dict[str, str] = {}
_COMPACT: dict[str, str] = {}


def iso_date(compact: str) -> str:
    iso = _ISO.get(compact)
    if iso is None:
        iso = datetime.date(int(compact[:4]), int(compact[4:6]), int(compact[6:])).isoformat()
        if len(_ISO) >= _DATE_CACHE_MAX:
            _ISO.clear()
        _ISO[compact] = iso
    return iso


def compact_date(iso: str) -> str:
    compact = _COMPACT.get(iso)
    if compact is None:
        if len(iso) != 10 or iso[4] != "-" or iso[7] != "-":
            raise ValueError(f"not an ISO date: {iso!r}")
        day = datetime.date.fromisoformat(iso)
        compact = f"{day.year:04d}{day.month:02d}{day.day:02d}"
        if len(_COMPACT) >= _DATE_CACHE_MAX:
            _COMPACT.clear()
        _COMPACT[iso] = compact
    return compact


_WRITE = {
    FieldKind.TEXT: "v.{0}",
    FieldKind.UNSIGNED: "v.{0}",
    FieldKind.SIGNED: "v.{0}",
    FieldKind.DATE: "_compact(v.{0})",
    FieldKind.FLAG: '("Y" if v.{0} else "N")',
}
_READ = {
    FieldKind.TEXT: "g[{0}].rstrip()",
    FieldKind.UNSIGNED: "int(g[{0}])",
    FieldKind.SIGNED: "int(g[{0}])",
    FieldKind.DATE: "_iso(g[{0}])",
    FieldKind.FLAG: 'g[{0}] == "Y"',
}


def compile_codec(layout: Layout, struct: type[Any]) -> Codec:
    """The codec of one layout. Its two functions are generated from the layout (as
    `dataclasses` generates `__init__`): one expression per record, no loop over fields,
    which makes a million records take about a second each way rather than three."""
    values = layout.value_fields
    names = tuple(getattr(struct, "__struct_fields__", ()))
    if tuple(field.name for field in values) != names:
        raise TypeError(f"{layout.record_type} layout does not follow {struct.__name__}")
    written = ", ".join(_WRITE[field.kind].format(field.name) for field in values)
    checks = " or ".join(
        [f'v.{f.name}[0] == " " or v.{f.name}[-1] == " "' for f in values if f.kind is _TEXT]
        + [f"v.{f.name} < 0" for f in values if f.kind is FieldKind.UNSIGNED]
    )
    read = ", ".join(_READ[field.kind].format(i) for i, field in enumerate(values))
    source = (
        "def encode(v):\n"
        f"    if {checks or 'False'}:\n"
        "        return None\n"
        f"    return FORMAT % ({written},)\n"
        "def decode(g):\n"
        f"    return Struct({read})\n"
    )
    namespace: dict[str, Any] = {
        "FORMAT": layout.format(),
        "Struct": struct,
        "_compact": compact_date,
        "_iso": iso_date,
    }
    exec(compile(source, f"<clearing codec {layout.record_type}>", "exec"), namespace)
    return Codec(
        layout, struct, re.compile(layout.pattern()), namespace["encode"], namespace["decode"]
    )


def value_problem(codec: Codec, value: Any) -> tuple[str, str]:
    """The field of `value` that `codec` cannot write, and why."""
    for field in codec.layout.value_fields:
        item = getattr(value, field.name)
        problem = field.value_problem(item)
        if problem is None and field.kind is FieldKind.DATE:
            try:
                compact_date(item)
            except ValueError as error:
                problem = str(error)
        if problem is not None:
            return (field.name, problem)
    return ("type", "cannot be encoded")


def line_problem(codec: Codec, line: str) -> tuple[str, str]:
    """The field of `line` that does not follow `codec`'s layout, and why."""
    if len(line) != RECORD_CHARS:
        return ("length", f"{len(line)} characters, not {RECORD_CHARS}")
    for field, offset in zip(codec.layout.fields, codec.layout.offsets(), strict=True):
        raw = line[offset : offset + field.width]
        problem = field.raw_problem(raw)
        if problem is None and field.kind is FieldKind.DATE:
            try:
                iso_date(raw)
            except ValueError:
                problem = f"{raw!r} is not a calendar date"
        if problem is not None:
            return (field.name, problem)
    return ("type", "does not match its layout")
