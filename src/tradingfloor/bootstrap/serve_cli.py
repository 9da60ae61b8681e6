"""`tradingfloor serve`: the platform on its embedded default, as processes or in one.

File journal, SQLite read models and credentials, in-memory rate limits: no server to install.
By default the roles run as processes of their own under `serve` (a shard, a projector and
`--workers` gateway workers on one port: `bootstrap.processes`); `--single-process` runs them
all in this one (`bootstrap.platform`). `--demo` lists symbols, funds accounts, creates known
logins (printed at start) and runs a simulated market of its own traders, so quotes and trades
move from the first second. `--replay lobster` plays a recorded NASDAQ day (LOBSTER files) as
the live market instead (`bootstrap.replay_role`), with the same demo logins.
"""

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from tradingfloor.bootstrap.roles import stop_on_signals

if TYPE_CHECKING:
    from tradingfloor.bootstrap.replay_role import ReplaySource
    from tradingfloor.config import Settings

console = Console()


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (8000; 0: any free port).")] = None,
    data: Annotated[Path | None, typer.Option(help="Data directory (./data).")] = None,
    config: Annotated[
        Path | None, typer.Option(help="A TOML settings file (TRADINGFLOOR_* variables win).")
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="Symbols, funded demo logins and a simulated market.")
    ] = False,
    fsync: Annotated[bool | None, typer.Option(help="fsync the journal per batch.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated market.")] = 1,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Gateway worker processes (default: one per core)."),
    ] = None,
    single_process: Annotated[
        bool, typer.Option("--single-process", help="Every role in this one process.")
    ] = False,
    marketdata_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Also serve the market-data WebSockets straight from the market-data role on "
            "this port (0: any free one), besides through the gateways.",
        ),
    ] = None,
    replay: Annotated[
        str | None,
        typer.Option(
            help="Play a recorded day as the live market: `lobster` (with --messages and "
            "--orderbook); demo logins as with --demo."
        ),
    ] = None,
    messages: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, readable=True, help="LOBSTER message file."),
    ] = None,
    orderbook: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, readable=True, help="LOBSTER orderbook file."),
    ] = None,
    speed: Annotated[
        str,
        typer.Option(help="Replay pace: times the recorded pace (1: real time), or max (or 0)."),
    ] = "1",
    limit: Annotated[
        int | None,
        typer.Option(min=0, help="Replay only the first N messages (default: the whole day)."),
    ] = None,
) -> None:
    """Start the platform: REST /v1 and /v2, WebSockets, OpenAPI docs at /docs, /metrics,
    until Ctrl-C."""
    from tradingfloor.config import ConfigError, load_settings

    overrides: dict[str, Any] = {}
    given = (("host", host), ("port", port), ("data_dir", data), ("fsync", fsync))
    for name, value in (*given, ("serve_marketdata_port", marketdata_port)):
        if value is not None:
            overrides[name] = value
    source = _replay_source(replay, messages, orderbook, speed, limit, demo)
    if source is not None:
        overrides["market_always_open"] = True
    try:
        settings = load_settings(config, **overrides)
        if demo and demo_session(settings):
            overrides.update(demo_session(settings))
            settings = load_settings(config, **overrides)
    except ConfigError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    if settings.transport != "local":
        console.print(
            "[red]serve runs the roles on this machine (transport = local); with transport = "
            "nats run tradingfloor shard, projector and gateway, each with --config[/red]"
        )
        raise typer.Exit(2)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; Windows lacks it
        pass
    from tradingfloor.gateway import logs

    logs.configure()
    if single_process:
        if settings.serve_marketdata_port is not None:
            console.print(
                "[red]--marketdata-port needs the roles as processes: in one process the "
                "market-data WebSockets are on the HTTP port[/red]"
            )
            raise typer.Exit(2)
        asyncio.run(_run_one(settings, demo, seed, source))
        return
    from tradingfloor.bootstrap.processes import Supervisor, default_workers

    overrides["data_dir"] = str(Path(settings.data_dir).resolve())
    supervisor = Supervisor(
        settings,
        config,
        overrides,
        workers or default_workers(),
        demo=demo,
        seed=seed,
        replay=source,
    )
    try:
        asyncio.run(_supervise(supervisor))
    except RuntimeError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error


