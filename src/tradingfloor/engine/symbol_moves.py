"""Moving a symbol between shards: the halted symbol's whole state leaves one engine and
enters another, time priority and every hold kept.

`hand_over` (command `HandOverSymbol`, on the shard that has the symbol): the symbol must be
halted. Its book (every live order, resting ones in time priority, waiting stops), its guard
(halt, reference, bands), every account's position in it (quantity, cost, realized P&L, held
shares) and the holds of its live orders leave this engine, encoded in the event
(`SymbolHandedOver.state`). The cash its open buys hold leaves as settled cash moved to the
other shard (`allocated_out`, as a move of cash does), so an account whose open buys are
funded by unsettled proceeds blocks the move (refused, `INSUFFICIENT_FUNDS`: cancel those
orders, or wait for settlement). The shares leave the shard's count of shares delivered in.

`take_over` (command `TakeOverSymbol`, on the receiving shard, sent by the allocator in the
source's order, each once, like a move of cash): the same state enters: the book rebuilt
from it (the same order ids, the same priority), the guard, the positions, the holds, the
cash the buys hold taken in as settled cash (`allocated_in`), and each live order's client
order id remembered. So cash and shares stay conserved over the platform at every step, and
the symbol, still halted, is resumed on its new shard. The symbol's corporate actions not
applied yet, and its dividends not paid yet, move with it and apply on the new shard.
"""

import msgspec

from tradingfloor.domain.commands import HandOverSymbol, TakeOverSymbol
from tradingfloor.domain.enums import STOP_ORDER_TYPES, Side
from tradingfloor.domain.events import (
    CommandRejected,
    Event,
    MovedOrder,
    SymbolHandedOver,
    SymbolTakenOver,
)
from tradingfloor.domain.fractions import NANO
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine.client_orders import ClientOrder, ClientOrders
from tradingfloor.engine.corporate_actions import CorporateActionsState
from tradingfloor.engine.pipeline import RiskPipeline
from tradingfloor.ledger import Account
from tradingfloor.ledger.accounts import Position
from tradingfloor.ledger.ledger import Hold, HoldState
from tradingfloor.matching.book import OrderBook
from tradingfloor.matching.snapshot import BookState
from tradingfloor.risk.guards import SymbolGuard, SymbolGuardState

BUY = Side.BUY


class SymbolState(msgspec.Struct, array_like=True):
    """What moves with a symbol (see the module)."""

    book: BookState
    guard: SymbolGuardState | None
    positions: list[tuple[str, Position]]
    holds: list[HoldState]
    corporate_actions: CorporateActionsState | None = None
    """The symbol's corporate actions not applied yet and dividends not paid yet."""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SymbolState)


def _reject(command: object, subject: str, reason: RejectReason, seq: int, ts: int) -> Event:
    return CommandRejected(seq, ts, type(command).__name__, subject, reason)


def hand_over(
    books: dict[str, OrderBook],
    risk: RiskPipeline | None,
    command: HandOverSymbol,
    seq: int,
    ts: int,
    out: list[Event],
) -> None:
    symbol = command.symbol
    book = books.get(symbol)
    reason = None
    if book is None:
        reason = RejectReason.UNKNOWN_SYMBOL
    elif type(command.to_shard) is not str or not command.to_shard:
        reason = RejectReason.INVALID_AMOUNT
    elif risk is not None and not _halted(risk, symbol, ts):
        reason = RejectReason.SYMBOL_NOT_HALTED
    elif risk is not None and not _cash_can_move(risk, symbol):
        reason = RejectReason.INSUFFICIENT_FUNDS
    if reason is not None or book is None:
        out.append(_reject(command, symbol, reason or RejectReason.UNKNOWN_SYMBOL, seq, ts))
        return
    state = SymbolState(book.export_state(), None, [], [])
    cash: dict[str, int] = {}
    if risk is not None:
        state.guard = risk.guards.pop(symbol).export_state()
        _take_out_ledger(risk, symbol, state, cash)
        state.corporate_actions = risk.corporate_actions.take_out(symbol)
    del books[symbol]
    shares = [(account, position.qty) for account, position in state.positions]
    out.append(
        SymbolHandedOver(
            seq,
            ts,
            symbol,
            command.to_shard,
            sorted(cash.items()),
            shares,
            _encoder.encode(state),
            _fractions(state),
        )
    )


def _fractions(state: SymbolState) -> list[tuple[str, int]]:
    return [
        (account, position.fraction) for account, position in state.positions if position.fraction
    ]


def _halted(risk: RiskPipeline, symbol: str, ts: int) -> bool:
    guard = risk.guards.get(symbol)
    return guard is not None and guard.halt is not None and guard.halted_at(ts)


def _buy_holds(risk: RiskPipeline, symbol: str) -> dict[str, int]:
    held: dict[str, int] = {}
    for hold in risk.ledger.holds.values():
        if hold.symbol == symbol and hold.side == BUY:
            account = hold.account.account_id
            held[account] = held.get(account, 0) + hold.amount
    return held


def _cash_can_move(risk: RiskPipeline, symbol: str) -> bool:
    """Whether every account's buys of `symbol` hold settled cash nothing else needs."""
    accounts = risk.ledger.accounts
    for account_id, amount in _buy_holds(risk, symbol).items():
        account = accounts[account_id]
        if account.settled - account.owed() < amount:
            return False
    return True


