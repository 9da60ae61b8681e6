"""CloseDay and SettleDay at the engine: a whole year of 2026 closed and settled in order
(holidays are no session, half days close at 13:00, the DST changes move nothing in New
York), T+1 and T+2 landing on the right days, DAY orders of the closing sessions expiring
(GTC and orders of the next session staying), refusals, idempotence, and replay."""

import msgspec
import pytest

from eod_helpers import (
    BUY,
    CALENDAR,
    SELL,
    close_at,
    close_time,
    market_at,
    of_type,
    refused,
    settle_at,
    state_without_clock,
    trade,
)
from risk_helpers import DOLLAR
from tradingfloor.domain.commands import (
    AddInstrument,
    CloseDay,
    PlaceOrder,
    ReplaceOrder,
    SettleDay,
    SettleFunds,
    Withdraw,
    WithdrawShares,
)
from tradingfloor.domain.enums import OrderType, TimeInForce
from tradingfloor.domain.events import (
    DayClosed,
    DaySettled,
    FundsSettled,
    OrderExpired,
    SharesSettled,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.risk.calendar import ts_at

DAY, GTC = TimeInForce.DAY, TimeInForce.GTC
T_PLUS_1 = RiskSettings(settlement_sessions=1)
SESSIONS_2026 = [
    CALENDAR.session_date(index)
    for index in range(
        CALENDAR.session_of_date("2026-01-02"), CALENDAR.session_of_date("2026-12-31") + 1
    )
]


def test_a_year_of_sessions_closes_and_settles_in_order() -> None:
    """Every 2026 session: a trade, the close a second after the session's close, then the
    next session's settlement; each trade date settles exactly N sessions later."""
    market = market_at("2026-01-02 10:00")
    settled_on: dict[str, str] = {}
    for index, date in enumerate(SESSIONS_2026):
        market.ts = ts_at(f"{date} 11:00")
        trade(market, qty=1)
        closed = of_type(close_at(market, date, close_time(date)), DayClosed)
        assert [(e.date, e.session) for e in closed] == [(date, CALENDAR.session_of_date(date))]
        following = CALENDAR.session_date(CALENDAR.session_of_date(date) + 1)
        if index + 1 < len(SESSIONS_2026):
            assert following == SESSIONS_2026[index + 1]
        settled = of_type(market.do(SettleDay(following)), DaySettled)
        assert len(settled) == 1
        for trade_date in settled[0].trade_dates:
            settled_on[trade_date] = following
    assert len(SESSIONS_2026) == 251
    for holiday in ("2026-01-01", "2026-01-19", "2026-04-03", "2026-07-03", "2026-12-25"):
        assert holiday not in SESSIONS_2026
    assert settled_on["2026-01-02"] == "2026-01-06"  # Friday: Monday is T+1, Tuesday T+2
    assert settled_on["2026-04-01"] == "2026-04-06"  # Good Friday closed
    assert settled_on["2026-07-01"] == "2026-07-06"  # Friday July 3 closed
    assert settled_on["2026-11-25"] == "2026-11-30"  # Thanksgiving; the half day is T+1
    assert settled_on["2026-12-23"] == "2026-12-28"  # Christmas Eve half day, Christmas
    assert len(settled_on) == len(SESSIONS_2026) - 1  # Dec 31 settles in 2027
    market.check_postings()
    bob = market.engine.risk.ledger.accounts["bob"]  # type: ignore[union-attr]
    assert set(bob.pending) == {CALENDAR.session_of_date(d) for d in SESSIONS_2026[-1:]}


@pytest.mark.parametrize(
    ("date", "refused_at", "closed_at"),
    [
        ("2026-11-27", "2026-11-27 12:59", "2026-11-27 13:00:01"),  # the day after Thanksgiving
        ("2026-12-24", "2026-12-24 12:59:59", "2026-12-24 13:00:01"),  # Christmas Eve
        ("2026-03-06", "2026-03-06 15:59:59", "2026-03-06 16:00"),  # EST, before March 8
        ("2026-03-09", "2026-03-09 15:59:59", "2026-03-09 16:00"),  # EDT, after
        ("2026-10-30", "2026-10-30 15:59:59", "2026-10-30 16:00"),  # EDT, before November 1
        ("2026-11-02", "2026-11-02 15:59:59", "2026-11-02 16:00"),  # EST, after
    ],
)
def test_a_day_closes_at_its_close_in_new_york(date: str, refused_at: str, closed_at: str) -> None:
    market = market_at(f"{date} 10:00")
    assert refused(close_at(market, date, refused_at)) == RejectReason.DAY_NOT_OVER
    assert of_type(close_at(market, date, closed_at), DayClosed)


def test_the_dst_changes_move_the_close_in_utc() -> None:
    before = CALENDAR.session_times(CALENDAR.session_of_date("2026-03-06"))[1]
    after = CALENDAR.session_times(CALENDAR.session_of_date("2026-03-09"))[1]
    assert before == ts_at("2026-03-06T21:00:00+00:00")
    assert after == ts_at("2026-03-09T20:00:00+00:00")


@pytest.mark.parametrize(
    ("settings", "trade_date", "not_yet", "due"),
    [
        (T_PLUS_1, "2026-11-25", "2026-11-25", "2026-11-27"),  # over Thanksgiving
        (RiskSettings(), "2026-11-25", "2026-11-27", "2026-11-30"),
        (T_PLUS_1, "2026-12-31", "2026-12-31", "2027-01-04"),  # New Year, a weekend
        (RiskSettings(), "2026-12-31", "2027-01-04", "2027-01-05"),
        (RiskSettings(), "2026-07-02", "2026-07-06", "2026-07-07"),  # July 3 closed
    ],
)
def test_trades_settle_on_their_t_plus_n_session(
    settings: RiskSettings, trade_date: str, not_yet: str, due: str
) -> None:
    market = market_at(f"{trade_date} 10:00", settings)
    trade(market, qty=10)
    close_at(market, trade_date, close_time(trade_date))
    index = CALENDAR.session_of_date(trade_date)
    date = trade_date
    while date != due:
        index += 1
        following = CALENDAR.session_date(index)
        close_at(market, date, close_time(date)) if date != trade_date else None
        events = settle_at(market, following, f"{following} 08:00")
        if following == due:
            assert of_type(events, DaySettled)[0].trade_dates == [trade_date]
            assert {(e.account, e.amount) for e in of_type(events, FundsSettled)} == {
                ("alice", -1_000 * DOLLAR),
                ("bob", 1_000 * DOLLAR),
            }
            assert {(e.account, e.symbol, e.qty) for e in of_type(events, SharesSettled)} == {
                ("alice", "XYZ", 10),
                ("bob", "XYZ", -10),
            }
        else:
            assert not of_type(events, FundsSettled) and not of_type(events, SharesSettled)
            if following == not_yet:
                alice = market.summary("alice")
                assert alice.unsettled_cash == -1_000 * DOLLAR
        date = following
    views = {v.symbol: v for v in market.engine.risk.positions("alice")}  # type: ignore[union-attr]
    assert views["XYZ"].settled_qty == 10
    market.check_postings()


def test_day_orders_of_the_closing_sessions_expire_and_the_rest_stay() -> None:
    market = market_at("2026-11-23 10:00")
    day_id, _ = market.order("alice", BUY, 5, 90 * DOLLAR, tif=DAY)
    gtc_id, _ = market.order("alice", BUY, 5, 91 * DOLLAR, tif=GTC)
    sell_id, _ = market.order("bob", SELL, 5, 120 * DOLLAR, tif=DAY)
    market.ts = ts_at("2026-11-23 17:30")  # after the close: session of the 24th
    late_id, _ = market.order("alice", BUY, 5, 92 * DOLLAR, tif=DAY)

    closed = close_at(market, "2026-11-23", "2026-11-23 17:31")

    assert sorted(e.order_id for e in of_type(closed, OrderExpired)) == [day_id, sell_id]
    assert of_type(closed, DayClosed)[0].expired == 2
    book = market.engine.books["XYZ"]
    assert book.is_live(gtc_id) and book.is_live(late_id)
    assert market.summary("alice").held == market.engine.risk.ledger.buy_hold_amount(  # type: ignore[union-attr]
        5, 91 * DOLLAR
    ) + market.engine.risk.ledger.buy_hold_amount(5, 92 * DOLLAR)  # type: ignore[union-attr]
    closed = close_at(market, "2026-11-24", "2026-11-24 16:00")
    assert [e.order_id for e in of_type(closed, OrderExpired)] == [late_id]
    assert book.is_live(gtc_id)


def test_an_order_accepted_on_a_quiet_later_day_is_not_expired_by_an_earlier_close() -> None:
    """No command at all during the 24th: the close of the 24th, sent on the 25th, still
    keeps the order of the 25th (the marks name the last order id of each session left)."""
    market = market_at("2026-11-23 10:00")
    close_at(market, "2026-11-23", "2026-11-23 16:00")
    market.ts = ts_at("2026-11-25 09:00")
    order_id, _ = market.order("alice", BUY, 5, 90 * DOLLAR, tif=DAY)
    closed = close_at(market, "2026-11-24", "2026-11-25 09:01")
    assert of_type(closed, DayClosed)[0].expired == 0
    assert market.engine.books["XYZ"].is_live(order_id)


def test_close_day_with_risk_off_expires_day_orders_and_settle_day_is_refused() -> None:
    engine = Engine()
    ts = ts_at("2026-11-23 10:00")
    engine.apply(AddInstrument(Instrument("XYZ")), 1, ts)
    place = PlaceOrder(1, "a", "XYZ", BUY, OrderType.LIMIT, 5, 90 * DOLLAR, tif=DAY)
    engine.apply(place, 2, ts)
    keep = PlaceOrder(2, "a", "XYZ", BUY, OrderType.LIMIT, 5, 90 * DOLLAR, tif=GTC)
    engine.apply(keep, 3, ts)
    closed = engine.apply(CloseDay("2026-11-23"), 4, ts_at("2026-11-23 16:00"))
    assert [type(e) for e in closed] == [OrderExpired, DayClosed]
    assert refused(engine.apply(SettleDay("2026-11-24"), 5, ts_at("2026-11-24 09:00"))) == (
        RejectReason.RISK_OFF
    )
    assert engine.books["XYZ"].is_live(2)


def test_refusals_say_why() -> None:
    market = market_at("2026-11-23 10:00")
    trade(market)
    assert refused(close_at(market, "2026-11-26", "2026-11-27 08:00")) == (
        RejectReason.NOT_A_SESSION  # Thanksgiving
    )
    assert refused(close_at(market, "tomorrow", "2026-11-27 08:00")) == RejectReason.NOT_A_SESSION
    assert refused(close_at(market, "2026-11-23", "2026-11-23 15:00")) == RejectReason.DAY_NOT_OVER
    assert refused(settle_at(market, "2026-11-25", "2026-11-23 17:00")) == (
        RejectReason.DAY_NOT_OVER  # the 25th has not begun
    )
    assert refused(settle_at(market, "2026-11-25", "2026-11-24 17:00")) == (
        RejectReason.DAY_NOT_CLOSED  # nothing closed yet: the 23rd settles on the 25th
    )
    assert of_type(close_at(market, "2026-11-23", "2026-11-24 08:00"), DayClosed)
    assert refused(close_at(market, "2026-11-25", "2026-11-25 17:00")) == (
        RejectReason.DAY_OUT_OF_ORDER
    )
    assert of_type(settle_at(market, "2026-11-25", "2026-11-25 17:01"), DaySettled)
    assert refused(settle_at(market, "2026-11-24", "2026-11-25 17:02")) == (
        RejectReason.DAY_ALREADY_CLOSED
    )
    assert refused(settle_at(market, "2026-11-27", "2026-11-27 08:00")) == (
        RejectReason.DAY_NOT_CLOSED  # the 24th settles on the 27th under T+2: not closed
    )


def test_running_close_day_and_settle_day_twice_changes_nothing() -> None:
    market = market_at("2026-11-23 10:00")
    trade(market)
    market.order("alice", BUY, 5, 90 * DOLLAR, tif=DAY)
    close_at(market, "2026-11-23", "2026-11-23 16:00:01")
    close_at(market, "2026-11-24", "2026-11-24 16:00:01")
    settle_at(market, "2026-11-25", "2026-11-24 16:00:02")
    state = state_without_clock(market.engine)

    assert refused(market.do(CloseDay("2026-11-24"))) == RejectReason.DAY_ALREADY_CLOSED
    assert refused(market.do(SettleDay("2026-11-25"))) == RejectReason.DAY_ALREADY_CLOSED
    assert refused(market.do(CloseDay("2026-11-23"))) == RejectReason.DAY_ALREADY_CLOSED

    assert state_without_clock(market.engine) == state


def test_withdrawals_take_settled_cash_and_shares_only() -> None:
    market = market_at("2026-11-23 10:00")
    market.account("carol", cash=1_000 * DOLLAR)
    trade(market, buyer="carol", qty=10)
    assert refused(market.do(Withdraw("bob", 1 * DOLLAR))) == RejectReason.INSUFFICIENT_FUNDS
    assert refused(market.do(WithdrawShares("carol", "XYZ", 1))) == (
        RejectReason.INSUFFICIENT_SHARES
    )
    close_at(market, "2026-11-23", "2026-11-23 16:00")
    close_at(market, "2026-11-24", "2026-11-24 16:00")
    settle_at(market, "2026-11-25", "2026-11-25 08:00")
    assert not refused(market.do(Withdraw("bob", 1_000 * DOLLAR)))
    assert not refused(market.do(WithdrawShares("carol", "XYZ", 10)))
    market.check_postings()


def test_settle_funds_of_older_journals_settles_shares_too() -> None:
    market = market_at("2026-11-23 10:00")
    trade(market, qty=10)
    market.ts = ts_at("2026-11-25 09:00")
    events = market.do(SettleFunds())
    assert {(e.account, e.qty) for e in of_type(events, SharesSettled)} == {
        ("alice", 10),
        ("bob", -10),
    }
    assert market.position("alice").unsettled == 0


def test_snapshot_and_replay_give_the_same_state_and_the_same_events_byte_for_byte() -> None:
    market = market_at("2026-11-23 10:00")
    snapshot = b""
    for date in ("2026-11-23", "2026-11-24", "2026-11-25", "2026-11-27", "2026-11-30"):
        market.ts = ts_at(f"{date} 10:00")
        trade(market, qty=3)
        market.order("alice", BUY, 2, 95 * DOLLAR, tif=DAY)
        market.order("alice", BUY, 2, 94 * DOLLAR, tif=GTC)
        close_at(market, date, close_time(date))
        if date == "2026-11-25":
            snapshot = market.engine.snapshot()
        following = CALENDAR.session_date(CALENDAR.session_of_date(date) + 1)
        market.do(SettleDay(following))

    replayed = Engine(RiskSettings())
    events = [e for c, seq, ts in market.journal for e in replayed.apply(c, seq, ts)]
    assert msgspec.msgpack.encode(events) == msgspec.msgpack.encode(market.events)
    assert replayed.state_hash() == market.engine.state_hash()

    restored = Engine.restore(snapshot)
    for command, seq, ts in market.journal[restored.last_seq :]:
        restored.apply(command, seq, ts)
    assert restored.state_hash() == market.engine.state_hash()


def test_a_day_order_replaced_after_the_close_belongs_to_the_next_session() -> None:
    market = market_at("2026-11-23 10:00")
    order_id, _ = market.order("alice", BUY, 5, 90 * DOLLAR, tif=DAY)
    market.ts = ts_at("2026-11-23 16:30")
    market.order_id += 1
    market.do(ReplaceOrder(order_id, market.order_id, "XYZ", "alice", qty=6))
    closed = close_at(market, "2026-11-23", "2026-11-23 16:31")
    assert of_type(closed, DayClosed)[0].expired == 0
    assert market.engine.books["XYZ"].is_live(market.order_id)
