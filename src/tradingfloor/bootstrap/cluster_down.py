"""`tradingfloor cluster down`: stop what `cluster.json` records, in `serve`'s order.

A `--foreground` supervisor is asked first (SIGTERM): it stops its processes in order itself,
and would start again any process stopped behind its back. Then, group by group (gateways,
market data, projectors, standbys, primaries, NATS: `cluster_plan.STOP_ORDER`), every process
still running gets SIGTERM, the group is given `cluster_stop_wait_s` to stop cleanly (the
shard snapshots), and what remains is killed (SIGKILL). A shard process that the cluster
started as a standby but that holds its shard's lease now (it took over) stops with the
primaries, after the standbys: `down` asks NATS who is primary when it can.
"""

import os
import signal
import time
from collections.abc import Callable

from tradingfloor.bootstrap import cluster_plan, cluster_record
from tradingfloor.bootstrap.cluster_record import Record, Recorded

poll_s = 0.05
killed_wait_s = 10.0
"""How long a killed process may take to be gone (the kernel frees its memory)."""

Say = Callable[[str], None]


def stop_recorded(
    record: Record, stop_wait_s: float, say: Say, primaries: set[str] | None = None
) -> list[Recorded]:
    """Stop every process of `record` (see the module); those that would not die.
    `primaries`: the shard processes that are primaries now, when known."""
    supervisor = record.supervisor_pid
    if supervisor is not None and supervisor != os.getpid():
        _stop_supervisor(record, stop_wait_s, say)
    roles = [_role_now(process, primaries) for process in record.processes]
    survivors: list[Recorded] = []
    for group in cluster_plan.stop_groups(roles):
        survivors += _stop_group([record.processes[index] for index in group], stop_wait_s, say)
    return survivors


def _role_now(process: Recorded, primaries: set[str] | None) -> str:
    if primaries is None or process.role not in ("shard", "standby"):
        return process.role
    return "shard" if process.name in primaries else "standby"


def _stop_supervisor(record: Record, stop_wait_s: float, say: Say) -> None:
    pid, ticks = record.supervisor_pid, record.supervisor_ticks
    if pid is None or not cluster_record.alive(pid, ticks):
        return
    say(f"stopping the supervisor ({pid}), which stops its processes in order")
    os.kill(pid, signal.SIGTERM)
    groups = len(cluster_plan.STOP_ORDER)
    deadline = time.monotonic() + stop_wait_s * groups
    while cluster_record.alive(pid, ticks) and time.monotonic() < deadline:
        time.sleep(poll_s)


def _stop_group(processes: list[Recorded], stop_wait_s: float, say: Say) -> list[Recorded]:
    running = [p for p in processes if cluster_record.signal_if_alive(p, signal.SIGTERM)]
    if running:
        say(f"stopping {', '.join(f'{p.name} ({p.pid})' for p in running)}")
    left = _until_gone(running, stop_wait_s)
    for process in left:
        say(f"{process.name} ({process.pid}) did not stop in {stop_wait_s:.0f} s: killed")
        cluster_record.signal_if_alive(process, signal.SIGKILL)
    survivors = _until_gone(left, killed_wait_s)
    for process in survivors:
        say(f"{process.name} ({process.pid}) is still there after SIGKILL")
    return survivors


def _until_gone(processes: list[Recorded], wait_s: float) -> list[Recorded]:
    """Those of `processes` still running after up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        left = [p for p in processes if cluster_record.alive(p.pid, p.start_ticks)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(poll_s)
