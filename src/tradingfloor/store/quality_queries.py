"""What execution-quality reports read: each order of a period with the quote it arrived to,
and its fills, one symbol at a time (a month of one symbol in memory, never the market's).

Orders are those entered (`created_ts`) in `[after_ts, before_ts)`, rejected ones left out
(they never reached the book); fills are every fill of those orders, whenever it came.
"""

from collections.abc import Iterator
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, select

from tradingfloor.store.quote_tables import arrival_quotes
from tradingfloor.store.readmodels import fills, orders


class QuotedOrder(msgspec.Struct, frozen=True, gc=False):
    order_id: int
    symbol: str
    side: str
    order_type: str
    tif: str
    qty: int
    price: int | None
    status: str
    filled_qty: int
    replaces: int | None
    created_ts: int
    quoted: bool
    """Whether the projector recorded its arrival quote (not for orders before it did)."""
    bid: int | None
    ask: int | None
    fills: list[tuple[int, int, int]] = []
    """(ts, price, qty) of each of its own fills, in order."""


def symbols_entered(connection: Connection, after_ts: int, before_ts: int) -> list[str]:
    """The symbols with an order entered in the period."""
    query = (
        select(orders.c.symbol)
        .where(orders.c.created_ts >= after_ts, orders.c.created_ts < before_ts)
        .distinct()
        .order_by(orders.c.symbol)
    )
    return [str(symbol) for symbol in connection.execute(query).scalars()]


def quoted_orders(
    connection: Connection, symbol: str, after_ts: int, before_ts: int
) -> list[QuotedOrder]:
    """The orders of `symbol` entered in the period, with their arrival quotes and fills."""
    entered = and_(
        orders.c.symbol == symbol,
        orders.c.created_ts >= after_ts,
        orders.c.created_ts < before_ts,
        orders.c.status != "rejected",
    )
    c, q = orders.c, arrival_quotes.c
    query = (
        select(c.order_id, c.symbol, c.side, c.order_type, c.tif, c.qty, c.price, c.status,
               c.filled_qty, c.replaces, c.created_ts, q.order_id.is_not(None), q.bid, q.ask)
        .select_from(orders.outerjoin(arrival_quotes, q.order_id == c.order_id))
        .where(entered)
        .order_by(c.order_id)
    )  # fmt: skip
    rows: dict[int, list[Any]] = {}
    for row in connection.execute(query):
        rows[row[0]] = [*row, []]
    fill_query = (
        select(fills.c.order_id, fills.c.ts, fills.c.price, fills.c.qty)
        .select_from(fills.join(orders, orders.c.order_id == fills.c.order_id))
        .where(entered)
        .order_by(fills.c.fill_id)
    )
    for order_id, ts, price, qty in connection.execute(fill_query):
        rows[order_id][-1].append((ts, price, qty))
    return [QuotedOrder(*row) for row in rows.values()]


def quoted_orders_by_symbol(
    connection: Connection, after_ts: int, before_ts: int
) -> Iterator[tuple[str, list[QuotedOrder]]]:
    """`quoted_orders` of every symbol entered in the period, a symbol at a time."""
    for symbol in symbols_entered(connection, after_ts, before_ts):
        yield symbol, quoted_orders(connection, symbol, after_ts, before_ts)
