"""One-cancels-other pairs inside a book: the legs of a bracket or an OCO order.

The two legs of a pair exit the same shares, so they always have the same open quantity:
whatever takes one down (a fill, a cancel, a self-trade cut, a market remainder with no
liquidity) takes the other down to it in the same step (`OrderExecution._follow`, called
where matching changes an order), before any other order of the command runs. A fill of
one leg can therefore never be matched by a fill of the other beyond it, even when one
trade sweep fills the take-profit and elects the stop-loss.
Legs enter the book with `accept_pair` (or `accept_leg` for one alone) and grow with their
entry's fills (`grow_leg`).
"""

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.enums import OrderStatus
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import Event
from tradingfloor.matching.execution import OrderExecution

PENDING_TRIGGER = OrderStatus.PENDING_TRIGGER


class ContingentOrders(OrderExecution):
    """Pairs and legs of `OrderBook`."""

    def accept_leg(
        self, command: PlaceOrder, parent: int, seq: int, ts: int, out: list[Event]
    ) -> None:
        """A lone leg (an OTO's) enters the book: as `accept`, linked to its parent."""
        order = self._order_of(command, None)
        order.parent = parent
        self._enter(order, seq, ts, out)

    def accept_pair(
        self,
        take_profit: PlaceOrder,
        stop_loss: PlaceOrder,
        parent: int,
        seq: int,
        ts: int,
        out: list[Event],
    ) -> None:
        """Both legs of a pair enter the book, linked: the stop-loss is armed first (an
        election only queues it), then the take-profit executes or rests, then elected stops
        run. `take_profit.qty == stop_loss.qty`."""
        limit = self._order_of(take_profit, None)
        stop = self._order_of(stop_loss, None)
        limit.oco, stop.oco = stop.order_id, limit.order_id
        limit.parent = stop.parent = parent
        self._arm_stop(stop)
        out.append(self._accepted(stop, seq, ts))
        self._enter(limit, seq, ts, out)

    def grow_leg(self, order_id: int, more: int) -> tuple[int, int]:
        """A live leg takes `more` shares (its entry filled them). A resting leg goes to the
        back of its level: a larger order loses its time priority. Returns (qty, leaves)."""
        order = self._orders.get(order_id)
        if order is None:
            raise InvariantViolation(f"{self.symbol}: leg {order_id} to grow is not live")
        if order.status == PENDING_TRIGGER:
            order.qty += more
            order.leaves += more
        else:
            self._remove(order)
            order.qty += more
            order.leaves += more
            self._rest(order)
        return order.qty, order.leaves
