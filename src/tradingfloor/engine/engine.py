"""The engine: one per shard, single-threaded, no I/O, no clock, no randomness.

`Engine.apply(command, seq, ts)` is the only way in. The sequencer gives every command its
sequence number and timestamp; every event the command causes carries both, so replaying the
same journal gives the same events, byte for byte.

Client order ids are engine state (`tradingfloor.engine.client_orders`): a new order that
repeats one is answered here, in sequence, whatever gateway it came through and whenever.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    CloseDay,
    Command,
    ConfigureRisk,
    ExpireOrders,
    HandOverSymbol,
    PlaceOrder,
    ReplaceOrder,
    SettleDay,
    TakeOverShard,
    TakeOverSymbol,
)
from tradingfloor.domain.events import (
    CancelRejected,
    CommandRejected,
    Event,
    InstrumentAdded,
    OrderReplaced,
    OrderResubmitted,
    ReplaceRejected,
    RiskConfigured,
    ShardLeaderChanged,
)
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.rejections import order_rejected
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.domain.shards import is_leg_id, parent_of_leg
from tradingfloor.engine import end_of_day, symbol_moves
from tradingfloor.engine.client_orders import ClientOrder, ClientOrders, client_order_ids_max
from tradingfloor.engine.fractions import FractionalOrders
from tradingfloor.engine.order_classes import OrderClasses
from tradingfloor.engine.pipeline import RiskPipeline
from tradingfloor.engine.state import (
    STATE_VERSION,
    EngineState,
    decode_state,
    encode_state,
    state_hash,
)
from tradingfloor.matching.book import BookState, OrderBook

if TYPE_CHECKING:
    from tradingfloor.risk.calendar import TradingCalendar


class Engine:
    """Order books by symbol, and the order id rule: every new id exceeds all before it.

    With `risk` settings (or after a `ConfigureRisk` command) the engine keeps accounts: every
    order passes the risk pipeline and posts to the ledger. Without, it only matches (an
    exchange whose members' risk is their own; conformance scenarios and market replays).
    """

    def __init__(
        self, risk: RiskSettings | None = None, client_order_ids: int = client_order_ids_max
    ) -> None:
        """`client_order_ids`: how many (account, client order id) the engine remembers."""
        self.books: dict[str, OrderBook] = {}
        self.last_order_id = 0
        self.last_seq = 0
        self.last_ts = 0
        self.risk: RiskPipeline | None = None if risk is None else RiskPipeline(risk, self.books)
        self.client_orders = ClientOrders(client_order_ids)
        if self.risk is not None:
            self.risk.client_orders = self.client_orders
        self.leader_epoch = 0
        """The lease epoch of the shard's newest primary, as its `TakeOverShard` said."""
        self.days = end_of_day.TradingDays()
        self.order_classes = OrderClasses()
        """Bracket, OCO and OTO orders: their legs and links (`engine.order_classes`)."""
        self.fractions = FractionalOrders()
        """Fractional and notional orders whose fraction is still to fill (`engine.fractions`)."""
        self._watch_contingents()
        self._handlers: dict[type[Command], Callable[[Any, int, int, list[Event]], None]] = {
            PlaceOrder: self._place,
            CancelOrder: self._cancel,
            ReplaceOrder: self._replace,
            ExpireOrders: self._expire,
            AddInstrument: self._add_instrument,
            ConfigureRisk: self._configure_risk,
            TakeOverShard: self._take_over,
            HandOverSymbol: self._hand_over_symbol,
            TakeOverSymbol: self._take_over_symbol,
            CloseDay: self._close_day,
            SettleDay: self._settle_day,
        }

    def apply(self, command: Command, seq: int, ts: int) -> list[Event]:
        """Apply one sequenced command and return the events it caused, in order."""
        out: list[Event] = []
        if ts > self.days.ts_next:  # the first command of a later session notes it
            self._advance_days(ts)
        handler = self._handlers.get(type(command))
        if handler is not None:
            handler(command, seq, ts, out)
        elif self.risk is not None:
            self.risk.apply(command, seq, ts, out)
        else:
            subject = getattr(command, "account", None) or getattr(command, "symbol", None)
            out.append(
                CommandRejected(
                    seq, ts, type(command).__name__, subject or "", RejectReason.RISK_OFF
                )
            )
        if self._groups:
            self.order_classes.settle(self.books, self.risk, out, 0, seq, ts)
        if self._fractions_waiting:
            self.fractions.settle(self.risk, out, 0, seq, ts)
        self.last_seq = seq
        self.last_ts = ts
        return out

    def _watch_contingents(self) -> None:
        """The dicts whose emptiness spares every command the after-command steps of order
        classes and fractions (kept at hand: they are looked at after every command)."""
        self._groups = self.order_classes.groups
        self._fractions_waiting = self.fractions.orders

    def book(self, symbol: str) -> OrderBook:
        return self.books[symbol]

    @property
    def calendar(self) -> "TradingCalendar":
        """The risk settings' calendar, else the default one (loaded on first use)."""
        if self.risk is not None:
            return self.risk.calendar
        from tradingfloor.risk.calendar import calendar_for

        return calendar_for()

    def snapshot(self) -> bytes:
        """The whole state as canonical bytes (see `tradingfloor.engine.state`)."""
        return encode_state(
            EngineState(
                STATE_VERSION,
                self.last_seq,
                self.last_ts,
                self.last_order_id,
                [self.books[symbol].export_state() for symbol in sorted(self.books)],
                None if self.risk is None else self.risk.export_state(),
                self.client_orders.export_state(),
                self.leader_epoch,
                self.days.export_state(),
                self.order_classes.export_state(),
                self.fractions.export_state() if self.fractions.orders else None,
            )
        )

    def state_hash(self) -> str:
        """BLAKE2b-256 of `snapshot()`: equal hashes mean equal states."""
        return state_hash(self.snapshot())

    @classmethod
    def restore(cls, data: bytes) -> "Engine":
        """An engine in the state `snapshot()` captured.

        A version 2 state kept no client order ids: those of its live orders are taken from
        the orders themselves, and those of orders done before it are not known.
        """
        state = decode_state(data)
        engine = cls()
        engine.last_seq = state.last_seq
        engine.last_ts = state.last_ts
        engine.last_order_id = state.last_order_id
        engine.leader_epoch = state.leader_epoch
        engine.days = end_of_day.TradingDays(state.days)
        engine.order_classes = OrderClasses.from_state(state.order_classes)
        engine.fractions = FractionalOrders.from_state(state.fractions)
        engine._watch_contingents()
        for book_state in state.books:
            engine.books[book_state.instrument.symbol] = OrderBook.from_state(book_state)
        if state.risk is not None:
            engine.risk = RiskPipeline.from_state(state.risk, engine.books)
        if state.client_orders is not None:
            engine.client_orders = ClientOrders.from_state(state.client_orders)
        else:
            for entry in _live_client_orders(state.books):
                if engine.client_orders.get(entry.account, entry.client_order_id) is None:
                    engine.client_orders.add(entry)
        if engine.risk is not None:
            engine.risk.client_orders = engine.client_orders
        return engine

    def _place(self, command: PlaceOrder, seq: int, ts: int, out: list[Event]) -> None:
        order_id = command.order_id
        book = self.books.get(command.symbol)
        reason = None
        if type(order_id) is not int or order_id <= self.last_order_id:
            reason = RejectReason.DUPLICATE_ORDER_ID
        else:
            self.last_order_id = order_id
            first = self._first_of_client_order_id(command)
            if first is not None and first.same_terms(command):
                out.append(
                    OrderResubmitted(
                        seq,
                        ts,
                        first.order_id,
                        command.account,
                        command.symbol,
                        command.client_order_id,
                    )
                )
                return
            if first is not None:
                reason = RejectReason.CLIENT_ORDER_ID_REUSED
            elif book is None:
                reason = RejectReason.UNKNOWN_SYMBOL
        if reason is not None or book is None:
            reason = reason or RejectReason.UNKNOWN_SYMBOL
            out.append(order_rejected(command, seq, ts, order_id, command.symbol, reason))
            return
        if command.fraction or command.notional is not None:
            self.fractions.place(command, book, self.risk, seq, ts, out)
        elif (
            command.order_class
            or command.take_profit_price is not None
            or command.stop_loss_price is not None
        ):
            self.order_classes.place(command, book, self.risk, seq, ts, out)
        elif self.risk is None:
            book.place(command, seq, ts, out)
        else:
            self.risk.place(command, book, seq, ts, out)

    def _first_of_client_order_id(self, command: PlaceOrder) -> ClientOrder | None:
        """The order entered before under the command's client order id; None when there is
        none (and the command, if it names one, is now that first order)."""
        if not command.client_order_id:
            return None
        first = self.client_orders.get(command.account, command.client_order_id)
        if first is None:
            self.client_orders.add(ClientOrder.of(command))
        return first

    def _cancel(self, command: CancelOrder, seq: int, ts: int, out: list[Event]) -> None:
        book = self.books.get(command.symbol)
        start = len(out)
        if book is not None and book.cancel(command.order_id, command.account, seq, ts, out):
            if self.risk is not None:
                if len(out) == start + 1:
                    self.risk.ledger.release(command.order_id)
                else:  # a leg's pair followed it
                    self.risk.post(out, start, ts)
            return
        if book is not None and self.order_classes.cancel_held(
            command.order_id, command.account, seq, ts, out
        ):
            return
        if book is not None and self.fractions.cancel(
            self.risk, command.order_id, command.account, seq, ts, out
        ):
            return
        out.append(
            CancelRejected(
                seq,
                ts,
                command.order_id,
                command.symbol,
                self._not_live_reason(book, command.order_id),
                command.account or _owner(book, command.order_id),
            )
        )

    def _replace(self, command: ReplaceOrder, seq: int, ts: int, out: list[Event]) -> None:
        book = self.books.get(command.symbol)
        reason = None
        order = None if book is None else book.order_view(command.order_id)
        owner = "" if order is None else order.account
        if book is None or order is None:
            reason = self._not_live_reason(book, command.order_id)
        elif self.order_classes.is_linked(command.order_id):
            reason = RejectReason.LEG_NOT_REPLACEABLE
        elif command.order_id in self.fractions.orders:
            reason = RejectReason.FRACTIONAL_NOT_REPLACEABLE
        elif type(command.new_order_id) is not int or command.new_order_id <= self.last_order_id:
            reason = RejectReason.DUPLICATE_ORDER_ID
        elif (
            command.client_order_id
            and command.account in ("", owner)  # else the book refuses it as another's
            and self.client_orders.get(owner, command.client_order_id) is not None
        ):
            reason = RejectReason.CLIENT_ORDER_ID_REUSED
        if reason is not None or book is None:
            out.append(
                ReplaceRejected(
                    seq,
                    ts,
                    command.order_id,
                    command.new_order_id,
                    command.symbol,
                    reason or RejectReason.UNKNOWN_SYMBOL,
                    command.account or owner,
                )
            )
            return
        self.last_order_id = command.new_order_id
        start = len(out)
        if self.risk is None:
            book.replace(command, seq, ts, out)
        else:
            self.risk.replace(command, book, seq, ts, out)
        if not command.client_order_id or order is None:
            return
        for event in out[start:]:
            if type(event) is OrderReplaced:  # the replacement now answers to its own id
                self.client_orders.add(ClientOrder.of_replacement(order, event))
                return

    def _expire(self, command: ExpireOrders, seq: int, ts: int, out: list[Event]) -> None:
        if command.symbol is not None:
            book = self.books.get(command.symbol)
            symbols = [] if book is None else [command.symbol]
        else:
            symbols = sorted(self.books)
        for symbol in symbols:
            self.books[symbol].expire(seq, ts, out)
        if self.risk is not None:
            self.risk.post(out, 0, ts)
        self.fractions.expire(self.risk, symbols, self.last_order_id, seq, ts, out)

    def _advance_days(self, ts: int) -> None:
        """Timestamps before any calendar (tests counting from 1) load none."""
        if ts < end_of_day.TS_CALENDAR_FLOOR:
            self.days.ts_next = end_of_day.TS_CALENDAR_FLOOR - 1
        else:
            self.days.advance(ts, self.last_order_id, self.calendar)

    def _close_day(self, command: CloseDay, seq: int, ts: int, out: list[Event]) -> None:
        """End of day D (see `engine.end_of_day`): DAY orders of sessions up to D expire,
        corporate actions effective at D + 1 apply, then `DayClosed`."""
        start = len(out)
        index = end_of_day.close_day(
            self.days, self.calendar, self.books, self.last_order_id, command, seq, ts, out
        )
        if index is None:
            return
        bound = self.days.order_id_bound(index, self.last_order_id)
        self.fractions.expire(self.risk, sorted(self.books), bound, seq, ts, out)
        expired = len(out) - start
        if self.risk is not None:
            self.risk.post(out, start, ts)
            self.risk.close_accounts_day(index)
            acting = self.risk.corporate_actions.symbols_acting(index)
            if acting and self.fractions.orders:
                self.fractions.cancel_symbols(self.risk, acting, seq, ts, out)
            self.risk.corporate_actions.at_close(index, seq, ts, out)
        out.append(end_of_day.finish_close(self.days, command, index, expired, seq, ts))

    def _settle_day(self, command: SettleDay, seq: int, ts: int, out: list[Event]) -> None:
        """Settlement date S: the trade sessions due by S settle (see `engine.end_of_day`)."""
        end_of_day.settle_day(self.days, self.risk, command, seq, ts, out)

    def _hand_over_symbol(
        self, command: HandOverSymbol, seq: int, ts: int, out: list[Event]
    ) -> None:
        """A symbol moves with its book, positions and holds; an order waiting for its
        fraction (`engine.fractions`) keeps the symbol here until it ends."""
        if any(order.symbol == command.symbol for order in self.fractions.orders.values()):
            reason = RejectReason.FRACTIONAL_ORDERS_WAITING
            out.append(CommandRejected(seq, ts, "HandOverSymbol", command.symbol, reason))
            return
        symbol_moves.hand_over(self.books, self.risk, command, seq, ts, out)

    def _take_over_symbol(
        self, command: TakeOverSymbol, seq: int, ts: int, out: list[Event]
    ) -> None:
        symbol_moves.take_over(self.books, self.risk, self.client_orders, command, seq, ts, out)

    def _add_instrument(self, command: AddInstrument, seq: int, ts: int, out: list[Event]) -> None:
        """Idempotent: listing a symbol that is listed already changes nothing. A symbol a
        pending symbol change will take is refused (`SYMBOL_EXISTS`)."""
        instrument = command.instrument
        if self.risk is not None and self.risk.corporate_actions.reserves(instrument.symbol):
            out.append(
                CommandRejected(
                    seq, ts, "AddInstrument", instrument.symbol, RejectReason.SYMBOL_EXISTS
                )
            )
        elif instrument.symbol not in self.books:
            book = self.books[instrument.symbol] = OrderBook(instrument)
            if self.risk is not None:
                self.risk.add_book(book)
            out.append(InstrumentAdded(seq, ts, instrument))

    def _configure_risk(self, command: ConfigureRisk, seq: int, ts: int, out: list[Event]) -> None:
        """New settings apply at once; switching risk on or off needs no live order (and, to
        switch off, no account: the ledger would be lost)."""
        settings = command.settings
        reason = None
        live = any(book.live_order_count() for book in self.books.values())
        if settings is not None and (
            not isinstance(settings, RiskSettings) or settings.problems()
        ):
            reason = RejectReason.INVALID_SETTINGS
        elif ((settings is None) != (self.risk is None) and live) or (
            settings is None and self.risk is not None and self.risk.ledger.accounts
        ):
            reason = RejectReason.RISK_CONFIG_LOCKED
        if reason is not None:
            out.append(CommandRejected(seq, ts, "ConfigureRisk", "risk", reason))
            return
        if settings is None:
            self.risk = None
        elif self.risk is None:
            self.risk = RiskPipeline(settings, self.books)
            self.risk.client_orders = self.client_orders
            for symbol in sorted(self.books):
                self.risk.add_book(self.books[symbol])
        else:
            self.risk.configure(settings)
        self.days.ts_next = -1  # the calendar may be another one now
        out.append(RiskConfigured(seq, ts, settings))

    def _take_over(self, command: TakeOverShard, seq: int, ts: int, out: list[Event]) -> None:
        """A fence: only the epoch is state (the journal's position is the fence itself)."""
        self.leader_epoch = command.epoch
        out.append(ShardLeaderChanged(seq, ts, command.node, command.epoch))

    def _not_live_reason(self, book: OrderBook | None, order_id: int) -> RejectReason:
        if book is None:
            return RejectReason.UNKNOWN_SYMBOL
        if book.is_live(order_id):
            return RejectReason.ACCOUNT_MISMATCH
        if 0 < order_id <= self.last_order_id:
            return RejectReason.ORDER_NOT_LIVE
        if is_leg_id(order_id) and 0 < parent_of_leg(order_id) <= self.last_order_id:
            return RejectReason.ORDER_NOT_LIVE  # a leg of an order placed: done, or held
        return RejectReason.UNKNOWN_ORDER


def _owner(book: OrderBook | None, order_id: int) -> str:
    """The account of a live order; "" when it is not live."""
    order = None if book is None else book.order_view(order_id)
    return "" if order is None else order.account


def _live_client_orders(books: list[BookState]) -> list[ClientOrder]:
    """The client order ids of the live orders of `books`, by order id: what an index rebuilt
    from a state that kept none can know."""
    found = [
        ClientOrder.of_live(order, state.instrument.symbol)
        for state in books
        for orders in (state.bids, state.asks, state.buy_stops, state.sell_stops, state.trailing)
        for order in orders
        if order.client_order_id
    ]
    return sorted(found, key=lambda entry: entry.order_id)
