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
    """A new platform has one admin, with a password and a second-factor enrolment token
    printed once."""
    import secrets

    from tradingfloor.identity import AuthError
    from tradingfloor.service.platform import Platform

    assert isinstance(platform, Platform)
    if await asyncio.to_thread(platform.auth.has_users):
        return
    password = secrets.token_urlsafe(12)
    try:
        user = await asyncio.to_thread(
            platform.auth.create_user, "admin", password, "admin", "admin"
        )
    except AuthError:
        return
    token, _ = await asyncio.to_thread(platform.auth.issue_enrollment, user.id)
    print(
        f"created user admin with password {password} and second-factor enrolment token "
        f"{token} (shown once: sign in, then POST /v1/auth/totp/enroll)",
        flush=True,
    )


async def _start_demo(platform: object, stop: asyncio.Event, seed: int) -> "asyncio.Task[None]":
    from tradingfloor.demo import DemoMarket, DemoSpec, is_set_up, setup_commands
    from tradingfloor.demo.logins import ensure_demo_logins
    from tradingfloor.domain.commands import Command, OpenAccount
    from tradingfloor.domain.events import Event
    from tradingfloor.service.platform import Platform

    assert isinstance(platform, Platform)
    spec = DemoSpec()
    if not is_set_up(platform.engine, spec):
        for command in setup_commands(spec):
            await platform.submit(command)
    for _username, _role, account in DEMO_USERS:
        if not platform.account_exists(account):
            await platform.submit(OpenAccount(account))
    logins = await asyncio.to_thread(
        ensure_demo_logins,
        platform.auth,
        Path(platform.settings.data_dir),
        DEMO_USERS,
        DEMO_PASSWORD,
        platform.clock() // 1_000_000_000,
    )
    print(
        "demo logins (sign in with the password, then a code of the TOTP secret; "
        "an API key needs no code):",
        flush=True,
    )
    for login in logins:
        print(
            f"  {login.username:<6} password {DEMO_PASSWORD}  account {login.account:<11} "
            f"API key {login.key_id} secret {login.key_secret}  TOTP secret {login.totp_secret}",
            flush=True,
        )
    print(
        """  a code now: python -c 'import pyotp; print(pyotp.TOTP("<TOTP secret>").now())'""",
        flush=True,
    )

    async def submit(command: Command) -> list[Event]:
        return (await platform.submit(command)).events

    from tradingfloor.service.sequencer import JournalUnavailable, Overloaded

    retry_on = (Overloaded, JournalUnavailable)  # a full queue, a full disk: both pass
    market = DemoMarket(spec, submit, platform.engine, seed=seed, retry_on=retry_on)
    return asyncio.create_task(market.run(stop))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(typer.run(serve))  # type: ignore[func-returns-value]
