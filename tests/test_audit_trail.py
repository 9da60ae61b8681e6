"""The audit trail: a hash chain that `audit verify` proves whole, or names the first record
that was changed, removed, inserted or moved; the role that writes it from every shard's feed
and the access events, one record per journaled command, with who sent it, across restarts."""

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from tradingfloor.bench.matching import ACCOUNTS, SYMBOL, standard_workload
from tradingfloor.cli import app
from tradingfloor.compliance.audit_chain import AuditChain, AuditDamaged, chain_files, verify
from tradingfloor.compliance.audit_records import describe
from tradingfloor.compliance.audit_role import AuditRole
from tradingfloor.domain.commands import AddInstrument, Command
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.origin import Origin
from tradingfloor.journal.file import FileJournal
from tradingfloor.service.node import NodeSettings
from tradingfloor.service.shard import ShardRole
from tradingfloor.store.audit_tables import read_anchors, write_anchor
from tradingfloor.store.database import make_engine, upgrade

ALICE = Origin(user="7", key_id="key-1", source="127.0.0.1", gateway="host:1", ts_received=9)


def records(count: int, start: int = 1) -> list[dict[str, Any]]:
    return [
        {"kind": "command", "shard": "main", "seq": seq, "ts": seq, "command": {"n": seq}}
        for seq in range(start, start + count)
    ]


def written_chain(directory: Path, count: int = 6, per_file: int = 1_000) -> AuditChain:
    chain = AuditChain(directory, records_per_file_max=per_file)
    chain.open()
    chain.append(records(count))
    chain.close()
    return chain


def lines_of(directory: Path) -> list[bytes]:
    (path,) = chain_files(directory)
    return path.read_bytes().splitlines(keepends=True)


def rewrite(directory: Path, lines: list[bytes]) -> None:
    (path,) = chain_files(directory)
    path.write_bytes(b"".join(lines))


# ---------------------------------------------------------------------- the chain


def test_a_whole_trail_verifies_with_its_head_and_its_anchors(tmp_path: Path) -> None:
    chain = written_chain(tmp_path, count=5)

    verdict = verify(tmp_path, {3: _hash_of(tmp_path, 3), 5: chain.head_hash})

    assert verdict.ok, verdict.problem
    assert (verdict.records, verdict.head_hash) == (5, chain.head_hash)
    assert verdict.places == {"main": 5}


def _hash_of(directory: Path, n: int) -> str:
    return lines_of(directory)[n - 1][:64].decode()


@pytest.mark.parametrize("where", ["body", "hash"])
def test_a_changed_byte_is_found_at_its_record(tmp_path: Path, where: str) -> None:
    written_chain(tmp_path)
    lines = lines_of(tmp_path)
    line = bytearray(lines[2])
    index = line.index(b'"ts":3') + 5 if where == "body" else 10
    line[index] = ord("7") if line[index] != ord("7") else ord("8")
    lines[2] = bytes(line)
    rewrite(tmp_path, lines)

    verdict = verify(tmp_path)

    assert not verdict.ok
    # a changed hash breaks its own record's check as well: the first bad one is record 3
    assert "line 3 (record 3)" in verdict.problem


def test_a_removed_record_is_found(tmp_path: Path) -> None:
    written_chain(tmp_path)
    lines = lines_of(tmp_path)
    del lines[3]
    rewrite(tmp_path, lines)

    verdict = verify(tmp_path)

    assert "record 4" in verdict.problem and "says record 5" in verdict.problem


def test_an_inserted_record_is_found(tmp_path: Path) -> None:
    written_chain(tmp_path)
    lines = lines_of(tmp_path)
    lines.insert(2, lines[1])  # a copy of record 2, whole and with a valid hash
    rewrite(tmp_path, lines)

    verdict = verify(tmp_path)

    assert "line 3 (record 3)" in verdict.problem and "says record 2" in verdict.problem


