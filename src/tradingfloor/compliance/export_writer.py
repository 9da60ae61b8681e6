"""Writing an export (`exports.ExportKind`) to a file, as CSV or Parquet, chunk by chunk.

Each chunk of rows is written as it comes (a CSV block, a Parquet row group), so an export
of any size holds one chunk in memory. Integers stay integers: Parquet columns are int64 or
UTF-8 strings, CSV cells the integers' digits; null is an empty cell.
"""

import csv
import io
from collections.abc import Callable
from typing import Any, BinaryIO

from sqlalchemy import Connection

from tradingfloor.compliance.exports import Chunk, ExportKind, ExportQuery

FORMATS = ("csv", "parquet")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}

Progress = Callable[[int], None]
"""Told the rows of each chunk once written."""


def write_export(
    kind: ExportKind,
    format: str,
    connection: Connection,
    query: ExportQuery,
    out: BinaryIO,
    progress: Progress | None = None,
) -> int:
    """Write `kind`'s rows of `query` to `out` as `format`; returns how many rows."""
    if format not in FORMATS:
        raise ValueError(f"format {format!r}: csv or parquet")
    writer = _CsvWriter(kind, out) if format == "csv" else _ParquetWriter(kind, out)
    written = 0
    try:
        for chunk in kind.rows(connection, query):
            writer.write(chunk)
            written += len(chunk)
            if progress is not None:
                progress(len(chunk))
    finally:
        writer.close()
    return written


class _CsvWriter:
    def __init__(self, kind: ExportKind, out: BinaryIO) -> None:
        self.text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        self.csv = csv.writer(self.text, lineterminator="\n")
        self.csv.writerow([column.name for column in kind.columns])

    def write(self, chunk: Chunk) -> None:
        self.csv.writerows(chunk)

    def close(self) -> None:
        self.text.flush()
        self.text.detach()  # the caller's stream stays open


class _ParquetWriter:
    def __init__(self, kind: ExportKind, out: BinaryIO) -> None:
        import pyarrow.parquet  # type: ignore[import-untyped]

        self.schema = kind.arrow_schema()
        self.writer = pyarrow.parquet.ParquetWriter(out, self.schema)

    def write(self, chunk: Chunk) -> None:
        import pyarrow

        if not chunk:
            return
        columns: list[Any] = [
            pyarrow.array(values, type=field.type)
            for values, field in zip(zip(*chunk, strict=True), self.schema, strict=True)
        ]
        self.writer.write_batch(pyarrow.RecordBatch.from_arrays(columns, schema=self.schema))

    def close(self) -> None:
        self.writer.close()
