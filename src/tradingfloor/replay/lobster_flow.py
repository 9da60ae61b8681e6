"""How LOBSTER messages become engine commands: the modelling both replays share.

The message file drives the book: new orders, partial cancels and deletes go to the engine as
they are; each run of visible executions with one timestamp and one side becomes one incoming
IOC order, and the engine's own price-time priority decides which resting orders it fills.

The message file only shows events at the top N levels, so liquidity it never mentions (orders
resting before 9:30, orders that arrived or left while their level was out of view) is learned
from the orderbook file, under the rule of ../shared/data/lobster/README.md: row i may teach only
the prices that entered the top N at row i, and never the price message i touched. A price
entering view holds what the row shows there, nothing if it shows nothing. Learned liquidity is
an order with no LOBSTER id ("anonymous"), queued behind the orders already known at its price.

Every message keeps its level's total right: a cancel of an order the replay does not hold, or
holds less of, takes the rest off the level (anonymous liquidity first, then known orders that
must have left unseen); when shares must come off known orders, whole orders that add up to the
quantity are preferred, since partial cancels are rare (16 in the AMZN day).

`LobsterFlow` never holds an engine: its steps are generators that yield each command and are
sent back that command's events (`Steps`). The offline replay (`replay.lobster`) answers them
from an engine of its own, at once; the live market (`replay.live`) from the platform's command
bus, where other clients' orders trade against the recorded ones in between. The hooks that
differ (`_new_order_id`, `_refresh`, `_refused`, `_client_taken`) are the live market's to
override; here they are those of a market the flow has to itself.
"""

from collections import Counter
from collections.abc import Generator, Sequence
from typing import TypeVar

from tradingfloor.domain.commands import CancelOrder, Command, PlaceOrder, ReplaceOrder
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import (
    CancelRejected,
    CommandRejected,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    OrderReplaced,
    ReplaceRejected,
    TradeExecuted,
)
from tradingfloor.replay.lobster_format import (
    DELETE,
    FAR,
    HALT,
    INCOMING_SIDE,
    NEW_ORDER,
    PARTIAL_CANCEL,
    VISIBLE_EXECUTION,
    BookRow,
    Message,
    exact_subset,
    group_end,
    row_levels,
    visible_bound,
)

T = TypeVar("T")
Steps = Generator[Command, list[Event], T]
"""A step of the flow: yields commands, is sent each one's events, returns its result."""

REFUSALS = (OrderRejected, CancelRejected, ReplaceRejected, CommandRejected)


class Resting:
    """The flow's view of one resting order, kept in step with the engine's events."""

    __slots__ = ("engine_id", "leaves", "lobster_id", "price", "qty", "side")

    def __init__(
        self, engine_id: int, lobster_id: int | None, side: Side, price: int, qty: int
    ) -> None:
        self.engine_id = engine_id
        self.lobster_id = lobster_id
        """None for anonymous liquidity: learned, or left behind by an order that is gone."""
        self.side = side
        self.price = price
        self.qty = qty
        """The engine's total quantity, which a priority-keeping replace lowers."""
        self.leaves = qty


