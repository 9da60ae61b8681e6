"""The `tradingfloor` command."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tradingfloor.bench.cli import bench_app
from tradingfloor.bootstrap.audit_cli import audit_app
from tradingfloor.bootstrap.cluster_cli import cluster_app
from tradingfloor.bootstrap.role_cli import (
    allocator,
    desk,
    gateway,
    marketdata,
    projector,
    reporting,
    settle,
    settlement,
    shard,
    surveillance,
)
from tradingfloor.bootstrap.serve_cli import serve
from tradingfloor.compliance.cli import reports_app
from tradingfloor.compliance.export_cli import export
from tradingfloor.compliance.quality_cli import execution_quality
from tradingfloor.journal.cli import journal_app
from tradingfloor.replay.cli import replay_app
from tradingfloor.service.cli import node
from tradingfloor.service.ledger_cli import ledger_app
from tradingfloor.settlement.clearinghouse.command import clearinghouse
from tradingfloor.settlement.statement_cli import statement

app = typer.Typer(no_args_is_help=True, help="TradingFloor: a stock trading platform.")
app.add_typer(bench_app, name="bench")
app.add_typer(replay_app, name="replay")
app.add_typer(journal_app, name="journal")
app.add_typer(ledger_app, name="ledger")
app.add_typer(cluster_app, name="cluster")
app.add_typer(audit_app, name="audit")
app.add_typer(reports_app, name="reports")
reports_app.command("execution-quality")(execution_quality)
app.command()(node)
app.command()(serve)
app.command()(shard)
app.command()(projector)
app.command()(marketdata)
app.command()(gateway)
app.command()(allocator)
app.command()(statement)
app.command()(settlement)
app.command()(reporting)
app.command()(settle)
app.command()(surveillance)
app.command()(desk)
app.command()(clearinghouse)
app.command()(export)
console = Console()


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
