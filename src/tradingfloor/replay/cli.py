"""Replays of recorded market data through the engine."""

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

replay_app = typer.Typer(no_args_is_help=True, help="Replay recorded order flow.")
console = Console()


@replay_app.command()
def lobster(
    messages: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, readable=True, help="LOBSTER message file."),
    ],
    orderbook: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, readable=True, help="LOBSTER orderbook file."),
    ],
    book_out: Annotated[
        Path | None,
        typer.Option("--book-out", dir_okay=False, help="Write the engine's book per message."),
    ] = None,
    fills_out: Annotated[
        Path | None,
        typer.Option("--fills-out", dir_okay=False, help="Write the engine's fills (CSV)."),
    ] = None,
) -> None:
    """Replay LOBSTER files through the matching engine and score the book and the fills."""
    from tradingfloor.replay.lobster import read_book_rows, read_messages, replay_lobster

    started = time.perf_counter()
    flow = read_messages(messages)
    truth = read_book_rows(orderbook)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"replaying {messages.name}", total=len(flow))
        report = replay_lobster(
            flow,
            truth,
            book_out=book_out,
            fills_out=fills_out,
            progress=lambda done: progress.update(task, completed=done),
        )
    elapsed = time.perf_counter() - started
    rows, executions = report.rows, report.executions
    console.print(
        f"rows reproduced: {rows.matched}/{rows.total} ({rows.share:.2%})", highlight=False
    )
    console.print(
        f"executions reproduced: {executions.matched}/{executions.total} ({executions.share:.2%})",
        highlight=False,
    )
    for name, count in sorted(report.stats.items()):
        console.print(f"  {name}: {count}", highlight=False)
    console.print(f"wall time: {elapsed:.2f} s", highlight=False)