def demo_session(settings: "Settings") -> dict[str, Any]:
    """The demo's market trades at any hour and in fractions: unless the configuration says
    otherwise, it runs `market_always_open` (its clock says the market is open) and its
    funded fractional desk takes the fractions."""
    found: dict[str, Any] = {}
    if "market_always_open" not in settings.model_fields_set:
        found["market_always_open"] = True
    if "fractional_desk_account" not in settings.model_fields_set:
        from tradingfloor.demo.spec import DemoSpec

        found["fractional_desk_account"] = DemoSpec().desk_account
    return found


async def _supervise(supervisor: Any) -> None:
    await supervisor.run(stop_on_signals())


def _replay_source(
    replay: str | None,
    messages: Path | None,
    orderbook: Path | None,
    speed: str,
    limit: int | None,
    demo: bool,
) -> "ReplaySource | None":
    """What `--replay` plays, its files read once here so that a mistake stops serve before
    anything starts (exit 2, the reason printed); None without `--replay`."""
    from tradingfloor.bootstrap.replay_role import ReplaySource, parse_speed

    if replay is None:
        if messages or orderbook or limit is not None:
            _refuse("--messages, --orderbook and --limit go with --replay lobster")
        return None
    if replay != "lobster":
        _refuse(f"--replay knows lobster, not {replay!r}")
    if demo:
        _refuse("--replay and --demo are two markets: choose one")
    if messages is None or orderbook is None:
        _refuse("--replay lobster needs --messages and --orderbook")
    try:
        from tradingfloor.replay.live import read_day

        read_day(messages, orderbook)
        source = ReplaySource(messages.resolve(), orderbook.resolve(), parse_speed(speed), limit)
    except ValueError as error:
        _refuse(str(error))
    return source


def _refuse(reason: str) -> NoReturn:
    console.print(f"[red]{reason}[/red]", highlight=False)
    raise typer.Exit(2)


async def _run_one(
    settings: Any, demo: bool, seed: int, replay: "ReplaySource | None" = None
) -> None:
    from tradingfloor.bootstrap.engine_settings import risk_settings
    from tradingfloor.bootstrap.platform import Platform
    from tradingfloor.bootstrap.setup import demo_logins, first_admin, start_demo_market
    from tradingfloor.gateway.app import create_app
    from tradingfloor.gateway.server import build_server

    log = logging.getLogger("tradingfloor.serve")
    platform = Platform(settings, risk_settings(settings))
    await platform.start()
    engine = platform.engine
    log.info(
        "started",
        extra={"seq": engine.last_seq, "state_hash": engine.state_hash(), "demo": demo},
    )
    console.print(
        f"recovered to seq {engine.last_seq}; state {engine.state_hash()[:16]}; "
        f"data in {Path(settings.data_dir).resolve()}"
    )
    stop_roles = await _roles_in_process(settings, platform.shard)
    stop = stop_on_signals()
    market_task: asyncio.Task[None] | None = None
    if demo:
        market_task = await start_demo_market(platform.shard, stop, seed)
        await demo_logins(platform.shard, platform.auth, Path(settings.data_dir))
    elif replay is not None:
        from tradingfloor.bootstrap.replay_role import start_replay_market

        _market, market_task = await start_replay_market(platform.shard, stop, replay)
        await demo_logins(platform.shard, platform.auth, Path(settings.data_dir))
    else:
        await first_admin(platform.auth)
    server = build_server(create_app(platform.backend), settings)  # our signal handlers stop it
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if serving.done():
        await stop_roles()
        await platform.stop()
        serving.result()
        raise typer.Exit(1)
    bound_host, bound_port = server.bound
    print(f"listening on http://{bound_host}:{bound_port} (docs: /docs)", flush=True)
    await stop.wait()
    server.should_exit = True
    await serving
    if market_task is not None:
        await market_task
    await stop_roles()
    await platform.stop()
    log.info("stopped", extra={"seq": engine.last_seq})
    console.print(f"stopped at seq {engine.last_seq}")


async def _roles_in_process(settings: "Settings", shard: Any) -> Callable[[], Awaitable[None]]:
    """The roles that follow the feed (settlement, audit, surveillance, reporting, the
    fractional desk), as tasks
    of this process; returns what stops them all (in the reverse order)."""
    from tradingfloor.bootstrap import (
        audit_role,
        desk_role,
        reporting_role,
        settlement_role,
        surveillance_role,
    )

    stoppers = []
    for role in (settlement_role, audit_role, surveillance_role, reporting_role, desk_role):
        stoppers.append(await role.start_in_process(settings, shard))

    async def stop_all() -> None:
        for stopper in reversed(stoppers):
            await stopper()

    return stop_all


if __name__ == "__main__":  # pragma: no cover
    sys.exit(typer.run(serve))  # type: ignore[func-returns-value]
