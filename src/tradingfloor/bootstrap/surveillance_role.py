"""The surveillance role's wiring: `tradingfloor surveillance` (the role in the foreground,
on the transport the settings name), a process of serve's supervisor
(`python -m tradingfloor.bootstrap.surveillance_role`), and the role inside the process of
`serve --single-process`. With `surveillance_enabled` false, none of them runs.

The role holds a port to every shard (`shards` on NATS; the local shard's socket with the
local transport) and the database of the read models, where it keeps its alerts and its
place in each feed. Beneficial owners are the accounts' users (identity's users table) under
`surveillance_owners`, read at the start; the calendar is the engine's (its close times).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import Engine

from tradingfloor.bootstrap.engine_settings import risk_settings
from tradingfloor.compliance.surveillance import Owners, Surveillance, SurveillanceSettings
from tradingfloor.compliance.surveillance.role import SurveillanceRole
from tradingfloor.config import ConfigError, Settings
from tradingfloor.service.ports import ShardPort


def check_surveillance_settings(settings: Settings) -> None:
    """Refuse what the role cannot run with (`ConfigError`, saying what to set)."""
    if not settings.surveillance_enabled:
        raise ConfigError("surveillance_enabled is false: market surveillance is off")


def owners(settings: Settings, store: Engine) -> Owners:
    """Each account's user from the users table, under the owners the settings name."""
    from tradingfloor.store.surveillance_queries import account_users

    with store.connect() as connection:
        found = account_users(connection)
    found.update(settings.surveillance_owners)
    return Owners(found)


async def make_role(
    settings: Settings, shards: Mapping[str, ShardPort], store: Engine
) -> SurveillanceRole:
    from tradingfloor.risk.calendar import calendar_for

    calendar = calendar_for(risk_settings(settings).calendar)
    known = await asyncio.to_thread(owners, settings, store)
    return SurveillanceRole(shards, store, Surveillance(SurveillanceSettings(), known, calendar))


def _shard_ports(transport: Any, settings: Settings) -> dict[str, ShardPort]:
    from tradingfloor.bootstrap.transport import NatsTransport

    if isinstance(transport, NatsTransport):
        return transport.shard_ports()
    return {settings.shard_name: transport.own_shard_port()}


async def run_surveillance(settings: Settings) -> None:
    """The role until SIGINT or SIGTERM (or a failure to store its alerts, which stops it:
    skipping a batch would leave a gap)."""
    from tradingfloor.bootstrap.roles import _ready, _transport, stop_on_signals
    from tradingfloor.store.database import make_engine, upgrade

    stop = stop_on_signals()
    await asyncio.to_thread(upgrade, settings.database_url)
    transport = await _transport(settings, "surveillance", stop)
    if transport is None:
        return
    store = make_engine(settings.database_url)
    role = await make_role(settings, _shard_ports(transport, settings), store)
    try:
        await role.start()
        _ready(settings, "surveillance")
        failed = asyncio.create_task(role.failed())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait((failed, stopped), return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if failed.done():
            raise failed.result()
        failed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await failed
    finally:
        await role.stop()
        await transport.close()
        store.dispose()


async def start_in_process(settings: Settings, shard: ShardPort) -> Callable[[], Awaitable[None]]:
    """`serve --single-process`: the role on the in-process shard, in tasks of this process;
    returns what stops it. Nothing when surveillance is not enabled."""
    from tradingfloor.store.database import make_engine

    if not settings.surveillance_enabled:

        async def nothing() -> None:
            return None

        return nothing
    store = make_engine(settings.database_url)
    role = await make_role(settings, {settings.shard_name: shard}, store)
    await role.start()

    async def stopper() -> None:
        await role.stop()
        store.dispose()

    return stopper


def main(argv: list[str]) -> int:
    """`python -m tradingfloor.bootstrap.surveillance_role`: the role as a process of serve's
    supervisor (its settings from the environment, as the other roles', `bootstrap.roles`)."""
    from tradingfloor.bootstrap import roles
    from tradingfloor.gateway import logs

    if len(argv) != 1:
        print("usage: surveillance_role")
        return 2
    logs.configure()
    roles._die_with_parent()
    asyncio.run(run_surveillance(roles._settings_from_environment()))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv))