class LobsterFlow:
    """One symbol's LOBSTER flow as commands, and the flow's view of the orders it rests.

    `accounts` names the account of each side's orders (one for both offline; the live market
    gives each side its own, so that the recorded flow never trades with itself); `rest_tif` is
    the time in force of the orders that rest. `trades` holds the fills (LOBSTER id of the
    resting order or None, qty, price) of the last execution group; `stats` counts what the
    flow had to learn or could not apply as written.
    """

    def __init__(
        self,
        symbol: str,
        accounts: dict[Side, str],
        rest_tif: TimeInForce = TimeInForce.DAY,
    ) -> None:
        self.symbol = symbol
        self.accounts = accounts
        self.rest_tif = rest_tif
        self.stats: Counter[str] = Counter()
        self.trades: list[tuple[int | None, int, int]] = []
        self._orders: dict[int, Resting] = {}  # by engine order id
        self._by_lobster_id: dict[int, Resting] = {}
        self._queues: dict[Side, dict[int, list[Resting]]] = {Side.BUY: {}, Side.SELL: {}}
        # what the previous orderbook row showed: before the first row, nothing was in view
        self._bounds = {Side.SELL: -FAR, Side.BUY: FAR}

    def steps(
        self, messages: Sequence[Message], rows: Sequence[BookRow], index: int
    ) -> Steps[int]:
        """Apply message `index` (or the execution group it starts) and learn from its rows;
        returns the index of the next message to apply."""
        message = messages[index]
        if message.kind == VISIBLE_EXECUTION:
            end = group_end(messages, index)
            yield from self._execution_group(messages[index:end], rows[index:end])
            return end
        if message.kind != HALT:
            # a halt changes nothing: the orderbook file repeats the previous state
            touched = yield from self._apply_message(message)
            yield from self._learn(rows[index], touched)
        return index + 1

    def resting(self, side: Side) -> list[Resting]:
        """The flow's resting orders of one side, best price first, in time priority."""
        queues = self._queues[side]
        return [
            order for price in sorted(queues, reverse=side == Side.BUY) for order in queues[price]
        ]

    # ------------------------------------------------------------------ hooks

    def _new_order_id(self) -> int:
        """The id a new order or a replacement asks for (0: the sequencer assigns it)."""
        return 0

    def _refresh(self, side: Side, price: int) -> None:
        """Bring the view of one level in step with the engine before the flow reads it (the
        flow has the market to itself here: nothing else changes its orders)."""

    def _client_taken(self, lobster_id: int, qty: int) -> int:
        """How much of `qty`, of a recorded order's later cancel or execution, other clients
        took first (and so is skipped): none when the flow has the market to itself."""
        return 0

    def _refused(self, command: Command, event: Event) -> None:
        """The engine refused one of the flow's commands: a bug when nothing else trades."""
        raise InvariantViolation(f"the engine refused a replay command: {event}")

    # ------------------------------------------------------------------ messages

    def _apply_message(self, message: Message) -> Steps[tuple[Side, int] | None]:
        """Apply a message that is not a visible execution; return the level it touched."""
        kind = message.kind
        if kind == NEW_ORDER:
            yield from self._new_order(message)
        elif kind in (PARTIAL_CANCEL, DELETE):
            yield from self._cancel(message)
        else:
            # hidden executions and cross trades change nothing visible
            return None
        return message.side, message.price

    def _new_order(self, message: Message) -> Steps[None]:
        if message.order_id in self._by_lobster_id:
            raise ValueError(f"order {message.order_id} is added twice")
        yield from self._place(message.order_id, message.side, message.price, message.qty)

    def _cancel(self, message: Message) -> Steps[None]:
        """Take a cancel's size off its order, keeping the level's total right.

        When the order is not here, or holds less than the message says, the rest comes off
        other liquidity at the price (`_take`); when a deleted order holds more, the surplus
        stays in its place in the queue as anonymous liquidity: some other order's shares.
        Shares of it that other clients took first are skipped.
        """
        self._refresh(message.side, message.price)
        qty = message.qty - self._client_taken(message.order_id, message.qty)
        if qty == 0:
            return
        order = self._by_lobster_id.get(message.order_id)
        if order is None or order.price != message.price or order.side != message.side:
            self.stats["cancels of orders the replay does not hold"] += 1
            yield from self._take_missing(message.side, message.price, qty)
            return
        if qty < order.leaves:
            yield from self._reduce(order, qty)
            if message.kind == DELETE:
                self.stats["cancels of another size than the order's"] += 1
                del self._by_lobster_id[message.order_id]
                order.lobster_id = None
            return
        missing = qty - order.leaves
        yield from self._reduce(order, order.leaves)
        if missing:
            self.stats["cancels of another size than the order's"] += 1
            yield from self._take_missing(message.side, message.price, missing)

    def _take_missing(self, side: Side, price: int, qty: int) -> Steps[None]:
        """Take `qty` of an order the replay does not hold off its level.

        Anonymous liquidity goes first; then known orders, oldest first: if there is no
        anonymous liquidity left, some known order must have left while out of view.
        """
        left = yield from self._take(side, price, qty, newest_first=False)
        if left:
            self.stats["shares canceled that the replay could not find"] += left

    # ------------------------------------------------------------------ execution groups

    def _execution_group(self, group: Sequence[Message], rows: Sequence[BookRow]) -> Steps[None]:
        """Match a group of executions as one incoming IOC order.

        Every row of the group is learned from before matching: a price entering view at row k
        was out of view until then, so no execution of the group before k reached it, and the
        row shows what rested there before the incoming order.
        """
        resting_side = group[0].side
        executions = [message for message in group if message.kind == VISIBLE_EXECUTION]
        for message, row in zip(group, rows, strict=True):
            visible = message.kind == VISIBLE_EXECUTION
            yield from self._learn(row, (resting_side, message.price) if visible else None)
        prices = [message.price for message in executions]
        worst = max(prices) if resting_side == Side.SELL else min(prices)
        self.trades.clear()
        qty = sum(
            message.qty - self._client_taken(message.order_id, message.qty)
            for message in executions
        )
        if qty:
            yield from self._place(None, INCOMING_SIDE[resting_side], worst, qty, TimeInForce.IOC)

    # ------------------------------------------------------------------ learning

    def _learn(self, row: BookRow, touched: tuple[Side, int] | None) -> Steps[None]:
        """Make the prices that entered view at `row` hold what it shows, except `touched`.

        A price that was out of view (beyond the previous row's N levels) and now is in view
        holds what the row shows there, nothing if it shows nothing; the orders known there
        may have left, and others arrived, while it was out of view.
        """
        for side in (Side.SELL, Side.BUY):
            bound = visible_bound(row, side)
            previous = self._bounds[side]
            self._bounds[side] = bound
            if side == Side.SELL:
                low, high = previous + 1, bound
            else:
                low, high = bound, previous - 1
            if low > high:
                continue
            shown = row_levels(row, side)
            prices = {price for price in shown if low <= price <= high}
            prices.update(price for price in self._queues[side] if low <= price <= high)
            if touched is not None and touched[0] == side:
                prices.discard(touched[1])
            for price in sorted(prices):
                yield from self._learn_level(side, price, shown.get(price, 0))

    def _learn_level(self, side: Side, price: int, size: int) -> Steps[None]:
        self._refresh(side, price)
        held = sum(order.leaves for order in self._queues[side].get(price, []))
        if size > held:
            # arrived while out of view: behind every order known here
            self.stats["levels learned up"] += 1
            yield from self._place(None, side, price, size - held)
        elif size < held:
            # left while out of view; the newest orders are the likeliest to have gone
            self.stats["levels learned down"] += 1
            yield from self._take(side, price, held - size, newest_first=True)

    def _take(self, side: Side, price: int, qty: int, *, newest_first: bool) -> Steps[int]:
        """Cancel `qty` at one level, anonymous liquidity first, then known orders: whole ones
        that add up to what is left if some do (partial cancels are rare), else in order.

        Returns the quantity the level did not hold.
        """
        self._refresh(side, price)
        queue = self._queues[side].get(price, [])
        anonymous = [order for order in queue if order.lobster_id is None]
        known = [order for order in queue if order.lobster_id is not None]
        if newest_first:
            known.reverse()
        beyond = qty - sum(order.leaves for order in anonymous)
        subset = exact_subset([order.leaves for order in known], beyond)
        if subset is not None:
            known = [known[index] for index in subset]
        for order in anonymous + known:
            if qty == 0:
                break
            cut = min(qty, order.leaves)
            yield from self._reduce(order, cut)
            qty -= cut
        return qty

    # ------------------------------------------------------------------ commands

    def _place(
        self,
        lobster_id: int | None,
        side: Side,
        price: int,
        qty: int,
        tif: TimeInForce | None = None,
    ) -> Steps[None]:
        """Place a limit order: one that rests (`rest_tif`), or the IOC of an execution group."""
        tif = self.rest_tif if tif is None else tif
        command = PlaceOrder(
            self._new_order_id(), self.accounts[side], self.symbol, side, OrderType.LIMIT, qty,
            price, tif=tif,
        )  # fmt: skip
        events = yield from self._apply(command)
        order_id, leaves = 0, qty
        for event in events:
            if isinstance(event, OrderAccepted):
                order_id = event.order_id
            elif isinstance(event, TradeExecuted):
                leaves = event.taker_leaves
        if tif == TimeInForce.IOC or not order_id:
            return
        if leaves < qty:
            # it rests in full at the exchange (a type 1 or learned liquidity): here it met
            # liquidity the replay should not have had
            self.stats["resting orders that traded on entry"] += 1
        if leaves:
            order = Resting(order_id, lobster_id, side, price, qty)
            order.leaves = leaves
            self._orders[order_id] = order
            self._queues[side].setdefault(price, []).append(order)
            if lobster_id is not None:
                self._by_lobster_id[lobster_id] = order

    def _reduce(self, order: Resting, qty: int) -> Steps[None]:
        """Cancel `qty` of a resting order; what stays keeps its time priority."""
        account = self.accounts[order.side]
        if qty >= order.leaves:
            yield from self._apply(CancelOrder(order.engine_id, self.symbol, account))
        else:
            new_qty = order.qty - qty
            replace = ReplaceOrder(
                order.engine_id, self._new_order_id(), self.symbol, account, qty=new_qty
            )
            yield from self._apply(replace)

    def _apply(self, command: Command) -> Steps[list[Event]]:
        """Send a command and follow its events in the flow's view of the book."""
        events = yield command
        for event in events:
            if isinstance(event, TradeExecuted):
                self._traded(event)
            elif isinstance(event, OrderCanceled):
                order = self._orders.get(event.order_id)
                if order is not None:
                    order.leaves = event.leaves
                    if not order.leaves:
                        self._drop(order)
            elif isinstance(event, OrderReplaced):
                if not event.kept_priority:
                    raise InvariantViolation(f"replace of {event.order_id} lost priority")
                order = self._orders.pop(event.order_id)
                order.engine_id = event.new_order_id
                order.qty = event.qty
                order.leaves = event.leaves
                self._orders[order.engine_id] = order
            elif isinstance(event, REFUSALS):
                self._refused(command, event)
        return events

    def _traded(self, event: TradeExecuted) -> None:
        maker = self._orders.get(event.maker_order_id)
        if maker is None:  # another client's order, resting where the flow's order went
            self.stats["fills of other clients' orders"] += 1
            self.trades.append((None, event.qty, event.price))
            return
        self.trades.append((maker.lobster_id, event.qty, event.price))
        maker.leaves = event.maker_leaves
        if not maker.leaves:
            self._drop(maker)

    def _drop(self, order: Resting) -> None:
        del self._orders[order.engine_id]
        queues = self._queues[order.side]
        queue = queues[order.price]
        queue.remove(order)
        if not queue:
            del queues[order.price]
        if order.lobster_id is not None:
            del self._by_lobster_id[order.lobster_id]
