"""`tradingfloor cluster up|status|down`: a local cluster of the distributed mode's roles.

`up --config FILE` starts them (`bootstrap.cluster`, the plan in `bootstrap.cluster_plan`),
waits with a progress display until each is ready, prints the addresses and each process's
pid and log, and exits 0 leaving them running (`--foreground`: supervises them until Ctrl-C).
`status` prints one row per process (`bootstrap.cluster_status`), `--json` the same for
scripts; exit 0 when every one is up. `down` stops them in order (`bootstrap.cluster_down`).
Exit codes: 0 done, 1 not done (already running, a process failed, not all up), 2 settings
that cannot be used.
"""

import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from tradingfloor.bootstrap.cluster import Launcher
    from tradingfloor.bootstrap.cluster_plan import Planned
    from tradingfloor.bootstrap.cluster_record import Record
    from tradingfloor.config import Settings

cluster_app = typer.Typer(
    no_args_is_help=True, help="A local cluster of the roles on NATS: up, status, down."
)
# Not a terminal (a pipe, a log): wide enough that the tables' rows need not be cut.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(help="The TOML settings file every role reads (TRADINGFLOOR_* variables win)."),
]


@cluster_app.command()
def up(
    config: Annotated[
        Path, typer.Option(help="The TOML settings file every role reads (transport = nats).")
    ],
    foreground: Annotated[
        bool,
        typer.Option("--foreground", help="Supervise the processes here until Ctrl-C."),
    ] = False,
) -> None:
    """Start NATS (if private), the shards and their standbys, the projectors, market data
    and the gateways, each a process of its own; exit once every one is ready."""
    from tradingfloor.bootstrap import cluster, cluster_plan
    from tradingfloor.config import ConfigError

    settings = _settings(config)
    config = config.resolve()
    try:
        cluster_plan.check(settings)
        cluster.refuse_if_running(settings)
    except ConfigError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    except cluster.AlreadyRunning as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error
    try:
        started = asyncio.run(_up(settings, config, foreground))
    except ConfigError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    if not started:
        raise typer.Exit(1)


async def _up(settings: "Settings", config: Path, foreground: bool) -> bool:
    """Whether every process became ready (see `bootstrap.cluster`)."""
    from tradingfloor.bootstrap import cluster, cluster_plan

    ends, held, binary = await cluster.endpoints(settings)
    launcher = cluster.Launcher(settings, config, ends, foreground)
    planned = cluster_plan.plan(settings, config, ends, binary)
    try:
        await cluster.set_up_database(settings, ends)
        await _start_all(launcher, planned, settings)
    except cluster.StartFailed as error:
        errors.print(f"[red]{error}[/red]")
        errors.print("stopping what was started")
        _stop(launcher.record, settings, ask_nats=False)
        return False
    except asyncio.CancelledError:  # Ctrl-C while starting: nothing half-started is left
        errors.print("interrupted: stopping what was started")
        _stop(launcher.record, settings, ask_nats=False)
        raise
    except BaseException:  # anything else (a bug): no process is left running untold
        errors.print("failed: stopping what was started")
        _stop(launcher.record, settings, ask_nats=False)
        raise
    finally:
        for sock in held:
            sock.close()  # the gateways and market data hold the ports now
    launcher.ready()
    _print_started(launcher.record, planned)
    if foreground:
        from tradingfloor.bootstrap.roles import stop_on_signals
        from tradingfloor.gateway import logs

        logs.configure()  # each exit and restart, as serve logs them

        console.print("supervising them: Ctrl-C stops them all")
        await launcher.supervise(stop_on_signals(), settings.cluster_stop_wait_s)
    return True


async def _start_all(launcher: "Launcher", planned: "list[Planned]", settings: "Settings") -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
    )

    from tradingfloor.bootstrap import cluster, cluster_plan

    deadline = time.monotonic() + settings.cluster_ready_wait_s
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn())
    with Progress(*columns, MofNCompleteColumn(), console=errors, transient=False) as progress:
        for roles in cluster_plan.START_STAGES:
            stage = [p for p in planned if p.role in roles]
            if not stage:
                continue
            names = ", ".join(sorted({p.role for p in stage}))
            task = progress.add_task(f"starting {names}", total=len(stage))
            for process in stage:
                await launcher.start(process)

            def tick(task: TaskID = task) -> None:
                progress.advance(task)

            await launcher.until_ready(stage, deadline, tick)
            progress.update(task, description=f"ready: {names}")
        task = progress.add_task("the gateways answer /readyz", total=1)
        await cluster.gateways_answer(launcher.record, deadline)
        progress.advance(task)


