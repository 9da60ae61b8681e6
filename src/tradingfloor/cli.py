"""The `tradingfloor` command."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tradingfloor.bench.cli import bench_app
from tradingfloor.bootstrap.cluster_cli import cluster_app
from tradingfloor.bootstrap.role_cli import (
    ConfigOption,
    _checked,
    _prepare,
    _settings,
    allocator,
    gateway,
    marketdata,
    projector,
    shard,
)
from tradingfloor.bootstrap.serve_cli import serve
from tradingfloor.journal.cli import journal_app
from tradingfloor.replay.cli import replay_app
from tradingfloor.service.cli import node
from tradingfloor.service.ledger_cli import ledger_app
from tradingfloor.settlement.clearinghouse.command import clearinghouse

app = typer.Typer(no_args_is_help=True, help="TradingFloor: a stock trading platform.")
app.add_typer(bench_app, name="bench")
app.add_typer(replay_app, name="replay")
app.add_typer(journal_app, name="journal")
app.add_typer(ledger_app, name="ledger")
app.add_typer(cluster_app, name="cluster")
app.command()(node)
app.command()(serve)
app.command()(shard)
app.command()(projector)
app.command()(marketdata)
app.command()(gateway)
app.command()(allocator)
app.command()(clearinghouse)
console = Console()


@app.command()
def settlement(config: ConfigOption = None) -> None:
    """Run the settlement role: each session's end of day at its close (close the day,
    clear its trades, settle T+N, reconcile with the clearinghouse into breaks)."""
    import asyncio

    from tradingfloor.bootstrap.settlement_role import check_settlement_settings, run_settlement

    settings = _checked(_settings(config), check_settlement_settings)
    asyncio.run(run_settlement(_prepare(settings)))


@app.command()
def settle(
    date: Annotated[str, typer.Option(help="The trade date (ISO, a session of the calendar).")],
    config: ConfigOption = None,
    wait_s: Annotated[
        float, typer.Option(min=0.1, help="How long a shard or the clearinghouse may not answer.")
    ] = 30.0,
) -> None:
    """Run the end of day of trade date DATE by hand against the running platform and print
    what it did and the breaks found (running it again changes nothing, and says so)."""
    import asyncio

    from tradingfloor.bootstrap.settlement_role import settle_by_hand
    from tradingfloor.settlement.role import DayRefused, SettlementUnavailable

    settings = _settings(config)
    try:
        report = asyncio.run(settle_by_hand(settings, date, wait_s))
    except (DayRefused, SettlementUnavailable) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    for line in report.lines():
        print(line)


@app.command()
def conformance(
    paths: Annotated[list[Path], typer.Argument(help="Scenario files or folders of them.")],
) -> None:
    """Run matching scenarios; print PASS/FAIL per file and exit non-zero if any failed."""
    from tradingfloor.conformance import run_file, scenario_files

    files = scenario_files(paths)
    passed = failed = 0
    for path in files:
        result = run_file(path)
        if result.passed:
            passed += 1
            console.print(f"[green]PASS[/green] {path.name}", highlight=False, soft_wrap=True)
        else:
            failed += 1
            console.print(
                f"[red]FAIL[/red] {path.name}: {result.difference}",
                highlight=False,
                soft_wrap=True,
            )
    print(f"{passed} passed, {failed} failed")
    if failed or not files:
        raise typer.Exit(1)


def main() -> None:
    app()
