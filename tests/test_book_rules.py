"""Arrange/act/assert tests of the order book's rules, driven through `Engine.apply`.

Every reject test asserts the exact event and that the book did not change; the behaviour tests
cover trailing stops, DAY expiry, replace priority, stop replaces, the L3 read and depth, and
self-trade prevention configured per order.
"""

from typing import Any

import pytest

from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    Command,
    ExpireOrders,
    PlaceOrder,
    ReplaceOrder,
)
from tradingfloor.domain.enums import (
    CancelReason,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tradingfloor.domain.events import (
    CancelRejected,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderReplaced,
    ReplaceRejected,
    StopTriggered,
    TradeExecuted,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine import Engine
from tradingfloor.matching import BookLevel, OrderBook, RestingOrder

SYMBOL = "T"
BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
STOP, STOP_LIMIT, TRAILING = OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP
DAY, GTC, IOC, FOK = TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
STP = SelfTradePrevention
TEST_INSTRUMENT = Instrument(SYMBOL, tick_size=1)
REG_NMS_INSTRUMENT = Instrument(SYMBOL)  # tick_size 0: a cent from $1.00, 1/100 cent below


class Desk:
    """One engine with one instrument; hands out sequence numbers, times and order ids."""

    def __init__(self, instrument: Instrument = TEST_INSTRUMENT) -> None:
        self.engine = Engine()
        self.seq = 0
        self.last_id = 0
        self.events: list[Event] = []
        self.apply(AddInstrument(instrument))

    @property
    def book(self) -> OrderBook:
        return self.engine.book(SYMBOL)

    @property
    def ts(self) -> int:
        """The time of the last command: 1 µs per sequence number."""
        return self.seq * 1_000

    def apply(self, command: Command) -> list[Event]:
        self.seq += 1
        self.events = self.engine.apply(command, self.seq, self.ts)
        return self.events

    def new_id(self) -> int:
        self.last_id += 1
        return self.last_id

    def place(
        self,
        side: Side,
        qty: int,
        price: int | None = None,
        *,
        order_type: OrderType | None = None,
        account: str = "A",
        tif: TimeInForce = GTC,
        **fields: Any,
    ) -> int:
        """Place an order (limit if priced, else market); returns its id."""
        order_id = self.new_id()
        if order_type is None:
            order_type = MARKET if price is None else LIMIT
        self.apply(
            PlaceOrder(
                order_id, account, SYMBOL, side, order_type, qty, price=price, tif=tif, **fields
            )
        )
        return order_id

    def owner(self, order_id: int) -> str:
        """The account of a live order; "" when it is not live."""
        order = self.book.order_view(order_id)
        return "" if order is None else order.account

    def cancel(self, order_id: int, account: str = "") -> list[Event]:
        return self.apply(CancelOrder(order_id, SYMBOL, account))

    def replace(self, order_id: int, **fields: Any) -> int:
        new_id = self.new_id()
        self.apply(ReplaceOrder(order_id, new_id, SYMBOL, **fields))
        return new_id

    def print_trade(self, price: int) -> list[Event]:
        """Make one share trade at `price` between two bystanders; returns the taker's events.

        Only meaningful while no other ask sits at or below `price`.
        """
        self.place(SELL, 1, price, account="print-maker")
        self.place(BUY, 1, price, account="print-taker", tif=IOC)
        trades = [e for e in self.events if isinstance(e, TradeExecuted)]
        assert trades and trades[0].price == price, f"no print at {price}: {self.events}"
        return self.events

    def snapshot(self) -> tuple[object, ...]:
        """Everything a reader can see of the book."""
        book = self.book
        return (
            book.depth(),
            list(book.resting_orders(BUY)),
            list(book.resting_orders(SELL)),
            book.live_order_ids(),
            book.last_price,
        )

    def resting_ids(self, side: Side) -> list[int]:
        return [order.order_id for order in self.book.resting_orders(side)]


def of_type(events: list[Event], kind: type) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


# ---------------------------------------------------------------- place rejects


def _populated_desk(instrument: Instrument) -> Desk:
    """A bid, an ask, a last price and a pending stop: "unchanged" then means something."""
    desk = Desk(instrument)
    tick = instrument.tick_size or 100
    base = 1_000_000  # $100.00: on every tick used here
    desk.place(SELL, 10 * instrument.lot_size, base, account="B")
    desk.place(BUY, instrument.lot_size, base, account="C")
    desk.place(BUY, 10 * instrument.lot_size, base - 5 * tick, account="B")
    desk.place(BUY, instrument.lot_size, order_type=STOP, stop_price=base + 10 * tick, account="B")
    return desk


PLACE_REJECTS = [
    # (case, instrument, fields of PlaceOrder, reason)
    ("zero qty", TEST_INSTRUMENT, {"qty": 0, "price": 100}, RejectReason.INVALID_QUANTITY),
    ("negative qty", TEST_INSTRUMENT, {"qty": -5, "price": 100}, RejectReason.INVALID_QUANTITY),
    (
        "qty off the lot",
        Instrument(SYMBOL, tick_size=1, lot_size=100),
        {"qty": 150, "price": 100},
        RejectReason.QUANTITY_NOT_LOT_MULTIPLE,
    ),
    ("limit without price", TEST_INSTRUMENT, {"qty": 10}, RejectReason.PRICE_REQUIRED),
    (
        "stop limit without price",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": STOP_LIMIT, "stop_price": 100},
        RejectReason.PRICE_REQUIRED,
    ),
    (
        "market with price",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": MARKET, "price": 100},
        RejectReason.PRICE_NOT_ALLOWED,
    ),
    (
        "stop with price",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": STOP, "price": 100, "stop_price": 100},
        RejectReason.PRICE_NOT_ALLOWED,
    ),
    (
        "trailing stop with price",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": TRAILING, "price": 100, "trail_price": 5},
        RejectReason.PRICE_NOT_ALLOWED,
    ),
    ("zero price", TEST_INSTRUMENT, {"qty": 10, "price": 0}, RejectReason.INVALID_PRICE),
    ("negative price", TEST_INSTRUMENT, {"qty": 10, "price": -100}, RejectReason.INVALID_PRICE),
    (
        "price off a fixed tick",
        Instrument(SYMBOL, tick_size=5),
        {"qty": 10, "price": 1_000_002},
        RejectReason.PRICE_NOT_ON_TICK,
    ),
    (
        "sub-penny price at $1.00 and above (Reg NMS)",
        REG_NMS_INSTRUMENT,
        {"qty": 10, "price": 10_050},
        RejectReason.PRICE_NOT_ON_TICK,
    ),
    (
        "one unit above $1.00 (Reg NMS)",
        REG_NMS_INSTRUMENT,
        {"qty": 10, "price": 10_001},
        RejectReason.PRICE_NOT_ON_TICK,
    ),
    (
        "stop without stop price",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": STOP},
        RejectReason.STOP_PRICE_REQUIRED,
    ),
    (
        "stop limit without stop price",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": STOP_LIMIT, "price": 100},
        RejectReason.STOP_PRICE_REQUIRED,
    ),
    (
        "limit with stop price",
        TEST_INSTRUMENT,
        {"qty": 10, "price": 100, "stop_price": 100},
        RejectReason.STOP_PRICE_NOT_ALLOWED,
    ),
    (
        "market with stop price",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": MARKET, "stop_price": 100},
        RejectReason.STOP_PRICE_NOT_ALLOWED,
    ),
    (
        "trailing stop with stop price",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": TRAILING, "stop_price": 100, "trail_price": 5},
        RejectReason.STOP_PRICE_NOT_ALLOWED,
    ),
    (
        "zero stop price",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": STOP, "stop_price": 0},
        RejectReason.INVALID_STOP_PRICE,
    ),
    (
        "negative stop price",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": STOP, "stop_price": -1},
        RejectReason.INVALID_STOP_PRICE,
    ),
    (
        "stop price off a fixed tick",
        Instrument(SYMBOL, tick_size=5),
        {"qty": 10, "order_type": STOP_LIMIT, "price": 1_000_000, "stop_price": 1_000_003},
        RejectReason.INVALID_STOP_PRICE,
    ),
    (
        "sub-penny stop price at $1.00 and above (Reg NMS)",
        REG_NMS_INSTRUMENT,
        {"qty": 10, "order_type": STOP, "stop_price": 10_050},
        RejectReason.INVALID_STOP_PRICE,
    ),
    (
        "trailing stop without trail",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": TRAILING},
        RejectReason.TRAIL_REQUIRED,
    ),
    (
        "trailing stop with both trails",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": TRAILING, "trail_price": 5, "trail_bps": 50},
        RejectReason.TRAIL_REQUIRED,
    ),
    (
        "limit with a trail",
        TEST_INSTRUMENT,
        {"qty": 10, "price": 100, "trail_price": 5},
        RejectReason.TRAIL_NOT_ALLOWED,
    ),
    (
        "zero trail price",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": TRAILING, "trail_price": 0},
        RejectReason.INVALID_TRAIL,
    ),
    (
        "negative trail price",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": TRAILING, "trail_price": -3},
        RejectReason.INVALID_TRAIL,
    ),
    (
        "zero trail bps",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": TRAILING, "trail_bps": 0},
        RejectReason.INVALID_TRAIL,
    ),
    (
        "trail of 100 percent",
        TEST_INSTRUMENT,
        {"qty": 10, "order_type": TRAILING, "trail_bps": 10_000},
        RejectReason.INVALID_TRAIL,
    ),
]


@pytest.mark.parametrize(
    ("instrument", "fields", "reason"),
    [case[1:] for case in PLACE_REJECTS],
    ids=[case[0] for case in PLACE_REJECTS],
)
def test_invalid_new_order_is_rejected_and_book_unchanged(
    instrument: Instrument, fields: dict[str, Any], reason: RejectReason
) -> None:
    desk = _populated_desk(instrument)
    before = desk.snapshot()
    order_id = desk.new_id()
    fields = {"order_type": LIMIT, "tif": GTC, **fields}

    command = PlaceOrder(order_id, "A", SYMBOL, BUY, client_order_id="client-7", **fields)
    events = desk.apply(command)

    # the refused order keeps its terms as asked
    assert events == [
        OrderRejected(
            desk.seq,
            desk.ts,
            order_id,
            "A",
            SYMBOL,
            reason,
            "client-7",
            BUY,
            command.order_type,
            GTC,
            command.qty,
            command.price,
            command.stop_price,
        )
    ]
    assert desk.snapshot() == before
    assert not desk.book.is_live(order_id)


@pytest.mark.parametrize("price", [1, 9_999, 10_000, 10_100, 1_502_500])
def test_reg_nms_schedule_accepts_sub_penny_below_a_dollar_and_cents_above(price: int) -> None:
    desk = Desk(REG_NMS_INSTRUMENT)

    order_id = desk.place(BUY, 10, price)

    assert desk.resting_ids(BUY) == [order_id]


def test_unknown_symbol_is_rejected() -> None:
    desk = _populated_desk(TEST_INSTRUMENT)
    before = desk.snapshot()
    order_id = desk.new_id()

    events = desk.apply(PlaceOrder(order_id, "A", "NOPE", BUY, LIMIT, 10, price=100))

    assert events == [
        OrderRejected(
            desk.seq,
            desk.ts,
            order_id,
            "A",
            "NOPE",
            RejectReason.UNKNOWN_SYMBOL,
            "",
            *(BUY, LIMIT, DAY, 10, 100, None),
        )
    ]
    assert desk.snapshot() == before


@pytest.mark.parametrize("order_id_offset", [0, -1], ids=["same id", "lower id"])
def test_repeated_or_lower_order_id_is_rejected_and_earlier_order_untouched(
    order_id_offset: int,
) -> None:
    desk = _populated_desk(TEST_INSTRUMENT)
    existing = desk.place(SELL, 7, 1_000_200, account="B")
    before = desk.snapshot()
    order_id = existing + order_id_offset

    events = desk.apply(PlaceOrder(order_id, "A", SYMBOL, SELL, LIMIT, 3, price=1_000_300))

    assert events == [
        OrderRejected(
            desk.seq, desk.ts, order_id, "A", SYMBOL, RejectReason.DUPLICATE_ORDER_ID, ""
        )
    ]
    assert desk.snapshot() == before
    assert RestingOrder(existing, "B", SELL, 1_000_200, 7) in desk.book.resting_orders(SELL)


def test_unfillable_fill_or_kill_is_rejected_without_trading() -> None:
    desk = _populated_desk(TEST_INSTRUMENT)  # 9 offered at 1_000_000
    before = desk.snapshot()
    order_id = desk.new_id()

    events = desk.apply(PlaceOrder(order_id, "A", SYMBOL, BUY, LIMIT, 10, 1_000_000, tif=FOK))

    assert events == [
        OrderRejected(
            desk.seq,
            desk.ts,
            order_id,
            "A",
            SYMBOL,
            RejectReason.FOK_NOT_FILLABLE,
            "",
            *(BUY, LIMIT, FOK, 10, 1_000_000, None),
        )
    ]
    assert desk.snapshot() == before


# ---------------------------------------------------------------- cancel and replace rejects


def _seeded_desk() -> tuple[Desk, dict[str, int]]:
    """A book holding an order in each state a cancel or replace can meet, by name."""
    desk = Desk()
    ids: dict[str, int] = {}
    ids["partially_filled"] = desk.place(SELL, 10, 101, account="B")
    ids["filled"] = desk.place(BUY, 4, account="C")  # market: fills 4 at 101
    ids["resting"] = desk.place(BUY, 10, 99, account="B")
    ids["stop"] = desk.place(BUY, 5, order_type=STOP, stop_price=105)
    ids["stop_limit"] = desk.place(SELL, 5, 94, order_type=STOP_LIMIT, stop_price=95)
    ids["trailing"] = desk.place(SELL, 5, order_type=TRAILING, trail_price=3)
    ids["canceled"] = desk.place(BUY, 5, 98)
    desk.cancel(ids["canceled"])
    ids["expired"] = desk.place(BUY, 5, 97, tif=DAY)
    desk.apply(ExpireOrders(SYMBOL))
    ids["replaced"] = desk.place(BUY, 5, 96)
    ids["replacement"] = desk.replace(ids["replaced"], price=95)
    return desk, ids


CANCEL_REJECTS = [
    # (case, target name, cancel account, reason)
    ("filled", "filled", "", RejectReason.ORDER_NOT_LIVE),
    ("canceled", "canceled", "", RejectReason.ORDER_NOT_LIVE),
    ("expired", "expired", "", RejectReason.ORDER_NOT_LIVE),
    ("replaced", "replaced", "", RejectReason.ORDER_NOT_LIVE),
    ("never placed", None, "", RejectReason.UNKNOWN_ORDER),
    ("another account's resting order", "resting", "A", RejectReason.ACCOUNT_MISMATCH),
    ("another account's stop", "stop", "B", RejectReason.ACCOUNT_MISMATCH),
]


@pytest.mark.parametrize(
    ("target", "account", "reason"),
    [case[1:] for case in CANCEL_REJECTS],
    ids=[case[0] for case in CANCEL_REJECTS],
)
def test_cancel_that_cannot_apply_is_rejected_and_book_unchanged(
    target: str | None, account: str, reason: RejectReason
) -> None:
    desk, ids = _seeded_desk()
    order_id = ids[target] if target else desk.last_id + 100
    before = desk.snapshot()

    events = desk.cancel(order_id, account)

    # the event names the account that asked
    assert events == [CancelRejected(desk.seq, desk.ts, order_id, SYMBOL, reason, account)]
    assert desk.snapshot() == before


def test_cancel_on_unknown_symbol_is_rejected() -> None:
    desk, ids = _seeded_desk()
    before = desk.snapshot()

    events = desk.apply(CancelOrder(ids["resting"], "NOPE"))

    assert events == [
        CancelRejected(desk.seq, desk.ts, ids["resting"], "NOPE", RejectReason.UNKNOWN_SYMBOL)
    ]
    assert desk.snapshot() == before


def test_cancel_of_an_id_in_a_gap_below_the_last_id_is_not_live() -> None:
    # Order ids come from a sequencer shared by shards, so the ids a book sees have gaps. The
    # engine keeps no memory of dead ids: below the last id it can only say "no live order".
    desk = Desk()
    desk.place(BUY, 10, 99)
    gap_id = desk.last_id + 1
    desk.last_id += 5
    desk.place(BUY, 10, 98)

    events = desk.cancel(gap_id)

    assert events == [
        CancelRejected(desk.seq, desk.ts, gap_id, SYMBOL, RejectReason.ORDER_NOT_LIVE)
    ]
    assert "no live order" in RejectReason.ORDER_NOT_LIVE.message


def test_cancel_of_own_live_order_cancels_its_leaves() -> None:
    desk, ids = _seeded_desk()

    events = desk.cancel(ids["partially_filled"], "B")

    assert events == [
        OrderCanceled(
            desk.seq, desk.ts, ids["partially_filled"], SYMBOL, 6, 0, CancelReason.REQUESTED, "B"
        )
    ]
    assert desk.book.depth().asks == []


REPLACE_REJECTS = [
    # (case, target name, fields of ReplaceOrder, reason)
    ("unknown order", None, {"qty": 5}, RejectReason.UNKNOWN_ORDER),
    ("filled order", "filled", {"qty": 5}, RejectReason.ORDER_NOT_LIVE),
    ("canceled order", "canceled", {"qty": 5}, RejectReason.ORDER_NOT_LIVE),
    ("replaced order", "replaced", {"qty": 3}, RejectReason.ORDER_NOT_LIVE),
    ("account mismatch", "resting", {"qty": 5, "account": "A"}, RejectReason.ACCOUNT_MISMATCH),
    ("zero qty", "resting", {"qty": 0}, RejectReason.INVALID_QUANTITY),
    ("negative qty", "resting", {"qty": -10}, RejectReason.INVALID_QUANTITY),
    (
        "qty equal to filled",
        "partially_filled",
        {"qty": 4},
        RejectReason.REPLACE_QTY_NOT_ABOVE_FILLED,
    ),
    (
        "qty below filled",
        "partially_filled",
        {"qty": 3},
        RejectReason.REPLACE_QTY_NOT_ABOVE_FILLED,
    ),
    ("nothing to change", "resting", {}, RejectReason.REPLACE_NOTHING_TO_CHANGE),
    ("price on a stop", "stop", {"price": 104}, RejectReason.PRICE_NOT_ALLOWED),
    ("price on a trailing stop", "trailing", {"price": 104}, RejectReason.PRICE_NOT_ALLOWED),
    ("zero price", "resting", {"price": 0}, RejectReason.INVALID_PRICE),
    ("negative price", "stop_limit", {"price": -94}, RejectReason.INVALID_PRICE),
    ("stop price on a limit", "resting", {"stop_price": 100}, RejectReason.STOP_PRICE_NOT_ALLOWED),
    (
        "stop price on a trailing stop",
        "trailing",
        {"stop_price": 90},
        RejectReason.STOP_PRICE_NOT_ALLOWED,
    ),
    ("zero stop price", "stop", {"stop_price": 0}, RejectReason.INVALID_STOP_PRICE),
    ("negative stop price", "stop_limit", {"stop_price": -5}, RejectReason.INVALID_STOP_PRICE),
]


@pytest.mark.parametrize(
    ("target", "fields", "reason"),
    [case[1:] for case in REPLACE_REJECTS],
    ids=[case[0] for case in REPLACE_REJECTS],
)
def test_replace_that_cannot_apply_is_rejected_and_book_unchanged(
    target: str | None, fields: dict[str, Any], reason: RejectReason
) -> None:
    desk, ids = _seeded_desk()
    order_id = ids[target] if target else desk.last_id + 100
    was_live = desk.book.is_live(order_id)
    before = desk.snapshot()
    # the account that asked; for a replace that names none, the live order's own
    asking = fields.get("account") or desk.owner(order_id)

    new_id = desk.replace(order_id, **fields)

    assert desk.events == [
        ReplaceRejected(desk.seq, desk.ts, order_id, new_id, SYMBOL, reason, asking)
    ]
    assert desk.snapshot() == before
    assert desk.book.is_live(order_id) == was_live
    assert not desk.book.is_live(new_id)


@pytest.mark.parametrize(
    ("instrument", "fields", "reason"),
    [
        (
            Instrument(SYMBOL, tick_size=1, lot_size=10),
            {"qty": 15},
            RejectReason.QUANTITY_NOT_LOT_MULTIPLE,
        ),
        (Instrument(SYMBOL, tick_size=5), {"price": 1_000_002}, RejectReason.PRICE_NOT_ON_TICK),
        (REG_NMS_INSTRUMENT, {"price": 1_000_050}, RejectReason.PRICE_NOT_ON_TICK),
        (REG_NMS_INSTRUMENT, {"stop_price": 1_000_050}, RejectReason.INVALID_STOP_PRICE),
    ],
    ids=[
        "qty off the lot",
        "price off a fixed tick",
        "sub-penny price (Reg NMS)",
        "stop off tick",
    ],
)
def test_replace_off_lot_or_tick_is_rejected(
    instrument: Instrument, fields: dict[str, Any], reason: RejectReason
) -> None:
    desk = Desk(instrument)
    limit = desk.place(BUY, 10 * instrument.lot_size, 1_000_000)
    stop = desk.place(BUY, instrument.lot_size, order_type=STOP, stop_price=1_100_000)
    target = stop if "stop_price" in fields else limit
    before = desk.snapshot()

    new_id = desk.replace(target, **fields)

    assert desk.events == [ReplaceRejected(desk.seq, desk.ts, target, new_id, SYMBOL, reason, "A")]
    assert desk.snapshot() == before


@pytest.mark.parametrize("new_id_offset", [0, -1], ids=["taken new id", "lower new id"])
def test_replace_with_a_used_new_id_is_rejected(new_id_offset: int) -> None:
    desk, ids = _seeded_desk()
    before = desk.snapshot()
    new_id = desk.last_id + new_id_offset

    events = desk.apply(ReplaceOrder(ids["resting"], new_id, SYMBOL, qty=5))

    assert events == [
        ReplaceRejected(
            desk.seq,
            desk.ts,
            ids["resting"],
            new_id,
            SYMBOL,
            RejectReason.DUPLICATE_ORDER_ID,
            "B",
        )
    ]
    assert desk.snapshot() == before


def test_replace_on_unknown_symbol_is_rejected() -> None:
    desk, ids = _seeded_desk()
    before = desk.snapshot()
    new_id = desk.new_id()

    events = desk.apply(ReplaceOrder(ids["resting"], new_id, "NOPE", qty=5))

    assert events == [
        ReplaceRejected(
            desk.seq, desk.ts, ids["resting"], new_id, "NOPE", RejectReason.UNKNOWN_SYMBOL
        )
    ]
    assert desk.snapshot() == before


def test_replace_to_the_same_price_and_qty_is_rejected_as_nothing_to_change() -> None:
    # REPLACE_NOTHING_TO_CHANGE: "replace must change the price, quantity or stop price".
    desk = Desk()
    first = desk.place(BUY, 10, 99, account="B")
    desk.place(BUY, 10, 99, account="C")
    before = desk.snapshot()

    new_id = desk.replace(first, qty=10, price=99)

    assert desk.events == [
        ReplaceRejected(
            desk.seq, desk.ts, first, new_id, SYMBOL, RejectReason.REPLACE_NOTHING_TO_CHANGE, "B"
        )
    ]
    assert desk.snapshot() == before


# ---------------------------------------------------------------- trailing stops


def test_sell_trailing_stop_by_price_follows_the_high_and_triggers_as_market() -> None:
    desk = Desk()
    desk.print_trade(100)
    stop = desk.place(SELL, 5, order_type=TRAILING, trail_price=3, account="S")  # stop 97
    desk.print_trade(105)  # new high: stop 102
    desk.print_trade(103)  # above the stop, and not a new high
    assert desk.book.is_live(stop)
    bid = desk.place(BUY, 3, 90, account="Z")

    events = desk.print_trade(102)

    assert StopTriggered(desk.seq, desk.ts, stop, SYMBOL, 102, 102, "S") in events
    trades = of_type(events, TradeExecuted)
    assert [(t.maker_order_id, t.taker_order_id, t.price, t.qty) for t in trades[1:]] == [
        (bid, stop, 90, 3)
    ]
    assert events[-1] == OrderCanceled(
        desk.seq, desk.ts, stop, SYMBOL, 2, 0, CancelReason.MARKET_NO_LIQUIDITY, "S"
    )
    assert not desk.book.is_live(stop)
    assert stop not in desk.resting_ids(SELL)


def test_sell_trailing_stop_by_bps_follows_the_high() -> None:
    desk = Desk()
    desk.print_trade(10_000)
    stop = desk.place(SELL, 5, order_type=TRAILING, trail_bps=200, account="S")  # 2%: 9_800
    desk.print_trade(11_000)  # stop 10_780
    desk.print_trade(10_781)
    assert desk.book.is_live(stop)

    events = desk.print_trade(10_780)

    assert StopTriggered(desk.seq, desk.ts, stop, SYMBOL, 10_780, 10_780, "S") in events
    assert not desk.book.is_live(stop)


def test_buy_trailing_stop_by_price_follows_the_low_and_triggers_as_market() -> None:
    desk = Desk()
    desk.print_trade(100)
    stop = desk.place(BUY, 5, order_type=TRAILING, trail_price=4, account="S")  # stop 104
    desk.print_trade(95)  # new low: stop 99
    desk.print_trade(98)
    assert desk.book.is_live(stop)
    ask = desk.place(SELL, 10, 110, account="Z")

    events = desk.print_trade(99)

    assert StopTriggered(desk.seq, desk.ts, stop, SYMBOL, 99, 99, "S") in events
    trades = of_type(events, TradeExecuted)
    assert [(t.maker_order_id, t.taker_order_id, t.price, t.qty) for t in trades[1:]] == [
        (ask, stop, 110, 5)
    ]
    assert not desk.book.is_live(stop)


def test_buy_trailing_stop_by_bps_follows_the_low() -> None:
    desk = Desk()
    desk.print_trade(10_000)
    stop = desk.place(BUY, 5, order_type=TRAILING, trail_bps=100, account="S")  # 1%: 10_100
    desk.print_trade(9_000)  # stop 9_090
    desk.print_trade(9_089)
    assert desk.book.is_live(stop)

    events = desk.print_trade(9_090)

    assert StopTriggered(desk.seq, desk.ts, stop, SYMBOL, 9_090, 9_090, "S") in events


def test_trailing_stop_is_accepted_with_the_stop_it_computed() -> None:
    desk = Desk()
    desk.print_trade(200)

    stop = desk.place(SELL, 5, order_type=TRAILING, trail_price=10, account="S")

    accepted = [e for e in desk.events if isinstance(e, OrderAccepted)]
    assert [(e.order_id, e.stop_price) for e in accepted] == [(stop, 190)]


def test_trailing_stop_placed_before_any_trade_trails_from_the_first_trade() -> None:
    desk = Desk()
    stop = desk.place(SELL, 5, order_type=TRAILING, trail_price=10, account="S")
    desk.print_trade(200)  # first trade: stop 190
    desk.print_trade(191)
    assert desk.book.is_live(stop)

    events = desk.print_trade(190)

    assert StopTriggered(desk.seq, desk.ts, stop, SYMBOL, 190, 190, "S") in events


@pytest.mark.parametrize("side", [SELL, BUY], ids=["sell", "buy"])
def test_trailing_stop_by_bps_never_sits_on_its_own_watermark(side: Side) -> None:
    # 50 bps of 100 is half a tick: the stop must round away from the market (99 for a sell,
    # 101 for a buy), never onto the last price, which would trigger it the moment it is placed.
    desk = Desk()
    desk.print_trade(100)

    stop = desk.place(side, 5, order_type=TRAILING, trail_bps=50, account="S")

    assert of_type(desk.events, StopTriggered) == []
    assert desk.book.is_live(stop)


def test_trailing_stop_replace_of_qty_keeps_its_high_water_stop() -> None:
    desk = Desk()
    desk.print_trade(100)
    stop = desk.place(SELL, 5, order_type=TRAILING, trail_price=10, account="S")  # stop 90
    desk.print_trade(120)  # high: stop 110
    desk.print_trade(112)
    replacement = desk.replace(stop, qty=4)
    replaced = desk.events[-1]
    assert isinstance(replaced, OrderReplaced) and replaced.stop_price == 110
    desk.place(BUY, 10, 100, account="Z")

    events = desk.print_trade(110)  # reaches the 110 stop; a reset watermark (112) would not

    assert StopTriggered(desk.seq, desk.ts, replacement, SYMBOL, 110, 110, "S") in events
    assert not desk.book.is_live(replacement)


# ---------------------------------------------------------------- DAY expiry


def test_expire_ends_day_orders_and_pending_day_stops_while_gtc_orders_stay() -> None:
    desk = Desk()
    day_bid = desk.place(BUY, 10, 99, tif=DAY)
    gtc_bid = desk.place(BUY, 10, 99, tif=GTC)
    day_ask = desk.place(SELL, 10, 101, tif=DAY, account="B")
    desk.place(BUY, 4, 101, tif=IOC, account="C")  # day_ask partially filled: 6 left
    day_stop = desk.place(BUY, 5, order_type=STOP, stop_price=110, tif=DAY)
    gtc_stop = desk.place(SELL, 5, 90, order_type=STOP_LIMIT, stop_price=91, tif=GTC)

    events = desk.apply(ExpireOrders(SYMBOL))

    assert events == [
        OrderExpired(desk.seq, desk.ts, day_bid, SYMBOL, 10, "A"),
        OrderExpired(desk.seq, desk.ts, day_ask, SYMBOL, 6, "B"),
        OrderExpired(desk.seq, desk.ts, day_stop, SYMBOL, 5, "A"),
    ]
    assert desk.book.live_order_ids() == [gtc_bid, gtc_stop]
    assert desk.book.depth().bids == [BookLevel(99, 1, 10)]
    assert desk.book.depth().asks == []
    desk.print_trade(110)
    assert of_type(desk.events, StopTriggered) == []


def test_expire_of_all_symbols_and_of_one_symbol() -> None:
    desk = Desk()
    desk.apply(AddInstrument(Instrument("U", tick_size=1)))
    t_order = desk.place(BUY, 10, 99, tif=DAY)
    u_order = desk.new_id()
    desk.apply(PlaceOrder(u_order, "A", "U", BUY, LIMIT, 10, price=99, tif=DAY))

    only_u = desk.apply(ExpireOrders("U"))
    assert only_u == [OrderExpired(desk.seq, desk.ts, u_order, "U", 10, "A")]
    assert desk.book.is_live(t_order)

    everything = desk.apply(ExpireOrders())
    assert everything == [OrderExpired(desk.seq, desk.ts, t_order, SYMBOL, 10, "A")]


def test_expired_order_cannot_be_canceled() -> None:
    desk = Desk()
    order = desk.place(BUY, 10, 99, tif=DAY)
    desk.apply(ExpireOrders(SYMBOL))

    events = desk.cancel(order)

    assert events == [
        CancelRejected(desk.seq, desk.ts, order, SYMBOL, RejectReason.ORDER_NOT_LIVE)
    ]


# ---------------------------------------------------------------- replace and priority


def _two_bids_at_99(desk: Desk) -> tuple[int, int]:
    first = desk.place(BUY, 10, 99, account="B")
    second = desk.place(BUY, 10, 99, account="C")
    return first, second


@pytest.mark.parametrize(
    "fields", [{"qty": 6}, {"qty": 6, "price": 99}], ids=["qty only", "qty and same price"]
)
def test_replace_lowering_qty_at_same_price_keeps_priority(fields: dict[str, Any]) -> None:
    desk = Desk()
    first, second = _two_bids_at_99(desk)

    new_id = desk.replace(first, **fields)

    assert desk.events == [
        OrderReplaced(desk.seq, desk.ts, first, new_id, SYMBOL, 6, 99, None, 6, True, "B", "")
    ]
    assert desk.resting_ids(BUY) == [new_id, second]
    assert desk.book.depth().bids == [BookLevel(99, 2, 16)]
    assert not desk.book.is_live(first)


@pytest.mark.parametrize(
    ("fields", "price", "leaves"),
    [({"qty": 12}, 99, 12), ({"price": 98}, 98, 10), ({"qty": 6, "price": 100}, 100, 6)],
    ids=["raise qty", "move price", "lower qty and move price"],
)
def test_replace_that_is_not_a_reduction_in_place_loses_priority(
    fields: dict[str, Any], price: int, leaves: int
) -> None:
    desk = Desk()
    first, second = _two_bids_at_99(desk)
    desk.place(BUY, 10, price, account="D")  # already waiting at the new price

    new_id = desk.replace(first, **fields)

    replaced = desk.events[-1]
    assert isinstance(replaced, OrderReplaced)
    assert (replaced.new_order_id, replaced.kept_priority, replaced.leaves) == (
        new_id,
        False,
        leaves,
    )
    at_price = [o.order_id for o in desk.book.resting_orders(BUY) if o.price == price]
    assert at_price[-1] == new_id
    assert second in desk.resting_ids(BUY)


def test_replace_back_to_the_original_price_does_not_restore_priority() -> None:
    desk = Desk()
    first, second = _two_bids_at_99(desk)
    moved = desk.replace(first, price=98)

    back = desk.replace(moved, price=99)

    assert desk.resting_ids(BUY) == [second, back]


def test_replace_of_partially_filled_order_carries_its_fills() -> None:
    desk = Desk()
    ask = desk.place(SELL, 10, 101, account="B")
    desk.place(BUY, 4, 101, account="C", tif=IOC)

    new_id = desk.replace(ask, qty=7)

    assert desk.events == [
        OrderReplaced(desk.seq, desk.ts, ask, new_id, SYMBOL, 7, 101, None, 3, True, "B", "")
    ]
    assert list(desk.book.resting_orders(SELL)) == [RestingOrder(new_id, "B", SELL, 101, 3)]


def test_replace_to_a_crossing_price_trades_as_the_new_id() -> None:
    desk = Desk()
    ask = desk.place(SELL, 5, 101, account="B")
    bid = desk.place(BUY, 10, 99, account="C")

    new_id = desk.replace(bid, price=101)

    trades = of_type(desk.events, TradeExecuted)
    assert [(t.maker_order_id, t.taker_order_id, t.price, t.qty) for t in trades] == [
        (ask, new_id, 101, 5)
    ]
    assert list(desk.book.resting_orders(BUY)) == [RestingOrder(new_id, "C", BUY, 101, 5)]


def test_replace_cannot_keep_priority_while_growing_open_qty_after_stp_decrement() -> None:
    # An STP decrement canceled 30 of the 100 sold; the order has 70 open. A replace to 90 lowers
    # the total but raises the open quantity to 90: that must not keep the place in the queue.
    desk = Desk()
    mine = desk.place(SELL, 100, 100, account="A")
    theirs = desk.place(SELL, 10, 100, account="B")
    desk.place(BUY, 30, 100, account="A", stp=STP.DECREMENT)
    assert next(iter(desk.book.resting_orders(SELL))) == RestingOrder(mine, "A", SELL, 100, 70)

    new_id = desk.replace(mine, qty=90)

    replaced = desk.events[-1]
    assert isinstance(replaced, OrderReplaced)
    assert replaced.leaves == 90
    assert not replaced.kept_priority
    assert desk.resting_ids(SELL) == [theirs, new_id]


# ---------------------------------------------------------------- replace of pending stops


def test_replace_of_pending_stop_changes_its_stop_price() -> None:
    desk = Desk()
    desk.print_trade(100)
    stop = desk.place(BUY, 5, order_type=STOP, stop_price=105, account="S")
    desk.place(SELL, 10, 110, account="Z")

    new_id = desk.replace(stop, stop_price=103)

    assert desk.events == [
        OrderReplaced(desk.seq, desk.ts, stop, new_id, SYMBOL, 5, None, 103, 5, False, "S", "")
    ]
    assert desk.book.is_live(new_id)
    assert not desk.book.is_live(stop)
    assert new_id not in desk.resting_ids(BUY)
    assert of_type(desk.print_trade(102), StopTriggered) == []
    events = desk.print_trade(103)
    assert StopTriggered(desk.seq, desk.ts, new_id, SYMBOL, 103, 103, "S") in events
    assert [t.taker_order_id for t in of_type(events, TradeExecuted)][1:] == [new_id]


def test_replace_of_pending_stop_to_a_reached_price_triggers_at_once() -> None:
    desk = Desk()
    desk.print_trade(101)
    stop = desk.place(BUY, 5, 120, order_type=STOP_LIMIT, stop_price=105, account="S")

    new_id = desk.replace(stop, stop_price=100)

    assert StopTriggered(desk.seq, desk.ts, new_id, SYMBOL, 100, 101, "S") in desk.events
    assert list(desk.book.resting_orders(BUY)) == [RestingOrder(new_id, "S", BUY, 120, 5)]


def test_replace_of_pending_stop_limit_changes_its_limit() -> None:
    desk = Desk()
    desk.print_trade(100)
    stop = desk.place(SELL, 5, 95, order_type=STOP_LIMIT, stop_price=96, account="S")

    new_id = desk.replace(stop, price=94, qty=8)

    assert desk.events == [
        OrderReplaced(desk.seq, desk.ts, stop, new_id, SYMBOL, 8, 94, 96, 8, False, "S", "")
    ]
    desk.print_trade(96)
    assert list(desk.book.resting_orders(SELL)) == [RestingOrder(new_id, "S", SELL, 94, 8)]


def test_stops_still_trigger_after_many_canceled_stops() -> None:
    # Canceled stops leave dead heap entries; past a limit the heaps are rebuilt.
    desk = Desk()
    desk.print_trade(100)
    early = desk.place(BUY, 1, order_type=STOP, stop_price=104, account="S")
    for _ in range(2_100):
        desk.cancel(desk.place(BUY, 1, order_type=STOP, stop_price=103, account="S"))
        desk.cancel(desk.place(SELL, 1, order_type=STOP, stop_price=97, account="S"))
    late = desk.place(BUY, 1, order_type=STOP, stop_price=103, account="S")
    sell = desk.place(SELL, 1, order_type=STOP, stop_price=97, account="S")
    ask = desk.place(SELL, 10, 110, account="Z")

    events = desk.print_trade(104)

    assert [e.order_id for e in of_type(events, StopTriggered)] == [early, late]
    assert desk.book.live_order_ids() == [sell, ask]


# ---------------------------------------------------------------- reads


def test_resting_orders_lists_best_price_first_and_time_priority_within_a_price() -> None:
    desk = Desk()
    b1 = desk.place(BUY, 10, 98, account="A")
    b2 = desk.place(BUY, 20, 99, account="B")
    b3 = desk.place(BUY, 30, 98, account="C")
    a1 = desk.place(SELL, 5, 102, account="A")
    a2 = desk.place(SELL, 6, 101, account="B")
    a3 = desk.place(SELL, 7, 102, account="C")

    assert list(desk.book.resting_orders(BUY)) == [
        RestingOrder(b2, "B", BUY, 99, 20),
        RestingOrder(b1, "A", BUY, 98, 10),
        RestingOrder(b3, "C", BUY, 98, 30),
    ]
    assert list(desk.book.resting_orders(SELL)) == [
        RestingOrder(a2, "B", SELL, 101, 6),
        RestingOrder(a1, "A", SELL, 102, 5),
        RestingOrder(a3, "C", SELL, 102, 7),
    ]


def test_pending_stops_are_not_in_the_visible_book() -> None:
    desk = Desk()
    stop = desk.place(BUY, 10, 99, order_type=STOP_LIMIT, stop_price=105)

    assert desk.book.is_live(stop)
    assert desk.resting_ids(BUY) == []
    assert desk.book.depth().bids == []


def test_depth_truncates_to_the_best_n_levels_per_side() -> None:
    desk = Desk()
    for price in (95, 96, 97, 98, 99, 99):
        desk.place(BUY, price - 90, price, account="B")
    for price in (101, 101, 102, 103):
        desk.place(SELL, 2, price, account="C")

    top2 = desk.book.depth(2)
    everything = desk.book.depth()

    assert top2.bids == [BookLevel(99, 2, 18), BookLevel(98, 1, 8)]
    assert top2.asks == [BookLevel(101, 2, 4), BookLevel(102, 1, 2)]
    assert [level.price for level in everything.bids] == [99, 98, 97, 96, 95]
    assert [level.price for level in everything.asks] == [101, 102, 103]
    assert desk.book.depth(10) == everything
    assert desk.book.depth(0).bids == desk.book.depth(0).asks == []
    assert desk.book.best_bid() == BookLevel(99, 2, 18)
    assert desk.book.best_ask() == BookLevel(101, 2, 4)


def test_best_bid_and_ask_of_an_empty_book_are_none() -> None:
    book = Desk().book

    assert (book.best_bid(), book.best_ask(), book.last_price) == (None, None, None)


# ---------------------------------------------------------------- self-trade prevention per order


def _own_ask_then_other_ask(instrument_stp: SelfTradePrevention) -> tuple[Desk, int, int]:
    desk = Desk(Instrument(SYMBOL, tick_size=1, stp=instrument_stp))
    own = desk.place(SELL, 10, 100, account="A")
    other = desk.place(SELL, 10, 100, account="B")
    return desk, own, other


def test_order_without_stp_trades_with_itself_despite_instrument_cancel_newest() -> None:
    desk, own, _ = _own_ask_then_other_ask(STP.CANCEL_NEWEST)

    bid = desk.place(BUY, 10, 100, account="A", stp=STP.NONE)

    trades = of_type(desk.events, TradeExecuted)
    assert [(t.maker_order_id, t.taker_order_id, t.qty) for t in trades] == [(own, bid, 10)]
    assert trades[0].maker_account == trades[0].taker_account == "A"


def test_order_cancel_oldest_overrides_instrument_without_stp() -> None:
    desk, own, other = _own_ask_then_other_ask(STP.NONE)

    bid = desk.place(BUY, 10, 100, account="A", stp=STP.CANCEL_OLDEST)

    assert of_type(desk.events, OrderCanceled) == [
        OrderCanceled(desk.seq, desk.ts, own, SYMBOL, 10, 0, CancelReason.SELF_TRADE, "A")
    ]
    trades = of_type(desk.events, TradeExecuted)
    assert [(t.maker_order_id, t.taker_order_id, t.qty) for t in trades] == [(other, bid, 10)]


def test_order_cancel_both_overrides_instrument_decrement() -> None:
    desk, own, other = _own_ask_then_other_ask(STP.DECREMENT)

    bid = desk.place(BUY, 15, 100, account="A", stp=STP.CANCEL_BOTH)

    assert of_type(desk.events, TradeExecuted) == []
    assert of_type(desk.events, OrderCanceled) == [
        OrderCanceled(desk.seq, desk.ts, own, SYMBOL, 10, 0, CancelReason.SELF_TRADE, "A"),
        OrderCanceled(desk.seq, desk.ts, bid, SYMBOL, 15, 0, CancelReason.SELF_TRADE, "A"),
    ]
    assert desk.resting_ids(SELL) == [other]
    assert desk.resting_ids(BUY) == []


def test_order_decrement_overrides_instrument_cancel_newest() -> None:
    desk, own, other = _own_ask_then_other_ask(STP.CANCEL_NEWEST)

    bid = desk.place(BUY, 4, 100, account="A", stp=STP.DECREMENT)

    assert of_type(desk.events, OrderCanceled) == [
        OrderCanceled(desk.seq, desk.ts, own, SYMBOL, 4, 6, CancelReason.SELF_TRADE, "A"),
        OrderCanceled(desk.seq, desk.ts, bid, SYMBOL, 4, 0, CancelReason.SELF_TRADE, "A"),
    ]
    assert list(desk.book.resting_orders(SELL)) == [
        RestingOrder(own, "A", SELL, 100, 6),
        RestingOrder(other, "B", SELL, 100, 10),
    ]


def test_instrument_stp_applies_when_the_order_names_none() -> None:
    desk, own, other = _own_ask_then_other_ask(STP.CANCEL_NEWEST)

    bid = desk.place(BUY, 10, 100, account="A")

    assert desk.events[1:] == [
        OrderCanceled(desk.seq, desk.ts, bid, SYMBOL, 10, 0, CancelReason.SELF_TRADE, "A")
    ]
    assert desk.resting_ids(SELL) == [own, other]


def test_resting_order_stp_does_not_apply_to_the_incoming_order() -> None:
    desk = Desk()
    own = desk.place(SELL, 10, 100, account="A", stp=STP.CANCEL_BOTH)

    bid = desk.place(BUY, 10, 100, account="A")

    trades = of_type(desk.events, TradeExecuted)
    assert [(t.maker_order_id, t.taker_order_id, t.qty) for t in trades] == [(own, bid, 10)]