def _print_started(record: "Record", planned: "list[Planned]") -> None:
    # One line per process, never wrapped: a script or an operator copies the paths whole.
    width = max(len(process.name) for process in record.processes)
    for process in record.processes:
        line = f"started {process.name:<{width}}  pid {process.pid:<8} log {process.log}"
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"HTTP: {record.http_url} (docs: /docs)", highlight=False, soft_wrap=True)
    console.print(f"market data: {record.marketdata_url}", highlight=False, soft_wrap=True)
    console.print(f"NATS: {record.nats_url}", highlight=False, soft_wrap=True)
    console.print(
        f"status: tradingfloor cluster status --config {record.config}; "
        f"stop: tradingfloor cluster down --config {record.config}",
        highlight=False,
        soft_wrap=True,
    )


@cluster_app.command()
def status(
    config: ConfigOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="The same as JSON.")] = False,
) -> None:
    """One row per process: role, shard, pid, alive, ready, state, leader, seq, lag; exit 0
    when every one is up."""
    from tradingfloor.bootstrap import cluster_plan, cluster_status

    settings, record = _recorded(config)
    if record is None:
        where = cluster_plan.record_path(settings)
        if json_output:
            print('{"up": false, "processes": []}')
        else:
            console.print(f"no cluster is running here (no {where})", highlight=False)
        raise typer.Exit(1)
    rows = asyncio.run(cluster_status.collect(record, settings))
    if json_output:
        print(cluster_status.as_json(record, rows), flush=True)
    else:
        console.print(cluster_status.table(record, rows))
    if not cluster_status.all_up(record, rows):
        raise typer.Exit(1)


@cluster_app.command()
def down(config: ConfigOption = None) -> None:
    """Stop every process in order (gateways first, NATS last): SIGTERM, then SIGKILL what
    has not stopped in cluster_stop_wait_s."""
    from tradingfloor.bootstrap import cluster_plan

    settings, record = _recorded(config)
    path = cluster_plan.record_path(settings)
    if record is None:
        console.print(f"no cluster is running here (no {path})", highlight=False)
        return
    survivors = _stop(record, settings)
    if survivors:
        errors.print(f"[red]still running: {', '.join(survivors)}[/red]")
        raise typer.Exit(1)
    console.print("stopped", highlight=False)


def _stop(record: "Record", settings: "Settings", ask_nats: bool = True) -> list[str]:
    """Stop what `record` names (the primaries last, as NATS tells them if `ask_nats`);
    remove it once nothing is left; the names of any survivors."""
    from tradingfloor.bootstrap import cluster_down, cluster_plan, cluster_record

    primaries = None
    if ask_nats and _has_standbys(record):
        primaries = asyncio.run(_primaries(record, settings))
    survivors = cluster_down.stop_recorded(
        record, settings.cluster_stop_wait_s, lambda text: console.print(text, highlight=False),
        primaries,
    )  # fmt: skip
    if not survivors:
        cluster_record.remove(cluster_plan.record_path(settings))
    return [process.name for process in survivors]


def _has_standbys(record: "Record") -> bool:
    return any(process.role == "standby" for process in record.processes)


async def _primaries(record: "Record", settings: "Settings") -> set[str] | None:
    """The shard processes whose state in NATS is primary; None when NATS does not tell."""
    from tradingfloor.bootstrap import cluster_status

    rows = await cluster_status.collect(record, settings)
    states = {row.name: row.state for row in rows if row.role in ("shard", "standby")}
    if not any(state == "primary" for state in states.values()):
        return None
    return {name for name, state in states.items() if state == "primary"}


def _recorded(config: Path | None) -> "tuple[Settings, Record | None]":
    """The settings and the cluster's record; without `config`, the record of the default
    data directory, read with the settings file its cluster was started from."""
    from tradingfloor.bootstrap import cluster_plan, cluster_record

    settings = _settings(config)
    record = cluster_record.read(cluster_plan.record_path(settings))
    if config is None and record is not None and Path(record.config).is_file():
        settings = _settings(Path(record.config))
    return settings, record


def _settings(config: Path | None) -> "Settings":
    """The settings, or exit 2 saying why they cannot be used."""
    from pydantic import ValidationError

    from tradingfloor.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except (ConfigError, ValidationError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
