"""The live orders of one shard as its feed tells them, for the detectors to look up.

Events of a fill or a cancel name the order; the side, price and size of that order were told
once, when it was accepted. This index keeps them while the order is live (filled, canceled,
expired or replaced orders leave it), so its size is that of the shard's books.
"""

from collections.abc import Iterable

import msgspec

from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import (
    Event,
    OrderAccepted,
    OrderAdjusted,
    OrderCanceled,
    OrderExpired,
    OrderReplaced,
    TradeExecuted,
)


class OrderInfo(msgspec.Struct):
    account: str
    symbol: str
    side: Side
    price: int | None
    leaves: int
    seq: int
    """The command that accepted it (or the replace that gave it its terms)."""
    ts: int


class LiveOrders:
    def __init__(self) -> None:
        self.orders: dict[int, OrderInfo] = {}
        self.by_account: dict[tuple[str, str], set[int]] = {}
        """(account, symbol) -> its live order ids."""

    def get(self, order_id: int) -> OrderInfo | None:
        return self.orders.get(order_id)

    def of_account(self, account: str, symbol: str) -> list[tuple[int, OrderInfo]]:
        """The account's live orders in `symbol`, oldest first."""
        ids = sorted(self.by_account.get((account, symbol), ()))
        return [(order_id, self.orders[order_id]) for order_id in ids]

    def feed(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, OrderAccepted):
                self._add(
                    event.order_id,
                    OrderInfo(
                        event.account,
                        event.symbol,
                        event.side,
                        event.price,
                        event.qty,
                        event.seq,
                        event.ts,
                    ),
                )
            elif isinstance(event, TradeExecuted):
                self._leaves(event.maker_order_id, event.maker_leaves)
                self._leaves(event.taker_order_id, event.taker_leaves)
            elif isinstance(event, OrderCanceled):
                self._leaves(event.order_id, event.leaves)
            elif isinstance(event, OrderExpired):
                self._remove(event.order_id)
            elif isinstance(event, OrderReplaced):
                self._replaced(event)
            elif isinstance(event, OrderAdjusted):
                self._leaves(event.order_id, event.leaves)

    def _add(self, order_id: int, order: OrderInfo) -> None:
        self.orders[order_id] = order
        self.by_account.setdefault((order.account, order.symbol), set()).add(order_id)

    def _remove(self, order_id: int) -> OrderInfo | None:
        order = self.orders.pop(order_id, None)
        if order is not None:
            key = (order.account, order.symbol)
            ids = self.by_account[key]
            ids.discard(order_id)
            if not ids:
                del self.by_account[key]
        return order

    def _leaves(self, order_id: int, leaves: int) -> None:
        order = self.orders.get(order_id)
        if order is None:
            return
        if leaves <= 0:
            self._remove(order_id)
        else:
            order.leaves = leaves

    def _replaced(self, event: OrderReplaced) -> None:
        old = self._remove(event.order_id)
        if old is None or event.leaves <= 0:
            return
        self._add(
            event.new_order_id,
            OrderInfo(
                old.account, old.symbol, old.side, event.price, event.leaves, event.seq, event.ts
            ),
        )


def opposite(side: Side) -> Side:
    return Side.SELL if side == Side.BUY else Side.BUY
