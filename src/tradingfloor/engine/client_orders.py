"""Client order ids as engine state: what makes an order entry idempotent.

The engine remembers, per (account, client order id), the first order entered under it and the
terms it was entered with. A new order that repeats a known id with the same terms changes
nothing (`OrderResubmitted` names the first order); with other terms it is refused
(`CLIENT_ORDER_ID_REUSED`). A replacement takes the id its replace names, which must be new.

The memory is bounded: beyond `entries_max` ids the oldest is forgotten first. Entries are kept
in the order they were made, so eviction, snapshots and the state hash are the same on every
replay of the same journal.
"""

from collections import deque

import msgspec

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import OrderReplaced
from tradingfloor.matching.order import Order

TRAILING_STOP = OrderType.TRAILING_STOP

client_order_ids_max = 1_000_000
"""Client order ids remembered at most; the oldest go first. Each takes about 0.4 KB with a
UUID for an id: some 400 MB at the bound. Not a run-time setting: a replay must forget what the
first run forgot, so the bound travels in snapshots and is changed only in code."""


class ClientOrder(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """The first order entered under one (account, client order id), with its terms: the ones
    a resubmission must repeat."""

    account: str
    client_order_id: str
    order_id: int
    symbol: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    qty: int
    price: int | None
    stop_price: int | None
    trail_price: int | None = None
    trail_bps: int | None = None
    legs: tuple[int, int | None, int | None, int | None] | None = None
    """A bracket's, OCO's or OTO's class and leg prices (take-profit, stop, stop limit);
    None for a simple order."""
    fraction: int = 0
    notional: int | None = None

    @classmethod
    def of(cls, command: PlaceOrder) -> "ClientOrder":
        return cls(
            command.account,
            command.client_order_id,
            command.order_id,
            command.symbol,
            command.side,
            command.order_type,
            command.tif,
            command.qty,
            command.price,
            command.stop_price,
            command.trail_price,
            command.trail_bps,
            legs_of(command),
            command.fraction,
            command.notional,
        )

    @classmethod
    def of_replacement(cls, order: Order, event: OrderReplaced) -> "ClientOrder":
        """The replacement `event` made of the live `order`, under the replace's id."""
        return cls(
            order.account,
            event.client_order_id or "",
            event.new_order_id,
            event.symbol,
            order.side,
            order.order_type,
            order.tif,
            event.qty,
            event.price,
            None if order.order_type == TRAILING_STOP else event.stop_price,
            order.trail_price,
            order.trail_bps,
        )

    @classmethod
    def of_live(cls, order: Order, symbol: str) -> "ClientOrder":
        """A live order with its current terms (a trailing stop's moving stop left out, as
        its entry leaves it)."""
        return cls(
            order.account,
            order.client_order_id,
            order.order_id,
            symbol,
            order.side,
            order.order_type,
            order.tif,
            order.qty,
            order.price,
            None if order.order_type == TRAILING_STOP else order.stop_price,
            order.trail_price,
            order.trail_bps,
        )

    def same_terms(self, command: PlaceOrder) -> bool:
        """Whether `command` asks for what this order was entered with."""
        return (
            self.symbol == command.symbol
            and self.side == command.side
            and self.order_type == command.order_type
            and self.tif == command.tif
            and self.qty == command.qty
            and self.price == command.price
            and self.stop_price == command.stop_price
            and self.trail_price == command.trail_price
            and self.trail_bps == command.trail_bps
            and self.legs == legs_of(command)
            and self.fraction == command.fraction
            and self.notional == command.notional
        )


def legs_of(command: PlaceOrder) -> tuple[int, int | None, int | None, int | None] | None:
    if not command.order_class:
        return None
    return (
        int(command.order_class),
        command.take_profit_price,
        command.stop_loss_price,
        command.stop_loss_limit_price,
    )


class ClientOrdersState(msgspec.Struct, array_like=True):
    """The index as a snapshot keeps it: its bound and its entries, oldest first."""

    entries_max: int
    entries: list[ClientOrder]


class ClientOrders:
    """(account, client order id) -> the first order entered under it, the newest
    `entries_max`."""

    def __init__(self, entries_max: int = client_order_ids_max) -> None:
        if entries_max < 1:
            raise ValueError("client order ids: the bound must be at least 1")
        self.entries_max = entries_max
        self._by_key: dict[tuple[str, str], ClientOrder] = {}
        self._oldest_first: deque[ClientOrder] = deque()

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, account: str, client_order_id: str) -> ClientOrder | None:
        return self._by_key.get((account, client_order_id))

    def add(self, entry: ClientOrder) -> None:
        """Remember `entry` (its key must be new), forgetting the oldest beyond the bound."""
        key = (entry.account, entry.client_order_id)
        if key in self._by_key:
            raise InvariantViolation(f"client order id {key!r} entered twice")
        self._by_key[key] = entry
        self._oldest_first.append(entry)
        while len(self._oldest_first) > self.entries_max:
            oldest = self._oldest_first.popleft()
            del self._by_key[(oldest.account, oldest.client_order_id)]

    def rename_symbol(self, symbol: str, new_symbol: str) -> None:
        """A symbol change: the ids entered for `symbol` answer for `new_symbol` from now
        on (a retry under the new name is the same order). Age order is kept."""
        for index, entry in enumerate(self._oldest_first):
            if entry.symbol == symbol:
                renamed = msgspec.structs.replace(entry, symbol=new_symbol)
                self._oldest_first[index] = renamed
                self._by_key[(entry.account, entry.client_order_id)] = renamed

    def export_state(self) -> ClientOrdersState:
        return ClientOrdersState(self.entries_max, list(self._oldest_first))

    @classmethod
    def from_state(cls, state: ClientOrdersState) -> "ClientOrders":
        index = cls(state.entries_max)
        for entry in state.entries:
            index.add(entry)
        return index
