"""A hand-built feed of one trading morning for the reporting tests, and a shard that serves
it (`FeedShard`: the `follow` and `last_seq` of a `ShardPort`).

The morning (seq: what happens), AAPL, 2026-12-03 from 10:00 New York, a second per seq:
 1. desk (the firm's account) sells 30 at $100.00, DAY: order 1
 2. ann sells 100 at $100.50, DAY: order 2
 3. bob buys 60 at $100.50, IOC: order 3 takes desk's 30 (trade 3-1) and 30 of ann's (3-2)
 4. ann replaces order 2 by order 4: 100 at $101.00, 70 left
 5. carl buys 80 at $101.00, DAY: order 5 takes ann's 70 (trade 5-1) and rests with 10
 6. carl cancels order 5
 7. erin sells 10 at $110.00, GTC: order 7 (open at the end)
 8. fay buys 10 at $90.00, DAY: order 8
 9. gus's order 9 is refused
10. fay's order 8 expires at the close
"""

import asyncio
from collections.abc import AsyncGenerator

from tradingfloor.domain.commands import CancelOrder, PlaceOrder
from tradingfloor.domain.enums import CancelReason, OrderType, Side, TimeInForce
from tradingfloor.domain.events import (
    CommandEntered,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderReplaced,
    TradeExecuted,
)
from tradingfloor.domain.origin import Origin
from tradingfloor.domain.prices import PRICE_SCALE
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.risk.calendar import ts_at
from tradingfloor.service.ports import EventBatch

DOLLAR = PRICE_SCALE
SECOND = 1_000_000_000
TEN_AM = ts_at("2026-12-03 10:00")
SYMBOL = "AAPL"
PRINCIPAL = ("desk",)
FIX_SESSION = "CLIENT1->TFLR"


def ts_of(seq: int) -> int:
    return TEN_AM + seq * SECOND


def _accepted(seq: int, order: int, account: str, side: Side, qty: int, price: int,
              tif: TimeInForce = TimeInForce.DAY) -> list[Event]:  # fmt: skip
    ts = ts_of(seq)
    command = PlaceOrder(order, account, SYMBOL, side, OrderType.LIMIT, qty, price, tif=tif)
    origin = Origin(user=account, fix_session=FIX_SESSION, ts_received=ts - 1_000)
    return [
        CommandEntered(seq, ts, command, origin),
        OrderAccepted(seq, ts, order, account, SYMBOL, side, OrderType.LIMIT, tif, qty, price,
                      None, f"c{order}"),
    ]  # fmt: skip


def _trade(seq: int, trade: int, price: int, qty: int, maker: tuple[int, str, int],
           taker: tuple[int, str, int], aggressor: Side) -> TradeExecuted:  # fmt: skip
    return TradeExecuted(
        seq, ts_of(seq), SYMBOL, trade, price, qty, maker[0], taker[0], maker[1], taker[1],
        aggressor, maker[2], taker[2],
    )  # fmt: skip


def morning() -> list[tuple[int, int, list[Event]]]:
    """The feed of the morning: (seq, ts, events) of each seq."""
    buy, sell = Side.BUY, Side.SELL
    feed: list[list[Event]] = [
        _accepted(1, 1, "desk", sell, 30, 100 * DOLLAR),
        _accepted(2, 2, "ann", sell, 100, 1_005_000),
        [
            *_accepted(3, 3, "bob", buy, 60, 1_005_000, TimeInForce.IOC),
            _trade(3, 1, 100 * DOLLAR, 30, (1, "desk", 0), (3, "bob", 30), buy),
            _trade(3, 2, 1_005_000, 30, (2, "ann", 70), (3, "bob", 0), buy),
        ],
        [OrderReplaced(4, ts_of(4), 2, 4, SYMBOL, 100, 101 * DOLLAR, None, 70, False, "ann")],
        [
            *_accepted(5, 5, "carl", buy, 80, 101 * DOLLAR),
            _trade(5, 3, 101 * DOLLAR, 70, (4, "ann", 0), (5, "carl", 10), buy),
        ],
        [
            CommandEntered(
                6,
                ts_of(6),
                CancelOrder(5, SYMBOL, "carl"),
                Origin("carl", ts_received=ts_of(6) - 2_000),
            ),
            OrderCanceled(6, ts_of(6), 5, SYMBOL, 10, 0, CancelReason.REQUESTED, "carl"),
        ],
        _accepted(7, 7, "erin", sell, 10, 110 * DOLLAR, TimeInForce.GTC),
        _accepted(8, 8, "fay", buy, 10, 90 * DOLLAR),
        [OrderRejected(9, ts_of(9), 9, "gus", SYMBOL, RejectReason.INSUFFICIENT_FUNDS, "c9")],
        [OrderExpired(10, ts_of(10), 8, SYMBOL, 10, "fay")],
    ]
    return [(seq, ts_of(seq), events) for seq, events in enumerate(feed, start=1)]


class FeedShard:
    """Serves `batches` (each a list of seqs) from any seq, then waits as a live feed does."""

    def __init__(self, batches: list[EventBatch]) -> None:
        self.batches = batches
        self.follows = 0

    async def last_seq(self) -> int:
        return max((seq for batch in self.batches for seq, _, _ in batch), default=0)

    async def follow(self, from_seq: int) -> AsyncGenerator[EventBatch, None]:
        self.follows += 1
        for batch in self.batches:
            fresh = [item for item in batch if item[0] >= from_seq]
            if fresh:
                yield fresh
        await asyncio.Event().wait()


def in_batches(feed: list[tuple[int, int, list[Event]]], size: int) -> list[EventBatch]:
    return [feed[start : start + size] for start in range(0, len(feed), size)]
