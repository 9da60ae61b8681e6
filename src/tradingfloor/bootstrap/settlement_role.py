"""The settlement role's wiring: `tradingfloor settlement` (the role in the foreground, on
the transport the settings name), `tradingfloor settle --date D` (one end of day by hand
against a running platform), and the role inside `serve`.

The role holds a port to every shard (`shards` on NATS; the local shard's socket with the
local transport) and a client of the clearinghouse at `clearinghouse_host` (None: the
simulator serve runs on 127.0.0.1) : `clearinghouse_port`, as participant
`clearing_participant`. Calendar and T+N are the engine's: the shards' `RiskConfigured`
events on the feed say which N (the default calendar is the engine's default).
"""

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from tradingfloor.config import ConfigError, Settings
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.domain.shards import ShardMap
from tradingfloor.service.ports import ShardPort
from tradingfloor.settlement.day_report import ClearingPort, DayReport
from tradingfloor.settlement.records import CASH_SYMBOL
from tradingfloor.settlement.role import SettlementRole

CLEARINGHOUSE_HOST_DEFAULT = "127.0.0.1"


def check_settlement_settings(settings: Settings) -> None:
    """Refuse what the role cannot run with (`ConfigError`, saying what to set)."""
    if not settings.settlement_enabled:
        raise ConfigError(
            "settlement_enabled is false: the end of day is run by hand "
            "(tradingfloor settle --date D)"
        )


def clearing_client(settings: Settings) -> ClearingPort:
    """A client of the clearinghouse the settings name."""
    from tradingfloor.settlement.clearing_client import ClearingClient

    host = settings.clearinghouse_host or CLEARINGHOUSE_HOST_DEFAULT
    return ClearingClient(host, settings.clearinghouse_port, settings.clearing_participant)


def break_route(settings: Settings) -> Callable[[str, str], str]:
    """The shard a break is recorded on: its symbol's, and the first shard's for cash."""
    shard_map = ShardMap.of_settings(settings)

    def route(account: str, symbol: str) -> str:
        if symbol == CASH_SYMBOL:
            return shard_map.names[0]
        return shard_map.shard_of_symbol(symbol)

    return route


def make_role(
    settings: Settings,
    shards: Mapping[str, ShardPort],
    clearing: ClearingPort | None = None,
    clock: Callable[[], int] = time.time_ns,
) -> SettlementRole:
    from tradingfloor.risk.calendar import calendar_for

    risk = RiskSettings()
    return SettlementRole(
        shards,
        clearing if clearing is not None else clearing_client(settings),
        calendar_for(risk.calendar),
        clock,
        settlement_sessions=risk.settlement_sessions,
        route=break_route(settings),
    )


def _shard_ports(transport: Any, settings: Settings) -> dict[str, ShardPort]:
    from tradingfloor.bootstrap.transport import NatsTransport

    if isinstance(transport, NatsTransport):
        return transport.shard_ports()
    return {settings.shard_name: transport.own_shard_port()}


async def run_settlement(settings: Settings) -> None:
    """The role until SIGINT or SIGTERM: every session's end of day at its close."""
    from tradingfloor.bootstrap.roles import _ready, _transport, _until_stopped, stop_on_signals

    stop = stop_on_signals()
    transport = await _transport(settings, "settlement", stop)
    if transport is None:
        return
    role = make_role(settings, _shard_ports(transport, settings))
    await _until_stopped(stop, role.start())  # the shards may not answer yet
    if not stop.is_set():
        _ready(settings, "settlement")
        driving = asyncio.create_task(role.drive())
        await asyncio.wait(
            (driving, asyncio.create_task(stop.wait())), return_when=asyncio.FIRST_COMPLETED
        )
        driving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await driving
    await role.stop()
    await transport.close()


async def settle_by_hand(settings: Settings, date: str, wait_s: float) -> DayReport:
    """`date`'s end of day against the running platform; a shard or the clearinghouse that
    does not answer within `wait_s` is an error (`SettlementUnavailable`)."""
    from tradingfloor.bootstrap.transport import make_transport

    transport = make_transport(settings, "settle")
    await asyncio.wait_for(transport.start(), wait_s)
    role = make_role(settings, _shard_ports(transport, settings))
    role.deadline_s = wait_s
    try:
        await role.start()
        return await role.run_day(date)
    finally:
        await role.stop()
        await transport.close()


async def start_in_process(settings: Settings, shard: ShardPort) -> SettlementRole | None:
    """`serve --single-process`: the role on the in-process shard, driving in a task of its
    own (`role.stop()` ends it); None when settlement is not enabled."""
    if not settings.settlement_enabled:
        return None
    role = make_role(settings, {settings.shard_name: shard})
    await role.start()
    role.drive_in_background()
    return role
