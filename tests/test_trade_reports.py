"""Trade reports of a hand-built feed: one per execution, its fields, capacity, contra
party, modifiers and the late flag."""

from report_feed import PRINCIPAL, SECOND, TEN_AM, morning
from tradingfloor.compliance.report_time import cat_timestamp, iso_text, trade_date
from tradingfloor.compliance.trade_reports import TradeReport, TradeReporter
from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import TradeExecuted
from tradingfloor.risk.calendar import calendar_for, ts_at

LATE_MS = 10_000


def reporter() -> TradeReporter:
    return TradeReporter("TFLR", calendar_for(), LATE_MS, PRINCIPAL)


def reports_of_morning(delay_ns: int = SECOND // 2) -> list[TradeReport]:
    made = reporter()
    return [
        report
        for seq, ts, events in morning()
        for report in made.reports("main", seq, events, ts + delay_ns)
    ]


def test_every_execution_has_one_report_with_a_stable_id() -> None:
    reports = reports_of_morning()

    assert [report.trade_id for report in reports] == ["main-3-1", "main-3-2", "main-5-1"]
    assert [report.quantity for report in reports] == [30, 30, 70]
    assert reports_of_morning()[1].trade_id == reports[1].trade_id  # the same again


def test_a_report_names_the_aggressor_and_the_contra_party() -> None:
    first, second, third = reports_of_morning()

    assert (first.side, first.reporting_account, first.contra_party) == ("B", "bob", "desk")
    assert (first.buyer_account, first.seller_account) == ("bob", "desk")
    assert (first.buy_order_id, first.sell_order_id) == (3, 1)
    assert (second.price, second.price_text) == (1_005_000, "100.50")
    assert (third.buyer_account, third.seller_account, third.sell_order_id) == ("carl", "ann", 4)
    assert first.reporting_party == "TFLR"
    assert first.trade_date == "2026-12-03"
    assert first.execution_time == "2026-12-03T10:00:03.000000000-05:00"


def test_capacity_is_principal_for_the_firm_and_agency_for_customers() -> None:
    made = reporter()
    trade = TradeExecuted(1, TEN_AM, "AAPL", 1, 100, 5, 1, 2, "bob", "desk", Side.SELL, 0, 0)

    report = made.report("main", 1, trade, TEN_AM)

    assert (report.side, report.capacity, report.reporting_account) == ("S", "P", "desk")
    assert report.buyer_account == "bob"
    assert [r.capacity for r in reports_of_morning()] == ["A", "A", "A"]  # bob and carl


def test_a_report_made_after_ten_seconds_is_late() -> None:
    on_time = reports_of_morning(delay_ns=LATE_MS * 1_000_000)
    late = reports_of_morning(delay_ns=LATE_MS * 1_000_000 + 1)

    assert [(r.late, r.modifiers) for r in on_time] == [(False, [])] * 3
    assert [(r.late, r.modifiers) for r in late] == [(True, ["Z"])] * 3
    assert late[0].ts_report - late[0].ts_execution == LATE_MS * 1_000_000 + 1


def test_trades_outside_the_regular_session_are_marked() -> None:
    made = reporter()
    evening = ts_at("2026-12-03 17:00")
    trade = TradeExecuted(1, evening, "AAPL", 1, 100, 5, 1, 2, "a", "b", Side.BUY, 0, 0)

    assert made.report("main", 1, trade, evening).modifiers == ["T"]
    assert made.report("main", 1, trade, evening + 11 * SECOND).modifiers == ["U"]


def test_times_are_new_york_time_to_the_nanosecond() -> None:
    ts = ts_at("2026-12-03 20:30") + 123_456_789  # the 4th in UTC

    assert trade_date(ts) == "2026-12-03"
    assert iso_text(ts) == "2026-12-03T20:30:00.123456789-05:00"
    assert cat_timestamp(ts) == "20261203 203000.123456789"
    assert iso_text(ts_at("2026-07-01 09:30")) == "2026-07-01T09:30:00.000000000-04:00"
