"""Daily JSON-lines files written so that a crash leaves no gap and no repeat.

The reporting role writes each output (`trades`, `cat`) as one file per New York date,
`<output>/YYYY-MM-DD.jsonl`, appended a batch of lines at a time: the lines of a batch are
written and fsynced, and only then the place (`ReportPlace`: the last seq written per shard
and the length of every file at that point) is saved, atomically (a new file, fsynced,
renamed over the old, the directory fsynced). A crash may leave lines after the saved place;
at the next start `restore` cuts every file back to its saved length (and removes a file
created since), so those lines are written again once, and nothing before the place is.

A file shorter than its saved length was changed by something else: `ReportFilesDamaged`,
never a silent rewrite.
"""

import os
from collections import defaultdict
from pathlib import Path

import msgspec

from tradingfloor.journal.fsutil import fsync_directory

PLACE_FILE_NAME = "place.json"
SUFFIX = ".jsonl"


class ReportFilesDamaged(Exception):
    """A report file no longer holds what the saved place says was written."""


class ReportPlace(msgspec.Struct):
    positions: dict[str, int] = msgspec.field(default_factory=dict)
    """The last seq whose lines are written, per shard."""
    sizes: dict[str, int] = msgspec.field(default_factory=dict)
    """Bytes of each file (`output/date.jsonl`) once those lines were written."""


def load_place(directory: Path) -> ReportPlace:
    path = directory / PLACE_FILE_NAME
    if not path.exists():
        return ReportPlace()
    return msgspec.json.decode(path.read_bytes(), type=ReportPlace)


def save_place(directory: Path, place: ReportPlace) -> None:
    """Replace the saved place at once: a crash leaves the old one or the new one."""
    path = directory / PLACE_FILE_NAME
    written = path.with_suffix(".tmp")
    with open(written, "wb") as out:
        out.write(msgspec.json.encode(place))
        out.flush()
        os.fsync(out.fileno())
    written.replace(path)
    fsync_directory(directory)


def restore(directory: Path, outputs: tuple[str, ...], place: ReportPlace) -> None:
    """Cut every file of `outputs` back to its length at the saved place."""
    for output in outputs:
        folder = directory / output
        if not folder.exists():
            continue
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            name = f"{output}/{path.name}"
            saved = place.sizes.get(name, 0)
            size = path.stat().st_size
            if size < saved:
                raise ReportFilesDamaged(
                    f"{path} holds {size} bytes; {saved} were written before the last stop"
                )
            if size > saved:
                with open(path, "r+b") as out:
                    out.truncate(saved)
                    os.fsync(out.fileno())
            if saved == 0:
                path.unlink()
        fsync_directory(folder)


class DailyFiles:
    """Lines gathered per file, then written and fsynced together (`write`)."""

    def __init__(self, directory: Path, place: ReportPlace) -> None:
        self.directory = directory
        self.place = place
        self._pending: dict[str, list[bytes]] = defaultdict(list)

    def add(self, output: str, date: str, line: bytes) -> None:
        self._pending[f"{output}/{date}{SUFFIX}"].append(line)

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def write(self) -> None:
        """Append every gathered line and fsync each file; the place's sizes follow."""
        for name, lines in self._pending.items():
            path = self.directory / name
            created = not path.exists()
            if created:
                path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as out:
                out.write(b"".join(lines))
                out.flush()
                os.fsync(out.fileno())
                self.place.sizes[name] = out.tell()
            if created:
                fsync_directory(path.parent)
        self._pending.clear()
