"""`tradingfloor ledger check|accounts|history`: the ledger of a node's data, read-only."""

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from tradingfloor.domain.events import Event
from tradingfloor.domain.prices import format_price
from tradingfloor.engine import Engine

ledger_app = typer.Typer(no_args_is_help=True, help="Check and read the ledger of a node.")
console = Console()
DataDir = Annotated[Path, typer.Option("--data", help="The node's data directory.")]


def _replay(data: Path, engine: Engine, progress: Progress | None = None) -> Iterator[list[Event]]:
    """Replay the journal from seq 1 into `engine` (new), yielding each command's events."""
    from tradingfloor.journal.file import FileJournal

    journal = FileJournal(data / "journal", fsync=False)
    try:
        journal.log.open(read_only=True)
    except FileNotFoundError as error:
        console.print(f"[red]no journal[/red]: {error}")
        raise typer.Exit(1) from error
    if journal.first_seq > 1:
        console.print(
            f"[red]the journal starts at seq {journal.first_seq} (compacted): the ledger's "
            "history from seq 1 is no longer there to check[/red]"
        )
        raise typer.Exit(1)
    task = None
    if progress is not None:
        task = progress.add_task("replaying the journal", total=journal.last_seq)
    for entry in journal.read(1):
        events = engine.apply(entry.command, entry.seq, entry.ts)
        if progress is not None and task is not None and entry.seq % 1_000 == 0:
            progress.update(task, completed=entry.seq)
        yield events


@ledger_app.command()
def check(
    data: DataDir,
    every: Annotated[
        int, typer.Option(help="Also check the invariants every N commands (0: at the end).")
    ] = 0,
) -> None:
    """Replay the journal and prove the ledger: cash and shares conserved, nothing negative,
    holds exactly what open orders need, and every balance equal to its double-entry postings."""
    from tradingfloor.domain.errors import InvariantViolation
    from tradingfloor.engine.check import check_balances, check_ledger
    from tradingfloor.ledger.postings import post_balances

    derived: dict[tuple[str, str], int] = {}
    engine = Engine()
    checks = commands = 0
    try:
        with Progress(console=console, transient=True) as progress:
            for events in _replay(data, engine, progress):
                commands += 1
                for event in events:
                    post_balances(derived, event)
                if every and commands % every == 0 and engine.risk is not None:
                    checks += check_ledger(engine).checks
        if engine.risk is None:
            console.print(f"{commands:,} commands replayed; this node keeps no ledger")
            return
        report = check_ledger(engine)
        compared = check_balances(engine, derived)
    except InvariantViolation as error:
        console.print(f"[red]ledger broken after seq {engine.last_seq}: {error}[/red]")
        raise typer.Exit(1) from error
    console.print(
        f"ledger good at seq {engine.last_seq}: {report.accounts} accounts, "
        f"{report.open_orders} open orders; cash {format_price(report.cash)} = deposits "
        f"{format_price(report.deposited)} - withdrawals {format_price(report.withdrawn)} - "
        f"fees {format_price(report.fees)}; shares conserved in {len(report.shares)} symbols; "
        f"{checks + report.checks:,} invariant checks and {compared:,} balances against "
        "their postings passed"
    )


@ledger_app.command()
def accounts(data: DataDir) -> None:
    """Every account: cash, holds, buying power, equity and day trades at the last seq."""
    engine = Engine()
    for _ in _replay(data, engine):
        pass
    risk = engine.risk
    if risk is None:
        console.print("this node keeps no ledger")
        return
    table = Table(title=f"accounts at seq {engine.last_seq}")
    columns = ("account", "status", "cash", "held", "buying power", "equity", "day trades")
    for column in columns:
        table.add_column(column, justify="right")
    for account_id in sorted(risk.ledger.accounts):
        summary = risk.summary(account_id, engine.last_ts)
        if summary is None:
            continue
        table.add_row(
            account_id,
            summary.status.name.lower(),
            format_price(summary.cash),
            format_price(summary.held),
            format_price(summary.buying_power),
            format_price(summary.equity),
            str(summary.day_trades),
        )
    console.print(table)


@ledger_app.command()
def history(
    data: DataDir,
    account: Annotated[str | None, typer.Option(help="Only postings of this account.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Only postings of this symbol.")] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(help="trade, fee, deposit, withdrawal, shares_in, shares_out, settlement"),
    ] = None,
    from_seq: Annotated[int, typer.Option("--from", help="First seq.")] = 0,
    to_seq: Annotated[int | None, typer.Option("--to", help="Last seq.")] = None,
    limit: Annotated[int, typer.Option(help="How many postings to print at most.")] = 100,
) -> None:
    """The transaction history in double entry, with filters."""
    from tradingfloor.ledger.postings import history as postings_history

    def events() -> Iterator[Event]:
        for batch in _replay(data, Engine()):
            yield from batch

    table = Table(title="postings")
    for column in ("seq", "kind", "debit", "credit", "amount", "asset"):
        table.add_column(column)
    kinds = frozenset(kind) if kind else None
    for count, posting in enumerate(
        postings_history(events(), account, symbol, kinds, from_seq, to_seq)
    ):
        if count >= limit:
            break
        amount = format_price(posting.amount) if posting.asset == "USD" else str(posting.amount)
        table.add_row(
            str(posting.seq), posting.kind, posting.debit, posting.credit, amount, posting.asset
        )
    console.print(table)
