"""`tradingfloor reports execution-quality`: the month's Rule 605 or 606-style report.

It reads the read models (the settings' `database_url`) without a running gateway, as
`GET /v1/admin/reports/execution-quality` does, and prints JSON or CSV (or writes `--out`).
"""

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


class Rule(StrEnum):
    r605 = "605"
    r606 = "606"


class Format(StrEnum):
    json = "json"
    csv = "csv"


def execution_quality(
    month: Annotated[str, typer.Option(help="The calendar month (YYYY-MM, New York).")],
    rule: Annotated[Rule, typer.Option(help="605 (execution quality) or 606 (routing).")] = (
        Rule.r605
    ),
    format: Annotated[Format, typer.Option(help="json or csv.")] = Format.json,
    out: Annotated[Path | None, typer.Option(help="The file to write (default: stdout).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="The data directory.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="A TOML settings file (TRADINGFLOOR_* variables win).")
    ] = None,
) -> None:
    """The month's execution quality per symbol, order type and size (605), or its orders
    by type and where they executed (606)."""
    from tradingfloor.compliance.quality_report import execution_quality_report, report_csv
    from tradingfloor.compliance.trade_dates import DateRangeError, month_range
    from tradingfloor.config import ConfigError, load_settings
    from tradingfloor.store.database import make_engine

    try:
        dates = month_range(month)
        settings = load_settings(config, **({} if data is None else {"data_dir": data}))
    except (ConfigError, DateRangeError) as error:
        console.print(f"[red]{error}[/red]", highlight=False)
        raise typer.Exit(2) from error
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            report = execution_quality_report(connection, dates, rule.value)
    finally:
        engine.dispose()
    if format == Format.csv:
        body = report_csv(report)
    else:
        body = (json.dumps(report, indent=2) + "\n").encode()
    if out is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        out.write_bytes(body)
        console.print(f"wrote {out} ({len(report['rows'])} rows)", highlight=False)
