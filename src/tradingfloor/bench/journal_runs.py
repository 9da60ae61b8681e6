"""`tradingfloor bench journal`'s runs in order, each a bar of one progress display.

The fdatasync probe, the append levels (every count of callers with fsync on, then the most
callers with fsync off), the probe again, then the two journals written (one to replay, one
with a snapshot to recover from) and timed, each in a fresh process. Everything is written
under a temporary directory that is removed at the end, whatever happens.
"""

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn

from tradingfloor.bench import journal as bench
from tradingfloor.bench.journal import AppendFigures, ReplayFigures
from tradingfloor.bench.matching import Workload, standard_workload
from tradingfloor.bench.report import console


@dataclass(frozen=True, slots=True)
class JournalRuns:
    """The figures of one `bench journal`: fdatasync latencies (ns) before and after the
    appends, a row per append level, and the replay and recovery runs."""

    probe_before: list[int]
    probe_after: list[int]
    appends: list[AppendFigures]
    replays: list[ReplayFigures]


def run_all(
    base: Path,
    *,
    callers: list[int],
    commands: int,
    seconds_min: float,
    seconds_max: float,
    replay_ops: int,
    before_snapshot: int,
    seed: int,
    quiet: bool,
) -> JournalRuns:
    """Every run, in a temporary directory under `base` (made if missing); `quiet`: no
    progress display."""
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tradingfloor-bench-journal-", dir=base))
    levels = [(n, True) for n in callers] + [(max(callers), False)]
    progress = Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        refresh_per_second=4,
        disable=quiet,
    )
    try:
        with progress:
            task = progress.add_task("building the workload", total=None)
            workload = standard_workload(before_snapshot + replay_ops, seed)
            progress.update(task, total=1, completed=1)
            probe_before = bench.probe_fdatasync(work)
            appends = []
            for count, fsync in levels:
                label = (
                    f"{count} caller{'s' if count > 1 else ''}, fsync {'on' if fsync else 'off'}"
                )
                task = progress.add_task(label, total=commands)
                figures = bench.run_appends(
                    work / f"appends-{count}-{'fsync' if fsync else 'nofsync'}",
                    workload,
                    count,
                    fsync,
                    commands,
                    seconds_min,
                    seconds_max,
                    _tracker(progress, task),
                )
                progress.update(task, total=figures.commands, completed=figures.commands)
                appends.append(figures)
            probe_after = bench.probe_fdatasync(work)
            replays = _replays(workload, work, replay_ops, before_snapshot, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return JournalRuns(probe_before, probe_after, appends, replays)


def _replays(
    workload: Workload,
    work: Path,
    replay_ops: int,
    before_snapshot: int,
    progress: Progress,
) -> list[ReplayFigures]:
    """Write the two journals (and the snapshot), then time replay and recovery."""
    from tradingfloor.journal.snapshots import SnapshotStore

    snapshot_seq = 1 + before_snapshot
    last = 1 + before_snapshot + replay_ops
    task = progress.add_task("engine state at the snapshot, hashes", total=None)
    all_entries = bench.entries(workload, last)
    state, hashes = bench.shadow(all_entries, snapshot_seq, {replay_ops, last})
    progress.update(task, total=1, completed=1)
    task = progress.add_task("writing the replay journal", total=replay_ops)
    bench.write_journal(
        work / "replay" / "journal",
        bench.entries(workload, replay_ops),
        _tracker(progress, task),
    )
    progress.update(task, completed=replay_ops)
    task = progress.add_task("writing the recovery journal", total=last)
    bench.write_journal(
        work / "recovery" / "journal",
        bench.entries(workload, last),
        _tracker(progress, task),
    )
    SnapshotStore(work / "recovery" / "snapshots").write(snapshot_seq, state)
    progress.update(task, completed=last)
    task = progress.add_task("replaying and recovering", total=3)
    fresh = bench.in_fresh_process
    replays = [fresh(bench.time_recover, work / "replay", hashes[replay_ops])]
    progress.update(task, completed=1)
    replays.append(
        fresh(bench.time_read_and_apply, work / "replay" / "journal", hashes[replay_ops])
    )
    progress.update(task, completed=2)
    replays.append(fresh(bench.time_recover, work / "recovery", hashes[last]))
    progress.update(task, completed=3)
    return replays


def _tracker(progress: Progress, task: TaskID) -> Callable[[int], None]:
    def advance(done: int) -> None:
        progress.update(task, completed=done)

    return advance
