"""Replay of LOBSTER files (real NASDAQ flow) through the matching engine, and its scoring.

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

Scoring follows the same README: the share of orderbook rows reproduced exactly, and the share
of visible executions of orders the message file introduced that the engine filled the same way.
"""

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    Command,
    PlaceOrder,
    ReplaceOrder,
)
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import (
    CancelRejected,
    Event,
    OrderCanceled,
    OrderRejected,
    OrderReplaced,
    ReplaceRejected,
    TradeExecuted,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.engine import Engine
from tradingfloor.matching.book import BookLevel, Depth

NEW_ORDER = 1
PARTIAL_CANCEL = 2
DELETE = 3
VISIBLE_EXECUTION = 4
HIDDEN_EXECUTION = 5
CROSS_TRADE = 6
HALT = 7

EMPTY_ASK_PRICE = 9_999_999_999
EMPTY_BID_PRICE = -9_999_999_999
"""LOBSTER's dummy prices for unoccupied levels (their size is 0)."""

ACCOUNT = "lobster"
NANOS_PER_SECOND = 1_000_000_000
FILLS_HEADER = "time,resting_order_id,qty,price"

BookRow = tuple[int, ...]
"""One orderbook row: ask price, ask size, bid price, bid size, for levels 1..N."""


class Message(NamedTuple):
    """One message file row. `side` is the side of the order the message is about."""

    time: str
    """The time exactly as written (seconds after midnight), for output files."""
    ts: int
    """The same time in integer nanoseconds after midnight."""
    kind: int
    order_id: int
    qty: int
    price: int
    side: Side


class Fill(NamedTuple):
    """One fill the engine made while matching an execution group."""

    time: str
    ts: int
    resting_order_id: int | None
    """The LOBSTER id of the resting order, None for liquidity learned from the orderbook."""
    qty: int
    price: int


class Score(NamedTuple):
    matched: int
    total: int

    @property
    def share(self) -> float:
        return self.matched / self.total if self.total else 0.0


# ---------------------------------------------------------------------- files


def parse_time_ns(text: str) -> int:
    """Seconds after midnight with up to nine decimals ("34200.0174") as integer nanoseconds."""
    whole, _, fraction = text.strip().partition(".")
    if len(fraction) > 9 or not whole.isdigit() or not (fraction.isdigit() or not fraction):
        raise ValueError(f"not a LOBSTER time: {text!r}")
    return int(whole) * NANOS_PER_SECOND + int(fraction.ljust(9, "0"))


def parse_message(line: str) -> Message:
    """One message file line: time, type, order id, size, price, direction (1 buy, -1 sell)."""
    fields = line.strip().split(",")
    if len(fields) != 6:
        raise ValueError(f"a LOBSTER message has 6 fields, not {len(fields)}: {line!r}")
    time, kind, order_id, qty, price, direction = fields
    side = Side.BUY if int(direction) == 1 else Side.SELL
    return Message(time, parse_time_ns(time), int(kind), int(order_id), int(qty), int(price), side)


def read_messages(path: Path) -> list[Message]:
    with path.open() as lines:
        return [parse_message(line) for line in lines if line.strip()]


def parse_book_row(line: str) -> BookRow:
    fields = line.strip().split(",")
    if len(fields) % 4:
        raise ValueError(f"an orderbook row has 4 fields per level: {line!r}")
    return tuple(int(field) for field in fields)


def read_book_rows(path: Path) -> list[BookRow]:
    with path.open() as lines:
        return [parse_book_row(line) for line in lines if line.strip()]


def format_book_row(row: BookRow) -> str:
    return ",".join(map(str, row))


def write_fills(path: Path, fills: Iterable[Fill]) -> None:
    with path.open("w") as out:
        out.write(FILLS_HEADER + "\n")
        for fill in fills:
            resting = "" if fill.resting_order_id is None else str(fill.resting_order_id)
            out.write(f"{fill.time},{resting},{fill.qty},{fill.price}\n")


def read_fills(path: Path) -> list[Fill]:
    with path.open() as lines:
        header = next(lines, "").strip()
        if header != FILLS_HEADER:
            raise ValueError(f"fills file header is {header!r}, not {FILLS_HEADER!r}")
        fills = []
        for line in lines:
            if not line.strip():
                continue
            time, resting, qty, price = line.strip().split(",")
            resting_id = int(resting) if resting else None
            fills.append(Fill(time, parse_time_ns(time), resting_id, int(qty), int(price)))
        return fills


def levels_in(row: BookRow) -> int:
    return len(row) // 4


# ---------------------------------------------------------------------- scoring


def score_rows(ours: Iterable[BookRow], theirs: Sequence[BookRow]) -> Score:
    """Rows equal to the orderbook file's row at the same position, out of its rows."""
    matched = sum(1 for mine, truth in zip(ours, theirs, strict=False) if mine == truth)
    return Score(matched, len(theirs))


def score_executions(messages: Iterable[Message], fills: Iterable[Fill]) -> Score:
    """Visible executions of orders a type 1 introduced earlier that a fill reproduces.

    A fill reproduces an execution when it has the same time, resting order id and quantity;
    each fill counts for at most one execution.
    """
    available = Counter((fill.ts, fill.resting_order_id, fill.qty) for fill in fills)
    introduced: set[int] = set()
    matched = total = 0
    for message in messages:
        if message.kind == NEW_ORDER:
            introduced.add(message.order_id)
        elif message.kind == VISIBLE_EXECUTION and message.order_id in introduced:
            total += 1
            key = (message.ts, message.order_id, message.qty)
            if available[key] > 0:
                available[key] -= 1
                matched += 1
    return Score(matched, total)


# ---------------------------------------------------------------------- helpers

INCOMING_SIDE = {Side.BUY: Side.SELL, Side.SELL: Side.BUY}
FAR = 10**15
"""Beyond any price: as a bound of what is in view, "every price" or "no price"."""

subset_search_steps_max = 20_000
"""Steps the search for whole orders adding up to a quantity may take before it gives up."""
subset_orders_max = 64
"""Orders of one level the search looks at (it recurses once per order it takes)."""


def group_end(messages: Sequence[Message], start: int) -> int:
    """End (exclusive) of the execution group that starts at `start`.

    A group is the run of visible executions with the first one's time and side; hidden
    executions inside the run come from the same incoming order and do not break it.
    """
    first = messages[start]
    end = start + 1
    while end < len(messages):
        message = messages[end]
        if (
            message.ts != first.ts
            or message.side != first.side
            or message.kind not in (VISIBLE_EXECUTION, HIDDEN_EXECUTION)
        ):
            break
        end += 1
    return end


def visible_bound(row: BookRow, side: Side) -> int:
    """The worst price a row shows on `side` when all its levels are occupied.

    Every price at or better than the bound is in view: one the row does not show is empty.
    With a level to spare, the whole side is in view and the bound is FAR (beyond every price).
    """
    offset = 4 * (levels_in(row) - 1) + (0 if side == Side.SELL else 2)
    if row[offset + 1] > 0:
        return row[offset]
    return FAR if side == Side.SELL else -FAR


def row_levels(row: BookRow, side: Side) -> dict[int, int]:
    """The occupied levels of one side of a row, price -> size."""
    offset = 0 if side == Side.SELL else 2
    return {row[at]: row[at + 1] for at in range(offset, len(row), 4) if row[at + 1] > 0}


def layout_row(
    asks: Sequence[tuple[int, int]], bids: Sequence[tuple[int, int]], levels: int
) -> BookRow:
    """(price, size) levels, best first, as an orderbook row padded with LOBSTER's dummies."""
    row: list[int] = []
    for index in range(levels):
        ask = asks[index] if index < len(asks) else (EMPTY_ASK_PRICE, 0)
        bid = bids[index] if index < len(bids) else (EMPTY_BID_PRICE, 0)
        row.extend((ask[0], ask[1], bid[0], bid[1]))
    return tuple(row)


def exact_subset(sizes: Sequence[int], target: int) -> list[int] | None:
    """Indexes of sizes that add up to `target` exactly, the earliest sizes preferred (the
    first such set in lexicographic order); None if there is none or the search gives up."""
    sizes = sizes[:subset_orders_max]
    left_after = [0] * (len(sizes) + 1)
    for index in range(len(sizes) - 1, -1, -1):
        left_after[index] = left_after[index + 1] + sizes[index]
    chosen: list[int] = []
    steps = 0

    def search(start: int, left: int) -> bool:
        nonlocal steps
        for index in range(start, len(sizes)):
            steps += 1
            if steps > subset_search_steps_max or left_after[index] < left:
                return False
            size = sizes[index]
            if size > left:
                continue
            chosen.append(index)
            if size == left or search(index + 1, left - size):
                return True
            chosen.pop()
        return False

    return chosen if target > 0 and search(0, target) else None


# ---------------------------------------------------------------------- replay


class _Resting:
    """The replay's view of one resting order, kept in step with the engine's events."""

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


class LobsterReplay:
    """One symbol's LOBSTER flow through a fresh engine.

    `run` yields the book after every message, in orderbook-file layout; `fills` collects the
    engine's fills for execution groups; `stats` counts what the replay had to learn or could
    not apply as written.
    """

    def __init__(self, levels: int, symbol: str = "LOBSTER") -> None:
        self.levels = levels
        self.symbol = symbol
        self.engine = Engine()
        self.fills: list[Fill] = []
        self.stats: Counter[str] = Counter()
        self._seq = 0
        self._ts = 0
        self._last_order_id = 0
        self._orders: dict[int, _Resting] = {}  # by engine order id
        self._by_lobster_id: dict[int, _Resting] = {}
        self._queues: dict[Side, dict[int, list[_Resting]]] = {Side.BUY: {}, Side.SELL: {}}
        # what the previous orderbook row showed: before the first row, nothing was in view
        self._bounds = {Side.SELL: -FAR, Side.BUY: FAR}
        self._trades: list[tuple[int | None, int, int]] = []  # (lobster id, qty, price)
        self._apply(AddInstrument(Instrument(symbol, tick_size=1, lot_size=1)))
        self.book = self.engine.book(symbol)

    def run(self, messages: Sequence[Message], rows: Sequence[BookRow]) -> Iterator[BookRow]:
        """Apply every message and learn from its orderbook row; yield the book after each."""
        if len(messages) != len(rows):
            raise ValueError(f"{len(messages)} messages but {len(rows)} orderbook rows")
        index = 0
        last_row = self.render()
        while index < len(messages):
            message = messages[index]
            self._ts = message.ts
            if message.kind == VISIBLE_EXECUTION:
                end = group_end(messages, index)
                for last_row in self._execution_group(messages[index:end], rows[index:end]):
                    yield last_row
                index = end
                continue
            if message.kind != HALT:
                # a halt changes nothing: the orderbook file repeats the previous state
                self._learn(rows[index], self._apply_message(message))
                last_row = self.render()
            yield last_row
            index += 1

    def render(self) -> BookRow:
        """The engine's book, top N levels, in orderbook-file layout."""
        depth = self.book.depth(self.levels)
        return layout_row(_pairs(depth.asks), _pairs(depth.bids), self.levels)

    def check_view(self) -> None:
        """Raise `InvariantViolation` if the replay's view of the book is not the engine's."""
        for side in (Side.BUY, Side.SELL):
            queues = self._queues[side]
            ours = [
                (order.engine_id, price, order.leaves)
                for price in sorted(queues, reverse=side == Side.BUY)
                for order in queues[price]
            ]
            engine = [
                (order.order_id, order.price, order.leaves)
                for order in self.book.resting_orders(side)
            ]
            if ours != engine:
                raise InvariantViolation(f"the replay's {side.name} orders are not the engine's")

    # ------------------------------------------------------------------ messages

    def _apply_message(self, message: Message) -> tuple[Side, int] | None:
        """Apply a message that is not a visible execution; return the level it touched."""
        kind = message.kind
        if kind == NEW_ORDER:
            self._new_order(message)
        elif kind in (PARTIAL_CANCEL, DELETE):
            self._cancel(message)
        else:
            # hidden executions and cross trades change nothing visible
            return None
        return message.side, message.price

    def _new_order(self, message: Message) -> None:
        if message.order_id in self._by_lobster_id:
            raise ValueError(f"order {message.order_id} is added twice")
        self._place(message.order_id, message.side, message.price, message.qty)

    def _cancel(self, message: Message) -> None:
        """Take a cancel's size off its order, keeping the level's total right.

        When the order is not here, or holds less than the message says, the rest comes off
        other liquidity at the price (`_take`); when a deleted order holds more, the surplus
        stays in its place in the queue as anonymous liquidity: some other order's shares.
        """
        order = self._by_lobster_id.get(message.order_id)
        if order is None or order.price != message.price or order.side != message.side:
            self.stats["cancels of orders the replay does not hold"] += 1
            self._take_missing(message.side, message.price, message.qty)
            return
        if message.qty < order.leaves:
            self._reduce(order, message.qty)
            if message.kind == DELETE:
                self.stats["cancels of another size than the order's"] += 1
                del self._by_lobster_id[message.order_id]
                order.lobster_id = None
            return
        missing = message.qty - order.leaves
        self._reduce(order, order.leaves)
        if missing:
            self.stats["cancels of another size than the order's"] += 1
            self._take_missing(message.side, message.price, missing)

    def _take_missing(self, side: Side, price: int, qty: int) -> None:
        """Take `qty` of an order the replay does not hold off its level.

        Anonymous liquidity goes first; then known orders, oldest first: if there is no
        anonymous liquidity left, some known order must have left while out of view.
        """
        left = self._take(self._queues[side].get(price, []), qty, newest_first=False)
        if left:
            self.stats["shares canceled that the replay could not find"] += left

    # ------------------------------------------------------------------ execution groups

    def _execution_group(
        self, group: Sequence[Message], rows: Sequence[BookRow]
    ) -> Iterator[BookRow]:
        """Match a group of executions as one incoming IOC order; yield a row per message.

        Every row of the group is learned from before matching: a price entering view at row k
        was out of view until then, so no execution of the group before k reached it, and the
        row shows what rested there before the incoming order.
        """
        resting_side = group[0].side
        executions = [message for message in group if message.kind == VISIBLE_EXECUTION]
        for message, row in zip(group, rows, strict=True):
            visible = message.kind == VISIBLE_EXECUTION
            self._learn(row, (resting_side, message.price) if visible else None)
        prices = [message.price for message in executions]
        worst = max(prices) if resting_side == Side.SELL else min(prices)
        self._trades.clear()
        qty = sum(message.qty for message in executions)
        self._place(None, INCOMING_SIDE[resting_side], worst, qty, TimeInForce.IOC)
        first = group[0]
        self.fills.extend(
            Fill(first.time, first.ts, lobster_id, fill_qty, fill_price)
            for lobster_id, fill_qty, fill_price in self._trades
        )
        after = self.book.depth(self.levels)
        done = 0
        for message in group[:-1]:
            done += message.qty if message.kind == VISIBLE_EXECUTION else 0
            yield self._partial_row(after, resting_side, done)
        yield self.render()

    def _partial_row(self, after: Depth, resting_side: Side, done: int) -> BookRow:
        """The book part way through the incoming order, after its first `done` shares: the
        book after it (`after`, top N) with the shares it filled beyond `done` back in place.

        The fills took the best prices first, so that is the top N exactly.
        """
        left = after.asks if resting_side == Side.SELL else after.bids
        resting = Counter({level.price: level.qty for level in left})
        for _, fill_qty, fill_price in self._trades:
            reached = min(done, fill_qty)
            done -= reached
            if fill_qty > reached:
                resting[fill_price] += fill_qty - reached
        prices = sorted(resting, reverse=resting_side == Side.BUY)[: self.levels]
        levels = [(price, resting[price]) for price in prices]
        if resting_side == Side.SELL:
            return layout_row(levels, _pairs(after.bids), self.levels)
        return layout_row(_pairs(after.asks), levels, self.levels)

    # ------------------------------------------------------------------ learning

    def _learn(self, row: BookRow, touched: tuple[Side, int] | None) -> None:
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
                self._learn_level(side, price, shown.get(price, 0))

    def _learn_level(self, side: Side, price: int, size: int) -> None:
        queue = self._queues[side].get(price, [])
        held = sum(order.leaves for order in queue)
        if size > held:
            # arrived while out of view: behind every order known here
            self.stats["levels learned up"] += 1
            self._place(None, side, price, size - held)
        elif size < held:
            # left while out of view; the newest orders are the likeliest to have gone
            self.stats["levels learned down"] += 1
            self._take(queue, held - size, newest_first=True)

    def _take(self, queue: list[_Resting], qty: int, *, newest_first: bool) -> int:
        """Cancel `qty` at one level, anonymous liquidity first, then known orders: whole ones
        that add up to what is left if some do (partial cancels are rare), else in order.

        Returns the quantity the level did not hold.
        """
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
            self._reduce(order, cut)
            qty -= cut
        return qty

    # ------------------------------------------------------------------ engine

    def _place(
        self,
        lobster_id: int | None,
        side: Side,
        price: int,
        qty: int,
        tif: TimeInForce = TimeInForce.DAY,
    ) -> None:
        order_id = self._new_order_id()
        command = PlaceOrder(
            order_id, ACCOUNT, self.symbol, side, OrderType.LIMIT, qty, price, tif=tif
        )
        leaves = qty
        for event in self._apply(command):
            if isinstance(event, TradeExecuted):
                leaves = event.taker_leaves
        if tif == TimeInForce.DAY and leaves < qty:
            # it rests in full at the exchange (a type 1 or learned liquidity): here it met
            # liquidity the replay should not have had
            self.stats["resting orders that traded on entry"] += 1
        if tif == TimeInForce.DAY and leaves:
            order = _Resting(order_id, lobster_id, side, price, qty)
            order.leaves = leaves
            self._orders[order_id] = order
            self._queues[side].setdefault(price, []).append(order)
            if lobster_id is not None:
                self._by_lobster_id[lobster_id] = order

    def _reduce(self, order: _Resting, qty: int) -> None:
        """Cancel `qty` of a resting order; what stays keeps its time priority."""
        if qty >= order.leaves:
            self._apply(CancelOrder(order.engine_id, self.symbol))
        else:
            new_id = self._new_order_id()
            self._apply(ReplaceOrder(order.engine_id, new_id, self.symbol, qty=order.qty - qty))

    def _new_order_id(self) -> int:
        # LOBSTER ids are not the engine's: the engine wants every new id above the last
        self._last_order_id += 1
        return self._last_order_id

    def _apply(self, command: Command) -> list[Event]:
        """Apply a command and follow its events in the replay's view of the book."""
        self._seq += 1
        events = self.engine.apply(command, self._seq, self._ts)
        for event in events:
            if isinstance(event, TradeExecuted):
                maker = self._orders[event.maker_order_id]
                self._trades.append((maker.lobster_id, event.qty, event.price))
                maker.leaves = event.maker_leaves
                if not maker.leaves:
                    self._drop(maker)
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
            elif isinstance(event, OrderRejected | CancelRejected | ReplaceRejected):
                raise InvariantViolation(f"the engine refused a replay command: {event}")
        return events

    def _drop(self, order: _Resting) -> None:
        del self._orders[order.engine_id]
        queues = self._queues[order.side]
        queue = queues[order.price]
        queue.remove(order)
        if not queue:
            del queues[order.price]
        if order.lobster_id is not None:
            del self._by_lobster_id[order.lobster_id]


def _pairs(levels: Iterable[BookLevel]) -> list[tuple[int, int]]:
    return [(level.price, level.qty) for level in levels]


# ---------------------------------------------------------------------- the whole run


class ReplayReport(NamedTuple):
    rows: Score
    executions: Score
    stats: dict[str, int]


progress_rows_step = 1_000
"""Rows between two calls of a replay's progress callback."""


def replay_lobster(
    messages: Sequence[Message],
    truth: Sequence[BookRow],
    *,
    book_out: Path | None = None,
    fills_out: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Replay a message file against its orderbook file, write the outputs, score them.

    `book_out` gets the engine's book after every message, `fills_out` the engine's fills;
    `progress` is called with the number of rows done every `progress_rows_step` rows.
    """
    if not truth:
        raise ValueError("the orderbook file is empty")
    replay = LobsterReplay(levels_in(truth[0]))
    rows = replay.run(messages, truth)
    if progress is not None:
        rows = _reporting(rows, progress)
    if book_out is None:
        row_score = score_rows(rows, truth)
    else:
        with book_out.open("w") as out:
            row_score = score_rows(_writing(rows, out.write), truth)
    if fills_out is not None:
        write_fills(fills_out, replay.fills)
    executions = score_executions(messages, replay.fills)
    return ReplayReport(row_score, executions, dict(replay.stats))


def _reporting(rows: Iterator[BookRow], progress: Callable[[int], None]) -> Iterator[BookRow]:
    done = 0
    for done, row in enumerate(rows, 1):
        yield row
        if done % progress_rows_step == 0:
            progress(done)
    progress(done)


def _writing(rows: Iterator[BookRow], write: Callable[[str], object]) -> Iterator[BookRow]:
    for row in rows:
        write(format_book_row(row) + "\n")
        yield row
