"""`tradingfloor bench journal`: durable appends, replay and recovery of the file journal.

Appends go through the real `Sequencer` and `FileJournal`: each of N callers awaits its
`submit` (acknowledged only once its batch is written and, with fsync on, fdatasynced) and
then sends the next command, so group commit is what makes the rate grow with N. The
commands are the standard matching workload, taken in order from one shared iterator, so the
journal and the engine see exactly the workload's sequence whatever N is.

Replay reads, checks, decodes and applies a journal of standard-workload commands from seq 1;
recovery restores a snapshot and replays the journal after it (`recover()`, timed alone).
Each is timed alone in a fresh interpreter, as a node starts; the files were just written, so
both read from a warm page cache.
"""

import asyncio
import gc
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from tradingfloor.bench.matching import Workload, percentile
from tradingfloor.domain.commands import AddInstrument
from tradingfloor.engine import Engine
from tradingfloor.journal.codec import Entry
from tradingfloor.journal.file import FileJournal
from tradingfloor.journal.recovery import recover
from tradingfloor.journal.snapshots import SnapshotStore
from tradingfloor.service.sequencer import Result, Sequencer

Progress = Callable[[int], None]
"""Told how many commands are done so far (every `progress_every` commands)."""
progress_every = 1_024
journal_batch_max = 4_096
"""Records per append while a benchmark journal is written (the sequencer's `batch_max`)."""


@dataclass(frozen=True)
class AppendFigures:
    """One run of N callers through the sequencer."""

    callers: int
    fsync: bool
    commands: int
    seconds: float
    batches: int
    latencies_ns: list[int]  # sorted

    @property
    def per_second(self) -> float:
        return self.commands / self.seconds

    @property
    def mean_batch(self) -> float:
        return self.commands / self.batches if self.batches else 0.0

    def percentile_us(self, fraction: float) -> float:
        return percentile(self.latencies_ns, fraction) / 1_000


@dataclass(frozen=True)
class ReplayFigures:
    """Commands read, checked, decoded and applied from seq 1 (or from a snapshot)."""

    what: str
    commands: int
    seconds: float
    cpu_seconds: float
    state_hash_ok: bool

    @property
    def per_second(self) -> float:
        return self.commands / self.seconds


# ---------------------------------------------------------------- appends


def run_appends(
    directory: Path,
    workload: Workload,
    callers: int,
    fsync: bool,
    commands_min: int,
    seconds_min: float,
    seconds_max: float,
    on_progress: Progress | None = None,
) -> AppendFigures:
    """N callers, each awaiting its submit before the next, on a fresh journal and engine.

    Runs until at least `commands_min` commands and `seconds_min` seconds are done, or
    `seconds_max` seconds, or the workload is used up, whichever comes first.
    """
    return asyncio.run(
        _appends(
            directory,
            workload,
            callers,
            fsync,
            commands_min,
            seconds_min,
            seconds_max,
            on_progress,
        )
    )


async def _appends(
    directory: Path,
    workload: Workload,
    callers: int,
    fsync: bool,
    commands_min: int,
    seconds_min: float,
    seconds_max: float,
    on_progress: Progress | None,
) -> AppendFigures:
    journal = FileJournal(directory, fsync=fsync)
    journal.open_sync()
    sequencer = Sequencer(Engine(), journal)
    batches = 0

    def count_batch(results: list[Result]) -> None:
        nonlocal batches
        batches += 1

    sequencer.batch_listeners.append(count_batch)
    sequencer.start()
    await sequencer.submit(AddInstrument(workload.instrument))
    batches = 0
    source = iter(workload.commands)
    latencies: list[int] = []
    clock = time.perf_counter_ns
    enough_ns, limit_ns = int(seconds_min * 1e9), int(seconds_max * 1e9)
    done = 0
    stop = False
    gc.collect()
    start = clock()

    async def caller() -> None:
        nonlocal done, stop
        submit = sequencer.submit
        record = latencies.append
        for command in source:
            sent = clock()
            await submit(command)
            acked = clock()
            record(acked - sent)
            done += 1
            if on_progress is not None and done % progress_every == 0:
                on_progress(done)
            elapsed = acked - start
            if (done >= commands_min and elapsed >= enough_ns) or elapsed >= limit_ns:
                stop = True
            if stop:
                return

    await asyncio.gather(*(caller() for _ in range(callers)))
    seconds = (clock() - start) / 1e9
    await sequencer.stop()
    await journal.close()
    latencies.sort()
    return AppendFigures(callers, fsync, done, seconds, batches, latencies)


