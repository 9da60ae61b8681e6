"""An account's equity at a series of moments, replayed from its activities: what
`/v2/account/portfolio/history` draws.

One pass over the account's activities up to the last moment (`statement_replay.Replay`, the
fold statements use, streamed `history_batch_rows` at a time) gives its cash and positions at
each moment. Each position is marked at its symbol's last trade price at or before that moment
(any account's fill on the platform's book: `statement_queries.last_prices`); a symbol that had
not traded by then is marked at the position's average cost. Money that came in or went out
(deposits, withdrawals, shares delivered in or out at their cost) is counted apart, so that
profit and loss can leave it out."""

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, select

from tradingfloor.domain.fractions import fraction_value
from tradingfloor.store.queries import ActivityRow
from tradingfloor.store.readmodels import activities
from tradingfloor.store.statement_queries import history_batch_rows, last_prices
from tradingfloor.store.statement_replay import Replay

FLOW_KINDS = frozenset({"deposit", "withdrawal", "shares_in", "shares_out"})
"""Activities that bring money (or shares, at their cost) into the account or take it out."""


@dataclass(frozen=True)
class EquityPoint:
    """The account at one moment: `equity` (cash plus marked positions) and `flows` (net money
    in since the start of the history, in the price unit)."""

    ts: int
    equity: int
    flows: int


def equity_at(connection: Connection, account: str, moments: list[int]) -> list[EquityPoint]:
    """The account's equity at each of `moments` (ascending ns)."""
    if not moments:
        return []
    replay = Replay()
    flows = 0
    points: list[EquityPoint] = []
    pending = iter(moments)
    moment = next(pending, None)
    for row in _history(connection, account, moments[-1]):
        while moment is not None and row.ts > moment:
            points.append(_point(connection, replay, moment, flows))
            moment = next(pending, None)
        replay.apply(row.kind, row.symbol, row.qty, row.price, row.amount)
        flows += _flow(row)
    while moment is not None:
        points.append(_point(connection, replay, moment, flows))
        moment = next(pending, None)
    return points


def _flow(row: ActivityRow) -> int:
    if row.kind not in FLOW_KINDS:
        return 0
    if row.kind in ("deposit", "withdrawal"):
        return row.amount or 0
    return (row.qty or 0) * (row.price or 0)


def _point(connection: Connection, replay: Replay, moment: int, flows: int) -> EquityPoint:
    held = replay.symbols()
    prices = last_prices(connection, held, moment)
    snapshot = replay.snapshot(prices)
    value = 0
    for line in snapshot.positions:
        price = line.price if line.price is not None else line.average_cost
        value += line.qty * price + fraction_value(line.fraction, price)
    return EquityPoint(moment, snapshot.cash + value, flows)


def _history(connection: Connection, account: str, until_ts: int) -> Iterator[ActivityRow]:
    """The account's activities up to `until_ts`, oldest first, streamed."""
    query = (
        select(activities)
        .where(activities.c.account == account, activities.c.ts <= until_ts)
        .order_by(activities.c.ts, activities.c.seq, activities.c.activity_id)
    )
    streamed = connection.execution_options(yield_per=history_batch_rows)
    for row in streamed.execute(query):
        yield ActivityRow(**row._mapping)
