"""`tradingfloor shard|projector|marketdata|gateway|settlement|surveillance|desk --config
FILE`: one role, in the foreground (and `tradingfloor settle --date D`: one end of day by
hand).

Distributed mode: each role is a process of its own, on any machine, started by whatever runs
services there (systemd, a container); with `transport = "nats"` they find each other through
NATS. Each runs until SIGINT or SIGTERM, then stops cleanly (the shard snapshots).

- `shard`: recovers from its journal (files under `data_dir/node`, or the JetStream stream
  with `journal = "jetstream"`), then answers commands and questions and publishes its events.
- `projector`: migrates the database, then follows the events into the read models and tells
  its status.
- `marketdata`: follows the events into the market-data hub (quotes, depth, trades, bars; the
  Redis cache with `redis_url`) and serves the market-data WebSockets on
  host:marketdata_port, several of them sharing it (SO_REUSEPORT).
- `settlement`: follows every shard's events and runs each session's end of day at its close
  against the clearinghouse (`bootstrap.settlement_role`); `settle --date D` runs one by hand.
- `surveillance`: follows every shard's events through the market-surveillance detectors and
  keeps their alerts for review in SQL (`bootstrap.surveillance_role`).
- `desk`: follows every shard's events and squares the fractional desk's inventory on the
  book after its fills (`bootstrap.desk_role`).
- `gateway`: migrates the database (migrations take a lock: gateways may start together),
  makes the first admin of a platform without users (its password printed once), then serves
  HTTP and WebSocket on host:port, which several gateways may share (SO_REUSEPORT: the kernel
  spreads new connections over them). With `marketdata_url`, it forwards the market-data
  WebSockets to the `marketdata` role there; without, its own process serves them. Its REST
  market data (quotes, depth, trades, bars) follow the events in its own process.
"""

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradingfloor.config import Settings

console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option(help="A TOML settings file (TRADINGFLOOR_* variables win).")
]


def shard(config: ConfigOption = None) -> None:
    """Run the shard: journal, engine and event log of its symbols, the single writer."""
    settings = _prepare(_settings(config))
    from tradingfloor.bootstrap.roles import run_shard

    asyncio.run(run_shard(settings, demo=False, seed=1))


def projector(config: ConfigOption = None) -> None:
    """Run the projector: the shard's events into the read models (SQL)."""
    settings = _prepare(_settings(config))
    from tradingfloor.bootstrap.roles import run_projector

    async def run() -> None:
        await _migrated(settings)
        await run_projector(settings)

    asyncio.run(run())


def marketdata(config: ConfigOption = None) -> None:
    """Run the market-data role: the market-data WebSockets on host:marketdata_port."""
    settings = _prepare(_settings(config))
    from tradingfloor.bootstrap.roles import run_marketdata

    def ready(port: int) -> None:
        print(f"market data on ws://{settings.host}:{port}/v1/market-data", flush=True)

    async def run() -> None:
        await _migrated(settings)
        await run_marketdata(settings, local=False, on_ready=ready)

    asyncio.run(run())


def allocator(config: ConfigOption = None) -> None:
    """Run the cash allocator of a platform of several shards (moves of cash between them)."""
    from tradingfloor.bootstrap.allocator_role import check_allocator_settings, run_allocator

    settings = _checked(_settings(config), check_allocator_settings)
    asyncio.run(run_allocator(_prepare(settings)))


def settlement(config: ConfigOption = None) -> None:
    """Run the settlement role: each session's end of day at its close (close the day,
    clear its trades, settle T+N, reconcile with the clearinghouse into breaks)."""
    from tradingfloor.bootstrap.settlement_role import check_settlement_settings, run_settlement

    settings = _checked(_settings(config), check_settlement_settings)
    asyncio.run(run_settlement(_prepare(settings)))


def surveillance(config: ConfigOption = None) -> None:
    """Run market surveillance: every shard's feed through the detectors (wash trades,
    spoofing and layering, marking the close, order-entry abuse), alerts into the review
    queue (/v1/admin/alerts)."""
    from tradingfloor.bootstrap.surveillance_role import (
        check_surveillance_settings,
        run_surveillance,
    )

    settings = _checked(_settings(config), check_surveillance_settings)
    asyncio.run(run_surveillance(_prepare(settings)))


