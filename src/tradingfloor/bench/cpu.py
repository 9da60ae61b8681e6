"""CPU time of processes around a load run, by role: what an order costs each of them.

Read from `/proc/<pid>/stat` (user + system time of every thread of the process, in clock
ticks), so the figures are the kernel's and the meter costs a few file reads per sample. A
`CpuMeter` samples the processes of each role when it starts, every `interval_s` while it
runs (a background thread, which also finds processes that appear) and when it stops; a
process's CPU is its last sample less its first, or all of it for a process started after the
meter (a load generator, a restarted child). One that exits between samples loses what it
used since its last sample: wait for a load generator that is a child with
`os.waitid(..., WEXITED | WNOWAIT)` before stopping the meter, so that its final figures are
still readable (a zombie keeps them until it is reaped).

A process is told apart from a later one with the same pid by its start time, so a reused pid
is never mixed into another's figures.

The server is one process today; `server_roles` already names the processes of a server that
runs its roles as children of a supervisor (`gateway`, `shard`, `projector`, `marketdata`,
`clearinghouse`, `settlement`, and the readers of the feed `audit`, `surveillance`,
`reporting`).
"""

import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

ROLES = (
    "gateway",
    "shard",
    "projector",
    "marketdata",
    "clearinghouse",
    "settlement",
    "audit",
    "surveillance",
    "reporting",
    "desk",
)
"""In this order: the clearinghouse simulator's command line names the settlement role's
module too."""
"""The roles a server's child processes run (ARCHITECTURE.md, roles and ports)."""
PROC = Path("/proc")
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
SAMPLE_INTERVAL_S = 0.5
IDLE_S = 2.0
"""How long a benchmark measures the server's CPU with no orders, before it sends them."""

Roles = Mapping[str, Iterable[int]]
"""Process ids by role, e.g. `{"server": [1234], "wrk": [1240]}`."""


@dataclass(frozen=True)
class ProcessCpu:
    """One sample of a process: its identity (pid and start time) and its CPU so far."""

    pid: int
    started_ticks: int
    cpu_ticks: int


def sample(pid: int) -> ProcessCpu | None:
    """User + system time of `pid` (all its threads) from `/proc/<pid>/stat`; None when the
    process is gone (or reaped)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The name (field 2) is in parentheses and may hold spaces and ')': fields are counted
    # from the last ')'. After it: state is field 3, utime 14, stime 15, starttime 22.
    fields = text[text.rindex(")") + 2 :].split()
    return ProcessCpu(pid, int(fields[19]), int(fields[11]) + int(fields[12]))


def children(pid: int) -> list[int]:
    """The direct children of `pid`: from `/proc/<pid>/task/*/children`, or where the kernel
    lacks that file (CONFIG_PROC_CHILDREN), from the parent pid of every process."""
    tasks = PROC / str(pid) / "task"
    found: list[int] = []
    try:
        for task in tasks.iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        if tasks.exists():
            return _children_by_parent(pid)
    return found


def _children_by_parent(pid: int) -> list[int]:
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """Children, their children and so on, parents first."""
    found, pending = [], children(pid)
    while pending:
        child = pending.pop(0)
        found.append(child)
        pending += children(child)
    return found


def role_of(pid: int) -> str:
    """The role a server's child runs: a name of `ROLES` that its process name (`comm`, as
    `prctl`/`setproctitle` set it) or a word of its command line is; else `other (<comm>)`."""
    base = PROC / str(pid)
    try:
        name = (base / "comm").read_text().strip()
        command_line = (base / "cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return "other (gone)"
    words = set(re.split(r"[^a-z]+", f"{name} {command_line}".lower()))
    for role in ROLES:
        if role in words:
            return role
    return f"other ({name})"


def server_roles(root: int) -> dict[str, list[int]]:
    """The processes of a server started as `root`, by role. Alone, or with children that run
    no role (a helper), the root is `server`; when children run roles it is their
    `supervisor` and each child is under its role."""
    roles: dict[str, list[int]] = {}
    for pid in descendants(root):
        roles.setdefault(role_of(pid), []).append(pid)
    top = "supervisor" if any(role in ROLES for role in roles) else "server"
    return {top: [root], **roles}


def machine_busy_ticks() -> int:
    """CPU time all processes of the machine have used since boot, in clock ticks: the
    `cpu` line of `/proc/stat` less idle, I/O wait and steal (guest time is in user)."""
    with (PROC / "stat").open() as stat:
        fields = [int(value) for value in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, _steal = fields
    return user + nice + system + irq + softirq


@dataclass(frozen=True)
class RoleCpu:
    pids: tuple[int, ...]
    cpu_s: float


@dataclass(frozen=True)
class CpuReport:
    """CPU seconds each role used over `wall_s` seconds."""

    wall_s: float
    roles: dict[str, RoleCpu]
    machine_busy_s: float
    """All the machine's CPU over the same time: what the roles did not use was used by
    other processes, which shared the cores with them."""

    @property
    def others_s(self) -> float:
        """CPU the machine's other processes used (the kernel's interrupts included)."""
        return max(0.0, self.machine_busy_s - sum(role.cpu_s for role in self.roles.values()))

    def per_order_us(self, role: str, orders: int) -> float:
        return self.roles[role].cpu_s * 1e6 / orders if orders else 0.0

    def cores(self, role: str) -> float:
        """The role's CPU as a number of cores kept busy the whole time."""
        return self.roles[role].cpu_s / self.wall_s if self.wall_s else 0.0

    def per_order_above_idle_us(self, role: str, orders: int, idle: "CpuReport") -> float | None:
        """CPU per order less what the role uses with no orders at all (`idle`, measured
        over another stretch of time); None for a role `idle` did not measure."""
        if role not in idle.roles or not orders:
            return None
        idle_s = idle.cores(role) * self.wall_s
        return (self.roles[role].cpu_s - idle_s) * 1e6 / orders


