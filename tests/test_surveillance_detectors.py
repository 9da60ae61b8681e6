"""Each surveillance detector on hand-built feeds: the pattern found, with its evidence, and
the ordinary trading next to it left alone."""

from tradingfloor.compliance.surveillance import (
    Owners,
    Pattern,
    ShardSurveillance,
    SurveillanceSettings,
)
from tradingfloor.compliance.surveillance.alerts import Alert, EventRef
from tradingfloor.domain.commands import CancelOrder
from tradingfloor.domain.enums import CancelReason, OrderType, Side, TimeInForce
from tradingfloor.domain.events import (
    CommandEntered,
    Event,
    OrderAccepted,
    OrderCanceled,
    TradeExecuted,
)
from tradingfloor.domain.origin import NO_ORIGIN
from tradingfloor.risk.calendar import calendar_for, ts_at

SECOND = 1_000_000_000
PRICE = 100_0000
SHARD = "main"


class Feed:
    """A shard's feed written by hand: each `command` is one seq, one second after the last."""

    def __init__(
        self,
        owners: dict[str, str] | None = None,
        start: str = "2026-12-01 10:00",
        entered: bool = False,
    ) -> None:
        """`entered`: each seq's events begin with its `CommandEntered`, as newer feeds do."""
        self.entered = entered
        self.detectors = ShardSurveillance(SurveillanceSettings(), Owners(owners), calendar_for())
        self.seq = 0
        self.ts = ts_at(start)
        self.order_id = 0
        self.trade_id = 0
        self.alerts: list[Alert] = []

    def command(self, *events: Event, after_s: float = 1.0) -> int:
        self.seq += 1
        self.ts += int(after_s * SECOND)
        stamped = [type(e)(self.seq, self.ts, *_fields(e)[2:]) for e in events]
        if self.entered:
            command = CancelOrder(1, "ACME")  # which command does not matter here
            stamped.insert(0, CommandEntered(self.seq, self.ts, command, NO_ORIGIN))
        self.alerts += self.detectors.feed(SHARD, self.seq, self.ts, stamped)
        return self.seq

    def accept(self, account: str, side: Side, qty: int, price: int = PRICE) -> OrderAccepted:
        self.order_id += 1
        return OrderAccepted(
            0,
            0,
            self.order_id,
            account,
            "ACME",
            side,
            OrderType.LIMIT,
            TimeInForce.DAY,
            qty,
            price,
            None,
            "",
        )

    def place(self, account: str, side: Side, qty: int, price: int = PRICE, **kw: float) -> int:
        self.command(self.accept(account, side, qty, price), **kw)
        return self.order_id

    def trade(
        self,
        maker: tuple[str, int],
        taker: tuple[str, int],
        aggressor: Side,
        qty: int,
        price: int = PRICE,
        leaves: tuple[int, int] = (0, 0),
    ) -> TradeExecuted:
        self.trade_id += 1
        return TradeExecuted(
            0,
            0,
            "ACME",
            self.trade_id,
            price,
            qty,
            maker[1],
            taker[1],
            maker[0],
            taker[0],
            aggressor,
            leaves[0],
            leaves[1],
        )

    def cancel(self, account: str, order_id: int, qty: int) -> OrderCanceled:
        return OrderCanceled(0, 0, order_id, "ACME", qty, 0, CancelReason.REQUESTED, account)

    def of(self, pattern: Pattern) -> list[Alert]:
        return [alert for alert in self.alerts if alert.pattern == pattern]


def _fields(event: Event) -> list[object]:
    return [getattr(event, name) for name in event.__struct_fields__]


def cross(feed: Feed, maker: str, taker: str, qty: int, price: int = PRICE) -> int:
    """`maker` rests a sell, `taker` buys it: one trade."""
    sell = feed.place(maker, Side.SELL, qty, price)
    feed.order_id += 1
    buy = feed.order_id
    accepted = feed.accept(taker, Side.BUY, qty, price)
    accepted = OrderAccepted(*_fields(accepted)[:2], buy, *_fields(accepted)[3:])
    return feed.command(accepted, feed.trade((maker, sell), (taker, buy), Side.BUY, qty, price))


