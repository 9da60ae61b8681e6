"""Append-only segment files of checksummed frames of records.

File format (all integers little-endian):

    segment = header frame*
    header  = magic "TFJ1" (4 bytes) | format u16 = 2 | kind u16 | first_seq u64      (16 bytes)
    frame   = length u32 | crc u32 | body                                           (8 + length)
    body    = count u32 | record{count}
    record  = payload_length u32 | version u8 | seq u64 | ts i64 | payload   (21 + payload_length)

One `append` is one frame, written with one write and (by policy) one fsync; `crc` is CRC32C
of the frame's body. Sequence numbers are consecutive across all records of all segments. A
segment is named `<prefix>-<first_seq:020>.log` and is closed once it grows past its size limit.

The frame is the unit of durability: a caller is answered only once its whole frame is on
disk. So on open, a damaged last frame of the newest segment with no whole frame after it (a
write the crash left incomplete, however its pages reached the disk) is a torn tail and is cut
off; damage anywhere else stops the open with `JournalCorrupted` naming the segment and the
offset of the frame.
"""

import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from crc32c import crc32c

from tradingfloor.journal.fsutil import fsync_directory

MAGIC = b"TFJ1"
FORMAT = 2
HEADER = struct.Struct("<4sHHQ")
FRAME_HEAD = struct.Struct("<II")
COUNT = struct.Struct("<I")
RECORD_HEAD = struct.Struct("<IBQq")
frame_bytes_max = 256 * 1024 * 1024
"""A frame longer than this is treated as damage, not as a length to trust."""


