"""The market-data view: the market as the event feed tells it, for the gateway to read.

It holds the listed symbols with their instruments, each symbol's visible book
(`levels.LevelBook`: exactly the engine's, level by level), its last trade and reference prices
and its recent trades (`tape.TradeTape`). Nothing in it reads the engine: a process that only
follows the event feed builds the same view, and the hub publishes from its books.

It is fed the feed in sequence order, a command at a time (`apply(seq, ts, events)`) or a batch
at a time (`on_batch`: the sequencer's results, or anything with `.seq`, `.ts` and `.events`),
from seq 1: its books are right only if it has seen every order event. A command it has seen
already is skipped (a feed may repeat after a reconnect); a gap is refused with
`InvariantViolation`, since every book would be wrong from then on.

`last_seq` is the newest command the view reflects, named in every answer (read your writes:
a client can tell a quote older than its own order's ack).

On a platform of several symbol shards the view is fed every shard's feed, each in its own
order, with seq tokens (`domain.shards.seq_token`: the shard and its seq in one number; on
one shard a token is the seq): the order and the gaps are checked per shard, and a quote
names the token of its symbol's shard (`seq_of`). A symbol that moves between shards
(`SymbolTakenOver`) is rebuilt from the orders that came with it and belongs to its new
shard from then on: its old shard's events, which a feed may bring later (the feeds run
side by side), are history the takeover already holds, and are skipped. A symbol change
(`SymbolChanged`) renames the book it had; a corporate action's `OrderAdjusted` moves a live
order to its new terms in it.

Halts (`TradingHalted`, `TradingResumed`) are followed too: a symbol's by the shard that owns
it (kept on its book, so that it moves with a symbol change and a takeover), the market's by
every shard (`halts.MarketHalts`). `halt(symbol, now_ns)` tells the one in force.
"""

from collections.abc import Iterable, KeysView
from typing import Any, NamedTuple

import msgspec