# ---------------------------------------------------------------- wash trades


def test_a_trade_between_two_accounts_of_one_owner_is_a_wash_trade() -> None:
    feed = Feed(owners={"alice-1": "alice", "alice-2": "alice"})
    seq = cross(feed, "alice-1", "alice-2", 300)
    [alert] = feed.of(Pattern.WASH_TRADE)
    assert alert.owner == "alice"
    assert alert.accounts == ("alice-1", "alice-2")
    assert alert.score == 300 and alert.symbol == "ACME" and alert.seq == seq
    assert EventRef(SHARD, seq) in alert.evidence.events
    assert EventRef(SHARD, seq - 1) in alert.evidence.events  # the resting sell's acceptance
    assert len(alert.evidence.order_ids) == 2
    assert "both owned by alice" in alert.evidence.explanation


def test_a_trade_between_two_owners_is_no_wash_trade() -> None:
    feed = Feed(owners={"alice-1": "alice", "bob-1": "bob"})
    cross(feed, "alice-1", "bob-1", 300)
    cross(feed, "carol", "dave", 300)  # no map: each account is its own owner
    assert feed.alerts == []


def test_the_same_feed_gives_the_same_alert_ids() -> None:
    ids = []
    for _ in range(2):
        feed = Feed(owners={"alice-1": "alice", "alice-2": "alice"})
        cross(feed, "alice-1", "alice-2", 300)
        cross(feed, "alice-2", "alice-1", 100)
        ids.append([alert.alert_id for alert in feed.alerts])
    assert ids[0] == ids[1] and len(set(ids[0])) == 2


# ---------------------------------------------------------------- spoofing and layering


def spoof(feed: Feed, levels: int, cancel_after_s: float) -> list[int]:
    """Large buys on `levels` levels, a small sell filled by another trader, the buys
    canceled; returns the large orders."""
    large = [
        feed.place("spoofer", Side.BUY, 3_000, PRICE - level * 100) for level in range(levels)
    ]
    small = feed.place("spoofer", Side.SELL, 100, PRICE + 100)
    feed.order_id += 1
    feed.command(feed.trade(("spoofer", small), ("buyer", feed.order_id), Side.BUY, 100))
    feed.command(
        *(feed.cancel("spoofer", order_id, 3_000) for order_id in large), after_s=cancel_after_s
    )
    return large


def test_large_buys_canceled_after_a_small_sell_fill_are_spoofing() -> None:
    feed = Feed()
    large = spoof(feed, 1, cancel_after_s=2)
    [alert] = feed.of(Pattern.SPOOFING)
    assert alert.accounts == ("spoofer",) and alert.score == 3_000
    assert set(large) <= set(alert.evidence.order_ids)
    assert len(alert.evidence.events) == 4  # the large order, the small one... fill, cancel
    assert alert.summary.startswith("spoofing")


def test_large_orders_on_several_levels_are_layering() -> None:
    feed = Feed()
    spoof(feed, 3, cancel_after_s=2)
    [alert] = feed.of(Pattern.SPOOFING)
    assert alert.score == 9_000
    assert alert.summary.startswith("layering on 3 levels")


def test_large_orders_canceled_long_after_the_fill_are_not_spoofing() -> None:
    feed = Feed()
    spoof(feed, 2, cancel_after_s=120)
    assert feed.of(Pattern.SPOOFING) == []


def test_large_orders_left_to_rest_are_not_spoofing() -> None:
    feed = Feed()
    feed.place("trader", Side.BUY, 5_000, PRICE - 100)
    small = feed.place("trader", Side.SELL, 100, PRICE + 100)
    feed.command(feed.trade(("trader", small), ("buyer", 999), Side.BUY, 100))
    feed.command(feed.trade(("seller", 998), ("x", 997), Side.BUY, 100), after_s=60)
    assert feed.alerts == []


