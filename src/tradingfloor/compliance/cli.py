"""`tradingfloor reports ...`: checks of the reporting role's files, offline."""

from pathlib import Path
from typing import Annotated

import typer

reports_app = typer.Typer(
    no_args_is_help=True,
    help="Regulatory reports: the CAT order-event file's check, execution quality (605/606).",
)


@reports_app.command("check-cat")
def check_cat(
    files: Annotated[
        list[Path],
        typer.Argument(exists=True, dir_okay=False, help="CAT-style files, oldest day first."),
    ],
) -> None:
    """Validate every record of FILES against the CAT JSON Schema and check that every
    order's life is complete (its new order first, no event of an unknown or ended order);
    list the orders still open. Exits 1 on any problem."""
    from tradingfloor.compliance.cat_check import check_cat_files

    check = check_cat_files(files)
    for line in check.lines():
        print(line)
    if not check.ok:
        raise typer.Exit(1)