def _take_out_ledger(
    risk: RiskPipeline, symbol: str, state: SymbolState, cash: dict[str, int]
) -> None:
    ledger = risk.ledger
    for order_id in sorted(ledger.holds):
        hold = ledger.holds[order_id]
        if hold.symbol != symbol:
            continue
        account = hold.account
        state.holds.append(
            HoldState(
                order_id,
                account.account_id,
                symbol,
                hold.side,
                hold.price,
                hold.leaves,
                hold.amount,
                hold.day_trade,
            )
        )
        if hold.side == BUY:
            account.held -= hold.amount
            account.settled -= hold.amount
            account.allocated_out += hold.amount
            cash[account.account_id] = cash.get(account.account_id, 0) + hold.amount
        del ledger.holds[order_id]
    for account_id in sorted(ledger.accounts):
        account = ledger.accounts[account_id]
        account.open_orders.pop(symbol, None)
        position = account.positions.pop(symbol, None)
        if position is not None and (
            position.qty or position.fraction or position.realized or position.cost
        ):
            state.positions.append((account_id, position))
    ledger.shares_in.pop(symbol, None)


def take_over(
    books: dict[str, OrderBook],
    risk: RiskPipeline | None,
    client_orders: ClientOrders,
    command: TakeOverSymbol,
    seq: int,
    ts: int,
    out: list[Event],
) -> None:
    symbol = command.symbol
    taken = None if risk is None else risk.ledger.allocations_in
    reason = None
    if symbol in books:
        reason = RejectReason.SYMBOL_EXISTS
    elif taken is not None and command.out_seq <= taken.get(command.from_shard, 0):
        reason = RejectReason.ALLOCATION_ALREADY_TAKEN
    if reason is not None:
        out.append(_reject(command, symbol, reason, seq, ts))
        return
    state = _decoder.decode(command.state)
    book = books[symbol] = OrderBook.from_state(state.book)
    cash: dict[str, int] = {}
    if risk is not None and taken is not None:
        taken[command.from_shard] = command.out_seq
        risk.add_book(book)
        if state.guard is not None:
            risk.guards[symbol] = SymbolGuard.from_state(state.guard)
        _take_in_ledger(risk, symbol, state, cash)
        if state.corporate_actions is not None:
            risk.corporate_actions.take_in(state.corporate_actions)
    orders = _remember_orders(book, symbol, client_orders)
    shares = [(account, position.qty) for account, position in state.positions]
    reference = None if state.guard is None else state.guard.reference
    out.append(
        SymbolTakenOver(
            seq,
            ts,
            symbol,
            command.from_shard,
            command.out_seq,
            command.shard,
            sorted(cash.items()),
            shares,
            orders,
            book.instrument,
            book.last_price,
            reference,
            _fractions(state),
        )
    )


def _account(risk: RiskPipeline, account_id: str) -> Account:
    """The account (opened on every shard; one missing is opened, as a cash account)."""
    accounts = risk.ledger.accounts
    account = accounts.get(account_id)
    if account is None:
        account = accounts[account_id] = Account(account_id)
    return account


def _take_in_ledger(
    risk: RiskPipeline, symbol: str, state: SymbolState, cash: dict[str, int]
) -> None:
    ledger = risk.ledger
    total = 0
    for account_id, position in state.positions:
        _account(risk, account_id).positions[symbol] = position
        total += position.nano()  # the fractions of a symbol add up to whole shares
    if total:
        ledger.shares_in[symbol] = total // NANO
    for saved in state.holds:
        account = _account(risk, saved.account)
        hold = Hold(
            saved.order_id,
            account,
            account.position(symbol),
            symbol,
            saved.side,
            saved.price,
            saved.leaves,
            saved.amount,
        )
        hold.day_trade = saved.day_trade
        ledger.holds[saved.order_id] = hold
        account.open_orders[symbol] = account.open_orders.get(symbol, 0) + 1
        if saved.side == BUY:
            account.settled += saved.amount
            account.allocated_in += saved.amount
            account.held += saved.amount
            cash[account.account_id] = cash.get(account.account_id, 0) + saved.amount


def _remember_orders(
    book: OrderBook, symbol: str, client_orders: ClientOrders
) -> list[MovedOrder]:
    """The book's live orders as market data needs them (resting ones in time priority,
    then waiting stops); each one's client order id remembered here."""
    state = book.export_state()
    moved = []
    for order in [*state.bids, *state.asks]:
        moved.append(MovedOrder(order.order_id, order.side, order.price, order.leaves))
    for order in [*state.buy_stops, *state.sell_stops, *state.trailing]:
        waiting = order.order_type in STOP_ORDER_TYPES
        moved.append(MovedOrder(order.order_id, order.side, order.price, order.leaves, waiting))
    for order in [*state.bids, *state.asks, *state.buy_stops, *state.sell_stops, *state.trailing]:
        if (
            order.client_order_id
            and client_orders.get(order.account, order.client_order_id) is None
        ):
            client_orders.add(ClientOrder.of_live(order, symbol))
    return moved
