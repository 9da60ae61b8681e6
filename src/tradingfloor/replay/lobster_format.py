"""LOBSTER's file formats (../shared/data/lobster/README.md) and the facts read off them.

The message file, the orderbook file and the fills file the offline replay writes; what a row
shows and what it leaves out of view; which messages one incoming order made. Both the offline
replay (`replay.lobster`) and the live market (`replay.live`) read the files through here.
"""

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from tradingfloor.domain.enums import Side

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
