"""The audit role's wiring: `tradingfloor audit run` (the role in the foreground, on the
transport the settings name), the role inside `serve` (a process of its own under serve's
supervisor: `python -m tradingfloor.bootstrap.audit_role audit`; in `serve --single-process`,
a task of that process), and `tradingfloor audit verify`.

The trail is under `data_dir/audit` (`audit_dir`), its anchors in the read models' database
(`database_url`), and its access events are that database's `auth_events`.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from tradingfloor.compliance.audit_chain import AuditChain, Verdict, verify
from tradingfloor.compliance.audit_role import AuditRole
from tradingfloor.config import Settings
from tradingfloor.service.ports import ShardPort

log = logging.getLogger("tradingfloor.audit")


def audit_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "audit"


class SqlAccess:
    """`auth_events` of the settings' database."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def after(self, event_id: int, ts_before: int, limit: int) -> list[Mapping[str, Any]]:
        from tradingfloor.store.audit_tables import access_events_after

        return access_events_after(self.engine, event_id, ts_before, limit)


class SqlAnchors:
    """`audit_anchors` of the settings' database."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def write(self, n: int, head_hash: str, ts: int) -> None:
        from tradingfloor.store.audit_tables import write_anchor

        write_anchor(self.engine, n, head_hash, ts)


def make_role(settings: Settings, shards: Mapping[str, ShardPort], engine: Any) -> AuditRole:
    return AuditRole(
        shards,
        AuditChain(audit_dir(settings)),
        SqlAccess(engine),
        SqlAnchors(engine),
    )


def verify_trail(settings: Settings, directory: Path | None = None) -> Verdict:
    """Check the trail (of `directory`, else the settings') against its anchors."""
    from tradingfloor.store.audit_tables import read_anchors
    from tradingfloor.store.database import make_engine

    engine = make_engine(settings.database_url)
    try:
        anchors = read_anchors(engine)
    finally:
        engine.dispose()
    return verify(directory or audit_dir(settings), anchors)


async def run_audit(settings: Settings) -> None:
    """The role until SIGINT or SIGTERM (or a failure of the trail's disk: it exits 1)."""
    from tradingfloor.bootstrap.roles import _ready, _transport, _until_stopped, stop_on_signals
    from tradingfloor.bootstrap.settlement_role import _shard_ports
    from tradingfloor.store.database import make_engine, upgrade

    stop = stop_on_signals()
    transport = await _transport(settings, "audit", stop)
    if transport is None:
        return
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = make_engine(settings.database_url)
    role = make_role(settings, _shard_ports(transport, settings), engine)
    try:
        await _until_stopped(stop, role.start())
        if not stop.is_set():
            _ready(settings, "audit")
            waiting = (asyncio.create_task(stop.wait()), asyncio.create_task(role.done.wait()))
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await role.stop()
        await transport.close()
        engine.dispose()
    if role.failure is not None:
        raise SystemExit(f"the audit trail stopped: {role.failure!r}")


async def start_in_process(settings: Settings, shard: ShardPort) -> Callable[[], Awaitable[None]]:
    """`serve --single-process`: the role on the in-process shard; returns what stops it."""
    from tradingfloor.store.database import make_engine

    if not settings.audit_enabled:

        async def nothing() -> None:
            return None

        return nothing
    engine = make_engine(settings.database_url)
    role = make_role(settings, {settings.shard_name: shard}, engine)
    await role.start()

    async def stopper() -> None:
        await role.stop()
        engine.dispose()

    return stopper


def main(argv: list[str]) -> int:
    """`python -m tradingfloor.bootstrap.audit_role audit`: the role as a process of serve's
    supervisor (its settings from the environment, as the other roles')."""
    from tradingfloor.bootstrap import roles
    from tradingfloor.gateway import logs

    if len(argv) != 2 or argv[1] != "audit":
        print("usage: audit_role audit")
        return 2
    logs.configure()
    roles._die_with_parent()
    asyncio.run(run_audit(roles._settings_from_environment()))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv))