def test_swapped_records_are_found(tmp_path: Path) -> None:
    written_chain(tmp_path)
    lines = lines_of(tmp_path)
    lines[1], lines[2] = lines[2], lines[1]
    rewrite(tmp_path, lines)

    assert "line 2 (record 2)" in verify(tmp_path).problem


def test_a_forged_record_with_its_own_hash_breaks_the_next_link(tmp_path: Path) -> None:
    import hashlib

    written_chain(tmp_path)
    lines = lines_of(tmp_path)
    body = lines[1][65:-1].replace(b'"ts":2', b'"ts":5')
    lines[1] = hashlib.sha256(body).hexdigest().encode() + b" " + body + b"\n"
    rewrite(tmp_path, lines)

    assert "line 3 (record 3)" in verify(tmp_path).problem


def test_records_cut_from_the_end_are_found_by_the_anchor(tmp_path: Path) -> None:
    written_chain(tmp_path)
    anchors = {6: _hash_of(tmp_path, 6)}
    rewrite(tmp_path, lines_of(tmp_path)[:4])

    verdict = verify(tmp_path, anchors)

    assert "record 6 is anchored but missing" in verdict.problem
    assert verify(tmp_path).ok  # the files alone cannot tell: that is what the anchor is for


def test_an_anchor_that_disagrees_is_found(tmp_path: Path) -> None:
    written_chain(tmp_path)

    verdict = verify(tmp_path, {2: "f" * 64})

    assert "line 2 (record 2)" in verdict.problem and "anchor" in verdict.problem


def test_a_gap_in_a_shards_commands_is_found(tmp_path: Path) -> None:
    chain = AuditChain(tmp_path)
    chain.open()
    chain.append(records(2) + records(1, start=4))

    assert "seq 4 follows seq 2" in verify(tmp_path).problem


def test_files_follow_each_other_and_a_removed_file_is_found(tmp_path: Path) -> None:
    written_chain(tmp_path, count=7, per_file=3)
    files = chain_files(tmp_path)
    assert [path.name[6:18] for path in files] == ["000000000001", "000000000004", "000000000007"]
    assert verify(tmp_path).ok

    files[1].unlink()

    assert "record 4 should begin this file" in verify(tmp_path).problem


def test_a_torn_tail_is_no_damage_and_the_next_open_cuts_it(tmp_path: Path) -> None:
    written_chain(tmp_path, count=4)
    (path,) = chain_files(tmp_path)
    with path.open("ab") as file:
        file.write(b'0123abcd {"n":5,')  # a crash in the middle of record 5

    verdict = verify(tmp_path)
    assert verdict.ok and verdict.torn_tail and verdict.records == 4

    chain = AuditChain(tmp_path)
    chain.open()
    chain.append(records(1, start=5))
    chain.close()

    again = verify(tmp_path)
    assert again.ok and not again.torn_tail and again.records == 5


def test_a_damaged_trail_is_never_written_after(tmp_path: Path) -> None:
    written_chain(tmp_path)
    lines = lines_of(tmp_path)
    del lines[1]
    rewrite(tmp_path, lines)

    with pytest.raises(AuditDamaged, match="record 2"):
        AuditChain(tmp_path).open()


