"""The market-data hub in isolation: conflation, sequence numbers, trades messages, slow clients,
bars; and the Redis cache against the real Redis."""

import asyncio
import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from conftest import require_tcp_service
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.events import Event, OrderAccepted, TradeExecuted
from tradingfloor.marketdata.bars import NS_PER_MINUTE, BarBook
from tradingfloor.marketdata.cache import RedisMarketDataCache
from tradingfloor.marketdata.hub import (
    SLOW_CLIENT_CLOSE,
    MarketDataHub,
    MarketDataSettings,
    Tier,
)
from tradingfloor.matching.book import BookLevel, Depth

REDIS_URL = os.environ.get("TRADINGFLOOR_REDIS_URL", "redis://127.0.0.1:6379/0")
T0 = 1_700_000_000 * 1_000_000_000  # 2023-11-14 22:13:20 UTC


class FakeBook:
    def __init__(self) -> None:
        self.bids: list[BookLevel] = []
        self.asks: list[BookLevel] = []

    def depth(self, levels: int | None = None) -> Depth:
        return Depth(self.bids[:levels], self.asks[:levels])


@dataclass
class Batch:
    events: list[Event]


@dataclass
class RecordingSink:
    frames: list[list[dict[str, Any]]] = field(default_factory=list)
    blocked: asyncio.Event | None = None
    """When given, every send waits for it (a client whose socket does not drain)."""

    async def send(self, frame: str) -> None:
        if self.blocked is not None:
            await self.blocked.wait()
        self.frames.append(json.loads(frame))

    def messages(self, kind: str) -> list[dict[str, Any]]:
        return [m for frame in self.frames for m in frame if m["type"] == kind]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def accepted(seq: int, price: int, symbol: str = "XYZ") -> OrderAccepted:
    return OrderAccepted(
        seq, T0 + seq, seq, "alice", symbol, Side.BUY, OrderType.LIMIT, TimeInForce.GTC, 1, price,
        None, "",
    )  # fmt: skip


def trade(seq: int, price: int, qty: int, ts: int | None = None) -> TradeExecuted:
    return TradeExecuted(
        seq, T0 + seq if ts is None else ts, "XYZ", seq, price, qty, 1, 2, "alice", "bob",
        Side.SELL, 0, 0,
    )  # fmt: skip


def make_hub(**limits: Any) -> tuple[MarketDataHub, FakeBook, Clock]:
    book = FakeBook()
    clock = Clock()
    hub = MarketDataHub(
        {"XYZ": book}.get, MarketDataSettings(**limits), clock=lambda: T0, monotonic=clock
    )
    return hub, book, clock


async def settle() -> None:
    for _ in range(5):  # let the sender tasks run
        await asyncio.sleep(0)


def bid(book: FakeBook, seq: int, hub: MarketDataHub, price: int, qty: int = 10) -> None:
    book.bids = [BookLevel(price, 1, qty)]
    hub.on_batch([Batch([accepted(seq, price)])])


async def test_a_flush_sends_only_the_latest_state_and_snapshots_come_first() -> None:
    hub, book, _ = make_hub()
    sink = RecordingSink()
    client = hub.connect(sink, Tier.PRO)
    assert client is not None
    hub.subscribe(client, ["XYZ"], ["quotes"])
    for seq, price in enumerate((1_000_000, 1_010_000, 1_020_000), start=1):
        bid(book, seq, hub, price)
    assert hub.flush(Tier.PRO) == 1
    await settle()
    kinds = [m["type"] for frame in sink.frames for m in frame]
    assert kinds == ["subscribed", "quote", "quote"]
    snapshot, update = sink.messages("quote")
    assert snapshot["snapshot"] and snapshot["bid"] is None  # the book when subscribing
    assert not update["snapshot"] and update["bid"]["price"] == "102.00" and update["ts"] == T0 + 3
    assert update["seq"] == snapshot["seq"] + 1


async def test_an_unsent_update_is_replaced_by_the_next_and_the_seq_shows_the_gap() -> None:
    hub, book, _ = make_hub()
    sink = RecordingSink()
    client = hub.connect(sink, Tier.PRO)
    assert client is not None
    hub.subscribe(client, ["XYZ"], ["quotes"])
    await settle()
    for seq in range(1, 4):  # three flushes before the client's sender gets to run
        bid(book, seq, hub, 1_000_000 + seq * 100)
        hub.flush(Tier.PRO)
    assert len(client.outbox) == 1 and client.replaced == 2
    await settle()
    updates = [m for m in sink.messages("quote") if not m["snapshot"]]
    assert [(m["seq"], m["bid"]["price"]) for m in updates] == [(3, "100.03")]