@dataclass
class _Seen:
    role: str
    first_ticks: int
    last_ticks: int


@dataclass
class CpuMeter:
    """Samples the CPU of the processes `roles()` names from `start` (or entering the `with`
    block) to `stop` (or leaving it). `roles` is called at every sample, so processes that
    appear (a load generator started after the meter, a restarted child) are found."""

    roles: Callable[[], Roles]
    interval_s: float = SAMPLE_INTERVAL_S
    _seen: dict[tuple[int, int], _Seen] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started_s: float = 0.0
    _started_ticks: int = 0
    _machine_ticks: int = 0
    report: CpuReport | None = None

    def start(self) -> None:
        self._started_s = time.perf_counter()
        # Process start times are clock ticks since boot.
        self._started_ticks = int(time.clock_gettime(time.CLOCK_BOOTTIME) * CLOCK_TICKS_PER_S)
        self._machine_ticks = machine_busy_ticks()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()

    def stop(self) -> CpuReport:
        """The last sample, and the CPU each role used since `start`."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        machine_s = (machine_busy_ticks() - self._machine_ticks) / CLOCK_TICKS_PER_S
        wall_s = time.perf_counter() - self._started_s
        totals: dict[str, list[int]] = {}
        ticks: dict[str, int] = {}
        for (pid, _), seen in self._seen.items():
            totals.setdefault(seen.role, []).append(pid)
            ticks[seen.role] = ticks.get(seen.role, 0) + seen.last_ticks - seen.first_ticks
        roles = {
            role: RoleCpu(tuple(pids), ticks[role] / CLOCK_TICKS_PER_S)
            for role, pids in totals.items()
        }
        self.report = CpuReport(wall_s, roles, machine_s)
        return self.report

    def __enter__(self) -> "CpuMeter":
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        with self._lock:
            for role, pids in self.roles().items():
                for pid in pids:
                    taken = sample(pid)
                    if taken is None:
                        continue
                    key = (taken.pid, taken.started_ticks)
                    seen = self._seen.get(key)
                    if seen is None:
                        started_during = taken.started_ticks >= self._started_ticks
                        first_ticks = 0 if started_during else taken.cpu_ticks
                        self._seen[key] = _Seen(role, first_ticks, taken.cpu_ticks)
                    else:
                        seen.last_ticks = taken.cpu_ticks
