"""`data_dir/cluster/cluster.json`: what `cluster up` started, for `status` and `down`.

It names each process (role, shard, pid, when it started, its command, the variables it was
given but no secret, its data directory and log), the supervisor's pid with `--foreground`,
and the cluster's addresses. It is written whole to a temporary file then renamed, so a reader
never sees half of it.

A pid alone is not a process: once one exits, the kernel may give its pid to another. So a
process is recorded with its start time in clock ticks since boot (`/proc/<pid>/stat`, field
22), and counts as alive only while a process of that pid with that start time exists and is
not a zombie (a detached process that exited stays one until init reaps it).
"""

import contextlib
import os
from pathlib import Path

import msgspec

RECORD_VERSION = 1


class Recorded(msgspec.Struct):
    """One process as started."""

    name: str
    role: str
    shard: str | None
    pid: int
    start_ticks: int | None
    started_at: str
    """UTC, ISO 8601."""
    argv: list[str]
    env: dict[str, str]
    data_dir: str
    log: str
    ready_mark: str | None


class Record(msgspec.Struct):
    config: str
    data_dir: str
    nats_url: str
    http_url: str
    marketdata_url: str
    processes: list[Recorded] = msgspec.field(default_factory=list)
    supervisor_pid: int | None = None
    """With `--foreground`: the process that supervises the others."""
    supervisor_ticks: int | None = None
    ready: bool = False
    """Every process started and ready once (until then `up` is still starting them)."""
    version: int = RECORD_VERSION


def write(path: Path, record: Record) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_bytes(msgspec.json.format(msgspec.json.encode(record)))
    os.replace(temporary, path)


def read(path: Path) -> Record | None:
    """The record, or None when there is none (or it cannot be read: nothing to go by)."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=Record)
    except (OSError, msgspec.DecodeError):
        return None


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot), None when it is gone or a
    zombie; without /proc, 0 for a process that exists (its start time unknown)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        text = stat.read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        return 0 if _exists(pid) else None
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = text.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alive(pid: int | None, ticks: int | None) -> bool:
    """Whether the process recorded as (`pid`, `ticks`) still runs (see the module)."""
    if pid is None:
        return False
    now = start_ticks(pid)
    return now is not None and (ticks is None or now == ticks or now == 0)


def signal_if_alive(process: Recorded, signal_number: int) -> bool:
    """Send the signal if the recorded process still runs; whether it did."""
    if not alive(process.pid, process.start_ticks):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal_number)
    return True