async def test_sequence_numbers_rise_by_one_per_channel_and_tier() -> None:
    hub, book, _ = make_hub()
    pro, retail = RecordingSink(), RecordingSink()
    for sink, tier in ((pro, Tier.PRO), (retail, Tier.RETAIL)):
        client = hub.connect(sink, tier)
        assert client is not None
        hub.subscribe(client, ["XYZ"], ["quotes", "trades", "depth"])
    for seq in range(1, 11):
        bid(book, seq * 2, hub, 1_000_000 + seq * 100)
        hub.on_batch([Batch([trade(seq * 2 + 1, 1_000_000, seq)])])
        hub.flush(Tier.PRO)
        await settle()
        if seq % 5 == 0:
            hub.flush(Tier.RETAIL)
            await settle()
    for sink, updates in ((pro, 10), (retail, 2)):
        for kind in ("quote", "trades", "depth"):
            seqs = [m["seq"] for m in sink.messages(kind)]
            assert seqs == list(range(len(seqs))) and len(seqs) == updates + 1, (kind, seqs)
    retail_trades = [m for m in retail.messages("trades") if not m["snapshot"]]
    assert [[t["qty"] for t in m["trades"]] for m in retail_trades] == [
        [1, 2, 3, 4, 5],
        [6, 7, 8, 9, 10],
    ]  # every trade since the tier's previous flush, none conflated away


