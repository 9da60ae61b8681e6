"""The audit trail on disk: an append-only hash chain under `DATA/audit/`.

Files `audit-<n of the first record, 12 digits>.jsonl`, in order, each a run of lines

    <hash: 64 lowercase hex> SP <body: one JSON object> LF

The body begins with `n` (1, 2, 3, ... across every file) and `prev` (the hash of record
n - 1; 64 zeros for the first), then the record (`audit_records`). `hash` is the SHA-256 of
the body's bytes as written. So a changed byte breaks that record's hash (or, in the hash
itself, the next record's `prev`); a record removed, inserted or moved breaks `n` and `prev`
where it was; and the end, which nothing follows, is held by the anchors: the head's `n` and
hash written from time to time in a second place (the database's `audit_anchors`), which
`verify` compares with the files. Command records of each shard must also follow its seq one
by one (the journal, one to one).

A crash mid-write leaves at most a last line without its LF (a torn tail): it was never
fsynced whole, so never anchored; `verify` says so and `AuditChain.open` cuts it. Anything
else wrong is damage: `open` refuses to write after it, and `verify` names the first bad
record (file and line). Nothing here deletes or rewrites a record: there is no such path.
"""

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from tradingfloor.compliance.audit_records import ACCESS, COMMAND

GENESIS = "0" * 64
HASH_HEX_LENGTH = 64
FILE_PREFIX = "audit-"
FILE_SUFFIX = ".jsonl"
segment_records_max = 1_000_000
"""Records in one file before the next file begins."""
line_bytes_max = 16 * 1024 * 1024
"""The longest line `verify` reads (a record is far smaller: commands are bounded)."""

_encoder = msgspec.json.Encoder()


class _Head(msgspec.Struct):
    """The fields of a body the chain itself reads (the rest is the record's)."""

    n: int
    prev: str
    kind: str = ""
    shard: str | None = None
    seq: int | None = None
    event_id: int | None = None


_head_decoder = msgspec.json.Decoder(_Head)


class AuditDamaged(RuntimeError):
    """The trail is not what was written: `verify` says where."""


@dataclass
class Verdict:
    """What `verify` found: `problem` is empty when the trail is whole."""

    records: int = 0
    head_hash: str = GENESIS
    problem: str = ""
    torn_tail: bool = False
    """The last line was cut short by a crash (not damage: never fsynced, never anchored)."""
    places: dict[str, int] = field(default_factory=dict)
    """The last seq of each shard's commands."""
    access_event_id: int = 0
    """The last `auth_events` row taken."""
    valid_bytes: dict[Path, int] = field(default_factory=dict)
    """Per file, the bytes up to the end of its last whole line."""

    @property
    def ok(self) -> bool:
        return not self.problem


def file_name(first_n: int) -> str:
    return f"{FILE_PREFIX}{first_n:012d}{FILE_SUFFIX}"


def chain_files(directory: Path) -> list[Path]:
    return sorted(Path(directory).glob(f"{FILE_PREFIX}*{FILE_SUFFIX}"))


def _lines(path: Path) -> Iterator[tuple[int, int, bytes, bool]]:
    """(line number, offset, line without LF, whole) of a file."""
    data = path.read_bytes()
    offset, number = 0, 0
    while offset < len(data):
        number += 1
        end = data.find(b"\n", offset)
        if end < 0:
            yield number, offset, data[offset:], False
            return
        yield number, offset, data[offset:end], True
        offset = end + 1


def verify(directory: Path, anchors: Mapping[int, str] | None = None) -> Verdict:
    """Check every record of the trail in `directory` (and the `anchors`: n -> hash)."""
    verdict = Verdict()
    anchors = dict(anchors or {})
    files = chain_files(directory)
    for index, path in enumerate(files):
        first_n = verdict.records + 1
        if path.name != file_name(first_n):
            verdict.problem = (
                f"{path.name}: record {first_n} should begin this file "
                "(a file or records removed, inserted or renamed)"
            )
            return verdict
        verdict.valid_bytes[path] = 0
        for number, offset, line, whole in _lines(path):
            where = f"{path.name} line {number}"
            if not whole:
                if index == len(files) - 1:
                    verdict.torn_tail = True
                    break
                verdict.problem = f"{where}: a line without its end inside the trail"
                return verdict
            problem = _check_line(verdict, line, anchors)
            if problem:
                verdict.problem = f"{where} (record {verdict.records + 1}): {problem}"
                return verdict
            verdict.valid_bytes[path] = offset + len(line) + 1
    for n in sorted(anchors):
        if n > verdict.records:
            verdict.problem = (
                f"record {n} is anchored but missing: the trail ends at record "
                f"{verdict.records} (records removed from its end)"
            )
            return verdict
    return verdict


