"""Replay of LOBSTER files (real NASDAQ flow) through a matching engine of its own, offline,
and its scoring.

The flow's modelling (what becomes which command, what is learned from the orderbook file) is
`replay.lobster_flow`'s; the files are read through `replay.lobster_format`. Here an engine of
the replay's own answers every command at once, with the message's time, so that the book can
be compared with the orderbook file row by row.

Scoring follows ../shared/data/lobster/README.md: the share of orderbook rows reproduced
exactly, and the share of visible executions of orders the message file introduced that the
engine filled the same way.
"""

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, TypeVar

from tradingfloor.domain.commands import AddInstrument, Command
from tradingfloor.domain.enums import Side
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import Event
from tradingfloor.domain.instruments import Instrument
from tradingfloor.engine import Engine
from tradingfloor.matching.book import BookLevel, Depth
from tradingfloor.replay.lobster_flow import LobsterFlow, Steps
from tradingfloor.replay.lobster_format import (
    CROSS_TRADE,
    DELETE,
    EMPTY_ASK_PRICE,
    EMPTY_BID_PRICE,
    FAR,
    FILLS_HEADER,
    HALT,
    HIDDEN_EXECUTION,
    INCOMING_SIDE,
    NANOS_PER_SECOND,
    NEW_ORDER,
    PARTIAL_CANCEL,
    VISIBLE_EXECUTION,
    BookRow,
    Fill,
    Message,
    exact_subset,
    format_book_row,
    group_end,
    layout_row,
    levels_in,
    parse_book_row,
    parse_message,
    parse_time_ns,
    read_book_rows,
    read_fills,
    read_messages,
    row_levels,
    visible_bound,
    write_fills,
)

__all__ = [
    "ACCOUNT",
    "CROSS_TRADE",
    "DELETE",
    "EMPTY_ASK_PRICE",
    "EMPTY_BID_PRICE",
    "FAR",
    "FILLS_HEADER",
    "HALT",
    "HIDDEN_EXECUTION",
    "INCOMING_SIDE",
    "NANOS_PER_SECOND",
    "NEW_ORDER",
    "PARTIAL_CANCEL",
    "VISIBLE_EXECUTION",
    "BookRow",
    "Fill",
    "LobsterReplay",
    "Message",
    "ReplayReport",
    "Score",
    "exact_subset",
    "format_book_row",
    "group_end",
    "layout_row",
    "levels_in",
    "parse_book_row",
    "parse_message",
    "parse_time_ns",
    "read_book_rows",
    "read_fills",
    "read_messages",
    "replay_lobster",
    "row_levels",
    "score_executions",
    "score_rows",
    "visible_bound",
    "write_fills",
]

ACCOUNT = "lobster"
"""The one account of the offline replay: both sides' orders are its."""

T = TypeVar("T")


class Score(NamedTuple):
    matched: int
    total: int

    @property
    def share(self) -> float:
        return self.matched / self.total if self.total else 0.0


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


# ---------------------------------------------------------------------- replay


class LobsterReplay(LobsterFlow):
    """One symbol's LOBSTER flow through a fresh engine.

    `run` yields the book after every message, in orderbook-file layout; `fills` collects the
    engine's fills for execution groups; `stats` counts what the replay had to learn or could
    not apply as written.
    """

    def __init__(self, levels: int, symbol: str = "LOBSTER") -> None:
        super().__init__(symbol, {Side.BUY: ACCOUNT, Side.SELL: ACCOUNT})
        self.levels = levels
        self.engine = Engine()
        self.fills: list[Fill] = []
        self._seq = 0
        self._ts = 0
        self._last_order_id = 0
        self._drive(self._apply(AddInstrument(Instrument(symbol, tick_size=1, lot_size=1))))
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
            end = self._drive(self.steps(messages, rows, index))
            if message.kind == VISIBLE_EXECUTION:
                yield from self._group_rows(messages[index:end])
                last_row = self.render()
            else:
                if message.kind != HALT:
                    last_row = self.render()
                yield last_row
            index = end

    def render(self) -> BookRow:
        """The engine's book, top N levels, in orderbook-file layout."""
        depth = self.book.depth(self.levels)
        return layout_row(_pairs(depth.asks), _pairs(depth.bids), self.levels)

    def check_view(self) -> None:
        """Raise `InvariantViolation` if the replay's view of the book is not the engine's."""
        for side in (Side.BUY, Side.SELL):
            ours = [(order.engine_id, order.price, order.leaves) for order in self.resting(side)]
            engine = [
                (order.order_id, order.price, order.leaves)
                for order in self.book.resting_orders(side)
            ]
            if ours != engine:
                raise InvariantViolation(f"the replay's {side.name} orders are not the engine's")

    def _new_order_id(self) -> int:
        # LOBSTER ids are not the engine's: the engine wants every new id above the last
        self._last_order_id += 1
        return self._last_order_id

    def _drive(self, steps: Steps[T]) -> T:
        """Run a step of the flow against the replay's engine, at the message's time."""
        try:
            command = next(steps)
            while True:
                command = steps.send(self._run_command(command))
        except StopIteration as done:
            result: T = done.value
            return result

    def _run_command(self, command: Command) -> list[Event]:
        """One command through the replay's engine, as the next seq, at the message's time."""
        self._seq += 1
        return self.engine.apply(command, self._seq, self._ts)

    def _group_rows(self, group: Sequence[Message]) -> Iterator[BookRow]:
        """The rows of an execution group just matched: its fills, then a row per message."""
        first = group[0]
        self.fills.extend(
            Fill(first.time, first.ts, lobster_id, fill_qty, fill_price)
            for lobster_id, fill_qty, fill_price in self.trades
        )
        after = self.book.depth(self.levels)
        resting_side = first.side
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
        for _, fill_qty, fill_price in self.trades:
            reached = min(done, fill_qty)
            done -= reached
            if fill_qty > reached:
                resting[fill_price] += fill_qty - reached
        prices = sorted(resting, reverse=resting_side == Side.BUY)[: self.levels]
        levels = [(price, resting[price]) for price in prices]
        if resting_side == Side.SELL:
            return layout_row(levels, _pairs(after.bids), self.levels)
        return layout_row(_pairs(after.asks), levels, self.levels)


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
