"""Append-only segment files of checksummed frames of records.

File format (all integers little-endian):

    segment = header frame*
    header  = magic "TFJ1" (4 bytes) | format u16 = 2 | kind u16 | first_seq u64      (16 bytes)
    frame   = length u32 | crc u32 | body                                           (8 + length)
    body    = count u32 | record{count}
    record  = payload_length u32 | version u8 | seq u64 | ts i64 | payload   (21 + payload_length)

One `append` is one frame, written with one write and (by policy) one fsync; `crc` is CRC32C
of the frame's body. Sequence numbers are consecutive across all records of all segments. A
segment is named `<prefix>-<first_seq:020>.log` and is closed when the next frame would take it
past its size limit (a frame bigger than the limit gets a segment of its own).

A segment may be preallocated: zero-filled to its size limit and fsynced when it is created,
then written in place, so that the fdatasync after an append has no new file size to commit.
The logical end of a segment is the end of its last whole frame; after it the file holds only
zeros, if anything. A frame's length is never 0, so an all-zero frame header (or fewer than 8
bytes, all zero, at the end of the file) is the end of the log.

The frame is the unit of durability: a caller is answered only once its whole frame is on
disk. So on open, a damaged last frame of the newest segment with no whole frame after it (a
write the crash left incomplete, however its pages reached the disk), followed by zeros or by
nothing, is a torn tail: it is zeroed (a preallocated segment keeps its size) or cut off (one
that is not). Damage anywhere else, including non-zero bytes after the end of the log in a
closed segment, stops the open with `JournalCorrupted` naming the segment and the offset of the
frame. A newest segment whose header never became whole (created, then the crash) has no
records and is removed.

The next segment is prepared ahead (zero-filled and fsynced as `<prefix>-next.tmp` in a
background thread once the current one is half full) and renamed into place at rotation, so
that zero-filling does not stall the writer; a `.tmp` left by a crash is removed on open.

A failed append (a full disk, a failed fdatasync) is undone before the log takes another
(`rollback`): whatever it may have left after the logical end of the newest segment is cut off
(a segment that is not preallocated is truncated there) or written over with zeros (a
preallocated one, up to its size), then fsynced. The range is rewritten rather than trusted:
after a failed fdatasync Linux may mark the pages clean and keep them, or write them later
("fsyncgate"), so only a rewrite that is fsynced says what is on disk. A failed rotation leaves
the log as it was: the new segment (or the prepared `.tmp`) is removed, the current one stays
open. So the log never holds a frame whose writer was told it failed, and a rollback that
itself fails leaves a torn tail that the next open cuts.
"""

import contextlib
import os
import re
import struct
import threading
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
ZERO_CHUNK = bytes(1024 * 1024)
"""Zero-filling and zero-checking go a chunk of this size at a time."""
_ZEROS = memoryview(ZERO_CHUNK)
_NONZERO = re.compile(rb"[^\x00]")


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
    size: int  # the logical size: the end of the last whole frame