def _check_line(verdict: Verdict, line: bytes, anchors: Mapping[int, str]) -> str:
    """The problem of the next record's line, or "" (and `verdict` moved past it)."""
    if len(line) > line_bytes_max:
        return f"a line of {len(line)} bytes"
    if len(line) < HASH_HEX_LENGTH + 2 or line[HASH_HEX_LENGTH : HASH_HEX_LENGTH + 1] != b" ":
        return "not a record (hash SP body)"
    written = line[:HASH_HEX_LENGTH].decode("ascii", "replace")
    body = line[HASH_HEX_LENGTH + 1 :]
    if hashlib.sha256(body).hexdigest() != written:
        return "its hash does not match its contents (the record was changed)"
    try:
        head = _head_decoder.decode(body)
    except msgspec.DecodeError as error:
        return f"its body is not a record ({error})"
    expected = verdict.records + 1
    if head.n != expected:
        return f"it says record {head.n} (records removed, inserted or reordered)"
    if head.prev != verdict.head_hash:
        return "its prev is not the hash of the record before (removed, inserted or reordered)"
    anchored = anchors.get(head.n)
    if anchored is not None and anchored != written:
        return (
            f"the anchor of record {head.n} says {anchored[:16]}..., the trail {written[:16]}..."
        )
    problem = _check_place(verdict, head)
    if problem:
        return problem
    verdict.records, verdict.head_hash = expected, written
    return ""


def _check_place(verdict: Verdict, head: _Head) -> str:
    if head.kind == COMMAND and head.shard is not None and head.seq is not None:
        last = verdict.places.get(head.shard, 0)
        if head.seq != last + 1:
            return (
                f"shard {head.shard}'s command of seq {head.seq} follows seq {last} "
                "(not the journal one to one)"
            )
        verdict.places[head.shard] = head.seq
    elif head.kind == ACCESS and head.event_id is not None:
        if head.event_id <= verdict.access_event_id:
            return f"access event {head.event_id} after {verdict.access_event_id} (repeated)"
        verdict.access_event_id = head.event_id
    elif head.kind not in (COMMAND, ACCESS):
        return f"a record of unknown kind {head.kind!r}"
    return ""


class AuditChain:
    """The writer of the trail: `open` (checks it, cuts a torn tail), then `append`."""

    def __init__(self, directory: Path, records_per_file_max: int = segment_records_max) -> None:
        self.directory = Path(directory)
        self.records_per_file_max = records_per_file_max
        self.verdict = Verdict()
        self._file: Any = None
        self._file_records = 0
        self.failure: OSError | None = None
        """A write that failed: nothing more is appended until the next `open`."""

    @property
    def records(self) -> int:
        return self.verdict.records

    @property
    def head_hash(self) -> str:
        return self.verdict.head_hash

    @property
    def places(self) -> dict[str, int]:
        return self.verdict.places

    @property
    def access_event_id(self) -> int:
        return self.verdict.access_event_id

    def open(self) -> Verdict:
        """Read the trail; cut a torn tail; refuse (`AuditDamaged`) a damaged one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        verdict = verify(self.directory)
        if not verdict.ok:
            raise AuditDamaged(
                f"the audit trail in {self.directory} is damaged: {verdict.problem}"
            )
        files = chain_files(self.directory)
        if verdict.torn_tail:
            last = files[-1]
            with last.open("r+b") as file:
                file.truncate(verdict.valid_bytes[last])
                os.fsync(file.fileno())
            verdict.torn_tail = False
        self.verdict = verdict
        if files:
            self._file = files[-1].open("ab")
            first_n = int(files[-1].name[len(FILE_PREFIX) : -len(FILE_SUFFIX)])
            self._file_records = verdict.records - first_n + 1
        return verdict

    def append(self, records: list[dict[str, Any]]) -> None:
        """Chain `records` after the head and make them durable (fsync) before returning."""
        if not records:
            return
        if self.failure is not None:
            raise AuditDamaged(f"the trail stopped taking records: {self.failure!r}")
        try:
            self._append(records)
        except OSError as error:  # what reached the disk is cut at the next open
            self.failure = error
            raise

    def _append(self, records: list[dict[str, Any]]) -> None:
        lines: list[bytes] = []
        head, n = self.verdict.head_hash, self.verdict.records
        for record in records:
            if self._file is None or self._file_records >= self.records_per_file_max:
                self._write(lines)
                lines = []
                self._next_file(n + 1)
            n += 1
            body = _encoder.encode({"n": n, "prev": head, **record})
            head = hashlib.sha256(body).hexdigest()
            lines.append(head.encode("ascii") + b" " + body + b"\n")
            self._file_records += 1
        self._write(lines)
        self.verdict.records, self.verdict.head_hash = n, head
        for record in records:
            self._advance_places(record)

    def _advance_places(self, record: Mapping[str, Any]) -> None:
        if record["kind"] == COMMAND:
            self.verdict.places[record["shard"]] = record["seq"]
        elif record["kind"] == ACCESS:
            self.verdict.access_event_id = record["event_id"]

    def _write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        self._file.write(b"".join(lines))
        self._file.flush()
        os.fsync(self._file.fileno())

    def _next_file(self, first_n: int) -> None:
        if self._file is not None:
            self._file.close()
        self._file = (self.directory / file_name(first_n)).open("ab")
        self._file_records = 0
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
