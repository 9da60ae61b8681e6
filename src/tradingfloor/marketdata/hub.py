"""The market-data hub: conflated quotes, trades and depth per client tier, fanned out.

Feeding (`on_batch`, called by the platform's batch listener before clients are answered) is
cheap: it marks the symbols whose book changed dirty, appends trades to a bounded ring per
symbol and counts them into the bars. Nothing is built or sent there.

Publishing happens in one flush per tier (`flush(tier)`; the loops started by `start()` call
it every `retail_interval_s` = 1 s and `pro_interval_s` = 0.1 s). A flush builds one message per
dirty (symbol, channel) that has subscribers in the tier, from the live book (always the latest
state, never a queue of stale ones), encodes it once and hands the same string to every
subscriber. Trades are not conflated away: a trades message carries every trade since the
tier's previous flush, at most `trades_per_message_max` (the newest; `gap` counts the ones
left out).

Sequence numbers: each tier numbers the messages of each (symbol, channel) 1, 2, 3, ...; a
snapshot carries the number of the last message published before it, so the next update is
`seq + 1`. A client that sees a jump has missed messages (its outbox conflated an update it had
not sent yet) and should re-subscribe for a fresh snapshot.

The Redis cache (`cache.RedisMarketDataCache`, optional) is written from the pro flush in a
task of its own, at most one in flight: a flush never waits for Redis. While a write is in
flight the next states pile up per symbol (the latest wins) for the write after it; entries a
failed write could not store are kept the same way, so the cache is whole again as soon as
Redis is back.

Slow clients: each client has a control queue (acks, snapshots, errors; at most
`control_messages_max`) and a conflated outbox holding at most one message per (symbol,
channel) it subscribes to. A sender task per client writes everything pending as one frame (a
JSON array). A client whose send has not completed for `slow_client_s` (its socket's send buffer
is not draining) is dropped with close code `SLOW_CLIENT_CLOSE` and a reason; neither the engine
nor other clients ever wait for it.

Frames are JSON text: an array of messages, each an object with `type` (`quote`, `trades`,
`depth`, `subscribed`, `unsubscribed`, `error`). Prices are decimal strings in dollars; `ts` is
the engine time (ns) of the newest event the message reflects and `published_ts` the wall-clock
time (ns) of the flush that built it.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderReplaced,
    StopTriggered,
    TradeExecuted,
)
from tradingfloor.domain.prices import format_price
from tradingfloor.marketdata.bars import BarBook

if TYPE_CHECKING:
    from tradingfloor.marketdata.cache import RedisMarketDataCache

log = logging.getLogger("tradingfloor.marketdata")

QUOTES, TRADES, DEPTH = "quotes", "trades", "depth"
CHANNELS = (QUOTES, TRADES, DEPTH)
SLOW_CLIENT_CLOSE = 1013
"""Close code of a dropped slow client ("try again later", RFC 6455 registry)."""
OUTBOX_FULL_CLOSE = 1013

_BOOK_EVENTS = (OrderAccepted, OrderCanceled, OrderReplaced, OrderExpired, StopTriggered)
"""Events that may change a book's visible levels (trades are handled on their own)."""
_encode = msgspec.json.Encoder().encode


class Tier(StrEnum):
    """How often a client gets conflated updates: retail once a second, pro ten times."""

    RETAIL = "retail"
    PRO = "pro"


@dataclass(frozen=True, slots=True)
class MarketDataSettings:
    """Every limit of the hub (units last)."""

    retail_interval_s: float = 1.0
    pro_interval_s: float = 0.1
    depth_levels: int = 10
    trades_per_message_max: int = 500
    trades_kept_per_symbol: int = 1_000
    """Recent trades kept per symbol (last trade, snapshots, trades messages)."""
    snapshot_trades_max: int = 50
    symbols_per_client_max: int = 200
    control_messages_max: int = 1_000
    """Acks, snapshots and errors waiting to be sent to one client."""
    clients_max: int = 10_000
    slow_client_s: float = 5.0
    cache_ttl_ms: int = 5_000
    cache_prefix: str = "tradingfloor:md:"


