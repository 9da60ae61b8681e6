"""The live side of Alpaca's stock data stream: trades, quotes and minute bars, fanned out to
the clients subscribed to each (symbol, channel), fed by the gateway's event feed.

Trades: every `TradeExecuted`, as it comes. Quotes: after each batch the feed delivers, the
top of book (the gateway's market-data view) of every symbol the batch touched, when it differs
from the last one sent (price or size, either side): several commands in one batch make one
quote. Bars: a symbol's minute bar when its minute closes (`marketdata.minute_bars`: a later
trade of the symbol, or the gateway's clock a second past the minute's end, checked every
`bar_check_interval_s` while anyone is connected).

Each message is encoded at most once per format (JSON text, or msgpack as the client asked)
and shared by every client that gets it. A client holds at most `messages_queued_max` messages
not yet sent; one that falls further behind is closed (the slow-client rule of the other
streams), and neither the feed nor other clients ever wait for it.
"""

import asyncio
import contextlib
import datetime
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from tradingfloor.domain.events import TradeExecuted
from tradingfloor.gateway import alpaca_data_views as views
from tradingfloor.marketdata.levels import BOOK_EVENTS
from tradingfloor.marketdata.minute_bars import MinuteBar, MinuteBars
from tradingfloor.marketdata.view import MarketDataView

