"""The reporting role's wiring: `tradingfloor reporting` (the role in the foreground, on the
transport the settings name), the role inside `serve` as a process of its own under serve's
supervisor (`python -m tradingfloor.bootstrap.reporting_role`), and in
`serve --single-process` in that process. Off with `reporting_enabled = false`.

The role holds a port to every shard (`shards` on NATS; the local shard's socket with the
local transport), writes under `data_dir/reports/` and into the trade reports table of
`database_url`.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from tradingfloor.compliance.cat_events import CatEvents
from tradingfloor.compliance.reporting import ReportingRole, SqlReportSink
from tradingfloor.compliance.trade_reports import TradeReporter
from tradingfloor.config import ConfigError, Settings
from tradingfloor.service.ports import ShardPort

REPORTS_DIR_NAME = "reports"
log = logging.getLogger("tradingfloor.reporting")


def check_reporting_settings(settings: Settings) -> None:
    """Refuse what the role cannot run with (`ConfigError`, saying what to set)."""
    if not settings.reporting_enabled:
        raise ConfigError("reporting_enabled is false: trade reports and the CAT file are off")


def reports_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / REPORTS_DIR_NAME


def make_role(
    settings: Settings, shards: Mapping[str, ShardPort], sink: Any = None
) -> ReportingRole:
    """The role on these shards; `sink` None: the trade reports table of `database_url`."""
    from tradingfloor.bootstrap.engine_settings import risk_settings
    from tradingfloor.risk.calendar import calendar_for

    principal = settings.trade_report_principal_accounts
    reporter = TradeReporter(
        settings.reporter_imid,
        calendar_for(risk_settings(settings).calendar),
        settings.trade_report_late_ms,
        principal,
    )
    return ReportingRole(
        shards,
        reports_dir(settings),
        reporter,
        CatEvents(settings.reporter_imid, principal),
        sink if sink is not None else SqlReportSink(settings.database_url),
    )


def _shard_ports(transport: Any, settings: Settings) -> dict[str, ShardPort]:
    from tradingfloor.bootstrap.transport import NatsTransport

    if isinstance(transport, NatsTransport):
        return transport.shard_ports()
    return {settings.shard_name: transport.own_shard_port()}


async def run_reporting(settings: Settings) -> None:
    """The role until SIGINT or SIGTERM, or until writing fails (the error is raised: a
    report never skipped)."""
    from tradingfloor.bootstrap.roles import _ready, _transport, stop_on_signals

    stop = stop_on_signals()
    transport = await _transport(settings, "reporting", stop)
    if transport is None:
        return
    role = make_role(settings, _shard_ports(transport, settings))
    await role.start()
    _ready(settings, "reporting")
    failed = asyncio.create_task(role.wait_failure())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait((failed, stopped), return_when=asyncio.FIRST_COMPLETED)
    for task in (failed, stopped):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await role.stop()
    await transport.close()
    if role.failure is not None:
        raise role.failure


async def start_in_process(settings: Settings, shard: ShardPort) -> Callable[[], Awaitable[None]]:
    """`serve --single-process`: the role on the in-process shard, in a task of this
    process; returns what stops it. Nothing when reporting is not enabled."""

    async def nothing() -> None:
        return None

    if not settings.reporting_enabled:
        return nothing
    role = make_role(settings, {settings.shard_name: shard})
    await role.start()
    return role.stop


def main(argv: list[str]) -> int:
    """`python -m tradingfloor.bootstrap.reporting_role`: the role as a process of serve's
    supervisor (its settings from the environment, as the other roles')."""
    from tradingfloor.bootstrap import roles
    from tradingfloor.gateway import logs

    logs.configure()
    roles._die_with_parent()
    asyncio.run(run_reporting(roles._settings_from_environment()))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv))
