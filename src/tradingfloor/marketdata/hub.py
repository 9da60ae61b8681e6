"""The market-data hub: conflated quotes, trades and depth per client tier, fanned out.

Feeding (`on_batch`, called with each applied batch before clients are answered) is cheap: it
marks the symbols whose book changed dirty, appends trades to a bounded ring per symbol
(`tape.TradeTape`) and counts them into the bars. Nothing is built or sent there.

Publishing happens in one flush per tier (`flush(tier)`; the loops started by `start()` call
it every `retail_interval_s` = 1 s and `pro_interval_s` = 0.1 s). A flush builds one message per
dirty (symbol, channel) that has subscribers in the tier, from the symbol's book as it is now
(always the latest state, never a queue of stale ones), encodes it once and hands the same
string to every subscriber. Trades are not conflated away: a trades message carries every
trade since the tier's previous flush, at most `trades_per_message_max` (the newest; `gap`
counts the ones left out).

The books are read through `book_of(symbol)` (a `levels.BookView`): in the platform, the
market-data view's books built from the event feed (`view.MarketDataView`), never the
engine's. A symbol is known when `book_of` has a book for it. Halts are read the same way,
through `halt_of(symbol, now_ns)` (the view's `halt`): a quote tells the halt in force. A halt
or resume marks its symbol dirty (the market's: every symbol), and so does a timed halt
running out, which no event tells (`halts.HaltNews`, checked at each flush).

The rest is in the hub's parts: message numbering per tier and channel in `tiers`, the message
bodies in `messages`, each subscriber's outbox and slow-client rule in `client`, the Redis
cache's writes in `cache_writer`.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from tradingfloor.domain.events import (
    SymbolTakenOver,
    TradeExecuted,
    TradingHalted,
    TradingResumed,
)
from tradingfloor.domain.shards import ORDER_ID_SHARD_SPAN
from tradingfloor.marketdata.bars import BarBook
from tradingfloor.marketdata.cache_writer import CacheWriter
from tradingfloor.marketdata.client import OUTBOX_FULL_CLOSE, SLOW_CLIENT_CLOSE, Client, Sink
from tradingfloor.marketdata.halts import HaltNews, HaltState, no_halt
from tradingfloor.marketdata.levels import BOOK_EVENTS, BookView, DepthView, LevelView
from tradingfloor.marketdata.messages import (
    CHANNELS,
    DEPTH,
    QUOTES,
    TRADES,
    depth_message,
    encode,
    error_message,
    halt_view,
    quote_message,
    trade_view,
    trades_message,
)
from tradingfloor.marketdata.settings import MarketDataSettings
from tradingfloor.marketdata.tape import TradeTape
from tradingfloor.marketdata.tiers import Tier, TierState

if TYPE_CHECKING:
    from tradingfloor.marketdata.cache import RedisMarketDataCache

__all__ = [
    "CHANNELS",
    "DEPTH",
    "OUTBOX_FULL_CLOSE",
    "QUOTES",
    "SLOW_CLIENT_CLOSE",
    "TRADES",
    "BookView",
    "Client",
    "DepthView",
    "LevelView",
    "MarketDataHub",
    "MarketDataSettings",
    "Sink",
    "Tier",
    "trade_view",
]

log = logging.getLogger("tradingfloor.marketdata")


class MarketDataHub:
    """Fed the applied batches, read by subscribers; see the module docstring."""

    def __init__(
        self,
        book_of: Callable[[str], BookView | None],
        settings: MarketDataSettings | None = None,
        *,
        symbols: Callable[[], Iterable[str]] = tuple,
        halt_of: Callable[[str, int], HaltState | None] = no_halt,
        cache: "RedisMarketDataCache | None" = None,
        clock: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.book_of, self.symbols, self.halt_of = book_of, symbols, halt_of
        self.halt_news = HaltNews(symbols)
        self.settings = settings = settings or MarketDataSettings()
        self.cache = cache
        self.clock, self.monotonic = clock, monotonic
        self.bars = BarBook()
        self.tape = TradeTape(settings.trades_kept_per_symbol)
        self.event_ts: dict[str, int] = {}
        self.tiers = {
            Tier.RETAIL: TierState(settings.retail_interval_s),
            Tier.PRO: TierState(settings.pro_interval_s),
        }
        self.dropped = 0
        self.fed_seq = 0
        """The seq token of the newest command fed (`on_batch`), of any shard."""
        self.fed_seqs: dict[int, int] = {}
        """Per shard index: the seq token of its newest command fed."""
        self._shard_of: dict[str, int] = {}
        self.failure: BaseException | None = None
        self._cache_writer = None if cache is None else CacheWriter(cache, settings.cache_ttl_ms)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def trades(self) -> dict[str, deque[TradeExecuted]]:
        """Per symbol: its latest trades, oldest first."""
        return self.tape.rings

    @property
    def trade_count(self) -> dict[str, int]:
        """Per symbol: its trades since the hub started."""
        return self.tape.counts

    @property
    def _cache_task(self) -> asyncio.Task[None] | None:
        """The cache write in flight, if any (tests await it)."""
        return None if self._cache_writer is None else self._cache_writer.task

    # ------------------------------------------------------------------ feeding (hot)

    def on_batch(self, results: Iterable[Any]) -> None:
        """Take one applied batch (items with `.events`): mark, append, count. No I/O."""
        touched: set[str] = set()
        event_ts = self.event_ts
        result = None
        moved: list[str] = []
        halts: list[TradingHalted | TradingResumed] = []
        for result in results:
            for event in result.events:
                if not isinstance(event, BOOK_EVENTS):
                    if type(event) is SymbolTakenOver:
                        moved.append(event.symbol)
                    elif type(event) is TradingHalted or type(event) is TradingResumed:
                        halts.append(event)
                    continue
                if type(event) is TradeExecuted:
                    self.tape.add(event)
                    self.bars.add(event.symbol, event.ts, event.price, event.qty)
                symbol = event.symbol
                touched.add(symbol)
                event_ts[symbol] = event.ts
        seq = getattr(result, "seq", None)
        if seq is not None:
            self.fed_seq = seq
            shard = seq // ORDER_ID_SHARD_SPAN  # a batch is one shard's
            self.fed_seqs[shard] = seq
            shard_of = self._shard_of
            for symbol in touched:
                if symbol not in shard_of:
                    shard_of[symbol] = shard
            for symbol in moved:  # its new shard's seqs from now on
                shard_of[symbol] = shard
                touched.add(symbol)
        if halts:
            touched |= self.halt_news.told(halts)
        if touched:
            for state in self.tiers.values():
                state.dirty |= touched

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
                state.unsubscribe(client, (symbol, channel))
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
            client.tell(error_message(f"unknown channel {bad_channels}; use {list(CHANNELS)}"))
            return []
        known: list[str] = []
        unknown: list[str] = []
        for symbol in dict.fromkeys(symbols):
            (known if self.book_of(symbol) is not None else unknown).append(symbol)
        for symbol in unknown:
            client.tell(error_message("unknown symbol", symbol))
        fresh = [symbol for symbol in known if symbol not in client.subscriptions]
        if len(client.subscriptions) + len(fresh) > self.settings.symbols_per_client_max:
            limit = self.settings.symbols_per_client_max
            client.tell(error_message(f"at most {limit} symbols per connection"))
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
                state.subscribe(client, (symbol, channel))
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
                state.unsubscribe(client, (symbol, channel))
            if not mine:
                del client.subscriptions[symbol]
        client.tell({"type": "unsubscribed", "symbols": list(symbols), "channels": list(channels)})

    # ------------------------------------------------------------------ messages

    def snapshot(self, tier: Tier, symbol: str, channel: str) -> dict[str, Any]:
        """The current state of (symbol, channel) numbered as the tier's last message."""
        state = self.tiers[tier]
        seq = state.seq.get((symbol, channel), 0)
        message = self._snapshot(symbol, channel, seq, state)
        message["feed_seq"] = self.feed_seq_of(symbol)
        return message

    def feed_seq_of(self, symbol: str) -> int:
        """The seq token of the newest command fed from the shard that owns `symbol`: what
        its messages reflect (never going back)."""
        return self.fed_seqs.get(self._shard_of.get(symbol, 0), 0)

    def _snapshot(self, symbol: str, channel: str, seq: int, state: TierState) -> dict[str, Any]:
        now = self.clock()
        if channel == TRADES:
            ring = self.tape.rings.get(symbol, ())
            pending = self.tape.count(symbol) - state.trades_published.get(symbol, 0)
            published = list(ring)[: max(0, len(ring) - pending)]
            shown = published[-self.settings.snapshot_trades_max :]
            ts = shown[-1].ts if shown else 0
            return trades_message(symbol, seq, True, ts, now, shown, 0)
        book = self.book_of(symbol)
        levels = self.settings.depth_levels if channel == DEPTH else 1
        depth = book.depth(levels) if book is not None else None
        ts = self.event_ts.get(symbol, 0)
        if channel == DEPTH:
            return depth_message(symbol, seq, True, ts, now, depth)
        halt = halt_view(self.halt_of(symbol, now))
        return quote_message(symbol, seq, True, ts, now, depth, halt)

    def caught_up(self) -> None:
        """The feed has reached where this hub starts serving: the trades fed so far (rebuilt
        from the event log) are history for snapshots, not news for the next update."""
        for state in self.tiers.values():
            state.trades_published.update(self.tape.counts)

    def last_trade(self, symbol: str) -> TradeExecuted | None:
        return self.tape.last(symbol)

    # ------------------------------------------------------------------ flushing

    def flush(self, tier: Tier) -> int:
        """Publish the tier's dirty (symbol, channel)s; returns the messages built."""
        state = self.tiers[tier]
        state.feed_seq = self.fed_seq
        now = self.clock()
        if self.halt_news.ends:  # a timed halt: tell when it has run out
            ended = self.halt_news.ran_out(now)
            for tier_state in self.tiers.values():
                tier_state.dirty |= ended
        dirty, state.dirty = state.dirty, set()
        built = 0
        woken: set[Client] = set()
        subscribers = state.subscribers
        writer = self._cache_writer if tier is Tier.PRO else None
        for symbol in dirty:
            state.feed_seq = self.feed_seq_of(symbol)
            quote_subscribers = subscribers.get((symbol, QUOTES))
            depth_subscribers = subscribers.get((symbol, DEPTH))
            trade_subscribers = subscribers.get((symbol, TRADES))
            count = self.tape.count(symbol)
            fresh = count - state.trades_published.get(symbol, 0)
            state.trades_published[symbol] = count
            if trade_subscribers and fresh > 0:
                built += self._publish_trades(state, symbol, fresh, now, trade_subscribers)
                woken |= trade_subscribers
            if not (quote_subscribers or depth_subscribers or writer):
                continue
            book = self.book_of(symbol)
            if book is None:
                continue
            ts = self.event_ts.get(symbol, 0)
            levels = self.settings.depth_levels if depth_subscribers or writer else 1
            depth = book.depth(levels)
            halt = halt_view(self.halt_of(symbol, now))
            quote = quote_message(symbol, 0, False, ts, now, depth, halt)
            if writer is not None:
                writer.offer(
                    symbol, encode(quote), encode(depth_message(symbol, 0, False, ts, now, depth))
                )
            last_sent = state.last_sent
            if quote_subscribers:
                top = (quote["bid"], quote["ask"], halt)
                if last_sent.get((symbol, QUOTES)) != top:  # else only deeper levels moved
                    last_sent[(symbol, QUOTES)] = top
                    state.publish((symbol, QUOTES), quote, quote_subscribers)
                    built += 1
                    woken |= quote_subscribers
            if depth_subscribers:
                message = depth_message(symbol, 0, False, ts, now, depth)
                levels_now = (message["bids"], message["asks"])
                if last_sent.get((symbol, DEPTH)) != levels_now:
                    last_sent[(symbol, DEPTH)] = levels_now
                    state.publish((symbol, DEPTH), message, depth_subscribers)
                    built += 1
                    woken |= depth_subscribers
        for client in woken:
            client.wake.set()
        self._drop_slow(state)
        if writer is not None:
            if writer.refresh_due(self.monotonic()):
                self.tiers[Tier.PRO].dirty.update(self.symbols())
            writer.write()
        return built

    def _publish_trades(
        self, state: TierState, symbol: str, fresh: int, now: int, clients: set[Client]
    ) -> int:
        ring = self.tape.rings.get(symbol, ())
        cap = min(self.settings.trades_per_message_max, len(ring))
        shown = list(ring)[-min(fresh, cap) :]
        gap = fresh - len(shown)
        message = trades_message(symbol, 0, False, shown[-1].ts, now, shown, gap)
        state.publish((symbol, TRADES), message, clients)
        return 1

    def _drop_slow(self, state: TierState) -> None:
        limit = self.settings.slow_client_s
        for client in state.slow_clients(self.monotonic(), limit):
            self.drop(client, SLOW_CLIENT_CLOSE, f"slow client: send not draining for {limit} s")

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
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._cache_writer is not None:
            await self._cache_writer.close()
