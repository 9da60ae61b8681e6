"""The settlement role's wiring: `tradingfloor settlement` (the role in the foreground, on
the transport the settings name), `tradingfloor settle --date D` (one end of day by hand
against a running platform), and the role inside `serve`: a process of its own under serve's
supervisor (`python -m tradingfloor.bootstrap.settlement_role settlement`), next to the
clearinghouse simulator (`... clearinghouse`: its store under `data_dir/clearinghouse`, on
127.0.0.1:clearinghouse_port) unless `clearinghouse_host` names an external one; in
`serve --single-process`, both in that process.

The role holds a port to every shard (`shards` on NATS; the local shard's socket with the
local transport) and a client of the clearinghouse at `clearinghouse_host` (None: the
simulator serve runs on 127.0.0.1) : `clearinghouse_port`, as participant
`clearing_participant`. Calendar and T+N are the engine's: the shards' `RiskConfigured`
events on the feed say which N (the default calendar is the engine's default).
"""

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from tradingfloor.bootstrap.engine_settings import risk_settings
from tradingfloor.config import ConfigError, Settings
from tradingfloor.domain.shards import ShardMap
from tradingfloor.service.ports import EventBatch, ShardPort
from tradingfloor.service.shard_router import break_shard, learn_moves
from tradingfloor.settlement.day_report import ClearingPort, DayReport
from tradingfloor.settlement.records import (
    ClearingTrade,
    Confirmation,
    Fail,
    Holding,
    Instruction,
    Movement,
)
from tradingfloor.settlement.role import SettlementRole

CLEARINGHOUSE_HOST_DEFAULT = "127.0.0.1"
log = logging.getLogger("tradingfloor.settlement")


def check_settlement_settings(settings: Settings) -> None:
    """Refuse what the role cannot run with (`ConfigError`, saying what to set)."""
    if not settings.settlement_enabled:
        raise ConfigError(
            "settlement_enabled is false: the end of day is run by hand "
            "(tradingfloor settle --date D)"
        )


def clearing_client(settings: Settings) -> ClearingPort:
    """A client of the clearinghouse the settings name: `clearinghouse_host`, else the
    simulator serve runs (at the port its ready mark holds: with `clearinghouse_port = 0` it
    listens where it could)."""
    from tradingfloor.settlement.clearing_client import ClearingClient

    if settings.clearinghouse_host is not None:
        return ClearingClient(
            settings.clearinghouse_host, settings.clearinghouse_port, settings.clearing_participant
        )
    return EmbeddedClearing(settings)


class EmbeddedClearing:
    """The client of serve's own clearinghouse, found at each call (it may restart, on
    another port when its port is 0); one client per port, so its late confirmations keep."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[int, Any] = {}

    def _client(self) -> Any:
        from tradingfloor.settlement.clearing_client import ClearingClient, ClearingUnavailable

        port = embedded_clearinghouse_port(self.settings)
        if port is None:
            raise ClearingUnavailable("the clearinghouse has not started yet")
        if port not in self._clients:
            host, participant = CLEARINGHOUSE_HOST_DEFAULT, self.settings.clearing_participant
            self._clients[port] = ClearingClient(host, port, participant)
        return self._clients[port]

    async def submit_trades(
        self, date: str, batch_id: str, trades: list[ClearingTrade]
    ) -> list[Confirmation]:
        answer: list[Confirmation] = await self._client().submit_trades(date, batch_id, trades)
        return answer

    async def submit_movements(self, date: str, batch_id: str, movements: list[Movement]) -> int:
        taken: int = await self._client().submit_movements(date, batch_id, movements)
        return taken

    async def confirmations(self, trade_date: str) -> list[Confirmation]:
        answer: list[Confirmation] = await self._client().confirmations(trade_date)
        return answer

    async def settle(self, settle_date: str) -> tuple[list[Instruction], list[Fail]]:
        answer: tuple[list[Instruction], list[Fail]] = await self._client().settle(settle_date)
        return answer

    async def holdings(self, as_of: str) -> list[Holding]:
        answer: list[Holding] = await self._client().holdings(as_of)
        return answer


def clearinghouse_mark(settings: Settings) -> Path:
    """The embedded clearinghouse's ready mark: it holds the port it listens on."""
    from tradingfloor.bootstrap.run_paths import ready_mark

    return ready_mark(settings, "clearinghouse")


def embedded_clearinghouse_port(settings: Settings) -> int | None:
    """The port serve's clearinghouse listens on (its mark), else the setting when it names
    one; None while not known."""
    try:
        return int(clearinghouse_mark(settings).read_text().strip())
    except (OSError, ValueError):
        return settings.clearinghouse_port or None


