"""The risk pipeline and the ledger: every reject reason with nothing changed, and the money
and shares of fills, fees, cancels, replaces, expiry, withdrawals, settlement and the kill
switch. Every command is followed by the full ledger invariant check (risk_helpers.Market)."""

from collections.abc import Callable

import msgspec
import pytest

from risk_helpers import DOLLAR, MINUTE, Market, rejection
from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    ConfigureRisk,
    Deposit,
    DepositShares,
    ExpireOrders,
    HaltTrading,
    OpenAccount,
    ReplaceOrder,
    SetAccountStatus,
    SettleFunds,
    Withdraw,
    WithdrawShares,
)
from tradingfloor.domain.enums import (
    AccountKind,
    AccountStatus,
    CancelReason,
    DayTradePolicy,
    OrderType,
    Side,
    TimeInForce,
)
from tradingfloor.domain.events import (
    CommandRejected,
    FundsSettled,
    OrderAccepted,
    OrderCanceled,
    RiskConfigured,
    TradeExecuted,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import FeeSchedule, RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.risk.calendar import ts_at

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET


def funded(settings: RiskSettings | None = None) -> Market:
    """XYZ at a $100 reference; alice has $10,000, bob 100 shares, carol both."""
    market = Market(settings or RiskSettings())
    market.listing("XYZ", 100 * DOLLAR)
    market.account("alice", cash=10_000 * DOLLAR)
    market.account("bob", shares={"XYZ": 100}, cost_price=90 * DOLLAR)
    market.account("carol", cash=10_000 * DOLLAR, shares={"XYZ": 100})
    return market


def state_of(market: Market) -> bytes:
    """The engine's whole state minus the sequence counters a rejected command still moves
    and the per-second cache of price limits (fixed by the first order of each second)."""
    risk = market.engine.risk
    assert risk is not None
    state = risk.export_state()
    guards = [
        msgspec.structs.replace(
            guard, limits_second=-1, collar=None, band=None, buy_max=0, sell_min=0
        )
        for guard in state.guards
    ]
    books = [book.export_state() for book in market.engine.books.values()]
    return msgspec.msgpack.encode([msgspec.structs.replace(state, guards=guards), books])


Setup = Callable[[Market], None]


def nothing(market: Market) -> None:
    pass


REJECTS: list[tuple[str, Setup, dict[str, object], RejectReason]] = [
    ("unknown account", nothing, {"account": "ghost"}, RejectReason.UNKNOWN_ACCOUNT),
    ("unknown symbol", nothing, {"symbol": "NOPE"}, RejectReason.UNKNOWN_SYMBOL),
    (
        "restricted account buys",
        lambda m: m.do(SetAccountStatus("alice", AccountStatus.RESTRICTED)),
        {},
        RejectReason.ACCOUNT_RESTRICTED,
    ),
    (
        "blocked account",
        lambda m: m.do(SetAccountStatus("alice", AccountStatus.BLOCKED)),
        {},
        RejectReason.ACCOUNT_BLOCKED,
    ),
    (
        "closed account",
        lambda m: m.do(SetAccountStatus("alice", AccountStatus.CLOSED)),
        {},
        RejectReason.ACCOUNT_CLOSED,
    ),
    ("halted symbol", lambda m: m.do(HaltTrading("XYZ")), {}, RejectReason.SYMBOL_HALTED),
    ("market-wide halt", lambda m: m.do(HaltTrading()), {}, RejectReason.MARKET_HALTED),
    ("off tick", nothing, {"price": 100 * DOLLAR + 50}, RejectReason.PRICE_NOT_ON_TICK),
    (
        "lot size",
        lambda m: m.do(AddInstrument(Instrument("LOT", lot_size=100))),
        {"symbol": "LOT", "qty": 150},
        RejectReason.QUANTITY_NOT_LOT_MULTIPLE,
    ),
    ("quantity above max", nothing, {"qty": 1_000_001}, RejectReason.QUANTITY_ABOVE_MAX),
    (
        "notional above max",
        lambda m: m.do(ConfigureRisk(RiskSettings(notional_max=5_000 * DOLLAR))),
        {"qty": 51},
        RejectReason.NOTIONAL_ABOVE_MAX,
    ),
    (
        "buy above collar",
        nothing,
        {"price": 110 * DOLLAR + 100},
        RejectReason.PRICE_OUTSIDE_COLLAR,
    ),
    (
        "sell below collar",
        nothing,
        {"account": "bob", "side": SELL, "price": 89 * DOLLAR},
        RejectReason.PRICE_OUTSIDE_COLLAR,
    ),
    (
        "buy above the tier 1 LULD band",
        lambda m: m.listing("TIER1", 100 * DOLLAR, tier=1),
        {"symbol": "TIER1", "price": 106 * DOLLAR},
        RejectReason.PRICE_OUTSIDE_BAND,
    ),
    ("insufficient buying power", nothing, {"qty": 101}, RejectReason.INSUFFICIENT_BUYING_POWER),
    (
        "insufficient shares",
        nothing,
        {"account": "bob", "side": SELL, "qty": 101},
        RejectReason.INSUFFICIENT_SHARES,
    ),
    (
        "selling shares never held",
        nothing,
        {"side": SELL, "price": 101 * DOLLAR},
        RejectReason.INSUFFICIENT_SHARES,
    ),
    (
        "open orders per symbol",
        lambda m: (
            m.do(ConfigureRisk(RiskSettings(open_orders_per_symbol_max=2))),
            m.order("alice", BUY, 1, 90 * DOLLAR),
            m.order("alice", BUY, 1, 91 * DOLLAR),
        ),
        {},
        RejectReason.OPEN_ORDERS_ABOVE_MAX,
    ),
    (
        "market order with no reference price",
        lambda m: m.do(AddInstrument(Instrument("NEW"))),
        {"symbol": "NEW", "price": None},
        RejectReason.NO_REFERENCE_PRICE,
    ),
    (
        "trailing stop with no reference price",
        lambda m: m.do(AddInstrument(Instrument("NEW"))),
        {"symbol": "NEW", "price": None, "order_type": OrderType.TRAILING_STOP, "trail_bps": 100},
        RejectReason.NO_REFERENCE_PRICE,
    ),
    (
        "intraday exposure above equity",
        lambda m: (
            m.account("margin", cash=10_000 * DOLLAR, kind=AccountKind.MARGIN),
            m.do(
                ConfigureRisk(
                    RiskSettings(
                        day_trade_policy=DayTradePolicy.INTRADAY_MARGIN,
                        intraday_exposure_bps=5_000,
                    )
                )
            ),
        ),
        {"account": "margin", "qty": 51},
        RejectReason.INTRADAY_EXPOSURE_ABOVE_EQUITY,
    ),
]


@pytest.mark.parametrize(
    ("name", "setup", "terms", "reason"), REJECTS, ids=[r[0] for r in REJECTS]
)
def test_each_reject_reason_changes_nothing(
    name: str, setup: Setup, terms: dict[str, object], reason: RejectReason
) -> None:
    market = funded()
    setup(market)
    order: dict[str, object] = {
        "account": "alice",
        "side": BUY,
        "qty": 10,
        "price": 100 * DOLLAR,
        "symbol": "XYZ",
    }
    order.update(terms)
    before = state_of(market)

    _, events = market.order(**order)  # type: ignore[arg-type]

    assert rejection(events) == reason, events
    assert state_of(market) == before


def test_the_order_just_inside_each_limit_is_accepted() -> None:
    market = funded(RiskSettings(notional_max=5_000 * DOLLAR))
    for account, side, qty, price in [
        ("alice", BUY, 50, 100 * DOLLAR),  # notional exactly at the maximum
        ("alice", BUY, 1, 110 * DOLLAR),  # collar edge
        ("bob", SELL, 40, 111 * DOLLAR),
        ("bob", SELL, 45, 111 * DOLLAR),
        ("bob", SELL, 15, 111 * DOLLAR),  # the last of the shares held
    ]:
        _, events = market.order(account, side, qty, price)
        assert rejection(events) is None, events
    summary = market.summary("alice")
    assert summary.held == 5_110 * DOLLAR
    assert summary.buying_power == 4_890 * DOLLAR


def test_a_fill_moves_cash_and_shares_and_realizes_pnl_at_average_cost() -> None:
    market = funded()
    market.order("bob", SELL, 100, 100 * DOLLAR)

    _, events = market.order("alice", BUY, 60, 100 * DOLLAR)

    assert [type(e) for e in events] == [OrderAccepted, TradeExecuted]
    alice, bob = market.summary("alice"), market.summary("bob")
    assert alice.cash == 4_000 * DOLLAR and alice.unsettled_cash == -6_000 * DOLLAR
    assert alice.settled_cash == 10_000 * DOLLAR and alice.held == 0
    assert bob.unsettled_cash == 6_000 * DOLLAR
    buyer, seller = market.position("alice"), market.position("bob")
    assert (buyer.qty, buyer.cost, buyer.realized) == (60, 6_000 * DOLLAR, 0)
    assert (seller.qty, seller.held, seller.cost) == (40, 40, 3_600 * DOLLAR)
    assert seller.realized == 60 * 10 * DOLLAR
    assert market.check_postings() > 0


def test_unrealized_pnl_follows_the_last_trade() -> None:
    market = funded()
    market.order("bob", SELL, 10, 100 * DOLLAR)
    market.order("alice", BUY, 10, 100 * DOLLAR)
    market.order("carol", SELL, 5, 104 * DOLLAR)
    market.order("alice", BUY, 5, 104 * DOLLAR)

    risk = market.engine.risk
    assert risk is not None
    (view,) = risk.positions("alice")
    assert (view.qty, view.cost, view.mark) == (15, 1_520 * DOLLAR, 104 * DOLLAR)
    assert view.unrealized == 15 * 104 * DOLLAR - 1_520 * DOLLAR
    assert market.summary("alice").equity == 10_000 * DOLLAR - 1_520 * DOLLAR + 15 * 104 * DOLLAR


def test_fees_are_charged_to_both_sides_and_held_in_advance() -> None:
    fees = FeeSchedule(maker_per_share=10, taker_per_share=30, taker_notional_ppm=100)
    market = funded(RiskSettings(fees=fees))
    market.order("bob", SELL, 100, 100 * DOLLAR)
    # 100 shares at $100 = $10,000 + the largest fee: the account cannot afford it
    _, events = market.order("alice", BUY, 100, 100 * DOLLAR)
    assert rejection(events) == RejectReason.INSUFFICIENT_BUYING_POWER

    _, events = market.order("alice", BUY, 50, 100 * DOLLAR)

    trade = next(e for e in events if isinstance(e, TradeExecuted))
    taker_fee = 50 * 30 + 50 * 100 * DOLLAR * 100 // 1_000_000
    assert (trade.maker_fee, trade.taker_fee) == (50 * 10, taker_fee)
    assert market.summary("alice").cash == 10_000 * DOLLAR - 5_000 * DOLLAR - taker_fee
    assert market.summary("bob").cash == 5_000 * DOLLAR - 500
    market.check_postings()


def test_a_market_buy_is_held_at_the_collar_and_never_trades_beyond_it() -> None:
    market = funded()
    market.order("bob", SELL, 50, 105 * DOLLAR)
    market.order("carol", SELL, 50, 110 * DOLLAR + 100)  # beyond the 10% collar of $100

    order_id, events = market.order("alice", BUY, 80)

    trades = [e for e in events if isinstance(e, TradeExecuted)]
    assert [(t.price, t.qty) for t in trades] == [(105 * DOLLAR, 50)]
    canceled = next(e for e in events if isinstance(e, OrderCanceled))
    assert (canceled.order_id, canceled.canceled_qty) == (order_id, 30)
    assert canceled.reason == CancelReason.PRICE_PROTECTION
    assert market.summary("alice").held == 0


def test_a_market_buy_that_could_cost_more_than_the_account_has_is_refused() -> None:
    market = funded()
    # 91 shares x the $110 collar price = $10,010 > $10,000, even if asks are cheaper
    market.order("bob", SELL, 100, 100 * DOLLAR)
    _, events = market.order("alice", BUY, 91)
    assert rejection(events) == RejectReason.INSUFFICIENT_BUYING_POWER


def test_cancel_expiry_and_partial_fills_release_exactly_what_is_no_longer_needed() -> None:
    market = funded()
    buy_id, _ = market.order("alice", BUY, 40, 99 * DOLLAR)
    day_id, _ = market.order("alice", BUY, 10, 98 * DOLLAR, tif=TimeInForce.DAY)
    assert market.summary("alice").held == (40 * 99 + 10 * 98) * DOLLAR
    market.order("bob", SELL, 15, 99 * DOLLAR)
    assert market.summary("alice").held == (25 * 99 + 10 * 98) * DOLLAR

    market.do(CancelOrder(buy_id, "XYZ", "alice"))
    assert market.summary("alice").held == 10 * 98 * DOLLAR
    market.do(ExpireOrders())
    assert market.summary("alice").held == 0
    assert market.summary("alice").open_orders == 0
    assert market.position("bob").held == 0
    assert day_id != buy_id


def test_replace_holds_the_difference_or_is_refused() -> None:
    market = funded()
    order_id, _ = market.order("alice", BUY, 50, 100 * DOLLAR)
    market.order_id += 1
    events = market.do(ReplaceOrder(order_id, market.order_id, "XYZ", "alice", qty=101))
    assert rejection(events) == RejectReason.INSUFFICIENT_BUYING_POWER
    assert market.summary("alice").held == 5_000 * DOLLAR

    market.order_id += 1
    events = market.do(
        ReplaceOrder(order_id, market.order_id, "XYZ", "alice", qty=90, price=101 * DOLLAR)
    )
    assert rejection(events) is None
    assert market.summary("alice").held == 90 * 101 * DOLLAR

    market.order_id += 1
    events = market.do(
        ReplaceOrder(market.order_id - 1, market.order_id, "XYZ", "alice", price=120 * DOLLAR)
    )
    assert rejection(events) == RejectReason.PRICE_OUTSIDE_COLLAR


def test_withdrawals_take_only_settled_cash_that_nothing_needs() -> None:
    market = funded()
    market.order("bob", SELL, 10, 100 * DOLLAR)
    market.order("alice", BUY, 10, 100 * DOLLAR)
    market.order("alice", BUY, 10, 90 * DOLLAR)
    # $10,000 settled, $1,000 owed for the unsettled buy, $900 held by the open order
    assert market.summary("alice").withdrawable == 8_100 * DOLLAR
    assert rejection(market.do(Withdraw("alice", 8_100 * DOLLAR + 1))) == (
        RejectReason.INSUFFICIENT_FUNDS
    )
    # bob's sale proceeds are not settled: nothing to withdraw yet
    assert rejection(market.do(Withdraw("bob", 1))) == RejectReason.INSUFFICIENT_FUNDS

    assert rejection(market.do(Withdraw("alice", 8_100 * DOLLAR))) is None
    assert rejection(market.do(Withdraw("alice", 0))) == RejectReason.INVALID_AMOUNT
    market.check_postings()


def test_fills_settle_two_business_days_later_over_a_holiday() -> None:
    market = funded()
    market.ts = ts_at("2026-11-25 10:00")  # Wednesday; Thursday is Thanksgiving
    market.order("bob", SELL, 10, 100 * DOLLAR)
    market.order("alice", BUY, 10, 100 * DOLLAR)

    market.ts = ts_at("2026-11-27 12:00")  # Friday (a half day), T+1
    assert market.do(SettleFunds()) == []
    market.ts = ts_at("2026-11-30 09:00")  # Monday, T+2
    settled = market.do(SettleFunds())

    assert {(e.account, e.amount) for e in settled if isinstance(e, FundsSettled)} == {
        ("alice", -1_000 * DOLLAR),
        ("bob", 1_000 * DOLLAR),
    }
    assert market.summary("bob").settled_cash == 1_000 * DOLLAR
    assert market.summary("alice").unsettled_cash == 0
    assert rejection(market.do(Withdraw("bob", 1_000 * DOLLAR))) is None
    market.check_postings()


def test_the_kill_switch_cancels_every_open_order_and_refuses_new_ones() -> None:
    market = funded()
    market.listing("ABC", 50 * DOLLAR)
    market.order("carol", BUY, 10, 95 * DOLLAR)
    market.order("carol", SELL, 10, 105 * DOLLAR)
    market.order("carol", BUY, 10, 49 * DOLLAR, symbol="ABC")

    events = market.do(SetAccountStatus("carol", AccountStatus.BLOCKED))

    canceled = [e for e in events if isinstance(e, OrderCanceled)]
    assert len(canceled) == 3 and {e.reason for e in canceled} == {CancelReason.KILL_SWITCH}
    assert market.summary("carol").held == 0 and market.position("carol").held == 0
    _, events = market.order("carol", BUY, 1, 100 * DOLLAR)
    assert rejection(events) == RejectReason.ACCOUNT_BLOCKED
    market.do(SetAccountStatus("carol", AccountStatus.ACTIVE))
    _, events = market.order("carol", BUY, 1, 100 * DOLLAR)
    assert rejection(events) is None


def test_a_restricted_account_may_still_sell_what_it_holds() -> None:
    market = funded()
    market.do(SetAccountStatus("carol", AccountStatus.RESTRICTED))
    _, events = market.order("carol", SELL, 10, 100 * DOLLAR)
    assert rejection(events) is None


def test_account_commands_refuse_bad_input_and_change_nothing() -> None:
    market = funded()
    before = state_of(market)
    for command, reason in [
        (OpenAccount("alice"), RejectReason.ACCOUNT_EXISTS),
        (OpenAccount(""), RejectReason.UNKNOWN_ACCOUNT),
        (Deposit("ghost", 1), RejectReason.UNKNOWN_ACCOUNT),
        (Deposit("alice", -5), RejectReason.INVALID_AMOUNT),
        (Deposit("alice", 10**16 + 1), RejectReason.INVALID_AMOUNT),  # balances stay in 64 bits
        (DepositShares("alice", "XYZ", 10**12 + 1, 0), RejectReason.INVALID_QUANTITY),
        (Withdraw("alice", 10_000 * DOLLAR + 1), RejectReason.INSUFFICIENT_FUNDS),
        (DepositShares("alice", "NOPE", 1, 0), RejectReason.UNKNOWN_SYMBOL),
        (DepositShares("alice", "XYZ", 0, 0), RejectReason.INVALID_QUANTITY),
        (WithdrawShares("bob", "XYZ", 101), RejectReason.INSUFFICIENT_SHARES),
        (ConfigureRisk(RiskSettings(collar_bps=0)), RejectReason.INVALID_SETTINGS),
        (ConfigureRisk(None), RejectReason.RISK_CONFIG_LOCKED),
    ]:
        events = market.do(command)
        assert [type(e) for e in events] == [CommandRejected], command
        assert rejection(events) == reason, command
    assert state_of(market) == before


def test_shares_withdrawn_take_their_average_cost_with_them() -> None:
    market = funded()
    market.do(DepositShares("bob", "XYZ", 100, 110 * DOLLAR))  # 200 shares, $20,000 basis
    market.do(WithdrawShares("bob", "XYZ", 50))
    position = market.position("bob")
    assert (position.qty, position.cost) == (150, 15_000 * DOLLAR)
    market.check_postings()


def test_risk_switches_on_only_with_no_live_order() -> None:
    engine = Engine()
    engine.apply(AddInstrument(Instrument("XYZ", tick_size=1)), 1, 0)
    place = OpenAccount("alice")
    assert rejection(engine.apply(place, 2, 0)) == RejectReason.RISK_OFF
    from tradingfloor.domain.commands import PlaceOrder

    engine.apply(PlaceOrder(3, "a", "XYZ", BUY, LIMIT, 1, 100, tif=TimeInForce.GTC), 3, 0)
    assert rejection(engine.apply(ConfigureRisk(RiskSettings()), 4, 0)) == (
        RejectReason.RISK_CONFIG_LOCKED
    )
    engine.apply(CancelOrder(3, "XYZ"), 5, 0)

    events = engine.apply(ConfigureRisk(RiskSettings()), 6, 0)

    assert [type(e) for e in events] == [RiskConfigured]
    assert engine.risk is not None and "XYZ" in engine.risk.guards
    assert rejection(engine.apply(place, 7, 0)) is None


def test_snapshot_restore_keeps_the_ledger_and_continues_identically() -> None:
    market = funded(RiskSettings(fees=FeeSchedule(taker_per_share=30)))
    market.order("bob", SELL, 50, 101 * DOLLAR)
    market.order("alice", BUY, 20, 101 * DOLLAR)
    market.order("alice", BUY, 20, 99 * DOLLAR)
    restored = Engine.restore(market.engine.snapshot())
    assert restored.state_hash() == market.engine.state_hash()

    more = [
        ("carol", BUY, 40, 101 * DOLLAR),
        ("bob", SELL, 30, 99 * DOLLAR),
    ]
    from tradingfloor.domain.commands import PlaceOrder

    for account, side, qty, price in more:
        market.order_id += 1
        command = PlaceOrder(market.order_id, account, "XYZ", side, LIMIT, qty, price)
        original = market.do(command, MINUTE)
        again = restored.apply(command, market.seq, market.ts)
        assert again == original
    assert restored.state_hash() == market.engine.state_hash()