from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import (
    Event,
    InstrumentAdded,
    ReferencePriceSet,
    SymbolChanged,
    SymbolTakenOver,
    TradeExecuted,
    TradingHalted,
    TradingResumed,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.shards import ORDER_ID_SHARD_SPAN
from tradingfloor.marketdata.halts import HaltState, MarketHalts
from tradingfloor.marketdata.levels import BOOK_EVENTS, LevelBook, LevelDepth, PriceLevel
from tradingfloor.marketdata.tape import TradeTape

tape_trades_max = 1_000
"""Recent trades kept per symbol for `GET /v1/trades/{symbol}`."""


class Applied(NamedTuple):
    """One command's events as the event feed carries them (the event log's records)."""

    seq: int
    ts: int
    events: list[Event]


class Quote(msgspec.Struct, frozen=True):
    """Best bid and ask with their sizes, and the last trade price, as of command `seq`;
    `ts` is the engine time of the symbol's newest order or trade event."""

    symbol: str
    bid: PriceLevel | None
    ask: PriceLevel | None
    last_price: int | None
    reference_price: int | None
    seq: int
    ts: int


class MarketDataView:
    """Every listed symbol's book, quote and trades, fed the event feed (see the module)."""

    def __init__(self, trades_kept_per_symbol: int = tape_trades_max) -> None:
        self.tape = TradeTape(trades_kept_per_symbol)
        self.last_seq = 0
        """The newest seq token applied (of any shard)."""
        self.last_ts = 0
        self.last_seqs: dict[int, int] = {}
        """Per shard index: the newest seq applied."""
        self._books: dict[str, LevelBook] = {}
        self._shard_of: dict[str, int] = {}
        self.market_halts = MarketHalts()

    # ------------------------------------------------------------------ feeding

    def on_batch(self, results: Iterable[Any]) -> None:
        """Apply a batch of commands, each with `.seq`, `.ts` and `.events`."""
        apply = self.apply
        for result in results:
            apply(result.seq, result.ts, result.events)

    def apply(self, seq: int, ts: int, events: Iterable[Event]) -> None:
        """Apply the events of command `seq` (a seq token; skipped if seen already)."""
        shard, within = divmod(seq, ORDER_ID_SHARD_SPAN)
        last = self.last_seqs.get(shard, 0)
        if within <= last:
            return
        if within != last + 1:
            raise InvariantViolation(
                f"market data missed commands {last + 1}..{within - 1} of shard {shard}"
            )
        books = self._books
        owners = self._shard_of
        touched: LevelBook | None = None
        for event in events:
            if isinstance(event, BOOK_EVENTS):
                if owners.get(event.symbol, shard) != shard:
                    continue  # a moved symbol's events from its old shard, seen late
                book = books.get(event.symbol)
                if book is None:
                    raise InvariantViolation(f"order event of unlisted {event.symbol}: {event}")
                if book is not touched:
                    if touched is not None:  # one incoming order at most, in one book
                        touched.end_command()
                    touched = book
                book.apply(event)
                if type(event) is TradeExecuted:
                    self.tape.add(event)
            elif type(event) is InstrumentAdded:
                if owners.setdefault(event.instrument.symbol, shard) == shard:
                    self._add(event.instrument)
            elif type(event) is ReferencePriceSet:
                if owners.get(event.symbol, shard) == shard:
                    self._listed(event.symbol).reference_price = event.price
            elif type(event) is TradingHalted or type(event) is TradingResumed:
                self._follow_halt(shard, event)
            elif type(event) is SymbolTakenOver:
                owners[event.symbol] = shard
                moved = LevelBook.of_moved(event)
                old = books.get(event.symbol)
                moved.halt = None if old is None else old.halt  # it moves halted, as it was
                books[event.symbol] = moved
            elif type(event) is SymbolChanged and owners.get(event.symbol, shard) == shard:
                renamed = books.pop(event.symbol, None)
                owners[event.new_symbol] = owners.pop(event.symbol, shard)
                if renamed is not None:
                    renamed.rename(event.new_symbol)
                    books[event.new_symbol] = renamed
        if touched is not None:
            touched.end_command()
        self.last_seqs[shard] = within
        self.last_seq, self.last_ts = seq, ts

    def _add(self, instrument: Instrument) -> None:
        if instrument.symbol not in self._books:  # the engine lists a symbol once
            self._books[instrument.symbol] = LevelBook(instrument)

    def _follow_halt(self, shard: int, event: TradingHalted | TradingResumed) -> None:
        halt = HaltState(event.reason, event.until_ts) if type(event) is TradingHalted else None
        symbol = event.symbol
        if symbol is None:
            if halt is None:
                self.market_halts.resumed(shard)
            else:
                self.market_halts.halted(shard, halt)
        elif self._shard_of.get(symbol, shard) == shard:
            self._listed(symbol).halt = halt

    def _listed(self, symbol: str) -> LevelBook:
        book = self._books.get(symbol)
        if book is None:
            raise InvariantViolation(f"market data has no book for {symbol}")
        return book

    # ------------------------------------------------------------------ reads

    def symbols(self) -> KeysView[str]:
        return self._books.keys()

    def knows(self, symbol: str) -> bool:
        return symbol in self._books

    def instrument(self, symbol: str) -> Instrument | None:
        book = self._books.get(symbol)
        return None if book is None else book.instrument

    def book(self, symbol: str) -> LevelBook | None:
        """The symbol's visible book (a `levels.BookView` for the hub); None if not listed."""
        return self._books.get(symbol)

    def quote(self, symbol: str) -> Quote:
        """Raises `KeyError` for a symbol that is not listed."""
        book = self._books[symbol]
        return Quote(
            symbol,
            book.best_bid(),
            book.best_ask(),
            book.last_price,
            book.reference_price,
            self.seq_of(symbol),
            book.ts,
        )

    def shard_index_of(self, symbol: str) -> int:
        """The index of the shard that has `symbol` now, as the feeds told (0 if unknown)."""
        return self._shard_of.get(symbol, 0)

    def seq_of(self, symbol: str) -> int:
        """The newest seq token of the shard that owns `symbol` (what its answers reflect)."""
        shard = self._shard_of.get(symbol, 0)
        return shard * ORDER_ID_SHARD_SPAN + self.last_seqs.get(shard, 0)

    def depth(self, symbol: str, levels: int | None = None) -> LevelDepth:
        """Raises `KeyError` for a symbol that is not listed."""
        return self._books[symbol].depth(levels)

    def recent_trades(self, symbol: str, limit: int) -> list[TradeExecuted]:
        """The symbol's newest `limit` trades (at most `trades_kept_per_symbol`), newest first."""
        return self.tape.recent(symbol, limit)

    def last_trade(self, symbol: str) -> TradeExecuted | None:
        return self.tape.last(symbol)

    def market_halt(self, now_ns: int) -> HaltState | None:
        """The market-wide halt in force at `now_ns` (engine time), if any."""
        return self.market_halts.at(now_ns)

    def halt(self, symbol: str, now_ns: int) -> HaltState | None:
        """The halt in force on `symbol` at `now_ns`: the market's first (as the engine
        refuses orders), else the symbol's own; None if neither (or `symbol` is not listed)."""
        book = self._books.get(symbol)
        if book is None:
            return None
        market = self.market_halts.at(now_ns)
        if market is not None:
            return market
        own = book.halt
        return own if own is not None and own.in_force(now_ns) else None
