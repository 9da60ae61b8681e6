"""`tradingfloor audit run|verify`: the audit role, and the check of its trail."""

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit trail.")
console = Console(stderr=True)
ConfigOption = Annotated[
    Path | None, typer.Option(help="A TOML settings file (TRADINGFLOOR_* variables win).")
]


@audit_app.command("run")
def run(config: ConfigOption = None) -> None:
    """Run the audit role: every shard's commands and events, and every access event,
    chained under data_dir/audit, its head anchored in the database."""
    from tradingfloor.bootstrap.audit_role import run_audit
    from tradingfloor.bootstrap.role_cli import _prepare, _settings

    asyncio.run(run_audit(_prepare(_settings(config))))


@audit_app.command("verify")
def verify(
    data: Annotated[
        Path | None, typer.Option(help="The data directory (default: the settings').")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Check every record of the trail and its anchors: exit 0 printing the head hash, or
    exit 1 naming the first bad record."""
    from tradingfloor.bootstrap.audit_role import audit_dir, verify_trail
    from tradingfloor.bootstrap.role_cli import _settings
    from tradingfloor.config import load_settings

    settings = _settings(config) if data is None else load_settings(config, data_dir=data)
    if not audit_dir(settings).is_dir():
        console.print(f"[red]no audit trail in {audit_dir(settings)}[/red]", highlight=False)
        raise typer.Exit(1)
    verdict = verify_trail(settings)
    if not verdict.ok:
        console.print(f"[red]audit trail damaged: {verdict.problem}[/red]", highlight=False)
        raise typer.Exit(1)
    if verdict.torn_tail:  # bytes that are no record: a crash mid-write, or a changed LF
        console.print(
            f"[red]audit trail incomplete: the line after record {verdict.records} has no "
            "end (a crash mid-write, cut by the audit role at its next start; or a changed "
            "byte)[/red]",
            highlight=False,
        )
        raise typer.Exit(1)
    print(f"audit trail whole: {verdict.records} records, head {verdict.head_hash}")
    for shard, seq in sorted(verdict.places.items()):
        print(f"  shard {shard}: commands 1..{seq}, one record each")
