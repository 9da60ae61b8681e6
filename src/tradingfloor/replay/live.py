"""A recorded LOBSTER day as the platform's live market (`tradingfloor serve --replay lobster`).

`LobsterMarket.run` reads the day's messages in order and sends each one's commands through
the command bus like any client (journaled, replayable), paced by the recorded timestamps.
The recorded orders are ordinary orders of two funded cash accounts, one per side
(`lobster-bids` rests and takes on the buy side, `lobster-asks` on the sell side), so every
platform client can trade against them, and the recorded flow never trades with itself.

What the message file cannot show is modelled as the offline replay does (`lobster_flow`):
liquidity learned from the orderbook file, executions as one incoming IOC order per group.
What differs live: other clients' orders are in the same book. A client's order that takes a
recorded order's shares takes them for good: the recording's later cancels and executions of
those shares are skipped and counted (`stats`), never sent; a recorded order that meets a
client's resting order trades with it. The flow reads the engine between commands (as a
co-located client reads its market data) to learn what clients took.

Recorded orders rest good-till-canceled, so that a close of the platform's day never expires
the recorded book; hidden executions (type 5) and cross trades (type 6) print nothing: the
other side of a hidden order is not in the file. At the end of the file the market stays up,
quiet: the recorded orders still resting stay in the book.

A restarted market replays the day again from its first message, after canceling what its
accounts still rest (the flow's view of its orders is not journaled; the day is).
"""

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from tradingfloor.domain.commands import (
    AddInstrument,
    CancelOrder,
    Command,
    Deposit,
    DepositShares,
    OpenAccount,
    SetReferencePrice,
)
from tradingfloor.domain.enums import AccountKind, Side, TimeInForce
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.events import (
    CancelRejected,
    CommandRejected,
    Event,
    OrderRejected,
    ReplaceRejected,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.prices import PRICE_SCALE
from tradingfloor.matching.book import OrderBook
from tradingfloor.replay.lobster_flow import LobsterFlow, Steps
from tradingfloor.replay.lobster_format import (
    CROSS_TRADE,
    EMPTY_ASK_PRICE,
    HIDDEN_EXECUTION,
    NANOS_PER_SECOND,
    BookRow,
    Message,
    read_book_rows,
    read_messages,
)

log = logging.getLogger("tradingfloor.replay")

T = TypeVar("T")
Submit = Callable[[Command], Awaitable[list[Event]]]
"""Sequence and apply one command; the events it caused."""

DOLLAR = PRICE_SCALE
BIDS_ACCOUNT = "lobster-bids"
ASKS_ACCOUNT = "lobster-asks"
ACCOUNTS = {Side.BUY: BIDS_ACCOUNT, Side.SELL: ASKS_ACCOUNT}
BIDS_CASH = 1_000_000_000 * DOLLAR
"""The buy side's cash: a whole day's recorded buying (the AMZN day: a few hundred million
dollars at most) many times over."""
ASKS_SHARES = 10_000_000
"""The sell side's shares: a whole day's recorded selling many times over."""
HUMAN_CASH = 100_000 * DOLLAR
HUMAN_SHARES = 100
"""What each person's demo account gets, as with `serve --demo`: cash, and shares of the
replayed symbol to sell."""

file_bytes_max = 1 << 30
"""A LOBSTER file larger than this is refused before it is read (a day of the busiest symbol
at ten levels is a few hundred megabytes)."""
submit_tries_max = 50
"""Tries of one command the platform refuses as overloaded before it is skipped (counted)."""
submit_retry_wait_s = 0.02
yield_every_messages = 16
"""At full speed, messages between two yields of the event loop (the gateways share it in one
process)."""

FILE_NAME = re.compile(
    r"^(?P<symbol>[A-Z][A-Z.]{0,7})_(?P<date>\d{4}-\d{2}-\d{2})_\d+_\d+_"
    r"(?P<kind>message|orderbook)_(?P<levels>\d{1,2})\.csv$"
)
"""LOBSTER's file names: SYMBOL_DATE_START_END_message|orderbook_LEVELS.csv."""


class EngineView(Protocol):
    """What the market reads between commands: the shard's books (never to change them)."""

    @property
    def books(self) -> Mapping[str, OrderBook]: ...


@dataclass(frozen=True)
class LobsterDay:
    """A LOBSTER day read from its two files."""

    symbol: str
    date: str
    levels: int
    messages: Sequence[Message]
    rows: Sequence[BookRow]

    @property
    def reference_price(self) -> int:
        """The midpoint of the first orderbook row, on the cent (the price the book opens
        at; the price collars and limit up-limit down bands start from it)."""
        ask, _, bid, _ = self.rows[0][:4]
        if ask == EMPTY_ASK_PRICE or bid < 0:
            price = ask if ask != EMPTY_ASK_PRICE else bid
        else:
            price = (ask + bid) // 2
        if price <= 0:
            raise ValueError("the orderbook file's first row shows no price")
        cent = DOLLAR // 100
        return max(cent, price - price % cent)


def read_day(messages: Path, orderbook: Path) -> LobsterDay:
    """Read a LOBSTER day; the symbol, date and levels come from the file names, which must
    name the same day (ValueError otherwise, naming what is wrong)."""
    names = []
    for path, kind in ((messages, "message"), (orderbook, "orderbook")):
        found = FILE_NAME.match(path.name)
        if found is None or found["kind"] != kind:
            raise ValueError(
                f"{path.name} is not a LOBSTER {kind} file name "
                f"(SYMBOL_DATE_START_END_{kind}_LEVELS.csv)"
            )
        if path.stat().st_size > file_bytes_max:
            raise ValueError(f"{path.name} is larger than {file_bytes_max} bytes")
        names.append(found)
    if (names[0]["symbol"], names[0]["date"], names[0]["levels"]) != (
        names[1]["symbol"], names[1]["date"], names[1]["levels"],
    ):  # fmt: skip
        raise ValueError(f"{messages.name} and {orderbook.name} are not the same day")
    flow, rows = read_messages(messages), read_book_rows(orderbook)
    if not flow or len(flow) != len(rows):
        raise ValueError(f"{len(flow)} messages but {len(rows)} orderbook rows")
    levels = int(names[0]["levels"])
    if len(rows[0]) != 4 * levels:
        raise ValueError(f"the orderbook rows do not have {levels} levels")
    return LobsterDay(names[0]["symbol"], names[0]["date"], levels, flow, rows)


def setup_commands(day: LobsterDay, people: Sequence[str] = ()) -> list[Command]:
    """List the symbol at the day's opening price, open and fund the two recorded accounts
    and the `people`'s accounts. Not idempotent (see `is_set_up`)."""
    symbol, reference = day.symbol, day.reference_price
    commands: list[Command] = [
        AddInstrument(Instrument(symbol)),
        SetReferencePrice(symbol, reference),
        OpenAccount(BIDS_ACCOUNT, AccountKind.CASH),
        Deposit(BIDS_ACCOUNT, BIDS_CASH),
        OpenAccount(ASKS_ACCOUNT, AccountKind.CASH),
        DepositShares(ASKS_ACCOUNT, symbol, ASKS_SHARES, reference),
    ]
    for account in people:
        commands.append(OpenAccount(account, AccountKind.CASH))
        commands.append(Deposit(account, HUMAN_CASH))
        commands.append(DepositShares(account, symbol, HUMAN_SHARES, reference))
    return commands


def is_set_up(books: Mapping[str, OrderBook], accounts: Container[str], day: LobsterDay) -> bool:
    """Whether the day's symbol is listed and both recorded accounts are open (so that
    `setup_commands` must not run again: it would fund them twice)."""
    return day.symbol in books and all(account in accounts for account in ACCOUNTS.values())


class LiveLobster(LobsterFlow):
    """The flow on a market it shares: it reads what clients took from the engine's book."""

    def __init__(self, symbol: str, engine: EngineView) -> None:
        super().__init__(symbol, dict(ACCOUNTS), rest_tif=TimeInForce.GTC)
        self._engine = engine
        self._taken: Counter[int] = Counter()
        """Shares of recorded orders (by LOBSTER id) that clients took and the recording
        has not yet canceled or executed."""

    def check_view(self) -> None:
        """Raise `InvariantViolation` if the flow's orders are not the ones the recorded
        accounts rest in the engine (after learning what clients took)."""
        book = self._engine.books[self.symbol]
        accounts = set(self.accounts.values())
        for side in (Side.BUY, Side.SELL):
            for price in list(self._queues[side]):
                self._refresh(side, price)
            ours = [(order.engine_id, order.price, order.leaves) for order in self.resting(side)]
            engine = [
                (order.order_id, order.price, order.leaves)
                for order in book.resting_orders(side)
                if order.account in accounts
            ]
            if ours != engine:
                raise InvariantViolation(f"the flow's {side.name} orders are not the engine's")

    def _refresh(self, side: Side, price: int) -> None:
        queue = self._queues[side].get(price)
        if not queue:
            return
        book = self._engine.books[self.symbol]
        for order in list(queue):
            live = book.order_view(order.engine_id)
            leaves = 0 if live is None else live.leaves
            if leaves >= order.leaves:
                continue
            self.stats["recorded shares other clients took"] += order.leaves - leaves
            if order.lobster_id is not None:
                self._taken[order.lobster_id] += order.leaves - leaves
            order.leaves = leaves
            if not leaves:
                self._drop(order)

    def _client_taken(self, lobster_id: int, qty: int) -> int:
        order = self._by_lobster_id.get(lobster_id)
        if order is not None:
            self._refresh(order.side, order.price)
        skipped = min(self._taken.get(lobster_id, 0), qty)
        if skipped:
            self.stats["recorded shares skipped: other clients took them first"] += skipped
            self._taken[lobster_id] -= skipped
            if not self._taken[lobster_id]:
                del self._taken[lobster_id]
        return skipped

    def _refused(self, command: Command, event: Event) -> None:
        """A refusal is counted by reason; the order it was about is looked at again."""
        if isinstance(event, OrderRejected | CancelRejected | ReplaceRejected | CommandRejected):
            self.stats[f"commands refused: {event.reason.name}"] += 1
        if isinstance(event, CancelRejected | ReplaceRejected):
            order = self._orders.get(event.order_id)
            if order is not None:
                self._refresh(order.side, order.price)


@dataclass
class MarketStats:
    """What the market has done: messages played, commands sent, and the flow's counts."""

    messages_played: int = 0
    commands_sent: int = 0
    commands_skipped: int = 0
    """Commands the platform refused as overloaded `submit_tries_max` times: not sent."""
    finished: bool = False
    flow: Counter[str] = field(default_factory=Counter)


class LobsterMarket:
    """A LOBSTER day played into the platform at `speed` times the recorded pace (0: as fast
    as the platform takes the commands), from its first message to `limit` messages (None:
    all of them).

    `submit` sequences and applies one command and answers its events; `engine` is read
    between commands. `sleep` and `clock` are injectable. Exceptions of the `retry_on` types
    from `submit` (a full queue) are retried a few times, then the command is skipped and
    counted; any other stops the run.
    """

    def __init__(
        self,
        day: LobsterDay,
        submit: Submit,
        engine: EngineView,
        speed: float = 1.0,
        limit: int | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        retry_on: tuple[type[Exception], ...] = (),
    ) -> None:
        if not speed >= 0:
            raise ValueError("speed must be 0 (as fast as the platform goes) or positive")
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        self.day = day
        self.speed = speed
        self.end = len(day.messages) if limit is None else min(limit, len(day.messages))
        self.flow = LiveLobster(day.symbol, engine)
        self.stats = MarketStats(flow=self.flow.stats)
        self.done = asyncio.Event()
        """Set once the last message (or `limit`) is played."""
        self._submit = submit
        self._engine = engine
        self._sleep = sleep
        self._clock = clock
        self._retry_on = retry_on

    async def run(self, stop: asyncio.Event) -> None:
        """Play the day until its end (or `limit`) or `stop`; returns then, between two
        messages. Whatever the recorded accounts rest from an earlier run is canceled first."""
        if self.day.symbol not in self._engine.books:
            raise RuntimeError(f"{self.day.symbol} is not listed; submit setup_commands first")
        await self._cancel_leftovers(stop)
        await self.play(self.end, stop)
        if self.stats.messages_played >= self.end:
            self._finish()

    async def play(self, upto: int, stop: asyncio.Event | None = None) -> None:
        """Play on from where the market is to message `upto` (exclusive; an execution group
        that straddles it is played whole), paced from this call on."""
        messages, rows = self.day.messages, self.day.rows
        index = self.stats.messages_played
        if index >= len(messages):
            return
        started, first_ts = self._clock(), messages[index].ts
        upto = min(upto, len(messages))
        while index < upto and not (stop is not None and stop.is_set()):
            await self._pace(started, messages[index].ts - first_ts, index)
            if stop is not None and stop.is_set():
                return
            end = await self._drive(self.flow.steps(messages, rows, index))
            self._count_unprinted(messages[index:end])
            index = self.stats.messages_played = end

    async def _pace(self, started: float, offset_ns: int, index: int) -> None:
        """Wait until the message's recorded time, `speed` times faster than real time."""
        if self.speed == 0:
            if index % yield_every_messages == 0:
                await self._sleep(0.0)
            return
        due = started + offset_ns / NANOS_PER_SECOND / self.speed
        await self._sleep(max(due - self._clock(), 0.0))

    async def _drive(self, steps: Steps[T]) -> T:
        try:
            command = next(steps)
            while True:
                command = steps.send(await self._send(command))
        except StopIteration as done:
            result: T = done.value
            return result

    async def _send(self, command: Command) -> list[Event]:
        """The command's events; none when it could not be sent (the flow then holds what it
        held: a command not applied changed nothing)."""
        for _ in range(submit_tries_max):
            try:
                events = await self._submit(command)
            except self._retry_on:
                await self._sleep(submit_retry_wait_s)
                continue
            self.stats.commands_sent += 1
            return events
        self.stats.commands_skipped += 1
        return []

    async def _cancel_leftovers(self, stop: asyncio.Event) -> None:
        """Cancel what the recorded accounts still rest from an earlier run of the day."""
        book = self._engine.books[self.day.symbol]
        accounts = set(ACCOUNTS.values())
        for order_id in sorted(book.live_order_ids()):
            order = book.order_view(order_id)
            if order is not None and order.account in accounts and not stop.is_set():
                await self._send(CancelOrder(order_id, self.day.symbol, order.account))
                self.stats.flow["leftover orders canceled at start"] += 1

    def _count_unprinted(self, played: Sequence[Message]) -> None:
        for message in played:
            if message.kind == HIDDEN_EXECUTION:
                self.stats.flow["hidden executions not printed"] += 1
            elif message.kind == CROSS_TRADE:
                self.stats.flow["cross trades not printed"] += 1

    def _finish(self) -> None:
        self.stats.finished = True
        self.done.set()
        counts = ", ".join(f"{name}: {count}" for name, count in sorted(self.stats.flow.items()))
        log.info(
            "lobster replay finished",
            extra={
                "symbol": self.day.symbol,
                "messages": self.stats.messages_played,
                "commands": self.stats.commands_sent,
                "skipped": self.stats.commands_skipped,
            },
        )
        print(
            f"replay of {self.day.symbol} {self.day.date} finished after "
            f"{self.stats.messages_played} messages and {self.stats.commands_sent} commands "
            f"({self.stats.commands_skipped} skipped); the market stays up, quiet. {counts}",
            flush=True,
        )