class SegmentedLog:
    """One append-only log in a directory: open, append batches, read from any sequence number.

    Not thread-safe: one writer (the sequencer) owns it. `preallocate` (by default: when each
    append is fsynced) zero-fills each segment to `segment_bytes_max` before it takes records.
    """

    def __init__(
        self,
        directory: Path,
        prefix: str = "journal",
        kind: int = 1,
        segment_bytes_max: int = 64 * 1024 * 1024,
        fsync: bool = True,
        preallocate: bool | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.prefix = prefix
        self.kind = kind
        self.segment_bytes_max = segment_bytes_max
        self.fsync = fsync
        self.preallocate = fsync if preallocate is None else preallocate
        self.segments: list[Segment] = []
        self.torn_bytes_cut = 0
        self._base_seq = 0
        self._fd: int | None = None
        self._next: _NextSegment | None = None
        self._failed_end: int | None = None
        """Where the bytes of a failed append may end in the newest segment, until `rollback`."""

    @property
    def next_path(self) -> Path:
        """Where the next segment is prepared before it is renamed into place."""
        return self.directory / f"{self.prefix}-next.tmp"

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
        self._failed_end = None
        if read_only and not self.directory.is_dir():
            raise FileNotFoundError(f"no log directory {self.directory}")
        self.directory.mkdir(parents=True, exist_ok=True)
        if not read_only:
            self.next_path.unlink(missing_ok=True)  # half-prepared when the last run ended
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
        magic, fmt, kind, first_seq = HEADER.unpack_from(data.ljust(HEADER.size, b"\0"))
        if (
            len(data) < HEADER.size
            or magic != MAGIC
            or fmt != FORMAT
            or kind != self.kind
            or first_seq == 0  # seqs start at 1: the seq was not written
        ):
            if newest and not read_only and _zeros_from(data, HEADER.size):
                # created (preallocated or not), its header not yet whole when it died: it has
                # no records
                path.unlink()
                return None
            if len(data) < HEADER.size or first_seq == 0:
                raise JournalCorrupted(path, 0, "segment header is incomplete")
            raise JournalCorrupted(path, 0, f"not a kind-{self.kind} segment of format {FORMAT}")
        if expected is not None and first_seq != expected:
            raise JournalCorrupted(
                path, 0, f"starts at seq {first_seq}, expected {expected}: a segment is missing"
            )
        seq = first_seq - 1
        offset = HEADER.size
        damage: _Damage | None = None
        try:
            for records, end in _frames(data, first_seq):
                if on_frame is not None and seq + len(records) >= from_seq:
                    on_frame(records if seq + 1 >= from_seq else records[from_seq - seq - 1 :])
                seq += len(records)
                offset = end
        except _Damage as error:
            damage = error
        if damage is None and not _zeros_from(data, offset):
            damage = _Damage(offset, "bytes after the end of the log")
        if damage is not None and (not newest or _valid_frame_after(data, damage.offset, seq)):
            raise JournalCorrupted(path, damage.offset, damage.reason)
        # else any damage is a torn tail: `seq` and `offset` stop at the last whole frame
        if damage is not None:
            truncate = not (read_only or self.preallocate)
            # what is cut: up to the end of the file when truncating, else up to the last
            # non-zero byte (the zeros after it are a preallocated segment's free space)
            damaged_end = len(data) if truncate else _nonzero_end(data, offset)
            self.torn_bytes_cut += damaged_end - offset
            if not read_only:
                self._cut(path, offset, damaged_end)
        return Segment(path, first_seq, seq, offset)

    def _cut(self, path: Path, offset: int, damaged_end: int) -> None:
        """Zero out the damage in [offset, damaged_end) (preallocated), or truncate at offset."""
        fd = os.open(path, os.O_WRONLY)
        try:
            if self.preallocate:
                _write_zeros(fd, offset, damaged_end)
            else:
                os.ftruncate(fd, offset)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _open_for_append(self) -> None:
        if not self.segments:
            self._start_segment(self.last_seq + 1)
            return
        segment = self.segments[-1]
        self._fd = os.open(segment.path, os.O_WRONLY)
        if self.preallocate:
            # a segment written without preallocation, now to be: fill it to its limit
            file_size = os.fstat(self._fd).st_size
            if file_size < self.segment_bytes_max:
                _write_zeros(self._fd, file_size, self.segment_bytes_max)
                os.fsync(self._fd)

    def _start_segment(self, first_seq: int) -> None:
        """Create the segment that starts at `first_seq` and append to it from now on.

        If that fails, the log stays as it was: the current segment stays open, and no
        half-made segment is left behind to block the next attempt.
        """
        path = self.directory / f"{self.prefix}-{first_seq:020d}.log"
        if path.exists():
            raise FileExistsError(f"segment {path} already exists")
        if self._fd is not None:
            os.fsync(self._fd)  # a closed segment is whole on disk, whatever the fsync policy
        try:
            fd = self._create_segment(path, first_seq)
        except BaseException:
            self._remove_unfinished(path)
            raise
        if self._fd is not None:
            os.close(self._fd)
        self._fd = fd
        self.segments.append(Segment(path, first_seq, first_seq - 1, HEADER.size))

    def _create_segment(self, path: Path, first_seq: int) -> int:
        """The new segment's file, its header written and fsynced: its descriptor."""
        header = HEADER.pack(MAGIC, FORMAT, self.kind, first_seq)
        if self.preallocate:
            prepared = self._next
            self._next = None
            if prepared is None:
                prepared = _NextSegment(self.next_path, self.segment_bytes_max, background=False)
            prepared.wait()  # ready at once if it was prepared ahead or inline
            os.rename(prepared.path, path)
            fd = os.open(path, os.O_WRONLY)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            _write_all(fd, header, 0, path)
            os.fsync(fd)
            fsync_directory(self.directory)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _remove_unfinished(self, path: Path) -> None:
        """Remove a segment whose creation failed, and the prepared file it may have come from.

        Best effort: one that comes back after a crash has no whole header, or no records, and
        opens as such (see the module's rules).
        """
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.next_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            fsync_directory(self.directory)

    # ------------------------------------------------------------------ write

    def append(self, records: list[tuple[int, int, int, bytes]]) -> None:
        """Append (version, seq, ts, payload) records in one write and, by policy, one fsync.

        Sequence numbers must continue the log. A failed write raises and leaves the log
        refusing appends until `rollback` has undone it.
        """
        if not records:
            return
        if self._fd is None:
            raise RuntimeError("log is not open")
        if self._failed_end is not None:
            raise RuntimeError(f"a failed append to {self.segments[-1].path} is not rolled back")
        segment = self.segments[-1]
        expected = segment.last_seq + 1
        for offset, record in enumerate(records):
            if record[1] != expected + offset:
                raise ValueError(f"record seq {record[1]} does not continue the log at {expected}")
        data = encode_frame(records)
        if (
            segment.size + len(data) > self.segment_bytes_max
            and segment.last_seq >= segment.first_seq
        ):
            self._start_segment(expected)  # on failure the log is as it was
            segment = self.segments[-1]
        try:
            _write_all(self._fd, data, segment.size, segment.path)
            if self.fsync:
                os.fdatasync(self._fd)
        except BaseException:
            self._failed_end = segment.size + len(data)
            raise
        segment.size += len(data)
        segment.last_seq = records[-1][1]
        if self.preallocate and self._next is None and segment.size * 2 >= self.segment_bytes_max:
            self._next = _NextSegment(self.next_path, self.segment_bytes_max, background=True)

    def rollback(self) -> None:
        """Undo a failed `append` on disk (see the module's rules): rewrite what it may have
        left after the logical end of the newest segment, then fsync. Nothing to do when the
        append failed before it wrote (a rotation that failed undoes itself). Raises when this
        fails too: the log must then not be appended to before it is opened again.
        """
        end = self._failed_end
        if end is None:
            return
        if self._fd is None:
            raise RuntimeError("log is not open")
        segment = self.segments[-1]
        if self.preallocate:
            size = max(self.segment_bytes_max, segment.size)  # the file's size before the append
            _write_zeros(self._fd, segment.size, min(end, size))
            if os.fstat(self._fd).st_size > size:
                os.ftruncate(self._fd, size)
        else:
            os.ftruncate(self._fd, segment.size)
        os.fsync(self._fd)
        self._failed_end = None

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._next is not None:
            self._next.wait(raise_error=False)
            self._next = None
            self.next_path.unlink(missing_ok=True)
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
            size = segment.size  # the logical size: never the zeros after it
            with segment.path.open("rb") as file:
                data = file.read(size)
            try:
                for records, _ in _frames(data, segment.first_seq):
                    for record in records:
                        if record[1] >= from_seq:
                            yield record
            except _Damage as damage:
                raise JournalCorrupted(segment.path, damage.offset, damage.reason) from None
            if len(data) < size:
                raise JournalCorrupted(segment.path, len(data), "segment is shorter than written")

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


class _NextSegment:
    """A zero-filled, fsynced file of `size` bytes at `path`, made in a thread or inline."""

    def __init__(self, path: Path, size: int, background: bool) -> None:
        self.path = path
        self.size = size
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(
                target=self._make, name=f"prepare {path.name}", daemon=True
            )
            self._thread.start()
        else:
            self._make()

    def _make(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_zeros(fd, 0, self.size)
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException as error:  # handed to the writer in `wait`
            self._error = error
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)  # a full disk: give back what it took

    def wait(self, raise_error: bool = True) -> None:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None and raise_error:
            raise self._error


def _write_all(fd: int, data: bytes, offset: int, path: Path) -> None:
    """Write all of `data` at `offset`. A short write goes on with the rest, so that a full
    disk raises its own error (ENOSPC) rather than a count."""
    written = os.pwrite(fd, data, offset)
    while written < len(data):
        more = os.pwrite(fd, memoryview(data)[written:], offset + written)
        if more <= 0:
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        written += more


def _write_zeros(fd: int, start: int, end: int) -> None:
    """Write real zeros (not holes or unwritten extents) over [start, end) of a file."""
    position = start
    while position < end:
        count = min(len(ZERO_CHUNK), end - position)
        written = os.pwrite(fd, _ZEROS[:count], position)
        if written <= 0:
            raise OSError(f"zero-filling stopped at {position} of {end} bytes")
        position += written


def _zeros_from(data: bytes, offset: int) -> bool:
    """Whether every byte of `data` from `offset` on is zero (a chunk at a time, in C)."""
    size = len(data)
    chunk = len(ZERO_CHUNK)
    while offset + chunk <= size:
        if not data.startswith(ZERO_CHUNK, offset):
            return False
        offset += chunk
    return offset >= size or data.startswith(_ZEROS[: size - offset], offset)


def _nonzero_end(data: bytes, offset: int) -> int:
    """The end of the last non-zero byte of `data` at or after `offset` (`offset` if none)."""
    chunk = len(ZERO_CHUNK)
    end = len(data)
    while end > offset:
        start = max(offset, end - chunk)
        if not data.startswith(_ZEROS[: end - start], start):
            return start + len(data[start:end].rstrip(b"\0"))
        end = start
    return offset


class _Damage(Exception):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


def _frames(data: bytes, first_seq: int) -> Iterator[tuple[list[RawRecord], int]]:
    """Yield (records, end offset) per frame of one segment, checked as they are read:
    bounds, checksum and consecutive seqs, up to the end of the data or of the log (an all-zero
    frame header). Raises `_Damage` at the first bad frame."""
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
            if _zeros_from(data, offset):
                return  # the end of the log: zeros, too few for a frame header
            raise _Damage(offset, "frame header is incomplete")
        length, checksum = unpack_frame(data, offset)
        if length == 0 and checksum == 0:
            return  # the end of the log: an all-zero frame header
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


def _valid_frame_after(data: bytes, offset: int, last_seq: int) -> bool:
    """Whether a whole, checksummed frame starts after `offset` (then it is not a torn tail).

    `last_seq` is the seq of the last record before `offset`. A frame's length is never 0, so
    a candidate start whose 4 length bytes are all zero is skipped, and runs of zeros are
    crossed in C rather than a byte at a time. The checksum, which may span megabytes, is
    computed only for a candidate whose first record could follow: its seq after `last_seq`
    by no more than the records that fit before it.
    """
    size = len(data)
    view = memoryview(data)
    head = FRAME_HEAD.size
    unpack_frame = FRAME_HEAD.unpack_from
    unpack_count = COUNT.unpack_from
    unpack_record = RECORD_HEAD.unpack_from
    last_start = size - head - COUNT.size
    start = offset + 1
    while start <= last_start:
        length, checksum = unpack_frame(data, start)
        if length == 0:
            nonzero = _next_nonzero(data, start + 4)
            if nonzero < 0:
                return False
            start = max(start + 1, nonzero - 3)  # the first start whose length has that byte
            continue
        end = start + head + length
        if COUNT.size <= length <= frame_bytes_max and end <= size:
            # cheap checks of what `_frames` would require, before the checksum
            (count,) = unpack_count(data, start + head)
            if count == 0:
                plausible = length == COUNT.size
            else:
                first = start + head + COUNT.size
                plausible = COUNT.size + count * RECORD_HEAD.size <= length
                if plausible:
                    payload_length, _, seq, _ = unpack_record(data, first)
                    plausible = (
                        first + RECORD_HEAD.size + payload_length <= end
                        and last_seq < seq <= last_seq + 1 + (start - offset) // RECORD_HEAD.size
                    )
            if plausible and crc32c(view[start + head : end]) == checksum:
                return True
        start += 1
    return False


def _next_nonzero(data: bytes, offset: int) -> int:
    """The offset of the first non-zero byte at or after `offset`, or -1 if there is none."""
    size = len(data)
    chunk = len(ZERO_CHUNK)
    while offset < size:
        window = min(size, offset + 4096)
        found = _NONZERO.search(data, offset, window)
        if found is not None:
            return found.start()
        offset = window
        while offset + chunk <= size and data.startswith(ZERO_CHUNK, offset):
            offset += chunk  # a long run of zeros, crossed a chunk at a time
    return -1