# ---------------------------------------------------------------- marking the close


def close_day(feed: Feed, marker_trades: int, step: int) -> None:
    """Ordinary trades through the afternoon, then `marker` buying up in the last minutes,
    then the day closed (an event after the close)."""
    for _ in range(5):
        cross(feed, "mm", "noise", 100)
    feed.ts = ts_at("2026-12-01 15:57")
    price = PRICE
    for _ in range(marker_trades):
        price += step
        cross(feed, "mm", "marker", 200, price)
    cross(feed, "mm", "noise", 50, price)
    feed.ts = ts_at("2026-12-01 16:00:05")
    feed.command()


def test_aggressive_buying_that_lifts_the_close_is_marking_the_close() -> None:
    feed = Feed(start="2026-12-01 14:00")
    close_day(feed, marker_trades=4, step=3_000)
    [alert] = feed.of(Pattern.MARKING_THE_CLOSE)
    assert alert.accounts == ("marker",)
    assert alert.score == 120  # $100.00 -> $101.20
    assert alert.ts == ts_at("2026-12-01 16:00")
    assert len(alert.evidence.events) == 4


def test_trading_that_does_not_move_the_close_is_not_marking_it() -> None:
    feed = Feed(start="2026-12-01 14:00")
    close_day(feed, marker_trades=4, step=0)
    assert feed.of(Pattern.MARKING_THE_CLOSE) == []


def test_the_same_buying_earlier_in_the_day_is_not_marking_the_close() -> None:
    feed = Feed(start="2026-12-01 11:00")
    price = PRICE
    for _ in range(4):
        price += 3_000
        cross(feed, "mm", "marker", 200, price)
    feed.ts = ts_at("2026-12-01 16:00:05")
    feed.command()
    assert feed.of(Pattern.MARKING_THE_CLOSE) == []


# ---------------------------------------------------------------- order-entry abuse


def test_a_burst_of_orders_and_cancels_without_fills_is_order_entry_abuse() -> None:
    feed = Feed()
    for _ in range(150):
        order_id = feed.place("stuffer", Side.BUY, 100, PRICE - 500, after_s=0.01)
        feed.command(feed.cancel("stuffer", order_id, 100), after_s=0.01)
    [alert] = feed.of(Pattern.ORDER_ENTRY_ABUSE)
    assert alert.accounts == ("stuffer",)
    assert alert.score == 200  # 200 messages, no fill
    assert "100 cancels" in alert.summary
    assert len(alert.evidence.events) == 64  # bounded


def test_the_same_messages_spread_out_are_no_abuse() -> None:
    feed = Feed()
    for _ in range(150):
        order_id = feed.place("patient", Side.BUY, 100, PRICE - 500, after_s=0.5)
        feed.command(feed.cancel("patient", order_id, 100), after_s=0.5)
    assert feed.alerts == []


def test_many_messages_that_trade_are_no_abuse() -> None:
    feed = Feed()
    for _ in range(150):
        cross(feed, "busy", "taker", 100)
        feed.ts -= SECOND - 10_000_000  # 100 orders per second, every one filled
    assert feed.of(Pattern.ORDER_ENTRY_ABUSE) == []


# ---------------------------------------------------------------- the command on the feed


def test_the_same_alerts_whether_each_command_comes_first_on_the_feed_or_not() -> None:
    """`CommandEntered` leads every seq on a newer feed; the detectors read around it."""
    found = []
    for entered in (False, True):
        feed = Feed(owners={"alice-1": "alice", "alice-2": "alice"}, entered=entered)
        cross(feed, "alice-1", "alice-2", 300)
        spoof(feed, 2, cancel_after_s=2)
        found.append([(alert.alert_id, alert.evidence) for alert in feed.alerts])
    assert len(found[0]) == 2 and found[0] == found[1]
