"""`tradingfloor export`: orders, fills or the audit trail of a range of trade dates as a
CSV or Parquet file.

It reads the read models (the settings' `database_url`, SQLite or PostgreSQL; the audit
trail's files under data_dir/audit for `audit`) without a running gateway, in chunks, so an
export of any size takes bounded memory; on a terminal a progress bar counts the rows.
Without `--out` the file goes to standard output.
"""

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from tradingfloor.compliance.exports import ExportQuery

console = Console(stderr=True)


class Format(StrEnum):
    csv = "csv"
    parquet = "parquet"


def export(
    kind: Annotated[str, typer.Argument(help="What to export: orders, fills or audit.")],
    from_date: Annotated[
        str, typer.Option("--from", help="The first trade date (YYYY-MM-DD, New York).")
    ],
    to_date: Annotated[str, typer.Option("--to", help="The last trade date, included.")],
    format: Annotated[Format, typer.Option(help="csv or parquet.")] = Format.csv,
    account: Annotated[
        list[str] | None, typer.Option(help="Only this account's rows (repeatable).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="The file to write (default: stdout).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="The data directory.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="A TOML settings file (TRADINGFLOOR_* variables win).")
    ] = None,
) -> None:
    """Export the orders (by the day they were entered), the fills (by the day they traded)
    or the audit trail's records (by their time) of trade dates --from to --to, both
    included, every account's unless --account names some. Prices and amounts are integers
    in price units with a dollar text twin."""
    from tradingfloor.compliance.exports import EXPORT_KINDS, ExportQuery
    from tradingfloor.compliance.trade_dates import DateRangeError, date_range
    from tradingfloor.config import ConfigError, load_settings

    chosen = EXPORT_KINDS.get(kind)
    if chosen is None:
        _refuse(f"no export {kind!r}: one of {', '.join(sorted(EXPORT_KINDS))}")
    try:
        dates = date_range(from_date, to_date)
        overrides = {} if data is None else {"data_dir": data}
        settings = load_settings(config, **overrides)
    except (ConfigError, DateRangeError) as error:
        _refuse(str(error))
    if out is None and format == Format.parquet and sys.stdout.isatty():
        _refuse("a Parquet file is no text for a terminal: give --out FILE")
    audit_dir = Path(settings.data_dir) / "audit"
    query = ExportQuery(dates.after_ts, dates.before_ts, account or None, audit_dir=audit_dir)
    if out is None:
        rows = _write(settings.database_url, chosen.name, format.value, query, sys.stdout.buffer)
    else:
        with out.open("wb") as file:
            rows = _write(settings.database_url, chosen.name, format.value, query, file)
    where = "stdout" if out is None else str(out)
    console.print(f"wrote {rows:,} {kind} rows to {where}", highlight=False)


def _refuse(message: str) -> NoReturn:
    console.print(f"[red]{message}[/red]", highlight=False)
    raise typer.Exit(2)


def _write(database_url: str, kind: str, format: str, query: "ExportQuery", out: BinaryIO) -> int:
    """Write the export, with a progress bar when stderr is a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from tradingfloor.compliance.export_writer import write_export
    from tradingfloor.compliance.exports import EXPORT_KINDS
    from tradingfloor.store.database import make_engine

    chosen = EXPORT_KINDS[kind]
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            if not console.is_terminal:
                return write_export(chosen, format, connection, query, out)
            total = chosen.count(connection, query)
            columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console, transient=True) as progress:
                task = progress.add_task(kind, total=total)
                return write_export(
                    chosen, format, connection, query, out,
                    lambda rows: progress.advance(task, rows),
                )  # fmt: skip
    finally:
        engine.dispose()