def desk(config: ConfigOption = None) -> None:
    """Run the fractional desk role: after the desk's fills of fractions, keep its whole
    shares of each symbol within its band with market orders on the book."""
    from tradingfloor.bootstrap.desk_role import check_desk_settings, run_desk

    settings = _checked(_settings(config), check_desk_settings)
    asyncio.run(run_desk(_prepare(settings)))


def reporting(config: ConfigOption = None) -> None:
    """Run the reporting role: a trade report of every execution and the CAT-style
    order-event file, under data_dir/reports (and the trade reports table)."""
    from tradingfloor.bootstrap.reporting_role import check_reporting_settings, run_reporting

    settings = _prepare(_checked(_settings(config), check_reporting_settings))

    async def run() -> None:
        await _migrated(settings)
        await run_reporting(settings)

    asyncio.run(run())


def settle(
    date: Annotated[str, typer.Option(help="The trade date (ISO, a session of the calendar).")],
    config: ConfigOption = None,
    wait_s: Annotated[
        float, typer.Option(min=0.1, help="How long a shard or the clearinghouse may not answer.")
    ] = 30.0,
) -> None:
    """Run the end of day of trade date DATE by hand against the running platform and print
    what it did and the breaks found (running it again changes nothing, and says so)."""
    from tradingfloor.bootstrap.settlement_role import settle_by_hand
    from tradingfloor.settlement.role import DayRefused, SettlementUnavailable

    settings = _settings(config)
    try:
        report = asyncio.run(settle_by_hand(settings, date, wait_s))
    except (DayRefused, SettlementUnavailable) as error:
        console.print(f"[red]{error}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from error
    for line in report.lines():
        print(line)


def gateway(config: ConfigOption = None) -> None:
    """Run one gateway: REST /v1 and /v2, WebSockets, /metrics, on host:port."""
    from tradingfloor.bootstrap.roles import run_gateway
    from tradingfloor.bootstrap.transport import check_gateway_settings

    settings = _checked(_settings(config), check_gateway_settings)
    if not settings.redis_url:  # local transport: only serve's supervisor holds a limiter
        console.print(
            "[red]tradingfloor gateway needs redis_url, whatever the transport: gateways run "
            "alone share their rate limits through Redis[/red]"
        )
        raise typer.Exit(2)
    _prepare(settings)
    if settings.transport == "nats" and settings.jwt_secret is None:
        console.print(
            "[yellow]no jwt_secret: sessions signed here are valid only at gateways that "
            f"share {Path(settings.data_dir).resolve()} (API keys work everywhere)[/yellow]"
        )

    def ready(port: int) -> None:
        print(f"listening on http://{settings.host}:{port}", flush=True)

    async def run() -> None:
        await _migrated(settings)
        await _first_admin(settings)
        await run_gateway(settings, 0, 1, on_ready=ready)

    asyncio.run(run())


def _settings(config: Path | None) -> "Settings":
    """The settings, or exit 2 saying why they cannot be used."""
    from pydantic import ValidationError

    from tradingfloor.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except (ConfigError, ValidationError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error


def _checked(settings: "Settings", check: "Callable[[Settings], None]") -> "Settings":
    """`settings` once `check` accepts them, or exit 2 saying why it does not."""
    from tradingfloor.config import ConfigError

    try:
        check(settings)
    except ConfigError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    return settings


def _prepare(settings: "Settings") -> "Settings":
    """The run directory (ready marks), uvloop and the logs of a role's process."""
    from tradingfloor.bootstrap.run_paths import run_dir

    run = run_dir(settings)
    run.mkdir(parents=True, exist_ok=True)
    os.chmod(run, 0o700)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; Windows lacks it
        pass
    from tradingfloor.gateway import logs

    logs.configure()
    return settings


async def _migrated(settings: "Settings") -> None:
    from tradingfloor.store.database import upgrade

    await asyncio.to_thread(upgrade, settings.database_url)


async def _first_admin(settings: "Settings") -> None:
    from tradingfloor.bootstrap.setup import first_admin
    from tradingfloor.identity import AuthService
    from tradingfloor.store.database import make_engine

    store = make_engine(settings.database_url)
    try:
        await first_admin(AuthService(store, settings))
    finally:
        store.dispose()