def test_audit_verify_exits_0_with_the_head_or_1_naming_the_bad_record(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    upgrade(f"sqlite:///{data / 'tradingfloor.db'}")
    chain = written_chain(data / "audit")
    runner = CliRunner()

    whole = runner.invoke(app, ["audit", "verify", "--data", str(data)])
    assert whole.exit_code == 0, whole.output
    assert chain.head_hash in whole.output

    lines = lines_of(data / "audit")
    rewrite(data / "audit", [*lines[:5], lines[5][:-1]])  # the last record's end changed
    torn = runner.invoke(app, ["audit", "verify", "--data", str(data)])
    assert torn.exit_code == 1
    assert "the line after record 5 has no end" in torn.output

    engine = make_engine(f"sqlite:///{data / 'tradingfloor.db'}")
    write_anchor(engine, 6, chain.head_hash, 1)
    engine.dispose()
    rewrite(data / "audit", lines[:5])
    cut = runner.invoke(app, ["audit", "verify", "--data", str(data)])
    assert cut.exit_code == 1
    assert "record 6 is anchored but missing" in cut.output


# ---------------------------------------------------------------------- the role


class Access:
    """`auth_events` rows, as the role reads them."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, kind: str, ts: int = 1) -> None:
        self.rows.append(
            {
                "event_id": len(self.rows) + 1,
                "ts": ts,
                "kind": kind,
                "user_id": 7,
                "username": "alice",
                "actor_user_id": None,
                "source": "127.0.0.1",
                "detail": "",
            }
        )

    def after(self, event_id: int, ts_before: int, limit: int) -> list[Mapping[str, Any]]:
        return [r for r in self.rows if r["event_id"] > event_id and r["ts"] < ts_before][:limit]


class Anchors:
    def __init__(self) -> None:
        self.written: dict[int, str] = {}

    def write(self, n: int, head_hash: str, ts: int) -> None:
        self.written[n] = head_hash


@pytest.fixture
async def shard(tmp_path: Path) -> AsyncIterator[ShardRole]:
    role = ShardRole(NodeSettings(tmp_path / "shard", fsync=False))
    await role.start()
    yield role
    await role.stop()


def commands(count: int) -> list[Command]:
    workload = standard_workload(count)
    return [AddInstrument(Instrument(SYMBOL, tick_size=1)), *workload.commands]


async def audited(shard: ShardRole, trail: Path, access: Access, anchors: Anchors) -> AuditRole:
    role = AuditRole({"main": shard}, AuditChain(trail), access, anchors)
    await role.start()
    await role.poll_access_once()
    return role


def trail_records(trail: Path) -> list[dict[str, Any]]:
    found = []
    for path in chain_files(trail):
        for line in path.read_bytes().splitlines():
            found.append(msgspec.json.decode(line[65:]))
    return found


def journal_entries(shard_dir: Path) -> list[Any]:
    journal = FileJournal(shard_dir / "journal")
    journal.open_sync()
    try:
        return list(journal.read(1))
    finally:
        journal.log.close()


async def test_the_trail_holds_every_journaled_command_once_with_who_sent_it(
    shard: ShardRole, tmp_path: Path
) -> None:
    access, anchors = Access(), Anchors()
    sent = commands(40)
    for command in sent[:20]:
        await shard.submit(command, ALICE)
    access.add("login")
    role = await audited(shard, tmp_path / "audit", access, anchors)
    for command in sent[20:]:
        await shard.submit(command)  # no origin: a command of an older client
    await role.follower.caught_up()  # type: ignore[union-attr]
    access.add("login_failed")
    await role.poll_access_once()
    await role.stop()

    found = trail_records(tmp_path / "audit")
    entries = journal_entries(tmp_path / "shard")
    commanded = [record for record in found if record["kind"] == "command"]
    assert [(r["seq"], r["command"]) for r in commanded] == [
        (entry.seq, describe(entry.command)) for entry in entries
    ]
    assert commanded[1]["origin"] == {
        "user": "7",
        "key_id": "key-1",
        "fix_session": "",
        "source": "127.0.0.1",
        "gateway": "host:1",
        "role": "",
        "ts_received": 9,
    }
    assert commanded[-1]["origin"]["user"] == ""
    assert any(event["type"] == "OrderAccepted" for r in commanded for event in r["events"])
    assert [r["event"] for r in found if r["kind"] == "access"] == ["login", "login_failed"]
    verdict = verify(tmp_path / "audit", anchors.written)
    assert verdict.ok and anchors.written, verdict.problem
    assert max(anchors.written) == verdict.records


async def test_a_restart_resumes_with_no_gap_and_no_repeat(
    shard: ShardRole, tmp_path: Path
) -> None:
    access, anchors = Access(), Anchors()
    sent = commands(60)
    for command in sent[:30]:
        await shard.submit(command, ALICE)
    access.add("login")
    first = await audited(shard, tmp_path / "audit", access, anchors)
    await first.stop()
    for command in sent[30:]:
        await shard.submit(command, ALICE)
    access.add("api_key_created")

    second = await audited(shard, tmp_path / "audit", access, anchors)
    await second.stop()

    found = trail_records(tmp_path / "audit")
    seqs = [r["seq"] for r in found if r["kind"] == "command"]
    assert seqs == list(range(1, await shard.last_seq() + 1))
    assert [r["event_id"] for r in found if r["kind"] == "access"] == [1, 2]
    assert verify(tmp_path / "audit", anchors.written).ok


async def test_a_trail_torn_by_a_crash_is_cut_and_continued(
    shard: ShardRole, tmp_path: Path
) -> None:
    access, anchors = Access(), Anchors()
    for command in commands(20):
        await shard.submit(command, ALICE)
    role = await audited(shard, tmp_path / "audit", access, anchors)
    await role.stop()
    (path,) = chain_files(tmp_path / "audit")
    data = path.read_bytes()
    last = data.rindex(b"\n", 0, len(data) - 1)
    path.write_bytes(data[: last + 40])  # the last record torn mid-line, as kill -9 leaves it

    again = await audited(shard, tmp_path / "audit", access, Anchors())
    await again.stop()

    seqs = [r["seq"] for r in trail_records(tmp_path / "audit") if r["kind"] == "command"]
    assert seqs == list(range(1, await shard.last_seq() + 1))


async def test_anchors_go_to_the_database_and_verify_reads_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        write_anchor(engine, 2, "a" * 64, 1)
        write_anchor(engine, 5, "b" * 64, 2)
        assert read_anchors(engine) == {2: "a" * 64, 5: "b" * 64}
    finally:
        engine.dispose()


@pytest.mark.parametrize("format", ["csv", "parquet"])
async def test_the_audit_export_reads_back_equal_to_the_trail(
    shard: ShardRole, tmp_path: Path, format: str
) -> None:
    import csv
    import io

    import pyarrow.parquet

    from tradingfloor.compliance.export_writer import write_export
    from tradingfloor.compliance.exports import EXPORT_KINDS, ExportQuery

    access = Access()
    for command in commands(30):
        await shard.submit(command, ALICE)
    access.add("login")
    role = await audited(shard, tmp_path / "audit", access, Anchors())
    await role.stop()
    out = io.BytesIO()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    with engine.connect() as connection:
        query = ExportQuery(0, 2**62, audit_dir=tmp_path / "audit", chunk_rows=7)
        written = write_export(EXPORT_KINDS["audit"], format, connection, query, out)
        by_account = ExportQuery(0, 2**62, [ACCOUNTS[0]], audit_dir=tmp_path / "audit")
        mine = EXPORT_KINDS["audit"].count(connection, by_account)
    engine.dispose()

    if format == "parquet":
        rows = pyarrow.parquet.read_table(io.BytesIO(out.getvalue())).to_pylist()
    else:
        rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    chained = trail_records(tmp_path / "audit")
    hashes = [line[:64].decode() for line in lines_of(tmp_path / "audit")]
    assert written == len(rows) == len(chained) > 30
    for row, record, hash_hex in zip(rows, chained, hashes, strict=True):
        assert (str(row["n"]), row["hash"], row["kind"]) == (
            str(record["n"]),
            hash_hex,
            record["kind"],
        )
        if record["kind"] == "command":
            assert row["action"] == record["command"]["type"]
            assert row["key_id"] == "key-1" and str(row["seq"]) == str(record["seq"])
            assert msgspec.json.decode(row["detail"])["events"] == record["events"]
        else:
            assert row["action"] == "login"
    placed = [
        r for r in chained if r["kind"] == "command" and r["command"]["type"] != "AddInstrument"
    ]
    assert 0 < mine <= len(placed)
