"""The journal's record codec and segment files: round trips, rotation, torn tails, damage.

The segment format and its torn-tail rule are in `tradingfloor.journal.segments`: damage in the
very last record of the newest segment is a torn tail (cut on open); damage anywhere else is
corruption (`JournalCorrupted` naming the segment and the record's offset).
"""

import random
import typing
from pathlib import Path

import msgspec
import pytest

from tradingfloor.domain.commands import (
    ANY_COMMAND,
    AddInstrument,
    AllocateCashIn,
    AllocateCashOut,
    AnnounceCorporateAction,
    CancelOrder,
    CloseDay,
    Command,
    ConfigureRisk,
    Deposit,
    DepositShares,
    ExpireOrders,
    HaltTrading,
    HandOverSymbol,
    OpenAccount,
    PlaceOrder,
    RecordBreak,
    ReplaceOrder,
    ResolveBreak,
    ResumeTrading,
    SetAccountStatus,
    SetReferencePrice,
    SettleDay,
    SettleFunds,
    TakeOverShard,
    TakeOverSymbol,
    UpdateMarketIndex,
    Withdraw,
    WithdrawShares,
)
from tradingfloor.domain.corporate_actions import CashDividend, StockSplit, SymbolChange
from tradingfloor.domain.enums import (
    AccountKind,
    AccountStatus,
    BreakKind,
    CancelReason,
    DayTradePolicy,
    HaltReason,
    OrderClass,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tradingfloor.domain.events import (
    ANY_EVENT,
    AccountOpened,
    AccountStatusChanged,
    BreakOpened,
    BreakResolved,
    CancelRejected,
    CashAllocatedIn,
    CashAllocatedOut,
    CommandEntered,
    CommandRejected,
    CorporateActionAnnounced,
    DayClosed,
    DaySettled,
    DayTradeCounted,
    DividendEntitled,
    DividendPaid,
    Event,
    FractionAttached,
    FractionCanceled,
    FractionFilled,
    FundsDeposited,
    FundsSettled,
    FundsWithdrawn,
    GoodFaithViolation,
    InstrumentAdded,
    LegCanceled,
    LegHeld,
    LegResized,
    LegsAttached,
    MovedOrder,
    OrderAccepted,
    OrderAdjusted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderReplaced,
    OrderResubmitted,
    ReferencePriceSet,
    ReplaceRejected,
    RiskConfigured,
    ShardLeaderChanged,
    SharesDeposited,
    SharesSettled,
    SharesWithdrawn,
    StockSplitApplied,
    StopTriggered,
    SymbolChanged,
    SymbolHandedOver,
    SymbolTakenOver,
    TradeExecuted,
    TradingHalted,
    TradingResumed,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.origin import Origin
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import FeeSchedule, RiskSettings
from tradingfloor.journal.codec import (
    COMMAND_VERSION,
    EVENTS_VERSION,
    Entry,
    UnknownRecordVersion,
    decode_command,
    decode_entry,
    decode_events,
    encode_command,
    encode_entry,
    encode_events,
)
from tradingfloor.journal.file import FileJournal
from tradingfloor.journal.segments import (
    HEADER,
    JournalCorrupted,
    Record,
    SegmentedLog,
    encode_frame,
)

INSTRUMENT = Instrument("ACME", tick_size=5, lot_size=10, stp=SelfTradePrevention.DECREMENT)

COMMANDS: list[Command] = [
    AddInstrument(INSTRUMENT),
    AddInstrument(Instrument("PLAIN")),
    PlaceOrder(
        7,
        "acct-1",
        "ACME",
        Side.SELL,
        OrderType.TRAILING_STOP,
        300,
        price=1_502_500,
        stop_price=1_500_000,
        tif=TimeInForce.GTC,
        trail_price=2_500,
        trail_bps=150,
        stp=SelfTradePrevention.CANCEL_BOTH,
        client_order_id="client-ü-7",
    ),
    PlaceOrder(8, "acct-2", "ACME", Side.BUY, OrderType.MARKET, 10),
    PlaceOrder(2**62, "", "ACME", Side.BUY, OrderType.LIMIT, 1, price=1, tif=TimeInForce.FOK),
    CancelOrder(7, "ACME"),
    CancelOrder(8, "ACME", "acct-2"),
    ReplaceOrder(7, 9, "ACME", "acct-1", qty=200, price=1_502_000, stop_price=1_499_000),
    ReplaceOrder(7, 0, "ACME"),
    ReplaceOrder(9, 10, "ACME", "acct-1", qty=150, client_order_id="client-10"),
    ExpireOrders(),
    ExpireOrders("ACME"),
    ConfigureRisk(None),
    ConfigureRisk(
        RiskSettings(
            collar_bps=500,
            day_trade_policy=DayTradePolicy.INTRADAY_MARGIN,
            market_halt_levels_bps=(500, 1_000, 1_500),
            fees=FeeSchedule(taker_per_share=30, maker_notional_ppm=25),
        )
    ),
    OpenAccount("acct-1", AccountKind.MARGIN),
    SetAccountStatus("acct-1", AccountStatus.BLOCKED),
    Deposit("acct-1", 10_000_000),
    Withdraw("acct-1", 1),
    DepositShares("acct-1", "ACME", 500, 1_499_900),
    WithdrawShares("acct-1", "ACME", 100),
    SettleFunds(),
    HaltTrading(),
    HaltTrading("ACME"),
    ResumeTrading("ACME"),
    SetReferencePrice("ACME", 1_500_000),
    UpdateMarketIndex(55_000_000, 60_000_000),
    UpdateMarketIndex(54_000_000),
    TakeOverShard("host-1234-ab12cd", 7),
    AllocateCashOut("acct-1", 500, "west"),
    AllocateCashIn("acct-1", 500, "east", 41),
    HandOverSymbol("ACME", "west"),
    TakeOverSymbol("ACME", "east", 42, "west", b"\x93\x01\x02"),
    CloseDay("2026-11-27"),
    SettleDay("2026-11-30"),
    RecordBreak(
        "2026-11-27/POSITION_DIFFERS/acct-1/ACME",
        "2026-11-27",
        BreakKind.POSITION_DIFFERS,
        "acct-1",
        "ACME",
        100,
        90,
        -5,
        0,
        "clearinghouse: 90",
    ),
    ResolveBreak("b-1", "ops", "late delivery", "acct-1", "ACME", -5, 10),
    AnnounceCorporateAction(StockSplit("s-1", "ACME", 1, 2, "2026-12-01")),
    AnnounceCorporateAction(CashDividend("d-1", "ACME", 2_500, "2026-12-02", "2026-12-10")),
    AnnounceCorporateAction(SymbolChange("c-1", "ACME", "ACMX", "2026-12-03")),
]

EVENTS: list[Event] = [
    InstrumentAdded(1, 10, INSTRUMENT),
    OrderAccepted(
        2,
        20,
        7,
        "acct-1",
        "ACME",
        Side.BUY,
        OrderType.STOP_LIMIT,
        TimeInForce.DAY,
        100,
        1_502_500,
        1_500_000,
        "c-1",
    ),
    OrderAccepted(
        2,
        20,
        8,
        "acct-1",
        "ACME",
        Side.SELL,
        OrderType.MARKET,
        TimeInForce.IOC,
        100,
        None,
        None,
        "",
    ),
    OrderRejected(3, 30, 9, "acct-2", "ACME", RejectReason.PRICE_NOT_ON_TICK, "c-9"),
    OrderResubmitted(3, 30, 7, "acct-1", "ACME", "c-1"),
    CancelRejected(4, 40, 99, "ACME", RejectReason.UNKNOWN_ORDER, "acct-2"),
    ReplaceRejected(5, 50, 7, 10, "ACME", RejectReason.REPLACE_NOTHING_TO_CHANGE, "acct-1"),
    TradeExecuted(6, 60, "ACME", 3, 1_502_500, 40, 7, 11, "acct-1", "acct-3", Side.SELL, 60, 0),
    OrderCanceled(7, 70, 7, "ACME", 60, 0, CancelReason.SELF_TRADE, "acct-1"),
    OrderReplaced(8, 80, 7, 12, "ACME", 90, None, 1_499_000, 50, False, "acct-1", "c-12"),
    OrderReplaced(8, 80, 12, 13, "ACME", 80, 1_502_000, None, 40, True, "acct-1", ""),
    StopTriggered(9, 90, 12, "ACME", 1_499_000, 1_498_500, "acct-1"),
    OrderExpired(10, 100, 13, "ACME", 40, "acct-1"),
    TradeExecuted(
        11, 110, "ACME", 4, 1_502_500, 40, 7, 11, "acct-1", "acct-3", Side.BUY, 0, 5, 1_200, 3
    ),
    CommandRejected(12, 120, "Withdraw", "acct-1", RejectReason.INSUFFICIENT_FUNDS),
    RiskConfigured(12, 120, RiskSettings(quantity_max=5)),
    RiskConfigured(12, 120, None),
    AccountOpened(13, 130, "acct-1", AccountKind.CASH),
    AccountStatusChanged(13, 130, "acct-1", AccountStatus.RESTRICTED),
    FundsDeposited(14, 140, "acct-1", 5),
    FundsWithdrawn(14, 140, "acct-1", 4),
    SharesDeposited(15, 150, "acct-1", "ACME", 10, 1_000_000),
    SharesWithdrawn(15, 150, "acct-1", "ACME", 3, 3_000_000),
    FundsSettled(16, 160, "acct-1", -1_200),
    DayTradeCounted(17, 170, "acct-1", "ACME", 7, 2),
    TradingHalted(18, 180, "ACME", HaltReason.PRICE_MOVE, 300),
    TradingHalted(18, 180, None, HaltReason.MARKET_WIDE_LEVEL_3, None),
    TradingResumed(19, 190, None),
    ReferencePriceSet(20, 200, "ACME", 1_500_000),
    ShardLeaderChanged(21, 210, "host-1234-ab12cd", 7),
    CashAllocatedOut(22, 220, "acct-1", 500, "west"),
    CashAllocatedIn(23, 230, "acct-1", 500, "east", 41),
    SymbolHandedOver(24, 240, "ACME", "west", [("acct-1", 500)], [("acct-1", 10)], b"\x90"),
    SymbolTakenOver(
        25,
        250,
        "ACME",
        "east",
        42,
        "west",
        [("acct-1", 500)],
        [("acct-1", 10)],
        [MovedOrder(7, Side.BUY, 1_000_000, 5), MovedOrder(8, Side.SELL, None, 3, True)],
        Instrument("ACME"),
        1_000_000,
        990_000,
    ),
    DayClosed(26, 260, "2026-11-27", 6_770, 3),
    DaySettled(27, 270, "2026-11-30", ["2026-11-25", "2026-11-27"]),
    SharesSettled(27, 270, "acct-1", "ACME", -10),
    GoodFaithViolation(28, 280, "acct-1", "ACME", 7, 3, "2027-02-24"),
    BreakOpened(
        29, 290, "b-1", "2026-11-27", BreakKind.CASH_DIFFERS, "acct-1", "", 0, 0, 5, 6, ""
    ),
    BreakResolved(30, 300, "b-1", "ops", "checked", "acct-1", "ACME", -5, 10),
    CorporateActionAnnounced(31, 310, StockSplit("s-1", "ACME", 10, 1, "2026-12-01", 123)),
    StockSplitApplied(32, 320, "s-1", "acct-1", "ACME", 15, 1, 61_500),
    OrderAdjusted(32, 320, 7, "ACME", "acct-1", 20, 10, 750_000, None, "s-1"),
    DividendEntitled(33, 330, "d-1", "acct-1", "ACME", 10, 25_000),
    DividendPaid(34, 340, "d-1", "acct-1", "ACME", 25_000),
    SymbolChanged(35, 350, "c-1", "ACME", "ACMX"),
    CommandEntered(36, 360, COMMANDS[2], Origin(user="7", role="", source="::1")),
    LegsAttached(
        37, 370, 14, "acct-ü", "ACME", OrderClass.BRACKET, [5_000_000_000_014, 5_000_000_000_015]
    ),
    LegHeld(
        37,
        370,
        5_000_000_000_014,
        14,
        "acct-ü",
        "ACME",
        OrderClass.BRACKET,
        Side.SELL,
        OrderType.LIMIT,
        TimeInForce.GTC,
        40,
        1_600_000,
        None,
    ),
    LegResized(38, 380, 5_000_000_000_014, "ACME", "acct-ü", 30, 25),
    LegCanceled(39, 390, 5_000_000_000_015, "ACME", "acct-ü", CancelReason.CONTINGENT),
    FractionAttached(40, 400, 41, "acct-ü", "ACME", 500_000_000, 2_500_000),
    FractionFilled(
        40, 400, 41, "acct-ü", "ACME", Side.BUY, "desk", 1_000_000, 500_000_000, 500_000, 0, -1
    ),
    FractionCanceled(41, 410, 42, "acct-ü", "ACME", 1, CancelReason.SESSION_END),
]


def payload_of(seq: int) -> bytes:
    """A payload whose length varies with seq (7 to 56 bytes) and whose bytes name the seq."""
    return (f"p{seq}-".encode() * 20)[: 7 + seq * 7 % 50]


def records(first: int, count: int) -> list[tuple[int, int, int, bytes]]:
    return [(1, seq, seq * 1_000, payload_of(seq)) for seq in range(first, first + count)]


def open_log(directory: Path, segment_bytes_max: int = 64 * 1024 * 1024) -> SegmentedLog:
    log = SegmentedLog(directory, segment_bytes_max=segment_bytes_max, fsync=False)
    log.open()
    return log


def contents(log: SegmentedLog, from_seq: int = 1) -> list[tuple[int, int, int, bytes]]:
    return [(r.version, r.seq, r.ts, bytes(r.payload)) for r in log.read(from_seq)]


def segment_paths(directory: Path) -> list[Path]:
    return sorted(directory.glob("journal-*.log"))


def write_one_per_batch(
    directory: Path, count: int, segment_bytes_max: int
) -> list[tuple[Path, int, int]]:
    """Append records 1..count one per batch; returns each record's (segment, start, end)."""
    log = open_log(directory, segment_bytes_max)
    places = []
    for record in records(1, count):
        log.append([record])
        segment = log.segments[-1]
        start = segment.size - len(encode_frame([record]))
        places.append((segment.path, start, segment.size))
    log.close()
    return places


# ---------------------------------------------------------------- codec


ORIGIN = Origin(user="7", key_id="k-1", source="127.0.0.1", gateway="h:1", ts_received=5)


def test_every_command_type_round_trips_through_the_codec_with_its_origin() -> None:
    assert {type(c) for c in COMMANDS} == set(typing.get_args(ANY_COMMAND))
    for origin in (ORIGIN, None):
        for command in COMMANDS:
            payload = encode_entry(Entry(1, 1, command, origin))

            decoded, told = decode_entry(COMMAND_VERSION, memoryview(payload))

            assert type(decoded) is type(command)
            assert (decoded, told) == (command, origin)
            # canonical: re-encoding gives the same bytes
            assert encode_entry(Entry(1, 1, decoded, told)) == payload


def test_records_of_version_2_are_bare_commands_without_an_origin() -> None:
    for command in COMMANDS:
        assert decode_entry(2, encode_command(command)) == (command, None)


def test_placeorder_optional_fields_survive_when_set_and_when_left_default() -> None:
    full = COMMANDS[2]
    assert isinstance(full, PlaceOrder)
    decoded = decode_command(COMMAND_VERSION, encode_entry(Entry(1, 1, full)))
    assert isinstance(decoded, PlaceOrder)
    assert (
        decoded.price,
        decoded.stop_price,
        decoded.tif,
        decoded.trail_price,
        decoded.trail_bps,
        decoded.stp,
        decoded.client_order_id,
    ) == (
        1_502_500,
        1_500_000,
        TimeInForce.GTC,
        2_500,
        150,
        SelfTradePrevention.CANCEL_BOTH,
        "client-ü-7",
    )
    bare = decode_command(COMMAND_VERSION, encode_entry(Entry(1, 1, COMMANDS[3])))
    assert isinstance(bare, PlaceOrder)
    assert (bare.price, bare.stop_price, bare.trail_price, bare.trail_bps, bare.stp) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert bare.tif is TimeInForce.DAY
    assert bare.client_order_id == ""


def test_event_lists_with_every_event_type_round_trip_through_the_codec() -> None:
    assert {type(e) for e in EVENTS} == set(typing.get_args(ANY_EVENT))
    payload = encode_events(EVENTS)

    decoded = decode_events(EVENTS_VERSION, memoryview(payload))

    assert decoded == EVENTS
    assert [type(e) for e in decoded] == [type(e) for e in EVENTS]
    assert encode_events(decoded) == payload
    assert decode_events(EVENTS_VERSION, encode_events([])) == []


def test_records_of_the_first_version_decode_with_the_fields_added_since_at_their_defaults() -> (
    None
):
    # As version 1 wrote them: order events without their account, a replace without the
    # replacement's client order id.
    old_events = msgspec.msgpack.encode(
        [
            ["OrderCanceled", 7, 70, 7, "ACME", 60, 0, int(CancelReason.SELF_TRADE)],
            ["OrderReplaced", 8, 80, 7, 12, "ACME", 90, None, 1_499_000, 50, False],
            ["StopTriggered", 9, 90, 12, "ACME", 1_499_000, 1_498_500],
            ["OrderExpired", 10, 100, 13, "ACME", 40],
            ["CancelRejected", 4, 40, 99, "ACME", int(RejectReason.UNKNOWN_ORDER)],
            ["ReplaceRejected", 5, 50, 7, 10, "ACME", int(RejectReason.UNKNOWN_ORDER)],
        ]
    )
    old_replace = msgspec.msgpack.encode(["ReplaceOrder", 7, 9, "ACME", "acct-1", 200])

    events = decode_events(1, old_events)
    command = decode_command(1, old_replace)

    assert events == [
        OrderCanceled(7, 70, 7, "ACME", 60, 0, CancelReason.SELF_TRADE, ""),
        # None: the replacement kept its predecessor's client order id, as it then did
        OrderReplaced(8, 80, 7, 12, "ACME", 90, None, 1_499_000, 50, False, "", None),
        StopTriggered(9, 90, 12, "ACME", 1_499_000, 1_498_500, ""),
        OrderExpired(10, 100, 13, "ACME", 40, ""),
        CancelRejected(4, 40, 99, "ACME", RejectReason.UNKNOWN_ORDER, ""),
        ReplaceRejected(5, 50, 7, 10, "ACME", RejectReason.UNKNOWN_ORDER, ""),
    ]
    assert command == ReplaceOrder(7, 9, "ACME", "acct-1", qty=200, client_order_id="")


@pytest.mark.parametrize("version", [0, 4, 255])
def test_an_unknown_record_version_is_refused(version: int) -> None:
    with pytest.raises(UnknownRecordVersion):
        decode_command(version, encode_command(COMMANDS[0]))
    with pytest.raises(UnknownRecordVersion):
        decode_events(version, encode_events(EVENTS))


def test_the_version_byte_is_stored_and_a_file_journal_refuses_an_unknown_one(
    tmp_path: Path,
) -> None:
    journal = FileJournal(tmp_path, fsync=False)
    journal.open_sync()
    journal.append_sync([Entry(1, 5, COMMANDS[0])])
    journal.log.append([(COMMAND_VERSION + 1, 2, 6, encode_command(COMMANDS[5]))])

    assert [r.version for r in journal.log.read()] == [COMMAND_VERSION, COMMAND_VERSION + 1]
    reader = journal.read()
    assert next(reader) == Entry(1, 5, COMMANDS[0])
    with pytest.raises(UnknownRecordVersion):
        next(reader)


# ---------------------------------------------------------------- append, read, rotate, reopen


def test_append_and_read_round_trip(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    written = records(1, 10)

    log.append(written[:1])
    log.append(written[1:7])
    log.append([])  # nothing to do
    log.append(written[7:])

    assert contents(log) == written
    assert contents(log, 4) == written[3:]
    assert contents(log, 11) == []
    assert (log.first_seq, log.last_seq) == (1, 10)
    assert [type(r) for r in log.read()] == [Record] * 10


def test_segments_rotate_by_size_and_read_across_them(tmp_path: Path) -> None:
    log = open_log(tmp_path, segment_bytes_max=200)
    written = records(1, 40)
    for record in written:
        log.append([record])

    paths = segment_paths(tmp_path)
    assert len(paths) > 3
    assert [p.name for p in paths] == [f"journal-{s.first_seq:020d}.log" for s in log.segments]
    for segment in log.segments:
        assert segment.path.stat().st_size == segment.size
        # closed once it grew past the limit: at most one record past it
        assert segment.size < 200 + len(encode_frame([written[-1]])) + 60
    for earlier, later in zip(log.segments, log.segments[1:], strict=False):
        assert later.first_seq == earlier.last_seq + 1
    assert contents(log) == written
    assert contents(log, 23) == written[22:]


def test_a_reopened_log_continues_the_sequence(tmp_path: Path) -> None:
    log = open_log(tmp_path, segment_bytes_max=300)
    for record in records(1, 25):
        log.append([record])
    segments_before = len(log.segments)
    log.close()

    again = open_log(tmp_path, segment_bytes_max=300)

    assert (again.first_seq, again.last_seq) == (1, 25)
    assert len(again.segments) == segments_before
    assert again.torn_bytes_cut == 0
    again.append(records(26, 5))
    again.close()
    third = open_log(tmp_path, segment_bytes_max=300)
    assert contents(third) == records(1, 30)


def test_an_empty_log_opened_after_a_snapshot_starts_after_it(tmp_path: Path) -> None:
    log = SegmentedLog(tmp_path, fsync=False)
    log.open(after_seq=41)

    assert (log.first_seq, log.last_seq) == (42, 41)
    with pytest.raises(ValueError):
        log.append(records(1, 1))
    log.append(records(42, 2))
    log.close()
    again = open_log(tmp_path)
    assert contents(again) == records(42, 2)
    assert again.first_seq == 42


@pytest.mark.parametrize(
    "batch",
    [
        pytest.param([5], id="gap before"),
        pytest.param([3], id="repeat of the last"),
        pytest.param([1], id="from the start"),
        pytest.param([4, 6], id="gap inside"),
        pytest.param([4, 4, 6], id="repeat inside, right first and last"),
        pytest.param([4, 6, 6], id="gap inside, right first and last"),
        pytest.param([5, 4], id="backwards"),
    ],
)
def test_a_non_consecutive_seq_is_refused(tmp_path: Path, batch: list[int]) -> None:
    log = open_log(tmp_path)
    log.append(records(1, 3))

    with pytest.raises(ValueError):
        log.append([(1, seq, seq, payload_of(seq)) for seq in batch])

    assert log.last_seq == 3
    log.append(records(4, 1))
    log.close()
    assert contents(open_log(tmp_path)) == records(1, 4)


# ---------------------------------------------------------------- torn tails


def check_cut_at_every_length(
    directory: Path,
    kept: list[tuple[int, int, int, bytes]],
    segment_bytes_max: int,
    last_batch: int = 1,
) -> None:
    """Truncate the newest segment to every length inside its last frame (the last batch of
    `last_batch` records) and reopen: the whole frame goes, what was before it stays."""
    newest = segment_paths(directory)[-1]
    whole = newest.read_bytes()
    last = kept[-1][1] + 1
    frame_start = len(whole) - len(encode_frame(records(last, last_batch)))
    for length in range(frame_start, len(whole)):
        newest.write_bytes(whole[:length])

        log = open_log(directory, segment_bytes_max)

        assert log.torn_bytes_cut == length - frame_start, length
        assert newest.stat().st_size == frame_start, length
        assert log.last_seq == last - 1, length
        assert contents(log) == kept, length
        log.append(records(last, 2))
        log.close()
        assert contents(open_log(directory, segment_bytes_max)) == [*kept, *records(last, 2)]
        newest.write_bytes(whole)  # (the appended records went into `newest` too)


def test_a_torn_last_record_is_cut_at_every_byte_offset(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.append(records(1, 3))
    log.append(records(4, 1))
    log.close()

    check_cut_at_every_length(tmp_path, records(1, 3), 64 * 1024 * 1024)


def test_a_torn_last_batch_is_cut_whole_and_the_batches_before_kept(tmp_path: Path) -> None:
    # One write, one frame: none of seqs 3..6 was answered before the frame was on disk, so a
    # tear anywhere in it drops all four, whatever order its pages reached the disk in.
    log = open_log(tmp_path)
    log.append(records(1, 2))
    log.append(records(3, 4))
    log.close()

    check_cut_at_every_length(tmp_path, records(1, 2), 64 * 1024 * 1024, last_batch=4)


def fresh_newest_segment(directory: Path, segment_bytes_max: int) -> int:
    """Append one record per batch until one opens a third segment; returns its seq."""
    log = open_log(directory, segment_bytes_max)
    seq = 0
    while len(log.segments) < 3:
        seq += 1
        log.append(records(seq, 1))
    assert log.segments[-1].first_seq == seq
    log.close()
    return seq


def test_a_torn_only_record_of_the_newest_segment_is_cut_at_every_offset(tmp_path: Path) -> None:
    last = fresh_newest_segment(tmp_path, 150)

    check_cut_at_every_length(tmp_path, records(1, last - 1), 150)


def test_a_newest_segment_torn_inside_its_header_is_removed(tmp_path: Path) -> None:
    last = fresh_newest_segment(tmp_path, 150)
    newest = segment_paths(tmp_path)[-1]
    whole = newest.read_bytes()

    for length in range(HEADER.size):
        newest.write_bytes(whole[:length])

        log = open_log(tmp_path, 150)

        assert not newest.exists(), length
        assert contents(log) == records(1, last - 1), length
        log.append(records(last, 1))  # the full segment before it rotates again
        log.close()
        assert contents(open_log(tmp_path, 150)) == records(1, last)
        newest.write_bytes(whole)


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b"\0" * 7, id="7 zero bytes"),
        pytest.param(b"\0" * 4096, id="a zeroed page"),
        pytest.param(random.Random(1).randbytes(5), id="5 random bytes"),
        pytest.param(random.Random(2).randbytes(3000), id="3000 random bytes"),
        pytest.param(b"\xff" * 64, id="0xff bytes (an impossible length)"),
        pytest.param(
            encode_frame([(1, 4, 4_000, b"x" * 30)])[:8] + b"\0" * 55, id="good head, zero body"
        ),
    ],
)
def test_a_tail_of_garbage_or_zeros_is_cut(tmp_path: Path, tail: bytes) -> None:
    log = open_log(tmp_path)
    log.append(records(1, 3))
    log.close()
    path = segment_paths(tmp_path)[0]
    size = path.stat().st_size
    with path.open("ab") as file:
        file.write(tail)

    log = open_log(tmp_path)

    if tail.strip(b"\0"):
        assert log.torn_bytes_cut == len(tail)
        assert path.stat().st_size == size
    else:  # zeros after the last frame are the end of the log (a preallocated segment's room)
        assert log.torn_bytes_cut == 0
        assert path.stat().st_size == size + len(tail)
    assert contents(log) == records(1, 3)
    log.append(records(4, 1))
    log.close()
    assert contents(open_log(tmp_path)) == records(1, 4)


def test_a_bad_checksum_in_the_very_last_record_is_a_torn_tail(tmp_path: Path) -> None:
    places = write_one_per_batch(tmp_path, 12, 250)
    path, start, end = places[-1]
    whole = path.read_bytes()
    for offset in range(start, end):
        damaged = bytearray(whole)
        damaged[offset] ^= 1 << (offset % 8)
        path.write_bytes(damaged)

        log = open_log(tmp_path, 250)

        assert contents(log) == records(1, 11), offset
        log.close()
        path.write_bytes(whole)


# ---------------------------------------------------------------- damage that is not a tail


def test_a_flipped_bit_in_any_record_but_the_newest_last_is_corruption(tmp_path: Path) -> None:
    places = write_one_per_batch(tmp_path, 15, 250)
    assert len({path for path, _, _ in places}) >= 3
    newest = places[-1][0]
    assert sum(1 for path, _, _ in places if path == newest) >= 3  # middle records there too
    originals = {path: path.read_bytes() for path, _, _ in places}

    for seq, (path, start, end) in enumerate(places[:-1], start=1):
        for offset in range(start, end):
            damaged = bytearray(originals[path])
            damaged[offset] ^= 1 << (offset % 8)
            path.write_bytes(damaged)

            with pytest.raises(JournalCorrupted) as caught:
                open_log(tmp_path, 250)

            assert (caught.value.path, caught.value.offset) == (path, start), (seq, offset)
            assert str(path) in str(caught.value)
            assert f"offset {start}" in str(caught.value)
            path.write_bytes(originals[path])
    assert contents(open_log(tmp_path, 250)) == records(1, 15)  # nothing was cut on the way


def test_a_damaged_middle_record_of_the_newest_segment_is_not_cut_as_a_tail(
    tmp_path: Path,
) -> None:
    log = open_log(tmp_path)
    for record in records(1, 10):
        log.append([record])
    log.close()
    path = segment_paths(tmp_path)[0]
    data = bytearray(path.read_bytes())
    start = HEADER.size + sum(len(encode_frame([r])) for r in records(1, 4))
    data[start + 20] ^= 0x10  # inside the frame of seq 5
    path.write_bytes(data)

    with pytest.raises(JournalCorrupted) as caught:
        open_log(tmp_path)

    assert (caught.value.path, caught.value.offset) == (path, start)
    assert path.read_bytes() == data  # the open refused, and cut nothing


def test_a_segment_header_that_is_damaged_is_corruption_at_offset_zero(tmp_path: Path) -> None:
    write_one_per_batch(tmp_path, 16, 250)
    first = segment_paths(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[0] ^= 0x01
    first.write_bytes(data)

    with pytest.raises(JournalCorrupted) as caught:
        open_log(tmp_path, 250)

    assert (caught.value.path, caught.value.offset) == (first, 0)


def test_a_missing_middle_segment_is_refused(tmp_path: Path) -> None:
    write_one_per_batch(tmp_path, 16, 250)
    paths = segment_paths(tmp_path)
    assert len(paths) >= 3
    paths[1].unlink()

    with pytest.raises(JournalCorrupted) as caught:
        open_log(tmp_path, 250)

    assert (caught.value.path, caught.value.offset) == (paths[2], 0)
    assert "missing" in caught.value.reason


def test_reading_gives_only_what_was_appended_when_the_file_has_more(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.append(records(1, 3))
    with segment_paths(tmp_path)[0].open("ab") as file:
        file.write(b"\0" * 10)  # as if another writer raced: not the log's records

    assert contents(log) == records(1, 3)


# ---------------------------------------------------------------- preallocated segments

PREALLOCATED = 4096


def open_preallocated(directory: Path, segment_bytes_max: int = PREALLOCATED) -> SegmentedLog:
    log = SegmentedLog(
        directory, segment_bytes_max=segment_bytes_max, fsync=False, preallocate=True
    )
    log.open()
    return log


def test_a_preallocated_segment_is_zero_filled_and_written_in_place(tmp_path: Path) -> None:
    log = open_preallocated(tmp_path)
    log.append(records(1, 3))
    log.append(records(4, 2))

    path = segment_paths(tmp_path)[0]
    data = path.read_bytes()
    assert len(data) == PREALLOCATED
    size = log.segments[0].size
    assert size == HEADER.size + len(encode_frame(records(1, 3))) + len(
        encode_frame(records(4, 2))
    )
    assert data[size:] == bytes(PREALLOCATED - size)
    assert contents(log) == records(1, 5)  # never the zeros


def test_a_reopened_preallocated_segment_continues_at_its_logical_end(tmp_path: Path) -> None:
    log = open_preallocated(tmp_path)
    log.append(records(1, 3))
    size = log.segments[0].size
    log.close()

    again = open_preallocated(tmp_path)

    assert (again.last_seq, again.segments[0].size, again.torn_bytes_cut) == (3, size, 0)
    again.append(records(4, 2))
    again.close()
    path = segment_paths(tmp_path)[0]
    assert path.stat().st_size == PREALLOCATED
    third = open_preallocated(tmp_path)
    assert contents(third) == records(1, 5)
    assert third.segments[0].size == size + len(encode_frame(records(4, 2)))


def test_preallocated_segments_rotate_and_the_next_one_is_prepared_ahead(tmp_path: Path) -> None:
    log = open_preallocated(tmp_path, 600)
    written = records(1, 60)
    for record in written:
        log.append([record])
        if log.segments[-1].size * 2 >= 600:  # past half: the next one is being prepared
            assert log._next is not None

    assert len(log.segments) > 3
    for segment in log.segments:
        assert segment.path.stat().st_size == 600
        assert segment.size <= 600
    assert contents(log) == written
    log.close()
    assert not log.next_path.exists()  # a prepared segment that was not needed is removed
    again = open_preallocated(tmp_path, 600)
    assert contents(again) == written
    again.append(records(61, 1))
    assert contents(again, 60) == records(60, 2)


def test_a_log_that_was_not_preallocated_is_filled_when_opened_to_be(tmp_path: Path) -> None:
    log = open_log(tmp_path)  # not preallocated: the file is as long as its frames
    log.append(records(1, 3))
    log.close()
    path = segment_paths(tmp_path)[0]
    assert path.stat().st_size < PREALLOCATED

    again = open_preallocated(tmp_path)

    assert path.stat().st_size == PREALLOCATED
    again.append(records(4, 1))
    again.close()
    assert contents(open_log(tmp_path)) == records(1, 4)


def test_a_prepared_segment_left_by_a_crash_is_removed_on_open(tmp_path: Path) -> None:
    log = open_preallocated(tmp_path)
    log.append(records(1, 2))
    log.close()
    leftover = tmp_path / "journal-next.tmp"
    leftover.write_bytes(b"\0" * 100)  # half zero-filled when the process died

    read_only = SegmentedLog(tmp_path, fsync=False)
    read_only.open(read_only=True)
    assert leftover.exists()  # a read-only open changes nothing
    again = open_preallocated(tmp_path)

    assert not leftover.exists()
    assert contents(again) == records(1, 2)
    assert [p.name for p in tmp_path.iterdir()] == [segment_paths(tmp_path)[0].name]


def check_tear_before_zeros_at_every_offset(
    directory: Path,
    kept: list[tuple[int, int, int, bytes]],
    segment_bytes_max: int,
    last_batch: int = 1,
) -> None:
    """A preallocated newest segment whose last frame (of `last_batch` records) reached the
    disk only up to each byte offset, zeros after it (then only from each offset on, zeros
    before it): reopen zeroes the damage, keeps the file's size, and appends after it."""
    newest = segment_paths(directory)[-1]
    whole = newest.read_bytes()
    last = kept[-1][1] + 1
    frame = encode_frame(records(last, last_batch))
    frame_start = whole.index(frame)
    frame_end = frame_start + len(frame)
    assert whole[frame_end:] == bytes(len(whole) - frame_end)
    tears = [
        whole[:length] + bytes(len(whole) - length) for length in range(frame_start, frame_end)
    ] + [
        whole[:frame_start] + bytes(length - frame_start) + whole[length:]
        for length in range(frame_start + 1, frame_end)
    ]
    for tear, torn in enumerate(tears):
        newest.write_bytes(torn)

        log = open_preallocated(directory, segment_bytes_max)

        assert log.torn_bytes_cut == len(torn[frame_start:].rstrip(b"\0")), tear
        after = newest.read_bytes()
        assert len(after) == len(whole), tear
        assert after[:frame_start] == whole[:frame_start], tear
        assert after[frame_start:] == bytes(len(whole) - frame_start), tear
        assert log.last_seq == last - 1, tear
        assert contents(log) == kept, tear
        log.append(records(last, 2))
        log.close()
        assert contents(open_preallocated(directory, segment_bytes_max)) == [
            *kept,
            *records(last, 2),
        ]
    newest.write_bytes(whole)


def test_a_torn_last_frame_before_zeros_is_zeroed_at_every_offset(tmp_path: Path) -> None:
    log = open_preallocated(tmp_path)
    log.append(records(1, 3))
    log.append(records(4, 1))
    log.close()

    check_tear_before_zeros_at_every_offset(tmp_path, records(1, 3), PREALLOCATED)


def test_a_torn_last_batch_before_zeros_is_zeroed_whole(tmp_path: Path) -> None:
    log = open_preallocated(tmp_path)
    log.append(records(1, 2))
    log.append(records(3, 4))
    log.close()

    check_tear_before_zeros_at_every_offset(tmp_path, records(1, 2), PREALLOCATED, 4)


def test_a_torn_only_frame_of_a_preallocated_newest_segment_is_zeroed(tmp_path: Path) -> None:
    log = open_preallocated(tmp_path, 300)
    seq = 0
    while len(log.segments) < 3:
        seq += 1
        log.append(records(seq, 1))
    log.close()

    check_tear_before_zeros_at_every_offset(tmp_path, records(1, seq - 1), 300)


@pytest.mark.parametrize("written", [0, 1, 4, 7, 8])
def test_a_preallocated_newest_segment_without_a_whole_header_is_removed(
    tmp_path: Path, written: int
) -> None:
    log = open_preallocated(tmp_path, 300)
    seq = 0
    while len(log.segments) < 2:
        seq += 1
        log.append(records(seq, 1))
    log.close()
    newest = segment_paths(tmp_path)[-1]
    header = newest.read_bytes()[: HEADER.size]
    newest.write_bytes(header[:written] + bytes(300 - written))  # renamed in, header not whole

    again = open_preallocated(tmp_path, 300)

    assert not newest.exists()  # no records in it; made again at the next append
    assert contents(again) == records(1, seq - 1)
    again.append(records(seq, 1))
    again.close()
    assert contents(open_preallocated(tmp_path, 300)) == records(1, seq)


def test_a_whole_frame_after_zeros_in_the_newest_segment_is_corruption(tmp_path: Path) -> None:
    log = open_preallocated(tmp_path)
    log.append(records(1, 2))
    log.append(records(3, 1))
    log.append(records(4, 1))
    log.close()
    path = segment_paths(tmp_path)[0]
    data = bytearray(path.read_bytes())
    start = HEADER.size + len(encode_frame(records(1, 2)))
    data[start : start + len(encode_frame(records(3, 1)))] = bytes(
        len(encode_frame(records(3, 1)))
    )
    path.write_bytes(data)  # seq 3's frame lost, seq 4's whole after it

    with pytest.raises(JournalCorrupted) as caught:
        open_preallocated(tmp_path)

    assert (caught.value.path, caught.value.offset) == (path, start)
    assert path.read_bytes() == data


def test_bytes_after_the_end_of_a_closed_segment_are_corruption(tmp_path: Path) -> None:
    log = open_preallocated(tmp_path, 300)
    while len(log.segments) < 2:
        log.append(records(log.last_seq + 1, 1))
    log.close()
    closed = log.segments[0]
    data = bytearray(closed.path.read_bytes())
    data[closed.size + 10] = 0x55
    closed.path.write_bytes(data)

    with pytest.raises(JournalCorrupted) as caught:
        open_preallocated(tmp_path, 300)

    assert (caught.value.path, caught.value.offset) == (closed.path, closed.size)


def test_a_read_only_open_of_a_torn_preallocated_segment_changes_nothing(tmp_path: Path) -> None:
    log = open_preallocated(tmp_path)
    log.append(records(1, 2))
    log.append(records(3, 2))
    log.close()
    path = segment_paths(tmp_path)[0]
    data = bytearray(path.read_bytes())
    end = log.segments[0].size
    data[end - 5 : end] = bytes(5)
    path.write_bytes(data)

    read_only = SegmentedLog(tmp_path, fsync=False)
    read_only.open(read_only=True)

    assert contents(read_only) == records(1, 2)
    assert 0 < read_only.torn_bytes_cut <= len(encode_frame(records(3, 2)))
    assert path.read_bytes() == data


def test_a_mostly_zero_64_mib_segment_opens_with_its_records(tmp_path: Path) -> None:
    big = 64 * 1024 * 1024
    log = open_preallocated(tmp_path, big)
    log.append(records(1, 5))
    log.append(records(6, 5))
    log.close()
    path = segment_paths(tmp_path)[0]
    assert path.stat().st_size == big

    again = open_preallocated(tmp_path, big)
    assert (again.torn_bytes_cut, contents(again)) == (0, records(1, 10))
    again.close()

    with path.open("r+b") as file:  # the last frame torn, zeros after it
        file.seek(log.segments[0].size - 3)
        file.write(b"\0\0\0")
    torn = open_preallocated(tmp_path, big)
    assert torn.torn_bytes_cut > 0
    assert contents(torn) == records(1, 5)
    assert path.stat().st_size == big
    torn.append(records(6, 1))
    torn.close()
    assert contents(open_preallocated(tmp_path, big)) == records(1, 6)