TRADES, QUOTES, BARS = "trades", "quotes", "bars"
CHANNELS = (TRADES, QUOTES, BARS)
QUIET_CHANNELS = ("updatedBars", "dailyBars", "statuses", "lulds", "corrections", "cancelErrors")
"""Alpaca's other channels: taken in a subscribe, nothing is ever sent on them here."""
EVERY_SYMBOL = "*"
messages_queued_max = 10_000
bar_check_interval_s = 0.25
_json = msgspec.json.Encoder(decimal_format="number").encode
_msgpack = msgspec.msgpack.Encoder().encode
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _moment(ts: int) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(microseconds=ts // 1_000)


def _floats(body: dict[str, Any]) -> dict[str, Any]:
    """The msgpack body: decimals as floats, `t` a timestamp (msgpack has no decimal)."""
    return {
        key: float(value) if isinstance(value, Decimal) else value for key, value in body.items()
    }


class Message:
    """One message, encoded on first use in each format."""

    __slots__ = ("_json", "_msgpack", "body", "packed_body")

    def __init__(self, body: dict[str, Any], packed_body: dict[str, Any] | None = None) -> None:
        self.body = body
        self.packed_body = body if packed_body is None else packed_body
        self._json: bytes | None = None
        self._msgpack: bytes | None = None

    def encoded(self, packed: bool) -> bytes:
        if packed:
            if self._msgpack is None:
                self._msgpack = _msgpack(self.packed_body)
            return self._msgpack
        if self._json is None:
            self._json = _json(self.body)
        return self._json


def data_message(kind: str, symbol: str, ts: int, fields: dict[str, Any]) -> Message:
    """A data message of `kind` ("t", "q", "b") from Alpaca's JSON fields (`views`)."""
    body = {"T": kind, "S": symbol, **fields}
    packed = _floats(body)
    packed["t"] = _moment(ts)
    return Message(body, packed)


def frame(messages: list[Message], packed: bool) -> bytes:
    """One frame: an array of the messages, in JSON or msgpack."""
    parts = [message.encoded(packed) for message in messages]
    if not packed:
        return b"[" + b",".join(parts) + b"]"
    count = len(parts)
    if count < 16:
        header = bytes([0x90 | count])
    elif count < 65_536:
        header = b"\xdc" + count.to_bytes(2, "big")
    else:
        header = b"\xdd" + count.to_bytes(4, "big")
    return header + b"".join(parts)


class Subscriber:
    """One client: its subscriptions and the messages waiting for it."""

    def __init__(self, packed: bool) -> None:
        self.packed = packed
        self.channels: dict[str, set[str]] = {channel: set() for channel in CHANNELS}
        self.outbox: deque[Message] = deque()
        self.wakeup = asyncio.Event()
        self.overflowed = False

    def offer(self, message: Message) -> None:
        if self.overflowed:
            return
        if len(self.outbox) >= messages_queued_max:
            self.overflowed = True
            self.outbox.clear()
        else:
            self.outbox.append(message)
        self.wakeup.set()

    def symbol_count(self) -> int:
        return sum(len(symbols) for symbols in self.channels.values())


class DataStreams:
    """Every connected client of the stream, and what each (symbol, channel) sends."""

    def __init__(self, market: MarketDataView, clock: Callable[[], int]) -> None:
        self.market, self.clock = market, clock
        self.subscribers: set[Subscriber] = set()
        self.by_symbol: dict[tuple[str, str], set[Subscriber]] = {}
        self.bars = MinuteBars()
        self.tops: dict[str, tuple[Any, ...]] = {}
        self._ticker: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ clients

    def join(self, subscriber: Subscriber) -> None:
        self.subscribers.add(subscriber)
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._close_bars())

    def leave(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        for channel, symbols in subscriber.channels.items():
            self.unsubscribe(subscriber, channel, list(symbols))
        if not self.subscribers and self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def subscribe(self, subscriber: Subscriber, channel: str, symbols: list[str]) -> None:
        mine = subscriber.channels[channel]
        for symbol in symbols:
            mine.add(symbol)
            self._listeners(channel, symbol).add(subscriber)

    def unsubscribe(self, subscriber: Subscriber, channel: str, symbols: list[str]) -> None:
        mine = subscriber.channels[channel]
        for symbol in symbols:
            mine.discard(symbol)
            listeners = self.by_symbol.get((channel, symbol))
            if listeners is not None:
                listeners.discard(subscriber)
                if not listeners:
                    del self.by_symbol[(channel, symbol)]

    def _listeners(self, channel: str, symbol: str) -> set[Subscriber]:
        key = (channel, symbol)
        found = self.by_symbol.get(key)
        if found is None:
            found = self.by_symbol[key] = set()
        return found

    def _send(self, channel: str, symbol: str, message: Message) -> None:
        for key in ((channel, symbol), (channel, EVERY_SYMBOL)):
            for subscriber in self.by_symbol.get(key, ()):
                subscriber.offer(message)

    def _wanted(self, channel: str, symbol: str) -> bool:
        return bool(self.by_symbol.get((channel, symbol)) or self.by_symbol.get(
            (channel, EVERY_SYMBOL)))  # fmt: skip

    # ------------------------------------------------------------------ feeding

    def on_feed(self, batch: Any) -> None:
        """One batch of the event feed (the market-data view has applied it already)."""
        touched: set[str] = set()
        for _, _, events in batch:
            for event in events:
                if type(event) is TradeExecuted:
                    self._trade(event)
                if isinstance(event, BOOK_EVENTS):
                    touched.add(event.symbol)
        for symbol in sorted(touched):
            self._quote(symbol)

    def _trade(self, trade: TradeExecuted) -> None:
        symbol = trade.symbol
        closed = self.bars.add(symbol, trade.ts, trade.price, trade.qty)
        if closed is not None:
            self._bar(closed)
        if self._wanted(TRADES, symbol):
            fields = views.trade_fields(trade.ts, trade.trade_id, trade.price, trade.qty)
            self._send(TRADES, symbol, data_message("t", symbol, trade.ts, fields))

    def _quote(self, symbol: str) -> None:
        if not self.market.knows(symbol):
            return
        quote = self.market.quote(symbol)
        bid, ask = quote.bid, quote.ask
        top = (
            bid.price if bid else None, bid.qty if bid else 0,
            ask.price if ask else None, ask.qty if ask else 0,
        )  # fmt: skip
        if self.tops.get(symbol) == top:
            return
        self.tops[symbol] = top
        if self._wanted(QUOTES, symbol):
            fields = views.quote_fields(quote.ts, *top)
            self._send(QUOTES, symbol, data_message("q", symbol, quote.ts, fields))

    def _bar(self, bar: MinuteBar) -> None:
        if self._wanted(BARS, bar.symbol):
            fields = views.bar_fields(
                bar.start_ts, bar.open, bar.high, bar.low, bar.close, bar.volume,
                bar.trade_count, bar.notional,
            )  # fmt: skip
            self._send(BARS, bar.symbol, data_message("b", bar.symbol, bar.start_ts, fields))

    def close_bars(self) -> None:
        """Send the bars whose minute has closed by the clock."""
        for bar in self.bars.closed_by(self.clock()):
            self._bar(bar)

    async def _close_bars(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(bar_check_interval_s)
                self.close_bars()