async def test_trades_beyond_the_cap_send_the_newest_and_count_the_gap() -> None:
    hub, _, _ = make_hub(trades_per_message_max=3)
    sink = RecordingSink()
    client = hub.connect(sink, Tier.RETAIL)
    assert client is not None
    hub.subscribe(client, ["XYZ"], ["trades"])
    hub.on_batch([Batch([trade(seq, 1_000_000, seq) for seq in range(1, 9)])])
    hub.flush(Tier.RETAIL)
    await settle()
    (update,) = [m for m in sink.messages("trades") if not m["snapshot"]]
    assert [t["qty"] for t in update["trades"]] == [6, 7, 8] and update["gap"] == 5
    # A new subscriber's snapshot holds what was published; later trades come as updates.
    late = RecordingSink()
    other = hub.connect(late, Tier.RETAIL)
    assert other is not None
    hub.on_batch([Batch([trade(9, 1_000_000, 9)])])
    hub.subscribe(other, ["XYZ"], ["trades"])
    hub.flush(Tier.RETAIL)
    await settle()
    snapshot, next_update = late.messages("trades")
    assert [t["qty"] for t in snapshot["trades"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [t["qty"] for t in next_update["trades"]] == [9]
    assert next_update["seq"] == snapshot["seq"] + 1


async def test_a_slow_client_is_bounded_then_dropped_while_a_fast_one_keeps_receiving() -> None:
    hub, book, clock = make_hub(slow_client_s=5.0)
    stuck = RecordingSink(blocked=asyncio.Event())
    fast = RecordingSink()
    slow_client = hub.connect(stuck, Tier.PRO)
    fast_client = hub.connect(fast, Tier.PRO)
    assert slow_client is not None and fast_client is not None
    for client in (slow_client, fast_client):
        hub.subscribe(client, ["XYZ"], ["quotes", "depth"])
    await settle()
    for seq in range(1, 201):
        bid(book, seq, hub, 1_000_000 + seq * 100)
        hub.flush(Tier.PRO)
        await settle()
        clock.now += 0.02  # 4 s in all: not yet too slow
        assert len(slow_client.outbox) <= 2 and not slow_client.control
    assert slow_client.close_code is None and slow_client.sending_since is not None
    clock.now += 1.5
    bid(book, 201, hub, 1_100_000)
    hub.flush(Tier.PRO)
    await settle()
    assert slow_client.close_code == SLOW_CLIENT_CLOSE and slow_client.done.is_set()
    assert "slow client" in slow_client.close_reason and hub.dropped == 1
    assert slow_client not in hub.tiers[Tier.PRO].clients
    quotes = [m for m in fast.messages("quote") if not m["snapshot"]]
    assert len(quotes) == 201 and quotes[-1]["bid"]["price"] == "110.00"
    assert [m["seq"] for m in quotes] == list(range(1, 202))


async def test_outbox_overflow_of_control_messages_drops_the_client() -> None:
    hub, _, _ = make_hub(control_messages_max=4)
    sink = RecordingSink(blocked=asyncio.Event())
    client = hub.connect(sink, Tier.RETAIL)
    assert client is not None
    await settle()
    for _ in range(3):
        hub.unsubscribe(client, ["XYZ"], ["quotes"])
        await settle()
    assert client.close_code is None
    for _ in range(5):
        hub.unsubscribe(client, ["XYZ"], ["quotes"])
    assert client.close_code is not None and "outbox full" in client.close_reason


def test_bars_ohlcv_across_minute_boundaries() -> None:
    bars = BarBook(limit=3)
    start = T0 - T0 % NS_PER_MINUTE
    ticks = [
        (start + 1, 100, 10),
        (start + 20_000_000_000, 105, 5),
        (start + 59_999_999_999, 95, 1),
        (start + NS_PER_MINUTE, 101, 2),  # the next minute's first ns
        (start + 3 * NS_PER_MINUTE + 5, 99, 4),  # a quiet minute between: no bar for it
    ]
    for ts, price, qty in ticks:
        bars.add("XYZ", ts, price, qty)
    found = bars.bars("XYZ", "1Min", 10)
    assert [(b.start_ts - start, b.open, b.high, b.low, b.close, b.volume) for b in found] == [
        (0, 100, 105, 95, 95, 16),
        (NS_PER_MINUTE, 101, 101, 101, 101, 2),
        (3 * NS_PER_MINUTE, 99, 99, 99, 99, 4),
    ]
    assert found[0].trade_count == 3 and found[0].vwap == (1000 + 525 + 95) // 16
    five = bars.bars("XYZ", "5Min", 10)
    assert len(five) == 1 or five[0].start_ts < start  # T0 need not start a 5-minute bar
    assert sum(b.volume for b in five) == 22
    assert bars.bars("XYZ", "1Min", 2) == found[-2:]
    for minute in range(4, 8):  # bounded: the oldest go
        bars.add("XYZ", start + minute * NS_PER_MINUTE, 100, 1)
    assert len(bars.bars("XYZ", "1Min", 10)) == 3
    assert bars.bars("NOPE", "1Min", 10) == []


async def test_redis_cache_writes_quote_and_book_with_a_ttl() -> None:
    require_tcp_service("Redis", REDIS_URL, 6379)
    prefix = f"test-md-{uuid.uuid4().hex[:12]}:"
    cache = RedisMarketDataCache(REDIS_URL, prefix, ttl_ms=5_000)
    book = FakeBook()
    hub = MarketDataHub({"XYZ": book}.get, MarketDataSettings(), cache=cache, clock=lambda: T0)
    try:
        bid(book, 1, hub, 1_000_000, qty=7)
        book.asks = [BookLevel(1_010_000, 2, 3)]
        hub.flush(Tier.PRO)
        task = hub._cache_task
        assert task is not None
        await task
        quote = await cache.quote("XYZ")
        assert quote is not None and quote["bid"] == {"price": "100.00", "qty": 7, "orders": 1}
        assert quote["ask"] == {"price": "101.00", "qty": 3, "orders": 2}
        depth = await cache.book("XYZ")
        assert depth is not None and depth["asks"][0]["qty"] == 3
        ttl_ms = await cache.redis.pttl(f"{prefix}quote:XYZ")
        assert 0 < ttl_ms <= 5_000
        assert await cache.quote("NOPE") is None
        short = RedisMarketDataCache(REDIS_URL, prefix + "short:", ttl_ms=50)
        await short.write({"XYZ": (b'{"bid": null}', b"{}")})
        assert await short.quote("XYZ") == {"bid": None}
        await asyncio.sleep(0.2)
        assert await short.quote("XYZ") is None  # expired
        await short.close()
    finally:
        keys = [key async for key in cache.redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await cache.redis.delete(*keys)
        await hub.stop()


async def test_trades_fed_before_the_hub_caught_up_are_snapshot_history_not_news() -> None:
    hub, _, _ = make_hub()
    hub.on_batch([Batch([trade(seq, 1_000_000, seq) for seq in range(1, 4)])])  # rebuilt
    hub.caught_up()
    sink = RecordingSink()
    client = hub.connect(sink, Tier.PRO)
    assert client is not None
    hub.subscribe(client, ["XYZ"], ["trades"])
    hub.on_batch([Batch([trade(4, 1_000_000, 4)])])
    hub.flush(Tier.PRO)
    await settle()
    snapshot, update = sink.messages("trades")
    assert [t["qty"] for t in snapshot["trades"]] == [1, 2, 3]
    assert [t["qty"] for t in update["trades"]] == [4] and update["gap"] == 0
