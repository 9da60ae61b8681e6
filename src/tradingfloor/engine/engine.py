"""The engine: one per shard, single-threaded, no I/O, no clock, no randomness.

`Engine.apply(command, seq, ts)` is the only way in. The sequencer gives every command its
sequence number and timestamp; every event the command causes carries both, so replaying the
same journal gives the same events, byte for byte.
"""

from collections.abc import Callable
from typing import Any

from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    Command,
    ExpireOrders,
    PlaceOrder,
    ReplaceOrder,
)
from tradingfloor.domain.events import (
    CancelRejected,
    Event,
    InstrumentAdded,
    OrderRejected,
    ReplaceRejected,
)
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine.state import (
    STATE_VERSION,
    EngineState,
    decode_state,
    encode_state,
    state_hash,
)
from tradingfloor.matching.book import OrderBook


class Engine:
    """Order books by symbol, and the order id rule: every new id exceeds all before it."""

    def __init__(self) -> None:
        self.books: dict[str, OrderBook] = {}
        self.last_order_id = 0
        self.last_seq = 0
        self.last_ts = 0
        self._handlers: dict[type[Command], Callable[[Any, int, int, list[Event]], None]] = {
            PlaceOrder: self._place,
            CancelOrder: self._cancel,
            ReplaceOrder: self._replace,
            ExpireOrders: self._expire,
            AddInstrument: self._add_instrument,
        }

    def apply(self, command: Command, seq: int, ts: int) -> list[Event]:
        """Apply one sequenced command and return the events it caused, in order."""
        out: list[Event] = []
        self._handlers[type(command)](command, seq, ts, out)
        self.last_seq = seq
        self.last_ts = ts
        return out

    def book(self, symbol: str) -> OrderBook:
        return self.books[symbol]

    def snapshot(self) -> bytes:
        """The whole state as canonical bytes (see `tradingfloor.engine.state`)."""
        return encode_state(
            EngineState(
                STATE_VERSION,
                self.last_seq,
                self.last_ts,
                self.last_order_id,
                [self.books[symbol].export_state() for symbol in sorted(self.books)],
            )
        )

    def state_hash(self) -> str:
        """BLAKE2b-256 of `snapshot()`: equal hashes mean equal states."""
        return state_hash(self.snapshot())

    @classmethod
    def restore(cls, data: bytes) -> "Engine":
        """An engine in the state `snapshot()` captured."""
        state = decode_state(data)
        engine = cls()
        engine.last_seq = state.last_seq
        engine.last_ts = state.last_ts
        engine.last_order_id = state.last_order_id
        for book_state in state.books:
            engine.books[book_state.instrument.symbol] = OrderBook.from_state(book_state)
        return engine

    def _place(self, command: PlaceOrder, seq: int, ts: int, out: list[Event]) -> None:
        order_id = command.order_id
        book = self.books.get(command.symbol)
        reason = None
        if type(order_id) is not int or order_id <= self.last_order_id:
            reason = RejectReason.DUPLICATE_ORDER_ID
        else:
            self.last_order_id = order_id
            if book is None:
                reason = RejectReason.UNKNOWN_SYMBOL
        if reason is not None or book is None:
            out.append(
                OrderRejected(
                    seq,
                    ts,
                    order_id,
                    command.account,
                    command.symbol,
                    reason or RejectReason.UNKNOWN_SYMBOL,
                    command.client_order_id,
                )
            )
            return
        book.place(command, seq, ts, out)

    def _cancel(self, command: CancelOrder, seq: int, ts: int, out: list[Event]) -> None:
        book = self.books.get(command.symbol)
        if book is not None and book.cancel(command.order_id, command.account, seq, ts, out):
            return
        out.append(
            CancelRejected(
                seq,
                ts,
                command.order_id,
                command.symbol,
                self._not_live_reason(book, command.order_id),
            )
        )

    def _replace(self, command: ReplaceOrder, seq: int, ts: int, out: list[Event]) -> None:
        book = self.books.get(command.symbol)
        reason = None
        if book is None or not book.is_live(command.order_id):
            reason = self._not_live_reason(book, command.order_id)
        elif type(command.new_order_id) is not int or command.new_order_id <= self.last_order_id:
            reason = RejectReason.DUPLICATE_ORDER_ID
        if reason is not None or book is None:
            out.append(
                ReplaceRejected(
                    seq,
                    ts,
                    command.order_id,
                    command.new_order_id,
                    command.symbol,
                    reason or RejectReason.UNKNOWN_SYMBOL,
                )
            )
            return
        self.last_order_id = command.new_order_id
        book.replace(command, seq, ts, out)

    def _expire(self, command: ExpireOrders, seq: int, ts: int, out: list[Event]) -> None:
        if command.symbol is not None:
            book = self.books.get(command.symbol)
            if book is not None:
                book.expire(seq, ts, out)
            return
        for symbol in sorted(self.books):
            self.books[symbol].expire(seq, ts, out)

    def _add_instrument(self, command: AddInstrument, seq: int, ts: int, out: list[Event]) -> None:
        """Idempotent: listing a symbol that is listed already changes nothing."""
        instrument = command.instrument
        if instrument.symbol not in self.books:
            self.books[instrument.symbol] = OrderBook(instrument)
            out.append(InstrumentAdded(seq, ts, instrument))

    def _not_live_reason(self, book: OrderBook | None, order_id: int) -> RejectReason:
        if book is None:
            return RejectReason.UNKNOWN_SYMBOL
        if book.is_live(order_id):
            return RejectReason.ACCOUNT_MISMATCH
        if 0 < order_id <= self.last_order_id:
            return RejectReason.ORDER_NOT_LIVE
        return RejectReason.UNKNOWN_ORDER