class LevelView(Protocol):
    @property
    def price(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def order_count(self) -> int: ...


class DepthView(Protocol):
    @property
    def bids(self) -> Sequence[LevelView]: ...
    @property
    def asks(self) -> Sequence[LevelView]: ...


class BookView(Protocol):
    """What the hub reads of an order book (`matching.book.OrderBook` fits)."""

    def depth(self, levels: int | None = None) -> DepthView: ...


class Sink(Protocol):
    """Where a client's frames go (a WebSocket in the gateway, a fake in tests)."""

    async def send(self, frame: str) -> None: ...


class Client:
    """One subscriber connection: its subscriptions, pending messages and sender task."""

    def __init__(self, hub: "MarketDataHub", sink: Sink, tier: Tier) -> None:
        self.hub, self.sink, self.tier = hub, sink, tier
        self.subscriptions: dict[str, set[str]] = {}
        self.control: deque[str] = deque()
        self.outbox: dict[tuple[str, str], str] = {}
        self.wake = asyncio.Event()
        self.done = asyncio.Event()
        """Set when the client is gone: dropped by the hub (see `close_code`) or disconnected."""
        self.sending_since: float | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.frames_sent = 0
        self.replaced = 0
        """Updates conflated away in this client's outbox before they were sent."""
        self.task: asyncio.Task[None] | None = None

    def offer(self, key: tuple[str, str], frame: str) -> None:
        if key in self.outbox:
            self.replaced += 1
        self.outbox[key] = frame

    def tell(self, message: dict[str, Any]) -> None:
        """Queue a control message (ack, snapshot, error) before any pending update."""
        if self.done.is_set():
            return
        if len(self.control) >= self.hub.settings.control_messages_max:
            self.hub.drop(self, OUTBOX_FULL_CLOSE, "outbox full: too many pending messages")
            return
        self.control.append("[" + _encode(message).decode() + "]")
        self.wake.set()

    async def run(self) -> None:
        """Send whatever is pending as one frame, until the client is gone."""
        clock = self.hub.monotonic
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                while self.control or self.outbox:
                    frames = list(self.control)
                    self.control.clear()
                    frames.extend(self.outbox.values())
                    self.outbox.clear()
                    if len(frames) == 1:
                        frame = frames[0]
                    else:
                        frame = "[" + ",".join(part[1:-1] for part in frames) + "]"
                    self.sending_since = clock()
                    await self.sink.send(frame)
                    self.sending_since = None
                    self.frames_sent += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # the connection is gone: the gateway sees it too
            self.done.set()


@dataclass(slots=True)
class _TierState:
    interval_s: float
    dirty: set[str]
    subscribers: dict[tuple[str, str], set[Client]]
    seq: dict[tuple[str, str], int]
    trades_published: dict[str, int]
    """Per symbol: how many of its trades (counted since start) this tier has published."""
    last_sent: dict[tuple[str, str], Any]
    """The body of the last quote and depth message per (symbol, channel): unchanged ones
    are not sent again."""
    clients: set[Client]


class MarketDataHub:
    """Fed by the engine's batches, read by subscribers; see the module docstring."""

    def __init__(
        self,
        book_of: Callable[[str], BookView | None],
        settings: MarketDataSettings | None = None,
        *,
        symbols: Callable[[], Iterable[str]] = tuple,
        cache: "RedisMarketDataCache | None" = None,
        clock: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.book_of, self.symbols = book_of, symbols
        self.settings = settings = settings or MarketDataSettings()
        self.cache = cache
        self.clock, self.monotonic = clock, monotonic
        self.bars = BarBook()
        self.trades: dict[str, deque[TradeExecuted]] = {}
        self.trade_count: dict[str, int] = {}
        self.event_ts: dict[str, int] = {}
        self.tiers = {
            tier: _TierState(interval, set(), {}, {}, {}, {}, set())
            for tier, interval in (
                (Tier.RETAIL, settings.retail_interval_s),
                (Tier.PRO, settings.pro_interval_s),
            )
        }
        self.dropped = 0
        self.failure: BaseException | None = None
        self._cache_pending: dict[str, tuple[bytes, bytes]] = {}
        self._cache_task: asyncio.Task[None] | None = None
        self._cache_broken = False
        self._cache_refreshed = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ feeding (hot)

    def on_batch(self, results: Iterable[Any]) -> None:
        """Take one applied batch (`Result`s with `.events`): mark, append, count. No I/O."""
        touched: set[str] = set()
        event_ts = self.event_ts
        for result in results:
            for event in result.events:
                if type(event) is TradeExecuted:
                    self._trade(event)
                elif not isinstance(event, _BOOK_EVENTS):
                    continue
                symbol = event.symbol
                touched.add(symbol)
                event_ts[symbol] = event.ts
        if touched:
            for state in self.tiers.values():
                state.dirty |= touched

    def _trade(self, event: TradeExecuted) -> None:
        symbol = event.symbol
        ring = self.trades.get(symbol)
        if ring is None:
            ring = self.trades[symbol] = deque(maxlen=self.settings.trades_kept_per_symbol)
        ring.append(event)
        self.trade_count[symbol] = self.trade_count.get(symbol, 0) + 1
        self.bars.add(symbol, event.ts, event.price, event.qty)

    # ------------------------------------------------------------------ clients

    def connect(self, sink: Sink, tier: Tier) -> Client | None:
        """A new client with its sender task, or None when `clients_max` are connected."""
        if sum(len(state.clients) for state in self.tiers.values()) >= self.settings.clients_max:
            return None
        client = Client(self, sink, tier)
        self.tiers[tier].clients.add(client)
        client.task = asyncio.create_task(client.run())
        return client

    def disconnect(self, client: Client) -> None:
        """Forget `client` (idempotent) and stop its sender."""
        state = self.tiers[client.tier]
        state.clients.discard(client)
        for symbol, channels in client.subscriptions.items():
            for channel in channels:
                subscribers = state.subscribers.get((symbol, channel))
                if subscribers is not None:
                    subscribers.discard(client)
                    if not subscribers:
                        del state.subscribers[(symbol, channel)]
        client.subscriptions.clear()
        client.outbox.clear()
        if client.task is not None and not client.task.done():
            client.task.cancel()
        client.done.set()

    def drop(self, client: Client, code: int, reason: str) -> None:
        """Disconnect `client`, telling the gateway to close it with `code` and `reason`."""
        if client.close_code is None:
            client.close_code, client.close_reason = code, reason
            self.dropped += 1
            log.warning("market data client dropped", extra={"code": code, "reason": reason})
        self.disconnect(client)

    def subscribe(
        self, client: Client, symbols: Sequence[str], channels: Sequence[str]
    ) -> list[str]:
        """Subscribe and queue an ack and a snapshot per (symbol, channel); returns the
        unknown symbols (each also gets an error message)."""
        bad_channels = [channel for channel in channels if channel not in CHANNELS]
        if bad_channels or not channels:
            client.tell(_error(f"unknown channel {bad_channels}; use {list(CHANNELS)}"))
            return []
        known: list[str] = []
        unknown: list[str] = []
        for symbol in dict.fromkeys(symbols):
            (known if self.book_of(symbol) is not None else unknown).append(symbol)
        for symbol in unknown:
            client.tell(_error("unknown symbol", symbol))
        fresh = [symbol for symbol in known if symbol not in client.subscriptions]
        if len(client.subscriptions) + len(fresh) > self.settings.symbols_per_client_max:
            limit = self.settings.symbols_per_client_max
            client.tell(_error(f"at most {limit} symbols per connection"))
            return unknown
        if not known:
            return unknown
        state = self.tiers[client.tier]
        client.tell({"type": "subscribed", "symbols": known, "channels": list(channels)})
        for symbol in known:
            mine = client.subscriptions.setdefault(symbol, set())
            for channel in channels:
                if channel in mine:
                    continue
                if client.done.is_set():  # dropped: its outbox overflowed
                    return unknown
                mine.add(channel)
                state.subscribers.setdefault((symbol, channel), set()).add(client)
                client.tell(self.snapshot(client.tier, symbol, channel))
                if channel != TRADES:
                    # The snapshot may be newer than the last update: publish the next state
                    # even if it equals that update, or this client would miss it.
                    state.last_sent.pop((symbol, channel), None)
                    state.dirty.add(symbol)
        return unknown

    def unsubscribe(self, client: Client, symbols: Sequence[str], channels: Sequence[str]) -> None:
        state = self.tiers[client.tier]
        for symbol in symbols:
            mine = client.subscriptions.get(symbol)
            if mine is None:
                continue
            for channel in channels:
                mine.discard(channel)
                client.outbox.pop((symbol, channel), None)
                subscribers = state.subscribers.get((symbol, channel))
                if subscribers is not None:
                    subscribers.discard(client)
                    if not subscribers:
                        del state.subscribers[(symbol, channel)]
            if not mine:
                del client.subscriptions[symbol]
        client.tell({"type": "unsubscribed", "symbols": list(symbols), "channels": list(channels)})

    # ------------------------------------------------------------------ messages

    def snapshot(self, tier: Tier, symbol: str, channel: str) -> dict[str, Any]:
        """The current state of (symbol, channel) numbered as the tier's last message."""
        state = self.tiers[tier]
        seq = state.seq.get((symbol, channel), 0)
        book = self.book_of(symbol)
        now = self.clock()
        if channel == TRADES:
            ring = self.trades.get(symbol, ())
            pending = self.trade_count.get(symbol, 0) - state.trades_published.get(symbol, 0)
            published = list(ring)[: max(0, len(ring) - pending)]
            shown = published[-self.settings.snapshot_trades_max :]
            ts = shown[-1].ts if shown else 0
            return _trades(symbol, seq, True, ts, now, shown, 0)
        levels = self.settings.depth_levels if channel == DEPTH else 1
        depth = book.depth(levels) if book is not None else None
        ts = self.event_ts.get(symbol, 0)
        if channel == DEPTH:
            return _depth(symbol, seq, True, ts, now, depth)
        return _quote(symbol, seq, True, ts, now, depth)

    def last_trade(self, symbol: str) -> TradeExecuted | None:
        ring = self.trades.get(symbol)
        return ring[-1] if ring else None

    # ------------------------------------------------------------------ flushing

    def flush(self, tier: Tier) -> int:
        """Publish the tier's dirty (symbol, channel)s; returns the messages built."""
        state = self.tiers[tier]
        dirty, state.dirty = state.dirty, set()
        now = self.clock()
        built = 0
        woken: set[Client] = set()
        subscribers = state.subscribers
        caching = self.cache is not None and tier is Tier.PRO
        for symbol in dirty:
            quote_subscribers = subscribers.get((symbol, QUOTES))
            depth_subscribers = subscribers.get((symbol, DEPTH))
            trade_subscribers = subscribers.get((symbol, TRADES))
            count = self.trade_count.get(symbol, 0)
            fresh = count - state.trades_published.get(symbol, 0)
            state.trades_published[symbol] = count
            if trade_subscribers and fresh > 0:
                built += self._publish_trades(state, symbol, fresh, now, trade_subscribers)
                woken |= trade_subscribers
            if not (quote_subscribers or depth_subscribers or caching):
                continue
            book = self.book_of(symbol)
            if book is None:
                continue
            ts = self.event_ts.get(symbol, 0)
            levels = self.settings.depth_levels if depth_subscribers or caching else 1
            depth = book.depth(levels)
            quote = _quote(symbol, 0, False, ts, now, depth)
            if caching:
                self._cache_pending[symbol] = (
                    _encode(quote),
                    _encode(_depth(symbol, 0, False, ts, now, depth)),
                )
            last_sent = state.last_sent
            if quote_subscribers:
                top = (quote["bid"], quote["ask"])
                if last_sent.get((symbol, QUOTES)) != top:  # else only deeper levels moved
                    last_sent[(symbol, QUOTES)] = top
                    self._publish(state, (symbol, QUOTES), quote, quote_subscribers)
                    built += 1
                    woken |= quote_subscribers
            if depth_subscribers:
                message = _depth(symbol, 0, False, ts, now, depth)
                levels_now = (message["bids"], message["asks"])
                if last_sent.get((symbol, DEPTH)) != levels_now:
                    last_sent[(symbol, DEPTH)] = levels_now
                    self._publish(state, (symbol, DEPTH), message, depth_subscribers)
                    built += 1
                    woken |= depth_subscribers
        for client in woken:
            client.wake.set()
        self._drop_slow(state)
        if caching:
            self._write_cache()
        return built

    def _publish_trades(
        self, state: _TierState, symbol: str, fresh: int, now: int, clients: set[Client]
    ) -> int:
        ring = self.trades.get(symbol, ())
        cap = min(self.settings.trades_per_message_max, len(ring))
        shown = list(ring)[-min(fresh, cap) :]
        gap = fresh - len(shown)
        message = _trades(symbol, 0, False, shown[-1].ts, now, shown, gap)
        self._publish(state, (symbol, TRADES), message, clients)
        return 1

    @staticmethod
    def _publish(
        state: _TierState, key: tuple[str, str], message: dict[str, Any], clients: set[Client]
    ) -> None:
        seq = state.seq.get(key, 0) + 1
        state.seq[key] = seq
        message["seq"] = seq
        frame = "[" + _encode(message).decode() + "]"  # once, for every subscriber
        for client in clients:
            client.offer(key, frame)

    def _drop_slow(self, state: _TierState) -> None:
        limit = self.settings.slow_client_s
        now = self.monotonic()
        slow = [
            client
            for client in state.clients
            if client.sending_since is not None and now - client.sending_since > limit
        ]
        for client in slow:
            self.drop(client, SLOW_CLIENT_CLOSE, f"slow client: send not draining for {limit} s")

    # ------------------------------------------------------------------ cache

    def _write_cache(self) -> None:
        """Start a cache write of what is pending, unless one is in flight (it takes the
        rest next time: the latest state per symbol wins). Every book is rewritten each half
        TTL so that quiet symbols stay cached."""
        monotonic = self.monotonic()
        if monotonic - self._cache_refreshed >= self.settings.cache_ttl_ms / 2_000:
            self._cache_refreshed = monotonic
            self.tiers[Tier.PRO].dirty.update(self.symbols())
        if self.cache is None or not self._cache_pending:
            return
        if self._cache_task is not None and not self._cache_task.done():
            return
        pending, self._cache_pending = self._cache_pending, {}
        self._cache_task = asyncio.create_task(self._cache_write(pending))

    async def _cache_write(self, entries: dict[str, tuple[bytes, bytes]]) -> None:
        if self.cache is None:
            return
        try:
            written = await self.cache.write(entries)
        except Exception:  # a bug of the cache (an outage returns False): say it once
            if not self._cache_broken:
                log.exception("market data cache write failed")
            self._cache_broken = True
            return
        self._cache_broken = False
        if not written:  # Redis is down: keep them for the next write, unless newer came
            for symbol, entry in entries.items():
                self._cache_pending.setdefault(symbol, entry)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the flush loop of each tier (call from the event loop)."""
        for tier in self.tiers:
            self._tasks.append(asyncio.create_task(self._flush_loop(tier)))

    async def _flush_loop(self, tier: Tier) -> None:
        loop = asyncio.get_running_loop()
        interval = self.tiers[tier].interval_s
        next_at = loop.time()
        while True:
            next_at += interval
            delay = next_at - loop.time()
            if delay < 0:  # late (a long batch): skip the missed ticks, keep the phase
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(delay)
            try:
                self.flush(tier)
            except Exception as error:  # a bug: stop publishing, say so (platform.problems)
                self.failure = error
                log.exception("market data flush failed")
                return

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for state in self.tiers.values():
            for client in list(state.clients):
                self.disconnect(client)
        tasks = [*self._tasks, *([self._cache_task] if self._cache_task else [])]
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.cache is not None:
            await self.cache.close()


# ---------------------------------------------------------------------- message bodies


def _level(level: LevelView) -> dict[str, Any]:
    return {"price": format_price(level.price), "qty": level.qty, "orders": level.order_count}


def _quote(
    symbol: str, seq: int, snapshot: bool, ts: int, now: int, depth: DepthView | None
) -> dict[str, Any]:
    bids = depth.bids if depth is not None else ()
    asks = depth.asks if depth is not None else ()
    return {
        "type": "quote",
        "symbol": symbol,
        "seq": seq,
        "snapshot": snapshot,
        "bid": _level(bids[0]) if bids else None,
        "ask": _level(asks[0]) if asks else None,
        "ts": ts,
        "published_ts": now,
    }


def _depth(
    symbol: str, seq: int, snapshot: bool, ts: int, now: int, depth: DepthView | None
) -> dict[str, Any]:
    return {
        "type": "depth",
        "symbol": symbol,
        "seq": seq,
        "snapshot": snapshot,
        "bids": [_level(level) for level in depth.bids] if depth is not None else [],
        "asks": [_level(level) for level in depth.asks] if depth is not None else [],
        "ts": ts,
        "published_ts": now,
    }


def trade_view(event: TradeExecuted) -> dict[str, Any]:
    return {
        "trade_id": event.trade_id,
        "price": format_price(event.price),
        "qty": event.qty,
        "aggressor": "buy" if event.aggressor == Side.BUY else "sell",
        "ts": event.ts,
    }


def _trades(
    symbol: str,
    seq: int,
    snapshot: bool,
    ts: int,
    now: int,
    trades: Sequence[TradeExecuted],
    gap: int,
) -> dict[str, Any]:
    return {
        "type": "trades",
        "symbol": symbol,
        "seq": seq,
        "snapshot": snapshot,
        "trades": [trade_view(event) for event in trades],
        "gap": gap,
        "ts": ts,
        "published_ts": now,
    }


def _error(message: str, symbol: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "message": message}
    if symbol is not None:
        body["symbol"] = symbol
    return body
