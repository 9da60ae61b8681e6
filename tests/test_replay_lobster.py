"""The LOBSTER replay: parsing, scoring, the replay's modelling choices, and the real files."""

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradingfloor.cli import app
from tradingfloor.domain.enums import Side
from tradingfloor.replay.lobster import (
    EMPTY_ASK_PRICE,
    EMPTY_BID_PRICE,
    Fill,
    LobsterReplay,
    Message,
    Score,
    exact_subset,
    group_end,
    parse_message,
    parse_time_ns,
    read_book_rows,
    read_fills,
    read_messages,
    replay_lobster,
    row_levels,
    score_executions,
    score_rows,
    visible_bound,
    write_fills,
)

LOBSTER_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lobster"
AAPL = "AAPL_2012-06-21_34200000_57600000"
AMZN = "AMZN_2012-06-21_34200000_57600000"
NO_ASK = f"{EMPTY_ASK_PRICE},0"
NO_BID = f"{EMPTY_BID_PRICE},0"


def lobster_files(stem: str, levels: int) -> tuple[Path, Path]:
    """The message and orderbook files of a sample, or a skip (a failure when required)."""
    messages = LOBSTER_DIR / f"{stem}_message_{levels}.csv"
    orderbook = LOBSTER_DIR / f"{stem}_orderbook_{levels}.csv"
    if not (messages.is_file() and orderbook.is_file()):
        reason = f"LOBSTER sample {stem} not found in {LOBSTER_DIR}"
        if os.environ.get("TRADINGFLOOR_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return messages, orderbook


def write_sample(tmp_path: Path, messages: list[str], rows: list[str]) -> tuple[Path, Path]:
    message_file = tmp_path / "message.csv"
    orderbook_file = tmp_path / "orderbook.csv"
    message_file.write_text("\n".join(messages) + "\n")
    orderbook_file.write_text("\n".join(rows) + "\n")
    return message_file, orderbook_file


def replay_sample(
    tmp_path: Path, messages: list[str], rows: list[str]
) -> tuple[LobsterReplay, list[Message], list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Replay hand-made files, checking the replay's view against the engine after each row."""
    message_file, orderbook_file = write_sample(tmp_path, messages, rows)
    flow = read_messages(message_file)
    truth = read_book_rows(orderbook_file)
    replay = LobsterReplay(len(truth[0]) // 4)
    ours = []
    for row in replay.run(flow, truth):
        replay.check_view()
        ours.append(row)
    return replay, flow, truth, ours


# ---------------------------------------------------------------------- parsing


def test_time_becomes_integer_nanoseconds() -> None:
    assert parse_time_ns("34200.017459617") == 34_200_017_459_617
    assert parse_time_ns("34200.5") == 34_200_500_000_000
    assert parse_time_ns("57600") == 57_600_000_000_000


@pytest.mark.parametrize("text", ["", "1.2.3", "34200.0000000001", "-1.5", "12a.5", "1.5e3"])
def test_malformed_time_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="LOBSTER time"):
        parse_time_ns(text)


def test_message_fields_and_direction() -> None:
    buy = parse_message("34200.18960767,1,11885113,21,2238100,1\n")
    sell = parse_message("34200.190226476,4,11534792,26,2237500,-1")
    assert buy == Message("34200.18960767", 34_200_189_607_670, 1, 11885113, 21, 2238100, Side.BUY)
    assert sell.side == Side.SELL
    assert sell.kind == 4
    with pytest.raises(ValueError, match="6 fields"):
        parse_message("34200.1,1,5,100")


def test_orderbook_rows_and_visible_levels(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text(f"1010000,300,1000000,100,{NO_ASK},999900,50\n")
    (row,) = read_book_rows(path)
    assert row_levels(row, Side.SELL) == {1010000: 300}
    assert row_levels(row, Side.BUY) == {1000000: 100, 999900: 50}
    # two levels shown: bids below 999900 are out of view; every ask is in view
    assert visible_bound(row, Side.BUY) == 999900
    assert visible_bound(row, Side.SELL) > EMPTY_ASK_PRICE


def test_fills_round_trip_with_empty_id_for_learned_liquidity(tmp_path: Path) -> None:
    fills = [
        Fill("34202.5", 34_202_500_000_000, 101, 100, 1000000),
        Fill("34202.5", 34_202_500_000_000, None, 20, 1000000),
    ]
    path = tmp_path / "fills.csv"
    write_fills(path, fills)
    assert path.read_text().splitlines() == [
        "time,resting_order_id,qty,price",
        "34202.5,101,100,1000000",
        "34202.5,,20,1000000",
    ]
    assert read_fills(path) == fills


def test_execution_groups_run_over_time_and_side() -> None:
    flow = [
        parse_message("1.0,4,1,10,100,1"),
        parse_message("1.0,5,0,10,100,1"),  # hidden, same aggressor: same group
        parse_message("1.0,4,2,10,99,1"),
        parse_message("1.0,4,3,10,200,-1"),  # other side: a new group
        parse_message("1.0,4,4,10,200,-1"),
        parse_message("1.1,4,5,10,200,-1"),  # later: a new group
        parse_message("1.1,1,6,10,200,-1"),
    ]
    assert group_end(flow, 0) == 3
    assert group_end(flow, 3) == 5
    assert group_end(flow, 5) == 6


def test_exact_subset_prefers_the_earliest_sizes() -> None:
    assert exact_subset([30, 100, 50], 50) == [2]
    assert exact_subset([30, 20, 50], 50) == [0, 1]
    assert exact_subset([30, 100], 50) is None
    assert exact_subset([], 10) is None


# ---------------------------------------------------------------------- scoring


def test_rows_score_counts_exact_rows_only() -> None:
    truth = [(1, 2, 3, 4), (1, 2, 3, 5), (1, 2, 3, 6)]
    assert score_rows([(1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 3, 6)], truth) == Score(2, 3)
    assert score_rows([(1, 2, 3, 4)], truth) == Score(1, 3)


def test_executions_score_counts_introduced_orders_by_time_id_and_qty() -> None:
    flow = [
        parse_message("1.0,1,7,100,1000,1"),
        parse_message("1.0,1,8,100,1000,1"),
        parse_message("2.0,4,7,60,1000,1"),  # reproduced
        parse_message("2.0,4,8,40,1000,1"),  # filled for 30: not reproduced
        parse_message("2.0,4,9,10,1000,1"),  # never introduced: not counted
        parse_message("3.0,4,7,40,1000,1"),  # a fill at another time does not count
    ]
    fills = [
        Fill("2.0", 2 * 10**9, 7, 60, 1000),
        Fill("2.0", 2 * 10**9, 8, 30, 1000),
        Fill("2.0", 2 * 10**9, None, 20, 1000),
        Fill("2.5", 2_500_000_000, 7, 40, 1000),
    ]
    assert score_executions(flow, fills) == Score(1, 3)


# ---------------------------------------------------------------------- the replay

# one level per row: ask price, ask size, bid price, bid size
OPENING_MESSAGES = [
    "34200.000000001,1,101,100,1000000,1",
    "34201,1,102,50,1000000,1",
    "34202,4,101,100,1000000,1",
    "34202,4,102,20,1000000,1",
    "34203,4,999,100,1010000,-1",
    "34204,3,998,200,1010000,-1",
    "34205,7,0,0,-1,-1",
]
OPENING_ROWS = [
    "1010000,300,1000000,100",
    "1010000,300,1000000,150",
    "1010000,300,1000000,50",
    "1010000,300,1000000,30",
    "1010000,200,1000000,30",
    "1020000,70,1000000,30",
    "1020000,70,1000000,30",
]


def test_opening_liquidity_is_learned_and_groups_match_in_time_priority(
    tmp_path: Path,
) -> None:
    replay, flow, truth, ours = replay_sample(tmp_path, OPENING_MESSAGES, OPENING_ROWS)

    assert ours == truth
    # one incoming sell for the group of two: the older bid fills first
    assert replay.fills == [
        Fill("34202", 34_202_000_000_000, 101, 100, 1000000),
        Fill("34202", 34_202_000_000_000, 102, 20, 1000000),
        Fill("34203", 34_203_000_000_000, None, 100, 1010000),
    ]
    assert score_executions(flow, replay.fills) == Score(2, 2)


def test_liquidity_learned_on_reentry_queues_behind_known_orders(tmp_path: Path) -> None:
    messages = [
        "1,1,201,100,1000000,1",
        "2,1,202,50,1000100,1",  # a better bid: 1000000 leaves the one-level view
        "3,3,202,50,1000100,1",  # 1000000 is back, with 60 that arrived meanwhile
        "4,4,201,100,1000000,1",
    ]
    rows = [
        f"{NO_ASK},1000000,100",
        f"{NO_ASK},1000100,50",
        f"{NO_ASK},1000000,160",
        f"{NO_ASK},1000000,60",
    ]
    replay, flow, truth, ours = replay_sample(tmp_path, messages, rows)

    assert ours == truth
    assert replay.fills == [Fill("4", 4 * 10**9, 201, 100, 1000000)]
    assert score_executions(flow, replay.fills) == Score(1, 1)


def test_a_level_known_orders_left_loses_whole_orders(tmp_path: Path) -> None:
    messages = [
        "1,1,401,50,1000000,1",
        "2,1,402,100,1000000,1",
        "3,1,403,30,1000000,1",
        "4,1,404,10,1000100,1",
        "5,3,404,10,1000100,1",  # back in view with 130 of 180: 401's 50 left, not 50 of 402
        "6,4,402,100,1000000,1",
        "6,4,403,30,1000000,1",
    ]
    rows = [
        f"{NO_ASK},1000000,50",
        f"{NO_ASK},1000000,150",
        f"{NO_ASK},1000000,180",
        f"{NO_ASK},1000100,10",
        f"{NO_ASK},1000000,130",
        f"{NO_ASK},1000000,30",
        f"{NO_ASK},{NO_BID}",
    ]
    replay, flow, truth, ours = replay_sample(tmp_path, messages, rows)

    assert ours == truth
    assert [(fill.resting_order_id, fill.qty) for fill in replay.fills] == [(402, 100), (403, 30)]
    assert score_executions(flow, replay.fills) == Score(2, 2)


def test_when_it_cannot_tell_the_newest_orders_are_the_ones_gone(tmp_path: Path) -> None:
    messages = [
        "1,1,411,50,1000000,1",
        "2,1,412,50,1000000,1",
        "3,1,413,10,1000100,1",
        "4,3,413,10,1000100,1",  # back in view with 50 of 100: taken as 412 gone
        "5,4,411,50,1000000,1",
    ]
    rows = [
        f"{NO_ASK},1000000,50",
        f"{NO_ASK},1000000,100",
        f"{NO_ASK},1000100,10",
        f"{NO_ASK},1000000,50",
        f"{NO_ASK},{NO_BID}",
    ]
    replay, _, truth, ours = replay_sample(tmp_path, messages, rows)

    assert ours == truth
    assert [(fill.resting_order_id, fill.qty) for fill in replay.fills] == [(411, 50)]


def test_the_price_a_message_touched_is_not_learned_from_its_row(tmp_path: Path) -> None:
    # Everything is in view for the first time at row 1, but not the price message 1 touched:
    # the 50 resting there before the file starts are not learned, and the error shows.
    messages = ["1,1,301,100,1000000,1"]
    rows = ["1010000,20,1000000,150"]
    _, _, truth, ours = replay_sample(tmp_path, messages, rows)

    assert ours == [(1010000, 20, 1000000, 100)]
    assert score_rows(ours, truth) == Score(0, 1)


def test_a_price_entering_view_empty_drops_what_the_replay_held_there(tmp_path: Path) -> None:
    messages = [
        "1,1,501,100,1000000,1",
        "2,1,502,10,1000100,1",
        "3,3,502,10,1000100,1",  # 501 left while out of view; 999900 is the best bid now
    ]
    rows = [f"{NO_ASK},1000000,100", f"{NO_ASK},1000100,10", f"{NO_ASK},999900,40"]
    _, _, truth, ours = replay_sample(tmp_path, messages, rows)

    assert ours == truth


def test_rows_part_way_through_a_group_come_from_the_engine_fills(tmp_path: Path) -> None:
    messages = [
        "1,1,601,100,1000000,-1",
        "1.5,1,602,100,1000100,-1",
        "2,4,601,100,1000000,-1",
        "2,5,0,40,1000050,-1",
        "2,4,602,60,1000100,-1",
    ]
    rows = [
        f"1000000,100,{NO_BID}",
        f"1000000,100,{NO_BID}",
        f"1000100,100,{NO_BID}",
        f"1000100,100,{NO_BID}",
        f"1000100,40,{NO_BID}",
    ]
    replay, _, truth, ours = replay_sample(tmp_path, messages, rows)

    assert ours == truth
    assert [(fill.resting_order_id, fill.qty) for fill in replay.fills] == [(601, 100), (602, 60)]


def test_cli_writes_the_outputs_and_prints_both_figures(tmp_path: Path) -> None:
    message_file, orderbook_file = write_sample(tmp_path, OPENING_MESSAGES, OPENING_ROWS)
    book_out, fills_out = tmp_path / "book-out.csv", tmp_path / "fills-out.csv"
    result = CliRunner().invoke(
        app,
        [
            "replay", "lobster", "--messages", str(message_file),
            "--orderbook", str(orderbook_file),
            "--book-out", str(book_out), "--fills-out", str(fills_out),
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "rows reproduced: 7/7 (100.00%)" in result.output
    assert "executions reproduced: 2/2 (100.00%)" in result.output
    assert book_out.read_text().splitlines() == OPENING_ROWS
    assert fills_out.read_text().splitlines()[0] == "time,resting_order_id,qty,price"
    assert len(read_fills(fills_out)) == 3


# ---------------------------------------------------------------------- the real files


def test_aapl_ten_levels(tmp_path: Path) -> None:
    messages, orderbook = lobster_files(AAPL, 10)
    flow, truth = read_messages(messages), read_book_rows(orderbook)
    book_out, fills_out = tmp_path / "book.csv", tmp_path / "fills.csv"

    report = replay_lobster(flow, truth, book_out=book_out, fills_out=fills_out)

    # measured: 999/999 rows, 94/94 executions
    assert report.rows.share >= 0.99
    assert report.executions.share >= 0.95
    # the written files score the same, as any other tool would score them
    assert score_rows(read_book_rows(book_out), truth) == report.rows
    assert score_executions(flow, read_fills(fills_out)) == report.executions


def test_aapl_replay_view_stays_the_engines() -> None:
    messages, orderbook = lobster_files(AAPL, 10)
    replay = LobsterReplay(10)
    for _ in replay.run(read_messages(messages), read_book_rows(orderbook)):
        replay.check_view()
        replay.book.check_invariants()


def test_amzn_full_day() -> None:
    messages, orderbook = lobster_files(AMZN, 1)

    report = replay_lobster(read_messages(messages), read_book_rows(orderbook))

    # measured: 57515/57515 rows (100%), 5745/5903 executions (97.3%)
    assert report.rows.share >= 0.985
    assert report.executions.share >= 0.92
