"""Snapshots, recovery (newest valid snapshot + journal replay), the engine's snapshot/restore,
and the operator's `tradingfloor journal verify|inspect|compact` commands."""

import random
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradingfloor.bench.matching import standard_workload
from tradingfloor.cli import app
from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    Command,
    ExpireOrders,
    PlaceOrder,
    ReplaceOrder,
)
from tradingfloor.domain.enums import OrderType, SelfTradePrevention, Side, TimeInForce
from tradingfloor.domain.events import Event, StopTriggered, TradeExecuted
from tradingfloor.domain.instruments import Instrument
from tradingfloor.engine import Engine
from tradingfloor.engine.state import decode_state
from tradingfloor.journal.codec import COMMAND_VERSION, Entry, UnknownRecordVersion, on_the_feed
from tradingfloor.journal.file import FileJournal
from tradingfloor.journal.recovery import RecoveryError, recover
from tradingfloor.journal.segments import JournalCorrupted
from tradingfloor.journal.snapshots import (
    SNAPSHOT_HEADER,
    SnapshotStore,
    read_snapshot,
)

WORKLOAD_OPS = 20_000
SEGMENT_BYTES = 64 * 1024  # about 1,600 standard-workload records per segment


@cache
def workload_commands() -> tuple[Command, ...]:
    """AddInstrument at seq 1, then `standard_workload(20_000)` at seqs 2..20_001."""
    workload = standard_workload(WORKLOAD_OPS)
    return (AddInstrument(workload.instrument), *workload.commands)


def ts_of(seq: int) -> int:
    return 1_700_000_000_000_000_000 + seq * 1_000


@cache
def replay_hashes(*at_seqs: int) -> dict[int, str]:
    """State hash after seq for each of `at_seqs`, by applying the commands from seq 1."""
    engine = Engine()
    hashes = {}
    for seq, command in enumerate(workload_commands(), start=1):
        engine.apply(command, seq, ts_of(seq))
        if seq in at_seqs:
            hashes[seq] = engine.state_hash()
    return hashes


@cache
def engine_state_at(seq_wanted: int) -> bytes:
    engine = Engine()
    for seq, command in enumerate(workload_commands()[:seq_wanted], start=1):
        engine.apply(command, seq, ts_of(seq))
    return engine.snapshot()


def build_data(
    data: Path, snapshot_seqs: tuple[int, ...] = (), last_seq: int | None = None
) -> tuple[FileJournal, SnapshotStore]:
    """A node's data dir: the workload journaled (segments of 64 KiB) and snapshots."""
    commands = workload_commands()[: last_seq or len(workload_commands())]
    journal = FileJournal(data / "journal", fsync=False, segment_bytes_max=SEGMENT_BYTES)
    journal.open_sync()
    entries = [Entry(seq, ts_of(seq), c) for seq, c in enumerate(commands, start=1)]
    for start in range(0, len(entries), 1_000):
        journal.append_sync(entries[start : start + 1_000])
    journal.log.close()
    snapshots = SnapshotStore(data / "snapshots", keep=10)
    for seq in snapshot_seqs:
        snapshots.write(seq, engine_state_at(seq))
    return reopened(data)


def reopened(data: Path) -> tuple[FileJournal, SnapshotStore]:
    return (
        FileJournal(data / "journal", fsync=False, segment_bytes_max=SEGMENT_BYTES),
        SnapshotStore(data / "snapshots", keep=10),
    )


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x20
    path.write_bytes(data)


LAST = WORKLOAD_OPS + 1


# ---------------------------------------------------------------- snapshot files


def test_a_snapshot_is_written_and_read_back(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    state = engine_state_at(700)

    written = store.write(700, state)
    loaded = read_snapshot(written.path)

    assert loaded == written
    assert (loaded.seq, loaded.state) == (700, state)
    assert loaded.state_hash == Engine.restore(state).state_hash() == replay_hashes(700)[700]
    assert written.path.name == f"snapshot-{700:020d}.snap"
    assert list((tmp_path / "snapshots").glob("*.tmp")) == []
    assert store.newest_valid().snapshot == written


def test_only_the_newest_snapshots_are_kept(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=2)
    for seq in (10, 20, 30, 40):
        store.write(seq, engine_state_at(seq))

    assert [read_snapshot(p).seq for p in store.paths()] == [30, 40]
    assert store.newest_valid(at_most_seq=35).snapshot.seq == 30  # type: ignore[union-attr]
    assert store.newest_valid(at_most_seq=29).snapshot is None


def _flip_payload(path: Path) -> None:
    flip_byte(path, SNAPSHOT_HEADER.size + 5)


def _flip_hash(path: Path) -> None:
    flip_byte(path, SNAPSHOT_HEADER.size - 3)


def _flip_crc(path: Path) -> None:
    flip_byte(path, SNAPSHOT_HEADER.size - 33)


def _truncate_payload(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1])