class JournalCorrupted(RuntimeError):
    """A damaged record that is not a torn tail: the journal cannot be trusted past it."""

    def __init__(self, path: Path, offset: int, reason: str) -> None:
        super().__init__(f"{path} at offset {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


RawRecord = tuple[int, int, int, memoryview]
"""(version, seq, ts, payload) as the replay fast path reads them."""

FrameSink = Callable[[list[RawRecord]], None]
"""Receives the checked records of each frame (those at or after `from_seq`) during `open`."""


class Record(NamedTuple):
    version: int
    seq: int
    ts: int
    payload: bytes | memoryview


def encode_frame(records: list[tuple[int, int, int, bytes]]) -> bytes:
    """One frame of (version, seq, ts, payload) records."""
    pack = RECORD_HEAD.pack
    parts = [COUNT.pack(len(records))]
    for version, seq, ts, payload in records:
        parts.append(pack(len(payload), version, seq, ts))
        parts.append(payload)
    body = b"".join(parts)
    return FRAME_HEAD.pack(len(body), crc32c(body)) + body


@dataclass
class Segment:
    path: Path
    first_seq: int
    last_seq: int  # first_seq - 1 when empty
    size: int


class SegmentedLog:
    """One append-only log in a directory: open, append batches, read from any sequence number.

    Not thread-safe: one writer (the sequencer) owns it.
    """

    def __init__(
        self,
        directory: Path,
        prefix: str = "journal",
        kind: int = 1,
        segment_bytes_max: int = 64 * 1024 * 1024,
        fsync: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.prefix = prefix
        self.kind = kind
        self.segment_bytes_max = segment_bytes_max
        self.fsync = fsync
        self.segments: list[Segment] = []
        self.torn_bytes_cut = 0
        self._base_seq = 0
        self._fd: int | None = None

    # ------------------------------------------------------------------ open

    def open(
        self,
        after_seq: int = 0,
        on_frame: FrameSink | None = None,
        from_seq: int = 1,
        read_only: bool = False,
    ) -> None:
        """Scan and check every segment, cut a torn tail, and get ready to append.

        `after_seq` is where an empty log starts (the seq of a snapshot that covers the rest).
        `on_frame(records)`, if given, receives the records with seq >= `from_seq`, a frame at
        a time, as the scan checks them, so that recovery reads the journal once.
        `read_only` changes nothing on disk: a torn tail is only counted, and no directory or
        segment is created.
        """
        self._base_seq = after_seq
        if read_only and not self.directory.is_dir():
            raise FileNotFoundError(f"no log directory {self.directory}")
        self.directory.mkdir(parents=True, exist_ok=True)
        paths = sorted(self.directory.glob(f"{self.prefix}-*.log"))
        self.segments = []
        for index, path in enumerate(paths):
            expected = self.segments[-1].last_seq + 1 if self.segments else None
            newest = index == len(paths) - 1
            segment = self._check_segment(path, newest, expected, on_frame, from_seq, read_only)
            if segment is not None:
                self.segments.append(segment)
        if not read_only:
            self._open_for_append()

    @property
    def first_seq(self) -> int:
        """The oldest sequence number still in the log (older ones were compacted away)."""
        return self.segments[0].first_seq if self.segments else self.last_seq + 1

    @property
    def last_seq(self) -> int:
        return self.segments[-1].last_seq if self.segments else self._base_seq

    def _check_segment(
        self,
        path: Path,
        newest: bool,
        expected: int | None,
        on_frame: FrameSink | None,
        from_seq: int,
        read_only: bool,
    ) -> Segment | None:
        data = path.read_bytes()
        if len(data) < HEADER.size:
            if newest and not read_only:  # created, header not yet written when it died
                path.unlink()
                return None
            raise JournalCorrupted(path, 0, "segment header is incomplete")
        magic, fmt, kind, first_seq = HEADER.unpack_from(data)
        if magic != MAGIC or fmt != FORMAT or kind != self.kind:
            raise JournalCorrupted(path, 0, f"not a kind-{self.kind} segment of format {FORMAT}")
        if expected is not None and first_seq != expected:
            raise JournalCorrupted(
                path, 0, f"starts at seq {first_seq}, expected {expected}: a segment is missing"
            )
        seq = first_seq - 1
        offset = HEADER.size
        try:
            for records, end in _frames(data, first_seq):
                if on_frame is not None and seq + len(records) >= from_seq:
                    on_frame(records if seq + 1 >= from_seq else records[from_seq - seq - 1 :])
                seq += len(records)
                offset = end
        except _Damage as damage:
            if not newest or _valid_frame_after(data, damage.offset):
                raise JournalCorrupted(path, damage.offset, damage.reason) from None
            # a torn tail: `seq` and `offset` stop at the last whole frame
        if offset < len(data):
            self.torn_bytes_cut += len(data) - offset
            if not read_only:
                with path.open("r+b") as file:
                    file.truncate(offset)
                    file.flush()
                    os.fsync(file.fileno())
        return Segment(path, first_seq, seq, offset)

    def _open_for_append(self) -> None:
        if not self.segments:
            self._start_segment(self.last_seq + 1)
            return
        segment = self.segments[-1]
        self._fd = os.open(segment.path, os.O_WRONLY | os.O_APPEND)

    def _start_segment(self, first_seq: int) -> None:
        if self._fd is not None:
            os.fsync(self._fd)  # a closed segment is whole on disk, whatever the fsync policy
            os.close(self._fd)
        path = self.directory / f"{self.prefix}-{first_seq:020d}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        os.write(fd, HEADER.pack(MAGIC, FORMAT, self.kind, first_seq))
        os.fsync(fd)
        fsync_directory(self.directory)
        self._fd = fd
        self.segments.append(Segment(path, first_seq, first_seq - 1, HEADER.size))

    # ------------------------------------------------------------------ write

    def append(self, records: list[tuple[int, int, int, bytes]]) -> None:
        """Append (version, seq, ts, payload) records in one write and, by policy, one fsync.

        Sequence numbers must continue the log. A failed write raises; the caller must stop.
        """
        if not records:
            return
        if self._fd is None:
            raise RuntimeError("log is not open")
        segment = self.segments[-1]
        expected = segment.last_seq + 1
        for offset, record in enumerate(records):
            if record[1] != expected + offset:
                raise ValueError(f"record seq {record[1]} does not continue the log at {expected}")
        if segment.size >= self.segment_bytes_max and segment.last_seq >= segment.first_seq:
            self._start_segment(expected)
            segment = self.segments[-1]
        data = encode_frame(records)
        written = os.write(self._fd, data)
        if written != len(data):
            raise OSError(f"short write to {segment.path}: {written} of {len(data)} bytes")
        if self.fsync:
            os.fdatasync(self._fd)
        segment.size += len(data)
        segment.last_seq = records[-1][1]

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # ------------------------------------------------------------------ read

    def read(self, from_seq: int = 1) -> Iterator[Record]:
        """Records with seq >= from_seq, in order (checked again as they are read)."""
        for version, seq, ts, payload in self.read_raw(from_seq):
            yield Record(version, seq, ts, payload)

    def read_raw(self, from_seq: int = 1) -> Iterator[RawRecord]:
        """`read` as plain (version, seq, ts, payload view) tuples: the replay fast path."""
        for segment in self.segments:
            if segment.last_seq < from_seq:
                continue
            data = segment.path.read_bytes()
            if len(data) > segment.size:
                data = data[: segment.size]
            try:
                for records, _ in _frames(data, segment.first_seq):
                    for record in records:
                        if record[1] >= from_seq:
                            yield record
            except _Damage as damage:
                raise JournalCorrupted(segment.path, damage.offset, damage.reason) from None

    def drop_segments_before(self, seq: int) -> list[Path]:
        """Delete whole closed segments whose records all precede `seq` (after a snapshot)."""
        dropped = []
        while len(self.segments) > 1 and self.segments[0].last_seq < seq:
            segment = self.segments.pop(0)
            segment.path.unlink()
            dropped.append(segment.path)
        if dropped:
            fsync_directory(self.directory)
        return dropped


class _Damage(Exception):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


def _frames(data: bytes, first_seq: int) -> Iterator[tuple[list[RawRecord], int]]:
    """Yield (records, end offset) per frame of one segment, checked as they are read:
    bounds, checksum and consecutive seqs. Raises `_Damage` at the first bad frame."""
    view = memoryview(data)
    size = len(data)
    head = FRAME_HEAD.size
    unpack_frame = FRAME_HEAD.unpack_from
    unpack_record = RECORD_HEAD.unpack_from
    record_head = RECORD_HEAD.size
    offset = HEADER.size
    seq = first_seq - 1
    while offset < size:
        if offset + head > size:
            raise _Damage(offset, "frame header is incomplete")
        length, checksum = unpack_frame(data, offset)
        end = offset + head + length
        if length < COUNT.size or length > frame_bytes_max:
            raise _Damage(offset, f"impossible frame length {length}")
        if end > size:
            raise _Damage(offset, "frame body is incomplete")
        if crc32c(view[offset + head : end]) != checksum:
            raise _Damage(offset, "checksum mismatch")
        (count,) = COUNT.unpack_from(data, offset + head)
        position = offset + head + COUNT.size
        records: list[RawRecord] = []
        for _ in range(count):
            if position + record_head > end:
                raise _Damage(offset, "record overruns its frame")
            length, version, record_seq, ts = unpack_record(data, position)
            start = position + record_head
            position = start + length
            if position > end:
                raise _Damage(offset, "record overruns its frame")
            seq += 1
            if record_seq != seq:
                raise _Damage(offset, f"seq {record_seq} where {seq} was due")
            records.append((version, record_seq, ts, view[start:position]))
        if position != end:
            raise _Damage(offset, "frame has bytes after its records")
        yield records, end
        offset = end


def _valid_frame_after(data: bytes, offset: int) -> bool:
    """Whether a whole, checksummed frame starts after `offset` (then it is not a torn tail)."""
    size = len(data)
    head = FRAME_HEAD.size
    for start in range(offset + 1, size - head - COUNT.size + 1):
        length, checksum = FRAME_HEAD.unpack_from(data, start)
        end = start + head + length
        if length < COUNT.size or end > size:
            continue
        if crc32c(data[start + head : end]) == checksum:
            return True
    return False
