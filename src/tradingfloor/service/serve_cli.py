"""`tradingfloor serve`: the whole platform in one process, on the embedded default.

File journal, SQLite read models and credentials, in-memory rate limits: no server to install.
`--demo` lists symbols, funds accounts, creates known logins (printed at start) and runs a
simulated market of its own traders, so quotes and trades move from the first second.
"""

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()

DEMO_PASSWORD = "demo-password"
DEMO_USERS = (
    ("admin", "admin", "demo-admin"),
    ("alice", "trader", "demo-alice"),
    ("bob", "trader", "demo-bob"),
)


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
) -> None:
    """Start the platform: REST /v1, OpenAPI docs at /docs, /metrics, until Ctrl-C."""
    from tradingfloor.config import ConfigError, load_settings

    overrides: dict[str, object] = {}
    for name, value in (("host", host), ("port", port), ("data_dir", data), ("fsync", fsync)):
        if value is not None:
            overrides[name] = value
    try:
        settings = load_settings(config, **overrides)
    except ConfigError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; Windows lacks it
        pass
    asyncio.run(_run(settings, demo, seed))


async def _run(settings: object, demo: bool, seed: int) -> None:
    from tradingfloor.config import Settings
    from tradingfloor.gateway.app import create_app
    from tradingfloor.gateway.server import build_server
    from tradingfloor.service.platform import Platform

    assert isinstance(settings, Settings)
    from tradingfloor.gateway import logs

    logs.configure()
    log = logging.getLogger("tradingfloor.serve")
    platform = Platform(settings)
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
    stop = asyncio.Event()
    market_task: asyncio.Task[None] | None = None
    if demo:
        market_task = await _start_demo(platform, stop, seed)
    else:
        await _first_admin(platform)
    server = build_server(create_app(platform), settings)  # our own signal handlers stop it
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if serving.done():
        await platform.stop()
        serving.result()
        raise typer.Exit(1)
    host, port = server.bound
    print(f"listening on http://{host}:{port} (docs: /docs)", flush=True)
    await stop.wait()
    server.should_exit = True
    await serving
    if market_task is not None:
        await market_task
    await platform.stop()
    log.info("stopped", extra={"seq": engine.last_seq})
    console.print(f"stopped at seq {engine.last_seq}")


async def _first_admin(platform: object) -> None:
    """A new platform has one admin, with a password printed once."""
    import secrets

    from tradingfloor.gateway.auth import AuthError
    from tradingfloor.service.platform import Platform

    assert isinstance(platform, Platform)
    if await asyncio.to_thread(platform.auth.has_users):
        return
    password = secrets.token_urlsafe(12)
    try:
        await asyncio.to_thread(platform.auth.create_user, "admin", password, "admin", "admin")
    except AuthError:
        return
    print(f"created user admin with password {password} (shown once)", flush=True)


async def _start_demo(platform: object, stop: asyncio.Event, seed: int) -> "asyncio.Task[None]":
    from tradingfloor.demo import DemoMarket, DemoSpec, is_set_up, setup_commands
    from tradingfloor.domain.commands import Command, OpenAccount
    from tradingfloor.domain.events import Event
    from tradingfloor.gateway.auth import AuthError, Scope
    from tradingfloor.service.platform import Platform

    assert isinstance(platform, Platform)
    spec = DemoSpec()
    if not is_set_up(platform.engine, spec):
        for command in setup_commands(spec):
            await platform.submit(command)
    lines = []
    for username, role, account in DEMO_USERS:
        if not platform.account_exists(account):
            await platform.submit(OpenAccount(account))
        try:
            user = await asyncio.to_thread(
                platform.auth.create_user, username, DEMO_PASSWORD, role, account
            )
        except AuthError:
            user = await asyncio.to_thread(platform.auth.user_by_name, username)
        scopes = [Scope.READ, Scope.TRADE] + ([Scope.ADMIN] if role == "admin" else [])
        key = await asyncio.to_thread(platform.auth.create_api_key, user.id, scopes, "demo")
        lines.append(
            f"  {username:<6} password {DEMO_PASSWORD}  account {account:<11} "
            f"API key {key.key_id} secret {key.secret}"
        )
    print("demo logins (the API key counts as the second factor):", flush=True)
    print("\n".join(lines), flush=True)

    async def submit(command: Command) -> list[Event]:
        return (await platform.submit(command)).events

    from tradingfloor.service.sequencer import Overloaded

    market = DemoMarket(spec, submit, platform.engine, seed=seed, retry_on=(Overloaded,))
    return asyncio.create_task(market.run(stop))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(typer.run(serve))  # type: ignore[func-returns-value]