def probe_fdatasync(directory: Path, count: int = 300, size: int = 11_000) -> list[int]:
    """fdatasync latencies (ns, sorted) of `size`-byte appends (~256 records) in `directory`.

    Context for the durable rates: they move with the disk's flush time, and on a shared
    machine that moves with what else is writing.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "fdatasync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    chunk = b"\x5a" * size
    latencies = []
    try:
        for _ in range(count):
            os.write(fd, chunk)
            start = time.perf_counter_ns()
            os.fdatasync(fd)
            latencies.append(time.perf_counter_ns() - start)
    finally:
        os.close(fd)
        path.unlink()
    latencies.sort()
    return latencies


# ---------------------------------------------------------------- journals to replay


def entries(workload: Workload, count: int) -> Iterator[Entry]:
    """AddInstrument at seq 1, then the workload's commands: `count` entries in all."""
    yield Entry(1, _ts(1), AddInstrument(workload.instrument))
    for seq, command in enumerate(workload.commands[: count - 1], start=2):
        yield Entry(seq, _ts(seq), command)


def write_journal(
    directory: Path, journal_entries: Iterator[Entry], on_progress: Progress | None = None
) -> int:
    """Write entries as the sequencer would (batches of `journal_batch_max`), without fsync."""
    journal = FileJournal(directory, fsync=False)
    journal.open_sync()
    batch: list[Entry] = []
    written = 0
    for entry in journal_entries:
        batch.append(entry)
        if len(batch) == journal_batch_max:
            journal.append_sync(batch)
            written += len(batch)
            batch = []
            if on_progress is not None:
                on_progress(written)
    journal.append_sync(batch)
    journal.log.sync()
    journal.log.close()
    return written + len(batch)


def shadow(
    journal_entries: Iterator[Entry], snapshot_at: int, hash_at: set[int]
) -> tuple[bytes, dict[int, str]]:
    """Apply the entries to a fresh engine: its snapshot after `snapshot_at`, hashes at seqs."""
    engine = Engine()
    apply = engine.apply
    state = b""
    hashes = {}
    for entry in journal_entries:
        apply(entry.command, entry.seq, entry.ts)
        if entry.seq == snapshot_at:
            state = engine.snapshot()
        if entry.seq in hash_at:
            hashes[entry.seq] = engine.state_hash()
    return state, hashes


def _ts(seq: int) -> int:
    return 1_700_000_000_000_000_000 + seq * 1_000


# ---------------------------------------------------------------- replay and recovery


def in_fresh_process(function: Callable[[Path, str], ReplayFigures], *args: Any) -> ReplayFigures:
    """Run a timing in a new interpreter, as a node starts: the benchmark's own heap (a million
    workload commands) made the same replay ~50% slower when timed in this process."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def time_recover(data: Path, expected: str) -> ReplayFigures:
    """`recover()` alone on `data/journal` and `data/snapshots`, the way a node starts."""
    journal = FileJournal(data / "journal", fsync=False)
    snapshots = SnapshotStore(data / "snapshots")
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    recovered = recover(journal, snapshots)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    journal.log.close()
    what = (
        f"recover: snapshot {recovered.snapshot_seq:,} +"
        if recovered.snapshot_seq
        else "replay: recover from seq 1"
    )
    ok = recovered.engine.state_hash() == expected
    return ReplayFigures(what, recovered.replayed, seconds, cpu, ok)


def time_read_and_apply(directory: Path, expected: str) -> ReplayFigures:
    """The generic path: `FileJournal.read()` entries, each applied (after the open's scan)."""
    journal = FileJournal(directory, fsync=False)
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    journal.open_sync()
    engine = Engine()
    apply = engine.apply
    count = 0
    for entry in journal.read():
        apply(entry.command, entry.seq, entry.ts)
        count += 1
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    journal.log.close()
    ok = engine.state_hash() == expected
    return ReplayFigures("replay: open, read, apply", count, seconds, cpu, ok)


def figures_json(
    appends: list[AppendFigures], replays: list[ReplayFigures], fdatasync_ns: list[int]
) -> bytes:
    fdatasync_ns = sorted(fdatasync_ns)
    return msgspec.json.encode(
        {
            "fdatasync_p50_us": percentile(fdatasync_ns, 0.5) / 1_000,
            "fdatasync_p99_us": percentile(fdatasync_ns, 0.99) / 1_000,
            "appends": [
                {
                    "callers": a.callers,
                    "fsync": a.fsync,
                    "commands": a.commands,
                    "seconds": round(a.seconds, 4),
                    "per_second": round(a.per_second),
                    "p50_us": a.percentile_us(0.50),
                    "p99_us": a.percentile_us(0.99),
                    "mean_batch": round(a.mean_batch, 2),
                }
                for a in appends
            ],
            "replays": [
                {
                    "what": r.what,
                    "commands": r.commands,
                    "seconds": round(r.seconds, 4),
                    "cpu_seconds": round(r.cpu_seconds, 4),
                    "per_second": round(r.per_second),
                    "state_hash_ok": r.state_hash_ok,
                }
                for r in replays
            ],
        }
    )