def _truncate_header(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: SNAPSHOT_HEADER.size - 1])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _wrong_magic(path: Path) -> None:
    path.write_bytes(b"TFJ1" + path.read_bytes()[4:])


def _extra_bytes(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\0")


@pytest.mark.parametrize(
    "damage",
    [
        _flip_payload,
        _flip_hash,
        _flip_crc,
        _truncate_payload,
        _truncate_header,
        _empty,
        _wrong_magic,
        _extra_bytes,
    ],
)
def test_a_damaged_newest_snapshot_falls_back_to_the_one_before(
    tmp_path: Path, damage: object
) -> None:
    store = SnapshotStore(tmp_path)
    older = store.write(500, engine_state_at(500))
    newest = store.write(900, engine_state_at(900))
    damage(newest.path)  # type: ignore[operator]

    load = store.newest_valid()

    assert load.snapshot == older
    assert [path for path, _ in load.skipped] == [newest.path]
    with pytest.raises(ValueError):
        read_snapshot(newest.path)


# ---------------------------------------------------------------- recovery


def test_recovery_from_a_snapshot_equals_a_full_replay(tmp_path: Path) -> None:
    journal, snapshots = build_data(tmp_path, snapshot_seqs=(5_000, 12_345))
    assert len(list((tmp_path / "journal").glob("*.log"))) > 5

    recovered = recover(journal, snapshots)

    assert recovered.snapshot_seq == 12_345
    assert recovered.replayed == LAST - 12_345
    assert recovered.last_seq == journal.last_seq == LAST
    assert recovered.engine.state_hash() == replay_hashes(LAST)[LAST]
    assert recovered.skipped_snapshots == []


def test_recovery_without_a_snapshot_replays_from_seq_1(tmp_path: Path) -> None:
    journal, snapshots = build_data(tmp_path)

    recovered = recover(journal, snapshots)

    assert (recovered.snapshot_seq, recovered.replayed) == (0, LAST)
    assert recovered.engine.state_hash() == replay_hashes(LAST)[LAST]


def test_recovery_passes_over_a_damaged_newest_snapshot(tmp_path: Path) -> None:
    journal, snapshots = build_data(tmp_path, snapshot_seqs=(5_000, 12_345))
    newest = snapshots.paths()[-1]
    flip_byte(newest, SNAPSHOT_HEADER.size + 100)

    recovered = recover(journal, snapshots)

    assert recovered.snapshot_seq == 5_000
    assert [path for path, _ in recovered.skipped_snapshots] == [newest]
    assert recovered.engine.state_hash() == replay_hashes(LAST)[LAST]


def test_recovery_to_an_earlier_snapshot_hands_on_the_events_after_a_seq(tmp_path: Path) -> None:
    journal, snapshots = build_data(tmp_path, snapshot_seqs=(5_000, 12_345))
    seen: list[tuple[int, int, list[Event]]] = []

    recovered = recover(
        journal,
        snapshots,
        at_most_seq=6_000,
        on_events=lambda seq, ts, events: seen.append((seq, ts, events)),
        events_after=7_000,
    )

    assert recovered.snapshot_seq == 5_000
    engine = Engine()
    expected = []
    for seq, command in enumerate(workload_commands(), start=1):
        events = engine.apply(command, seq, ts_of(seq))
        if seq > 7_000:  # as the feed carries them: the command first (none sent it)
            expected.append((seq, ts_of(seq), on_the_feed(seq, ts_of(seq), command, None, events)))
    assert seen == expected


def test_recovery_cuts_a_torn_journal_tail(tmp_path: Path) -> None:
    journal, snapshots = build_data(tmp_path, snapshot_seqs=(5_000,))
    newest = sorted((tmp_path / "journal").glob("*.log"))[-1]
    with newest.open("r+b") as file:
        file.truncate(newest.stat().st_size - 3)

    recovered = recover(journal, snapshots)

    assert recovered.last_seq == LAST - 1
    assert recovered.engine.state_hash() == replay_hashes(LAST - 1)[LAST - 1]
    assert journal.log.torn_bytes_cut > 0


def test_recovery_refuses_a_journal_compacted_past_the_only_valid_snapshot(
    tmp_path: Path,
) -> None:
    journal, snapshots = build_data(tmp_path, snapshot_seqs=(3_000, 15_000))
    journal.open_sync(after_seq=15_000)
    dropped = journal.compact(15_000)
    journal.log.close()
    assert dropped
    flip_byte(snapshots.paths()[-1], SNAPSHOT_HEADER.size + 1)  # only 3,000 is valid now
    journal, snapshots = reopened(tmp_path)

    with pytest.raises(RecoveryError):
        recover(journal, snapshots)


def test_recovery_refuses_a_compacted_journal_and_no_snapshot(tmp_path: Path) -> None:
    journal, snapshots = build_data(tmp_path, snapshot_seqs=(15_000,))
    journal.open_sync(after_seq=15_000)
    assert journal.compact(15_000)
    journal.log.close()
    snapshots.paths()[0].unlink()
    journal, snapshots = reopened(tmp_path)

    with pytest.raises(RecoveryError):
        recover(journal, snapshots)


def test_recovery_of_a_compacted_journal_from_its_snapshot(tmp_path: Path) -> None:
    journal, snapshots = build_data(tmp_path, snapshot_seqs=(15_000,))
    journal.open_sync(after_seq=15_000)
    assert journal.compact(15_000)
    journal.log.close()
    journal, snapshots = reopened(tmp_path)

    recovered = recover(journal, snapshots)

    assert journal.first_seq > 1
    assert recovered.engine.state_hash() == replay_hashes(LAST)[LAST]


def test_recovery_refuses_a_snapshot_ahead_of_the_journal(tmp_path: Path) -> None:
    # The journal is the truth: a snapshot past its end (the journal lost records the snapshot
    # covers) leaves no seq the sequencer could continue the journal with.
    build_data(tmp_path / "long", snapshot_seqs=(1_000,), last_seq=1_000)
    journal, _ = build_data(tmp_path, last_seq=900)
    (tmp_path / "long" / "snapshots").rename(tmp_path / "snapshots")
    journal, snapshots = reopened(tmp_path)

    with pytest.raises(RecoveryError):
        recovered = recover(journal, snapshots)
        assert (recovered.last_seq, journal.last_seq) == (1_000, 900)


def test_recovery_refuses_an_unknown_record_version(tmp_path: Path) -> None:
    journal, snapshots = build_data(tmp_path, snapshot_seqs=(500,), last_seq=1_000)
    journal.open_sync()
    journal.log.append([(COMMAND_VERSION + 1, 1_001, ts_of(1_001), b"\x90")])
    journal.log.close()
    journal, snapshots = reopened(tmp_path)

    with pytest.raises(UnknownRecordVersion):
        recover(journal, snapshots)


def test_recovery_refuses_a_corrupted_journal(tmp_path: Path) -> None:
    journal, snapshots = build_data(tmp_path, snapshot_seqs=(5_000,))
    second = sorted((tmp_path / "journal").glob("*.log"))[1]
    flip_byte(second, 200)

    with pytest.raises(JournalCorrupted) as caught:
        recover(journal, snapshots)

    assert caught.value.path == second


# ---------------------------------------------------------------- engine snapshot and restore

INSTRUMENTS = {
    "AAA": (Instrument("AAA", tick_size=1), 10_000, 1, 1),
    "BBB": (Instrument("BBB"), 1_000_000, 100, 1),  # Reg NMS ticks: a cent above $1
    "CCC": (
        Instrument("CCC", tick_size=1, lot_size=10, stp=SelfTradePrevention.CANCEL_NEWEST),
        5_000,
        1,
        10,
    ),
}
ACCOUNTS = ("a", "b", "c", "d")


class Mix:
    """A seeded mix of every command and order type on three symbols, around moving mids."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.mids = {symbol: spec[1] for symbol, spec in INSTRUMENTS.items()}
        self.last_id = 0

    def next(self, engine: Engine) -> Command:
        rng = self.rng
        symbol = rng.choice(sorted(INSTRUMENTS))
        _, _, tick, lot = INSTRUMENTS[symbol]
        self.mids[symbol] += tick * rng.randint(-3, 3)
        mid = self.mids[symbol]
        live = engine.book(symbol).live_order_ids()
        roll = rng.random()
        if roll < 0.12 and live:
            return CancelOrder(rng.choice(live), symbol, rng.choice(("", *ACCOUNTS)))
        self.last_id += 1
        if roll < 0.22 and live:
            order_id = rng.choice(live)
            change = rng.random()
            if change < 0.4:
                return ReplaceOrder(order_id, self.last_id, symbol, qty=lot * rng.randint(1, 12))
            if change < 0.8:
                price = mid + tick * rng.randint(-8, 8)
                return ReplaceOrder(order_id, self.last_id, symbol, price=price)
            stop = mid + tick * rng.randint(-8, 8)
            return ReplaceOrder(order_id, self.last_id, symbol, stop_price=stop)
        if roll < 0.235:
            return ExpireOrders(rng.choice((None, symbol)))
        return self._new_order(symbol, mid, tick, lot)

    def _new_order(self, symbol: str, mid: int, tick: int, lot: int) -> PlaceOrder:
        rng = self.rng
        side = rng.choice((Side.BUY, Side.SELL))
        away = 1 if side == Side.BUY else -1  # a stop above the market for buys
        stop = mid + away * tick * rng.randint(1, 10)
        kind = rng.random()
        tif = rng.choice((TimeInForce.DAY, TimeInForce.GTC))
        order_type, price, stop_price = OrderType.LIMIT, None, None
        trail_price = trail_bps = None
        if kind < 0.55:
            price = mid + tick * rng.randint(-6, 6)
            if rng.random() < 0.2:
                tif = rng.choice((TimeInForce.IOC, TimeInForce.FOK))
        elif kind < 0.65:
            order_type, tif = OrderType.MARKET, TimeInForce.IOC
        elif kind < 0.78:
            order_type, stop_price = OrderType.STOP, stop
        elif kind < 0.88:
            order_type, stop_price = OrderType.STOP_LIMIT, stop
            price = stop + away * tick * rng.randint(0, 3)
        else:
            order_type = OrderType.TRAILING_STOP
            if rng.random() < 0.5:
                trail_price = tick * rng.randint(1, 6)
            else:
                trail_bps = rng.randint(5, 150)
        return PlaceOrder(
            self.last_id,
            rng.choice(ACCOUNTS),
            symbol,
            side,
            order_type,
            lot * rng.randint(1, 10),
            price=price,
            stop_price=stop_price,
            tif=tif,
            trail_price=trail_price,
            trail_bps=trail_bps,
        )


def test_snapshot_and_restore_round_trip_and_the_restored_engine_behaves_the_same() -> None:
    engine = Engine()
    seq = 0
    for instrument, *_ in INSTRUMENTS.values():
        seq += 1
        engine.apply(AddInstrument(instrument), seq, seq)
    mix = Mix(seed=7)
    coverage = {"stops pending": 0, "trailing pending": 0, "stop triggered": 0, "trades": 0}
    symbols_traded: set[str] = set()
    for _ in range(20):
        state = engine.snapshot()
        restored = Engine.restore(state)
        assert restored.snapshot() == state
        assert restored.state_hash() == engine.state_hash()
        assert (restored.last_seq, restored.last_order_id) == (
            engine.last_seq,
            engine.last_order_id,
        )
        books = decode_state(state).books
        coverage["stops pending"] += sum(len(b.buy_stops) + len(b.sell_stops) for b in books)
        coverage["trailing pending"] += sum(len(b.trailing) for b in books)
        for _ in range(250):
            seq += 1
            command = mix.next(engine)

            events = engine.apply(command, seq, seq * 10)

            assert restored.apply(command, seq, seq * 10) == events, (seq, command)
            coverage["stop triggered"] += sum(type(e) is StopTriggered for e in events)
            trades = [e for e in events if type(e) is TradeExecuted]
            coverage["trades"] += len(trades)
            symbols_traded.update(e.symbol for e in trades)
        assert restored.state_hash() == engine.state_hash()
    # the mix exercised what the snapshot must carry
    assert all(count > 0 for count in coverage.values()), coverage
    assert symbols_traded == set(INSTRUMENTS)
    assert sum(len(b.bids) + len(b.asks) > 0 for b in decode_state(engine.snapshot()).books) >= 2


# ---------------------------------------------------------------- tradingfloor journal ...

runner = CliRunner()


def squeeze(text: str) -> str:
    """Output without whitespace: rich wraps long lines at the terminal width."""
    return "".join(text.split())


def test_journal_verify_of_good_data_succeeds_and_prints_the_state_hash(tmp_path: Path) -> None:
    build_data(tmp_path, snapshot_seqs=(5_000, 12_345))

    result = runner.invoke(app, ["journal", "verify", "--data", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert replay_hashes(LAST)[LAST] in squeeze(result.output)
    assert f"journal1..{LAST}" in squeeze(result.output)
    assert "2snapshots,0disagree" in squeeze(result.output)


def test_journal_verify_fails_on_a_corrupted_journal(tmp_path: Path) -> None:
    build_data(tmp_path)
    second = sorted((tmp_path / "journal").glob("*.log"))[1]
    flip_byte(second, 300)

    result = runner.invoke(app, ["journal", "verify", "--data", str(tmp_path)])

    assert result.exit_code == 1
    assert "corrupted" in result.output
    assert second.name in squeeze(result.output)


def test_journal_verify_fails_when_a_snapshot_disagrees_with_the_replay(tmp_path: Path) -> None:
    _, snapshots = build_data(tmp_path)
    snapshots.write(5_000, engine_state_at(4_000))  # well formed, but not the state at 5,000

    result = runner.invoke(app, ["journal", "verify", "--data", str(tmp_path)])

    assert result.exit_code == 1
    assert "1disagree" in squeeze(result.output)


def test_journal_inspect_prints_records_from_a_seq(tmp_path: Path) -> None:
    build_data(tmp_path, last_seq=100)

    result = runner.invoke(
        app, ["journal", "inspect", "--data", str(tmp_path), "--from", "41", "--limit", "3"]
    )

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == ["41", "42", "43"]
    assert lines[0].split()[1] == str(ts_of(41))
    command = workload_commands()[40]
    assert isinstance(command, PlaceOrder | CancelOrder)
    assert str(command.order_id) in lines[0]


def test_journal_compact_drops_covered_segments_and_recovery_still_works(tmp_path: Path) -> None:
    journal, _ = build_data(tmp_path, snapshot_seqs=(12_345,))
    segments_before = sorted((tmp_path / "journal").glob("*.log"))

    result = runner.invoke(app, ["journal", "compact", "--data", str(tmp_path)])

    assert result.exit_code == 0, result.output
    segments_after = sorted((tmp_path / "journal").glob("*.log"))
    dropped = len(segments_before) - len(segments_after)
    assert dropped > 0
    assert f"dropped {dropped} segments" in result.output
    assert segments_after == segments_before[dropped:]
    journal, snapshots = reopened(tmp_path)
    recovered = recover(journal, snapshots)
    assert journal.first_seq <= 12_346
    assert recovered.engine.state_hash() == replay_hashes(LAST)[LAST]


def test_journal_compact_without_a_snapshot_drops_nothing(tmp_path: Path) -> None:
    build_data(tmp_path, last_seq=5_000)
    before = sorted((tmp_path / "journal").glob("*.log"))

    result = runner.invoke(app, ["journal", "compact", "--data", str(tmp_path)])

    assert result.exit_code == 0
    assert "nothing" in result.output
    assert sorted((tmp_path / "journal").glob("*.log")) == before


def test_journal_verify_succeeds_after_compact(tmp_path: Path) -> None:
    # The snapshot sits in the middle of a segment, so the compacted journal starts before it.
    build_data(tmp_path, snapshot_seqs=(12_345,))
    compacted = runner.invoke(app, ["journal", "compact", "--data", str(tmp_path)])
    assert compacted.exit_code == 0, compacted.output

    result = runner.invoke(app, ["journal", "verify", "--data", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert replay_hashes(LAST)[LAST] in squeeze(result.output)
