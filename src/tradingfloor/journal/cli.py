"""`tradingfloor journal verify|inspect|compact`: the operator's tools for a node's data."""

from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console

from tradingfloor.journal.file import FileJournal
from tradingfloor.journal.snapshots import SnapshotStore

journal_app = typer.Typer(no_args_is_help=True, help="Check, read and compact a journal.")
console = Console()
DataDir = Annotated[Path, typer.Option("--data", help="The node's data directory.")]


def _stores(data: Path) -> tuple[FileJournal, SnapshotStore]:
    return FileJournal(data / "journal", fsync=False), SnapshotStore(data / "snapshots")


@journal_app.command()
def verify(data: DataDir) -> None:
    """Check every checksum, replay the whole journal, and compare each snapshot's hash (a
    snapshot of an older engine state version holds other bytes: it is not compared)."""
    from tradingfloor.engine import Engine
    from tradingfloor.engine.state import STATE_VERSION, state_version
    from tradingfloor.journal.segments import JournalCorrupted
    from tradingfloor.journal.snapshots import read_snapshot

    journal, snapshots = _stores(data)
    valid = {}
    for path in snapshots.paths():
        try:
            snapshot = read_snapshot(path)
            valid[snapshot.seq] = snapshot
        except ValueError as error:
            console.print(f"[yellow]damaged snapshot[/yellow] {path.name}: {error}")
    try:
        journal.log.open(read_only=True)
    except JournalCorrupted as error:
        console.print(f"[red]journal corrupted[/red]: {error}")
        raise typer.Exit(1) from error
    except FileNotFoundError as error:
        console.print(f"[red]no journal[/red]: {error}")
        raise typer.Exit(1) from error
    if journal.log.torn_bytes_cut:
        console.print(f"a torn tail of {journal.log.torn_bytes_cut} bytes (left in place)")
    engine = Engine()
    start = 0
    if journal.first_seq > 1:  # compacted: start from the oldest snapshot inside the journal
        usable = sorted(s for s in valid if journal.first_seq - 1 <= s <= journal.last_seq)
        if not usable:
            console.print(
                f"[red]journal starts at {journal.first_seq}; no valid snapshot at "
                f"{journal.first_seq - 1} or later[/red]"
            )
            raise typer.Exit(1)
        start = usable[0]
        engine = Engine.restore(valid[start].state)
    mismatches = 0
    current = {seq for seq, found in valid.items() if state_version(found.state) == STATE_VERSION}
    for entry in journal.read(start + 1):
        engine.apply(entry.command, entry.seq, entry.ts)
        recorded = valid.get(entry.seq)
        if entry.seq in current and recorded and recorded.state_hash != engine.state_hash():
            mismatches += 1
            console.print(f"[red]snapshot at {entry.seq} disagrees with the replay[/red]")
    older = len(valid) - len(current)
    console.print(
        f"journal {journal.first_seq}..{journal.last_seq} (replayed from {start + 1}): "
        "checksums good; "
        f"state hash {engine.state_hash()}; {len(valid)} snapshots, "
        f"{mismatches} disagree" + (f", {older} older ones not compared" if older else "")
    )
    if mismatches:
        raise typer.Exit(1)


@journal_app.command()
def inspect(
    data: DataDir,
    from_seq: Annotated[int, typer.Option("--from", help="First seq to print.")] = 1,
    limit: Annotated[int, typer.Option(help="How many records to print.")] = 50,
) -> None:
    """Print journal records in human form: seq, time and the command."""
    journal, _ = _stores(data)
    journal.log.open(read_only=True)
    for count, entry in enumerate(journal.read(from_seq)):
        if count >= limit:
            break
        body = msgspec.json.encode(entry.command).decode()
        console.print(f"{entry.seq:>10} {entry.ts} {body}", highlight=False, soft_wrap=True)


@journal_app.command()
def compact(data: DataDir) -> None:
    """Drop journal segments that the newest valid snapshot covers."""
    journal, snapshots = _stores(data)
    newest = snapshots.newest_valid().snapshot
    if newest is None:
        console.print("no valid snapshot: nothing can be dropped")
        return
    journal.open_sync(after_seq=newest.seq)
    dropped = journal.compact(newest.seq)
    console.print(f"snapshot at {newest.seq}; dropped {len(dropped)} segments")
    for path in dropped:
        console.print(f"  {path.name}")
