"""Halts in market data, in isolation: the view follows each symbol's halt and the market's
(from every shard's feed), timed halts end by themselves, and the hub sends a quote with the
halt when one starts, ends or runs out."""

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from tradingfloor.domain.enums import HaltReason
from tradingfloor.domain.events import (
    InstrumentAdded,
    SymbolChanged,
    SymbolTakenOver,
    TradingHalted,
    TradingResumed,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.shards import seq_token
from tradingfloor.marketdata.halts import HaltState
from tradingfloor.marketdata.hub import MarketDataHub, MarketDataSettings, Tier
from tradingfloor.marketdata.view import Applied, MarketDataView

T0 = 1_700_000_000 * 1_000_000_000
MINUTE = 60 * 1_000_000_000
MANUAL, PRICE_MOVE = HaltReason.MANUAL, HaltReason.PRICE_MOVE
LEVEL_1 = HaltReason.MARKET_WIDE_LEVEL_1


class Feeds:
    """Each shard's feed into one view (and hub), one command at a time."""

    def __init__(self, view: MarketDataView, hub: MarketDataHub | None = None) -> None:
        self.view, self.hub = view, hub
        self.seqs: dict[int, int] = {}

    def command(self, shard: int, *events: Any) -> None:
        seq = self.seqs[shard] = self.seqs.get(shard, 0) + 1
        token = seq_token(shard, seq)
        built = [kind(token, T0, *terms) for kind, *terms in events]
        batch = [Applied(token, T0, built)]
        self.view.on_batch(batch)
        if self.hub is not None:
            self.hub.on_batch(batch)


def listed(feeds: Feeds, shard: int, *symbols: str) -> None:
    for symbol in symbols:
        feeds.command(shard, (InstrumentAdded, Instrument(symbol, 100)))


def test_a_symbol_halt_holds_until_resumed_and_a_timed_one_until_it_runs_out() -> None:
    view = MarketDataView()
    feeds = Feeds(view)
    listed(feeds, 0, "XYZ", "ABC")

    feeds.command(0, (TradingHalted, "XYZ", MANUAL, None))

    assert view.halt("XYZ", T0 + 60 * MINUTE) == HaltState(MANUAL, None)
    assert view.halt("ABC", T0) is None and view.market_halt(T0) is None
    assert view.halt("NOPE", T0) is None
    feeds.command(0, (TradingResumed, "XYZ"))
    assert view.halt("XYZ", T0) is None

    feeds.command(0, (TradingHalted, "ABC", PRICE_MOVE, T0 + 5 * MINUTE))

    halt = view.halt("ABC", T0 + 5 * MINUTE - 1)
    assert halt == HaltState(PRICE_MOVE, T0 + 5 * MINUTE) and halt.reason_name == "price_move"
    assert view.halt("ABC", T0 + 5 * MINUTE) is None  # no event: its time ran out


def test_the_market_halt_comes_first_and_the_symbols_own_shows_once_it_ends() -> None:
    view = MarketDataView()
    feeds = Feeds(view)
    listed(feeds, 0, "XYZ")
    feeds.command(0, (TradingHalted, "XYZ", MANUAL, None))

    feeds.command(0, (TradingHalted, None, LEVEL_1, T0 + 15 * MINUTE))

    assert view.halt("XYZ", T0) == HaltState(LEVEL_1, T0 + 15 * MINUTE)
    assert view.halt("XYZ", T0).reason_name == "market_wide_level_1"  # type: ignore[union-attr]
    assert view.market_halt(T0) == HaltState(LEVEL_1, T0 + 15 * MINUTE)
    assert view.halt("XYZ", T0 + 15 * MINUTE) == HaltState(MANUAL, None)
    assert view.market_halt(T0 + 15 * MINUTE) is None


def test_the_market_is_halted_while_any_shards_feed_says_so() -> None:
    view = MarketDataView()
    feeds = Feeds(view)
    listed(feeds, 0, "AAA")
    listed(feeds, 1, "BBB")
    feeds.command(0, (TradingHalted, None, MANUAL, None))
    feeds.command(1, (TradingHalted, None, MANUAL, None))

    feeds.command(0, (TradingResumed, None))  # the resume has reached one shard's feed

    assert view.halt("AAA", T0) == HaltState(MANUAL, None)
    assert view.halt("BBB", T0) == HaltState(MANUAL, None)
    feeds.command(1, (TradingResumed, None))
    assert view.market_halt(T0) is None and view.halt("AAA", T0) is None

    # A timed halt that one shard resumed (an order noticed it ran out) and the other not.
    feeds.command(0, (TradingHalted, None, LEVEL_1, T0 + 15 * MINUTE))
    feeds.command(1, (TradingHalted, None, LEVEL_1, T0 + 15 * MINUTE))
    feeds.command(0, (TradingResumed, None))
    assert view.market_halt(T0 + 15 * MINUTE - 1) == HaltState(LEVEL_1, T0 + 15 * MINUTE)
    assert view.market_halt(T0 + 15 * MINUTE) is None


def test_a_symbols_halt_moves_with_it_and_its_old_shard_no_longer_speaks_for_it() -> None:
    view = MarketDataView()
    feeds = Feeds(view)
    listed(feeds, 0, "XYZ")
    feeds.command(0, (TradingHalted, "XYZ", MANUAL, None))
    moved = ("XYZ", "main", 2, "other", [], [], [], Instrument("XYZ", 100), None, None)

    feeds.command(1, (SymbolTakenOver, *moved))

    assert view.halt("XYZ", T0) == HaltState(MANUAL, None)  # it moves halted
    feeds.command(0, (TradingResumed, "XYZ"))  # its old shard's, seen late: history
    assert view.halt("XYZ", T0) == HaltState(MANUAL, None)
    feeds.command(1, (SymbolChanged, "A1", "XYZ", "XYZW"))
    assert view.halt("XYZW", T0) == HaltState(MANUAL, None) and view.halt("XYZ", T0) is None
    feeds.command(1, (TradingResumed, "XYZW"))
    assert view.halt("XYZW", T0) is None


# ---------------------------------------------------------------------- the hub


@dataclass
class RecordingSink:
    frames: list[list[dict[str, Any]]] = field(default_factory=list)

    async def send(self, frame: str) -> None:
        self.frames.append(json.loads(frame))

    def quotes(self) -> list[dict[str, Any]]:
        return [m for frame in self.frames for m in frame if m["type"] == "quote"]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


async def settle() -> None:
    for _ in range(5):  # let the sender tasks run
        await asyncio.sleep(0)


async def subscribed_hub() -> tuple[Feeds, MarketDataHub, RecordingSink, Clock]:
    """A hub on a view with XYZ and ABC listed, a pro client subscribed to XYZ's quotes."""
    view = MarketDataView()
    clock = Clock()
    hub = MarketDataHub(
        view.book,
        MarketDataSettings(),
        symbols=view.symbols,
        halt_of=view.halt,
        clock=clock,
        monotonic=lambda: 0.0,
    )
    feeds = Feeds(view, hub)
    listed(feeds, 0, "XYZ", "ABC")
    sink = RecordingSink()
    client = hub.connect(sink, Tier.PRO)
    assert client is not None
    hub.subscribe(client, ["XYZ"], ["quotes"])
    hub.flush(Tier.PRO)  # the state at subscription, published once more
    await settle()
    return feeds, hub, sink, clock


async def published(hub: MarketDataHub, sink: RecordingSink) -> list[Any]:
    """The halts of the quotes one flush sends."""
    sent = len(sink.quotes())
    hub.flush(Tier.PRO)
    await settle()
    return [quote["halt"] for quote in sink.quotes()[sent:]]


async def test_a_quote_tells_a_halt_at_once_and_its_resume() -> None:
    feeds, hub, sink, _ = await subscribed_hub()
    assert [quote["halt"] for quote in sink.quotes()] == [None, None]
    assert await published(hub, sink) == []  # nothing changed

    feeds.command(0, (TradingHalted, "XYZ", MANUAL, None))
    assert await published(hub, sink) == [{"reason": "manual", "until_ts": None}]
    feeds.command(0, (TradingResumed, "XYZ"))
    assert await published(hub, sink) == [None]

    feeds.command(0, (TradingHalted, "ABC", MANUAL, None))  # another symbol's
    assert await published(hub, sink) == []
    feeds.command(0, (TradingHalted, None, LEVEL_1, None))  # the market's: every symbol's
    assert await published(hub, sink) == [{"reason": "market_wide_level_1", "until_ts": None}]
    assert hub.snapshot(Tier.PRO, "ABC", "quotes")["halt"]["reason"] == "market_wide_level_1"


async def test_a_quote_tells_when_a_timed_halt_has_run_out_though_no_event_says_so() -> None:
    feeds, hub, sink, clock = await subscribed_hub()
    until = T0 + 5 * MINUTE
    feeds.command(0, (TradingHalted, "XYZ", PRICE_MOVE, until))
    assert await published(hub, sink) == [{"reason": "price_move", "until_ts": until}]

    clock.now = until - 1
    assert await published(hub, sink) == []
    clock.now = until

    assert await published(hub, sink) == [None]
    assert await published(hub, sink) == []  # told once
