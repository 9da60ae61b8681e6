"""`tradingfloor shard` with `shard_standby`: a candidate that follows, takes over and serves.

The process recovers (snapshot + the JetStream journal), writes its status to the roles
bucket (`service.shard_status`), and follows the journal as a hot standby
(`service.standby.ShardCandidate`) until it holds the lease and its fence is journaled. Then it
is today's shard: sequencer, events publisher, the queue-group subscriptions
(`service.nats_shard`), and it renews the lease until stopped.

It prints one line per change of state (`standby of shard S at seq N ...`, `primary of shard S
(epoch E) at seq N ...`, `stopped at seq N; state <hash>`) and marks `run/shard-standby.ready`
once following, `run/shard.ready` once serving. It stops, exiting non-zero, when its lease is
lost (another node took it) or its sequencer stops (fenced by a newer primary, or the journal
failed): a supervisor starts it again, as a standby.
"""

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradingfloor.config import Settings
from tradingfloor.journal.jetstream import JetStreamJournal
from tradingfloor.service.shard import ShardRole
from tradingfloor.service.shard_lease import ShardLease, key_value, new_node_id
from tradingfloor.service.shard_status import StatusWriter, status_ttl_s
from tradingfloor.service.standby import ShardCandidate

if TYPE_CHECKING:
    from tradingfloor.domain.settings import RiskSettings

log = logging.getLogger("tradingfloor.shard_candidate")


class _Fatal:
    """The first reason the process must stop; setting it sets `stop`."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.errors: list[BaseException] = []

    def __call__(self, error: BaseException) -> None:
        if not self.errors:
            log.error("the shard stops: %s", error)
        self.errors.append(error)
        self.stop.set()


async def run_shard_candidate(settings: Settings, transport: Any, stop: asyncio.Event) -> None:
    """The candidate's life (see the module); `transport` is the started NATS transport."""
    from tradingfloor.bootstrap.engine_settings import risk_settings
    from tradingfloor.bootstrap.platform import node_settings
    from tradingfloor.bootstrap.run_paths import ready_mark
    from tradingfloor.bootstrap.transport import make_journal

    journal = make_journal(settings)
    if not isinstance(journal, JetStreamJournal):
        raise RuntimeError("shard_standby needs journal = jetstream")
    risk = risk_settings(settings)
    shard = ShardRole(node_settings(settings, risk), journal=journal)
    node = shard.node
    await node.recover()
    _load_calendar(risk)
    fatal = _Fatal(stop)
    node_id = settings.node_id or new_node_id()
    lease_kv = await key_value(transport.nc, settings.nats_lease_bucket)
    lease = ShardLease(lease_kv, settings.shard_name, node_id, settings.shard_lease_ttl_ms)
    candidate = ShardCandidate(node, journal, lease, settings.shard_lease_renew_ms, fatal)
    roles_kv = await key_value(transport.nc, settings.nats_roles_bucket, status_ttl_s)
    status = StatusWriter(roles_kv, settings.shard_name, node_id, candidate.status)
    status.start()
    engine = candidate.engine
    print(
        f"standby of shard {settings.shard_name} at seq {engine.last_seq} as {node_id}; "
        f"data in {Path(settings.data_dir).resolve()}",
        flush=True,
    )
    ready_mark(settings, "shard-standby").touch(mode=0o600)
    server = watcher = None
    try:
        if await candidate.become_primary(stop) and not stop.is_set():
            server, watcher = await _serve(settings, transport, shard, candidate, fatal)
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        if server is not None:
            await (server.halt() if fatal.errors else server.stop())
        await candidate.stop()
        await node.stop(snapshot=not fatal.errors)
        if not fatal.errors:  # a clean stop: a standby need not wait for the lease to expire
            await lease.release()
        await status.stop()
        await transport.close()
    print(f"stopped at seq {engine.last_seq}; state {engine.state_hash()}", flush=True)
    if fatal.errors:
        raise SystemExit(f"the shard stopped: {fatal.errors[0]}")


def _load_calendar(risk: "RiskSettings") -> None:
    """Build the exchange calendar now: the engine builds it at its first order (a second or
    more of CPU), which, once primary, would hold the event loop and so the lease's renewals
    long enough for a standby to take over a live primary."""
    from tradingfloor.risk.calendar import calendar_for

    calendar_for(risk.calendar)


async def _serve(
    settings: Settings,
    transport: Any,
    shard: ShardRole,
    candidate: ShardCandidate,
    fatal: _Fatal,
) -> tuple[Any, "asyncio.Task[None]"]:
    """Sequence and serve as the primary; a sequencer that stops stops the process."""
    from tradingfloor.bootstrap.platform import count_batch, time_matching
    from tradingfloor.bootstrap.run_paths import ready_mark

    sequencer = shard.node.start_sequencer()
    sequencer.batch_listeners.append(count_batch)
    sequencer.on_applied = time_matching
    await shard.node.configure_risk()
    server = await transport.serve_shard(shard, fatal)

    async def watch() -> None:
        await sequencer.done.wait()
        if not fatal.stop.is_set():  # not a stop we asked for
            fatal(sequencer.failure or RuntimeError("the sequencer stopped"))

    watcher = asyncio.create_task(watch(), name="sequencer-watch")
    # (no state hash here: hashing a large state would hold the commands now arriving)
    print(
        f"primary of shard {settings.shard_name} (epoch {candidate.lease.epoch}) at seq "
        f"{candidate.engine.last_seq}",
        flush=True,
    )
    ready_mark(settings, "shard").touch(mode=0o600)
    return server, watcher
