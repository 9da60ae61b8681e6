"""`tradingfloor statement`: an account's daily or monthly statement, written to a file.

It reads the platform's read models (the settings' `database_url`), as `GET /v1/statements`
does, without a running gateway: for an operator, a batch of statements at a month's end, or
a platform that is stopped.
"""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


class Format(StrEnum):
    html = "html"
    pdf = "pdf"


def statement(
    account: Annotated[str, typer.Option(help="The account whose statement it is.")],
    out: Annotated[Path, typer.Option(help="The file to write.")],
    date: Annotated[
        str | None, typer.Option(help="A daily statement of this trading day (YYYY-MM-DD).")
    ] = None,
    month: Annotated[
        str | None, typer.Option(help="A monthly statement of this month (YYYY-MM).")
    ] = None,
    format: Annotated[Format, typer.Option(help="html or pdf.")] = Format.html,
    config: Annotated[
        Path | None, typer.Option(help="A TOML settings file (TRADINGFLOOR_* variables win).")
    ] = None,
) -> None:
    """Write an account's statement of one trading day (--date) or one month (--month):
    trades with fees, settlements, deposits, withdrawals, dividends, splits and every other
    activity, opening and closing cash and positions, realized P&L."""
    from tradingfloor.config import ConfigError, load_settings
    from tradingfloor.risk.calendar import calendar_for
    from tradingfloor.settlement.statements import (
        PeriodError,
        daily_period,
        load_statement,
        monthly_period,
        render,
    )
    from tradingfloor.store.database import make_engine

    if (date is None) == (month is None):
        console.print("[red]give one of --date YYYY-MM-DD or --month YYYY-MM[/red]")
        raise typer.Exit(2)
    try:
        settings = load_settings(config)
        calendar = calendar_for()
        period = daily_period(calendar, date) if date else monthly_period(calendar, month or "")
    except (ConfigError, PeriodError) as error:
        console.print(f"[red]{error}[/red]", highlight=False)
        raise typer.Exit(2) from error
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            data = load_statement(connection, account, period.after_ts, period.until_ts)
    finally:
        engine.dispose()
    if data is None:
        console.print(f"[red]no account {account!r} in the read models[/red]", highlight=False)
        raise typer.Exit(1)
    body, _ = render(data, period, format.value)
    out.write_bytes(body)
    console.print(f"wrote {out} ({len(body):,} bytes)", highlight=False)