def break_route(
    settings: Settings,
) -> tuple[Callable[[str, str], str], Callable[[EventBatch], None]]:
    """The shard a break is recorded on (its symbol's now, the first shard's for cash), and
    the feed listener that keeps up with symbols moved or renamed since the map was written."""
    shard_map = ShardMap.of_settings(settings)
    moved: dict[str, str] = {}

    def route(account: str, symbol: str) -> str:
        return break_shard(shard_map, symbol, moved)

    def learn(batch: EventBatch) -> None:
        learn_moves(shard_map, moved, batch)

    return route, learn


def make_role(
    settings: Settings,
    shards: Mapping[str, ShardPort],
    clearing: ClearingPort | None = None,
    clock: Callable[[], int] = time.time_ns,
) -> SettlementRole:
    from tradingfloor.risk.calendar import calendar_for

    risk = risk_settings(settings)
    route, learn = break_route(settings)
    return SettlementRole(
        shards,
        clearing if clearing is not None else clearing_client(settings),
        calendar_for(risk.calendar),
        clock,
        settlement_sessions=risk.settlement_sessions,
        route=route,
        feed_listeners=[learn],
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
    from tradingfloor.risk.calendar import calendar_for
    from tradingfloor.settlement.role import DayRefused

    try:
        calendar_for(risk_settings(settings).calendar).session_of_date(date)
    except ValueError as error:  # before reaching anything
        raise DayRefused(str(error)) from error
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


async def start_in_process(settings: Settings, shard: ShardPort) -> Callable[[], Awaitable[None]]:
    """`serve --single-process`: the clearinghouse simulator (unless an external one is
    named) and the role on the in-process shard, driving in tasks of this process; returns
    what stops them. Nothing when settlement is not enabled."""
    stop = asyncio.Event()
    if not settings.settlement_enabled:

        async def nothing() -> None:
            return None

        return nothing
    serving = None
    if embedded_clearinghouse(settings):
        serving = asyncio.create_task(_clearinghouse_logged(settings, stop))
    role = make_role(settings, {settings.shard_name: shard})
    await role.start()
    role.drive_in_background()

    async def stopper() -> None:
        await role.stop()
        stop.set()
        if serving is not None:
            await serving

    return stopper


async def _clearinghouse_logged(settings: Settings, stop: asyncio.Event) -> None:
    try:
        await run_clearinghouse_role(settings, stop)
    except OSError as error:  # the port is taken: the role waits for it, and says so
        log.error("the clearinghouse cannot listen on %d: %s", settings.clearinghouse_port, error)


def embedded_clearinghouse(settings: Settings) -> bool:
    """Whether serve runs the clearinghouse simulator itself (no external one named)."""
    return settings.settlement_enabled and settings.clearinghouse_host is None


async def run_clearinghouse_role(settings: Settings, stop: asyncio.Event) -> None:
    """The simulator serve runs, until `stop`: on 127.0.0.1:clearinghouse_port (0: a free
    one), answering `clearing_participant` only, its store under data_dir/clearinghouse. Once
    it listens, its ready mark holds its port."""
    from tradingfloor.settlement.clearinghouse.command import run_clearinghouse

    mark = clearinghouse_mark(settings)
    mark.unlink(missing_ok=True)

    def ready(host: str, port: int) -> None:
        mark.parent.mkdir(parents=True, exist_ok=True)
        written = mark.with_suffix(".tmp")
        written.write_text(f"{port}\n")
        os.chmod(written, 0o600)
        written.replace(mark)

    await run_clearinghouse(
        Path(settings.data_dir) / "clearinghouse",
        CLEARINGHOUSE_HOST_DEFAULT,
        settings.clearinghouse_port,
        settings.clearing_participant,
        on_ready=ready,
        stop=stop,
    )


def main(argv: list[str]) -> int:
    """`python -m tradingfloor.bootstrap.settlement_role settlement|clearinghouse`: one of
    the two as a process of serve's supervisor (its settings from the environment, as the
    other roles', `bootstrap.roles`)."""
    from tradingfloor.bootstrap import roles
    from tradingfloor.gateway import logs

    if len(argv) != 2 or argv[1] not in ("settlement", "clearinghouse"):
        print("usage: settlement_role settlement | clearinghouse")
        return 2
    logs.configure()
    roles._die_with_parent()
    settings = roles._settings_from_environment()
    if argv[1] == "settlement":
        asyncio.run(run_settlement(settings))
        return 0

    async def clearinghouse() -> None:
        await run_clearinghouse_role(settings, roles.stop_on_signals())

    asyncio.run(clearinghouse())
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv))
