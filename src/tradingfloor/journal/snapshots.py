"""Snapshots of the engine's whole state at a sequence number.

File `snapshot-<seq:020>.snap` (integers little-endian):

    magic "TFS1" | format u16 = 1 | reserved u16 | seq u64 | length u64 | crc u32 | hash 32 bytes
    payload (length bytes): canonical engine state (`tradingfloor.engine.state`)

`crc` is CRC32C of the payload and `hash` its BLAKE2b-256: the engine's state hash. A snapshot
is written to a temporary file, fsynced and renamed, so a crash leaves either all of it or
none. One that fails any check on load is skipped for the one before it.
"""

import hashlib
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from crc32c import crc32c

from tradingfloor.journal.fsutil import fsync_directory

SNAPSHOT_MAGIC = b"TFS1"
SNAPSHOT_FORMAT = 1
SNAPSHOT_HEADER = struct.Struct("<4sHHQQI32s")


@dataclass(frozen=True)
class Snapshot:
    seq: int
    state: bytes
    state_hash: str
    path: Path


@dataclass
class SnapshotLoad:
    """The newest valid snapshot, if any, and the damaged ones passed over to reach it."""

    snapshot: Snapshot | None
    skipped: list[tuple[Path, str]] = field(default_factory=list)


class SnapshotStore:
    def __init__(self, directory: Path, keep: int = 3) -> None:
        self.directory = Path(directory)
        self.keep = keep

    def paths(self) -> list[Path]:
        """Snapshot files, oldest first."""
        if not self.directory.exists():
            return []
        return sorted(self.directory.glob("snapshot-*.snap"))

    def remove_partial(self) -> list[Path]:
        """Delete temporary files a crash left in the middle of writing a snapshot."""
        if not self.directory.exists():
            return []
        partial = sorted(self.directory.glob("snapshot-*.tmp"))
        for path in partial:
            path.unlink()
        return partial

    def write(self, seq: int, state: bytes) -> Snapshot:
        """Write a snapshot durably, then drop all but the newest `keep`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        digest = hashlib.blake2b(state, digest_size=32).digest()
        header = SNAPSHOT_HEADER.pack(
            SNAPSHOT_MAGIC, SNAPSHOT_FORMAT, 0, seq, len(state), crc32c(state), digest
        )
        path = self.directory / f"snapshot-{seq:020d}.snap"
        temporary = path.with_suffix(".tmp")
        try:
            with temporary.open("wb") as file:
                file.write(header)
                file.write(state)
                file.flush()
                os.fsync(file.fileno())
            temporary.rename(path)
        except BaseException:
            temporary.unlink(missing_ok=True)  # on a full disk, give back the space it took
            raise
        fsync_directory(self.directory)
        for old in self.paths()[: -self.keep]:
            old.unlink()
        return Snapshot(seq, state, digest.hex(), path)

    def newest_valid(self, at_most_seq: int | None = None) -> SnapshotLoad:
        """The newest snapshot that passes every check (optionally at or before a seq)."""
        load = SnapshotLoad(None)
        for path in reversed(self.paths()):
            try:
                snapshot = read_snapshot(path)
            except (OSError, ValueError) as error:
                load.skipped.append((path, str(error)))
                continue
            if at_most_seq is not None and snapshot.seq > at_most_seq:
                continue
            load.snapshot = snapshot
            return load
        return load


def read_snapshot(path: Path) -> Snapshot:
    """Read and check one snapshot file; ValueError says what is wrong with it."""
    data = path.read_bytes()
    if len(data) < SNAPSHOT_HEADER.size:
        raise ValueError("header is incomplete")
    magic, fmt, _, seq, length, checksum, digest = SNAPSHOT_HEADER.unpack_from(data)
    if magic != SNAPSHOT_MAGIC or fmt != SNAPSHOT_FORMAT:
        raise ValueError("not a snapshot of a known format")
    state = data[SNAPSHOT_HEADER.size :]
    if len(state) != length:
        raise ValueError(f"payload is {len(state)} bytes, header says {length}")
    if crc32c(state) != checksum:
        raise ValueError("checksum mismatch")
    if hashlib.blake2b(state, digest_size=32).digest() != digest:
        raise ValueError("state hash mismatch")
    return Snapshot(seq, state, digest.hex(), path)
