"""What an account statement holds, read from the read models (never from the engine).

A statement covers the instants `after_ts < ts <= until_ts` (a run of trading sessions: see
`tradingfloor.settlement.statements`). Its opening balances are the account's activities before
the period replayed (`statement_replay`), its closing ones those up to the period's end; both
come from one pass over the account's activities up to `until_ts`, read by one query through
the account's index (`ix_activities_account_seq`) and streamed `history_batch_rows` at a time,
so memory stays bounded however long the history. Rows are folded in time order (`ts`, then
`seq`, then id): sequence numbers count per shard, times across shards.

Trades are listed from `fills` (each with its fee and liquidity), the other activities as they
are, each list cut at `statement_lines_max` lines; the totals count every row of the period
whatever the cut. Positions are valued at the symbol's last trade price at or before the
moment (any account's fill), None when the symbol had not traded by then.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from tradingfloor.store.queries import ActivityRow, FillRow, get_balances
from tradingfloor.store.readmodels import activities, fills
from tradingfloor.store.statement_replay import Balances, Replay

statement_lines_max = 5_000
"""Lines of each list of a statement (trades, other activities) at most; the rest are counted."""
history_batch_rows = 2_000
"""Activity rows fetched at a time while replaying an account's history."""
LISTED_APART = frozenset({"trade", "fee"})
"""Kinds the trades list shows (a fee with its fill), left out of the other activities."""


@dataclass(frozen=True)
class KindTotal:
    """The period's activities of one kind: how many, and their amounts summed (signed)."""

    kind: str
    count: int
    amount: int


@dataclass(frozen=True)
class Totals:
    """The period's totals. `bought` and `sold` are the value of the shares traded, `fees` the
    fees charged (both positive); `realized` the realized P&L of the period's sells, fees
    apart; `by_kind` every activity of the period by kind."""

    bought: int
    sold: int
    fees: int
    realized: int
    by_kind: tuple[KindTotal, ...]


@dataclass(frozen=True)
class StatementData:
    account: str
    account_kind: str
    account_status: str
    after_ts: int
    until_ts: int
    opening: Balances
    closing: Balances
    trades: tuple[FillRow, ...]
    trades_count: int
    """Fills of the period, listed or not (`trades` holds at most `statement_lines_max`)."""
    activities: tuple[ActivityRow, ...]
    activities_count: int
    totals: Totals


@dataclass
class _Period:
    """What one pass gathers of the period's rows."""

    listed: list[ActivityRow]
    count: int = 0
    bought: int = 0
    sold: int = 0
    fees: int = 0
    trades: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)
    """Kind -> [count, amount]."""

    def take(self, row: ActivityRow, lines_max: int) -> None:
        kind, amount = row.kind, row.amount or 0
        entry = self.by_kind.setdefault(kind, [0, 0])
        entry[0] += 1
        entry[1] += amount
        if kind == "trade":
            self.trades += 1
            if amount < 0:
                self.bought -= amount
            else:
                self.sold += amount
        elif kind == "fee":
            self.fees -= amount
        if kind in LISTED_APART:
            return
        self.count += 1
        if len(self.listed) < lines_max:
            self.listed.append(row)


def load_statement(
    connection: Connection,
    account: str,
    after_ts: int,
    until_ts: int,
    lines_max: int = statement_lines_max,
) -> StatementData | None:
    """The statement of `account` for `after_ts < ts <= until_ts`; None for an account the
    read models do not know."""
    if not 1 <= lines_max <= statement_lines_max:
        raise ValueError(f"lines_max must be 1 to {statement_lines_max}, not {lines_max}")
    if after_ts >= until_ts:
        raise ValueError(f"an empty period: after_ts {after_ts} >= until_ts {until_ts}")
    balance = get_balances(connection, account)
    if balance is None:
        return None
    replay = Replay()
    opening: Replay | None = None
    period = _Period([])
    for row in _history(connection, account, until_ts):
        if opening is None and row.ts > after_ts:
            opening = replay.copy()
        if opening is not None:
            period.take(row, lines_max)
        replay.apply(row.kind, row.symbol, row.qty, row.price, row.amount)
    if opening is None:
        opening = replay.copy()
    opening_prices = last_prices(connection, opening.symbols(), after_ts)
    closing_prices = last_prices(connection, replay.symbols(), until_ts)
    opened, closed = opening.snapshot(opening_prices), replay.snapshot(closing_prices)
    totals = Totals(
        period.bought,
        period.sold,
        period.fees,
        closed.realized - opened.realized,
        tuple(KindTotal(kind, n, amount) for kind, (n, amount) in sorted(period.by_kind.items())),
    )
    return StatementData(
        account,
        balance.kind,
        balance.status,
        after_ts,
        until_ts,
        opened,
        closed,
        tuple(period_fills(connection, account, after_ts, until_ts, lines_max)),
        period.trades,
        tuple(period.listed),
        period.count,
        totals,
    )


def _history(connection: Connection, account: str, until_ts: int) -> Any:
    """The account's activities up to `until_ts`, oldest first, streamed."""
    query = (
        select(activities)
        .where(activities.c.account == account, activities.c.ts <= until_ts)
        .order_by(activities.c.ts, activities.c.seq, activities.c.activity_id)
    )
    streamed = connection.execution_options(yield_per=history_batch_rows)
    for row in streamed.execute(query):
        yield ActivityRow(**row._mapping)


def period_fills(
    connection: Connection, account: str, after_ts: int, until_ts: int, limit: int
) -> list[FillRow]:
    """The account's fills with `after_ts < ts <= until_ts`, oldest first, at most `limit`."""
    query = (
        select(fills)
        .where(fills.c.account == account, fills.c.ts > after_ts, fills.c.ts <= until_ts)
        .order_by(fills.c.ts, fills.c.seq, fills.c.fill_id)
        .limit(limit)
    )
    return [FillRow(**row._mapping) for row in connection.execute(query)]


def last_prices(connection: Connection, symbols: list[str], until_ts: int) -> dict[str, int]:
    """Each symbol's last trade price at or before `until_ts`; a symbol with no trade by then
    is left out. Trade ids grow per symbol, so the newest trade is the first found walking the
    symbol's trade ids down (`uq_fills_symbol_trade_id_liquidity`)."""
    prices: dict[str, int] = {}
    for symbol in symbols:
        query = (
            select(fills.c.price)
            .where(fills.c.symbol == symbol, fills.c.ts <= until_ts)
            .order_by(fills.c.trade_id.desc())
            .limit(1)
        )
        price = connection.execute(query).scalar()
        if price is not None:
            prices[symbol] = int(price)
    return prices
