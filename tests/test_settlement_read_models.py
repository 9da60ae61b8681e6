"""The end of day's read models, projected from a real engine's trades followed by crafted
end-of-day events (days closed and settled, settled shares, a good-faith violation, breaks,
splits, a dividend, a symbol change), on SQLite and on PostgreSQL: each event's rows,
idempotent by sequence number, the same whatever the batches."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from settlement_scenario import (
    ADDED,
    BOUGHT,
    KEPT,
    activities_of,
    contents,
    positions,
    project,
    renumbered,
    scenario,
    sqlite_database,
    up_to,
)
from tradingfloor.domain.enums import BreakKind
from tradingfloor.domain.events import BreakOpened, DayClosed
from tradingfloor.store import make_engine, upgrade
from tradingfloor.store.queries import get_balances, get_order, list_positions
from tradingfloor.store.settlement_queries import (
    count_breaks,
    get_break,
    get_corporate_action,
    list_breaks,
    list_corporate_actions,
    list_settlement_days,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


# ---------------------------------------------------------------------- settlement


def test_shares_settle_as_settlement_moves_them(database: Engine) -> None:
    commands, s = (made := scenario()).commands, made.seqs
    project(database, up_to(commands, s["traded"]))
    assert positions(database, "A") == {"XYZ": (60, 0, BOUGHT)}
    assert positions(database, "B") == {"XYZ": (40, 100, KEPT)}

    project(database, up_to(commands, s["settled"]))

    assert positions(database, "A") == {"XYZ": (60, 60, BOUGHT)}
    assert positions(database, "B") == {"XYZ": (40, 40, KEPT)}
    settled = activities_of(database, "B", "settlement")
    assert [(row.symbol, row.qty, row.amount) for row in settled] == [
        (None, None, BOUGHT),
        ("XYZ", -60, None),
    ]


def test_days_closed_and_settled_per_shard(database: Engine) -> None:
    s = scenario()
    project(database, up_to(s.commands, s.seqs["split"]))
    # a second shard closes the first day too
    project(database, [(1, 5, [DayClosed(1, 5, "2026-11-23", 10, 2)])], "shard:s1", 1)

    with database.connect() as connection:
        days = list_settlement_days(connection, 10)

    assert [(d.date, d.shards_closed, d.shards_settled) for d in days] == [
        ("2026-11-24", 1, 1),
        ("2026-11-23", 2, 0),
    ]
    assert days[0].trade_dates == ["2026-11-23"] and days[0].session == 11
    assert days[1].expired == 2 and days[1].settled_ts is None


def test_a_good_faith_violation_counts_on_the_account(database: Engine) -> None:
    s = scenario()
    project(database, up_to(s.commands, s.seqs["gfv"] - 1))
    with database.connect() as connection:
        before = get_balances(connection, "A")

    project(database, up_to(s.commands, s.seqs["gfv"]))

    with database.connect() as connection:
        after = get_balances(connection, "A")
    assert before is not None and after is not None
    assert (before.good_faith_violations, before.restricted_until) == (0, None)
    assert (after.good_faith_violations, after.restricted_until) == (3, "2027-03-01")
    [row] = activities_of(database, "A", "good_faith")
    assert row.symbol == "XYZ" and row.order_id == 5 and "2027-03-01" in row.description


# ---------------------------------------------------------------------- breaks


def test_breaks_open_and_resolve_with_their_adjustment(database: Engine) -> None:
    s = scenario()
    project(database, up_to(s.commands, s.seqs["breaks"]))
    with database.connect() as connection:
        cash_before = get_balances(connection, "A")
        opened = get_break(connection, "2026-12-01/POSITION_DIFFERS/A/XYZ")
        assert count_breaks(connection) == 2
    assert opened is not None and cash_before is not None
    assert (opened.kind, opened.status, opened.platform_qty, opened.other_qty) == (
        "position_differs", "open", 120, 125,
    )  # fmt: skip
    assert opened.opened_seq == s.seqs["breaks"] and opened.resolved_by is None

    project(database, up_to(s.commands, s.seqs["resolved"]))

    with database.connect() as connection:
        resolved = get_break(connection, "2026-12-01/POSITION_DIFFERS/A/XYZ")
        cash_after = get_balances(connection, "A")
        assert count_breaks(connection) == 1
        assert count_breaks(connection, "resolved") == 1
    assert resolved is not None and cash_after is not None
    assert (resolved.status, resolved.resolved_by, resolved.reason) == (
        "resolved", "ops", "the clearinghouse's",
    )  # fmt: skip
    assert (resolved.cash_adjustment, resolved.shares_adjustment) == (123_400, 5)
    assert resolved.resolved_seq == s.seqs["resolved"]
    assert cash_after.settled - cash_before.settled == 123_400
    assert positions(database, "A")["XYZ"] == (125, 125, BOUGHT + ADDED)  # at average cost
    [adjusted] = activities_of(database, "A", "adjustment")
    assert (adjusted.qty, adjusted.amount, adjusted.symbol) == (5, 123_400, "XYZ")


def test_breaks_list_by_filter_newest_first_and_page(database: Engine) -> None:
    s = scenario()
    project(database, s.commands)
    more = [
        (1 + index, 10 + index, [BreakOpened(1 + index, 10 + index, f"x/{index}", "2026-12-02",
                                             BreakKind.UNCONFIRMED, "C", "XYZ", 1, 0, 0, 0, "")])
        for index in range(5)
    ]  # fmt: skip
    project(database, more, "shard:s1", 1)

    with database.connect() as connection:
        everything = [row.break_id for row in list_breaks(connection, limit=100)]
        first = list_breaks(connection, "open", limit=2)
        second = list_breaks(connection, "open", limit=2, after_break_id=first[-1].break_id)
        filtered = {
            "resolved": [row.break_id for row in list_breaks(connection, "resolved")],
            "date": [row.break_id for row in list_breaks(connection, date="2026-12-01")],
            "kind": [row.break_id for row in list_breaks(connection, kind="cash_differs")],
            "account": [row.break_id for row in list_breaks(connection, account="C")],
        }
        unknown_cursor = list_breaks(connection, after_break_id="no-such-break")

    # the crafted shard's breaks have older times than the scenario's
    assert everything[:2] == ["2026-12-01/POSITION_DIFFERS/A/XYZ", "2026-12-01/CASH_DIFFERS/B/"]
    assert everything[2:] == ["x/4", "x/3", "x/2", "x/1", "x/0"]
    assert [row.break_id for row in first + second] == [
        "2026-12-01/CASH_DIFFERS/B/", "x/4", "x/3", "x/2",
    ]  # fmt: skip
    assert filtered == {
        "resolved": ["2026-12-01/POSITION_DIFFERS/A/XYZ"],
        "date": ["2026-12-01/POSITION_DIFFERS/A/XYZ", "2026-12-01/CASH_DIFFERS/B/"],
        "kind": ["2026-12-01/CASH_DIFFERS/B/"],
        "account": ["x/4", "x/3", "x/2", "x/1", "x/0"],
    }
    assert unknown_cursor == []


# ---------------------------------------------------------------------- corporate actions


def test_a_forward_split_scales_positions_and_open_orders(database: Engine) -> None:
    s = scenario()
    project(database, up_to(s.commands, s.seqs["split"]))

    assert positions(database, "A") == {"XYZ": (120, 120, BOUGHT)}
    assert positions(database, "B") == {"XYZ": (80, 80, KEPT)}
    with database.connect() as connection:
        order = get_order(connection, s.open_buy)
        action = get_corporate_action(connection, "S1")
    assert order is not None and action is not None
    assert (order.qty, order.leaves_qty, order.price, order.status) == (20, 20, 475_000, "new")
    assert (action.kind, action.old_shares, action.new_shares, action.ex_date) == (
        "split", 1, 2, "2026-11-26",
    )  # fmt: skip
    assert (action.status, action.applied_seq) == ("applied", s.seqs["split"])
    [split] = activities_of(database, "A", "split")
    assert (split.symbol, split.qty, split.amount) == ("XYZ", 60, 0)
    assert "2-for-1" in split.description


def test_a_split_scales_what_is_still_to_settle(tmp_path: Path) -> None:
    """Before settlement: the bought shares stay unsettled, in the new shares."""
    s = scenario()
    before_settlement = [
        command for command in up_to(s.commands, s.seqs["split"])
        if not s.seqs["closed"] <= command[0] <= s.seqs["settled"]
    ]  # fmt: skip
    engine = sqlite_database(tmp_path)
    project(engine, renumbered(before_settlement))

    assert positions(engine, "A") == {"XYZ": (120, 0, BOUGHT)}
    assert positions(engine, "B") == {"XYZ": (80, 200, KEPT)}
    engine.dispose()


def test_a_dividend_is_entitled_then_paid_into_settled_cash(database: Engine) -> None:
    s = scenario()
    project(database, up_to(s.commands, s.seqs["entitled"]))
    with database.connect() as connection:
        before = get_balances(connection, "B")
        assert get_corporate_action(connection, "D1").status == "applied"  # type: ignore[union-attr]

    project(database, up_to(s.commands, s.seqs["paid"]))

    with database.connect() as connection:
        after = get_balances(connection, "B")
        action = get_corporate_action(connection, "D1")
    assert before is not None and after is not None and action is not None
    assert after.settled - before.settled == 200_000
    assert (action.status, action.paid_seq, action.amount_per_share) == (
        "paid", s.seqs["paid"], 2_500,
    )  # fmt: skip
    assert (action.record_date, action.pay_date) == ("2026-11-30", "2026-12-02")
    [entitled] = activities_of(database, "B", "entitlement")
    [paid] = activities_of(database, "B", "dividend")
    assert (entitled.qty, entitled.price, entitled.amount) == (80, 2_500, None)
    assert (paid.symbol, paid.qty, paid.price, paid.amount) == ("XYZ", 80, 2_500, 200_000)


def test_a_symbol_change_moves_positions_and_live_orders_and_keeps_history(
    database: Engine,
) -> None:
    s = scenario()
    project(database, up_to(s.commands, s.seqs["renamed"]))

    assert positions(database, "A") == {"ABC": (125, 125, BOUGHT + ADDED)}
    assert positions(database, "B") == {"ABC": (80, 80, KEPT)}
    with database.connect() as connection:
        live = get_order(connection, s.open_buy)
        filled = get_order(connection, s.open_buy - 1)
        action = get_corporate_action(connection, "C1")
        by_new_name = list_corporate_actions(connection, symbol="ABC")
    assert live is not None and filled is not None and action is not None
    assert (live.symbol, live.status, live.updated_seq) == ("ABC", "new", s.seqs["renamed"])
    assert (filled.symbol, filled.status) == ("XYZ", "filled")
    assert (action.status, action.new_symbol) == ("applied", "ABC")
    assert [row.action_id for row in by_new_name] == ["C1"]
    trades = activities_of(database, "A", "trade")
    assert {row.symbol for row in trades} == {"XYZ"}
    out, moved = activities_of(database, "A", "symbol_change")
    assert [(out.symbol, out.qty), (moved.symbol, moved.qty)] == [("XYZ", -125), ("ABC", 125)]


def test_a_reverse_split_pays_cash_in_lieu_and_cancels_orders(database: Engine) -> None:
    s = scenario()
    project(database, up_to(s.commands, s.seqs["reverse"] - 1))
    with database.connect() as connection:
        before = get_balances(connection, "A")

    project(database, s.commands)

    with database.connect() as connection:
        after = get_balances(connection, "A")
        order = get_order(connection, s.open_buy)
        actions = [row.action_id for row in list_corporate_actions(connection, limit=10)]
        splits = [row.action_id for row in list_corporate_actions(connection, kind="split")]
    assert before is not None and after is not None and order is not None
    assert positions(database, "A") == {"ABC": (12, 12, BOUGHT)}  # the half share's basis sold
    assert after.settled - before.settled == 1_000_000
    with database.connect() as connection:
        [held] = list_positions(connection, "A")
    assert held.realized == 1_000_000 - ADDED
    assert (order.symbol, order.status, order.cancel_reason) == (
        "ABC", "canceled", "corporate_action",
    )  # fmt: skip
    assert actions == ["R1", "C1", "D1", "S1"]
    assert splits == ["R1", "S1"]
    [split] = [row for row in activities_of(database, "A", "split") if row.symbol == "ABC"]
    assert (split.qty, split.amount) == (-113, 1_000_000)


# ---------------------------------------------------------------------- idempotence


def test_applying_everything_twice_changes_nothing(database: Engine) -> None:
    commands = scenario().commands
    project(database, commands)
    once = contents(database)

    project(database, commands)
    project(database, commands[len(commands) // 2 :])

    assert contents(database) == once


def test_one_command_per_batch_gives_what_one_batch_gives(
    database: Engine, tmp_path: Path
) -> None:
    commands = scenario().commands
    whole = sqlite_database(tmp_path)
    project(whole, commands)
    expected = contents(whole)
    whole.dispose()

    for command in commands:
        project(database, [command])

    assert contents(database) == expected
