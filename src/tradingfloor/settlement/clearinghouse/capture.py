"""Trade capture: what one new batch of trade records adds to the store.

Each record becomes a row of `tables.confirmations` (a plain tuple, in column order), or none
for a dropped one:
- a trade ref recorded before: `repeat` (the first confirmation again) when the terms are the
  same, else `refused`;
- a trade settling on a date already settled, or before its trade date: `refused`;
- otherwise a `trade`, with the fault its draw gives it, if any (`faults`): not stored (drop),
  other terms (alter), a second row under another clearing ref (duplicate), or held back
  (late); each fault also a row of `tables.faults`.
"""

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection, func, select

from tradingfloor.settlement.clearinghouse import tables as t
from tradingfloor.settlement.clearinghouse.faults import CENT, Fault, FaultKind, FaultPlan
from tradingfloor.settlement.protocol import RECORDS_PER_BATCH_MAX
from tradingfloor.settlement.records import ClearingTrade, Confirmation

Row = tuple[Any, ...]
_TERMS = slice(6, 11)
"""trade_date, settle_date, symbol, buyer, seller in a confirmation row."""
_SUBMITTED = slice(13, 15)
"""submitted_qty, submitted_price in a confirmation row."""
LATE = 15


class TradeCapture:
    """Numbers the confirmation rows (the store's single writer owns the counter)."""

    def __init__(self, plan: FaultPlan, last_seq: int) -> None:
        self.plan = plan
        self.seq = last_seq

    def take(
        self, conn: Connection, batch_id: str, trades: Sequence[ClearingTrade]
    ) -> tuple[list[Row], list[Row]]:
        """The confirmation rows and fault rows of a new batch."""
        if len(trades) > RECORDS_PER_BATCH_MAX:
            raise ValueError(f"{len(trades)} trades in one batch")
        last_settled = conn.execute(select(func.max(t.settlements.c.settle_date))).scalar()
        first = _first_trades(conn, [trade.trade_ref for trade in trades])
        rows: list[Row] = []
        injected: list[Row] = []
        for trade in trades:
            prior = first.get(trade.trade_ref)
            if prior is not None:
                terms = _terms(trade)
                same = prior[_TERMS] == terms[:5] and prior[_SUBMITTED] == terms[5:]
                rows.append(self._row(batch_id, trade, "repeat" if same else "refused", prior))
                continue
            settled = last_settled is not None and trade.settle_date <= last_settled
            if settled or trade.settle_date < trade.trade_date:
                rows.append(self._row(batch_id, trade, "refused"))
                continue
            fault = self.plan.choose(batch_id, trade.trade_ref)
            if fault is not None:
                injected.append(
                    (None, fault.kind.value, trade.trade_ref, batch_id, trade.trade_date)
                )
                if fault.kind is FaultKind.DROP:
                    continue
            row = self._faulty_row(batch_id, trade, fault)
            rows.append(row)
            first[trade.trade_ref] = row
            if fault is not None and fault.kind is FaultKind.DUPLICATE:
                rows.append(self._row(batch_id, trade, "trade"))
        return rows, injected

    def _faulty_row(self, batch_id: str, trade: ClearingTrade, fault: Fault | None) -> Row:
        if fault is None:
            return self._row(batch_id, trade, "trade")
        qty, price = trade.qty, trade.price
        if fault.kind is FaultKind.ALTER:
            qty, price = (qty, price + CENT) if fault.alter_price else (qty + 1, price)
        late = fault.kind is FaultKind.LATE
        return self._row(batch_id, trade, "trade", qty=qty, price=price, late=late)

    def _row(
        self,
        batch_id: str,
        trade: ClearingTrade,
        role: str,
        prior: Row | None = None,
        qty: int | None = None,
        price: int | None = None,
        late: bool = False,
    ) -> Row:
        self.seq += 1
        if role == "repeat" and prior is not None:  # the first confirmation, as it was
            return (self.seq, batch_id, role, prior[3], *prior[4:15], False, True)
        return (
            self.seq,
            batch_id,
            role,
            f"C{self.seq:015d}",
            trade.trade_ref,
            role != "refused",
            *_terms(trade)[:5],
            trade.qty if qty is None else qty,
            trade.price if price is None else price,
            trade.qty,
            trade.price,
            late,
            not late,
        )


def _first_trades(conn: Connection, refs: list[str]) -> dict[str, Row]:
    """The first `trade` row of each of `refs` recorded before: one query for the batch, its
    refs one JSON array parameter (no limit on their number, no statement per chunk)."""
    first: dict[str, Row] = {}
    for row in fetch(conn, _FIRST_TRADES_SQL, (msgspec.json.encode(refs).decode(),)):
        first.setdefault(row[4], row)
    return first


_FIRST_TRADES_SQL = """
SELECT * FROM confirmations
WHERE trade_ref IN (SELECT value FROM json_each(?)) AND role = 'trade'
ORDER BY seq
"""


def fetch(conn: Connection, sql: str, parameters: tuple[Any, ...]) -> list[Row]:
    """Rows as plain tuples straight from the driver, in the request's transaction: a
    settlement reads millions of them, where a SQLAlchemy `Row` each costs more than the query."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        return list(cursor.execute(sql, parameters).fetchall())
    finally:
        cursor.close()


def _terms(trade: ClearingTrade) -> Row:
    return (
        trade.trade_date,
        trade.settle_date,
        trade.symbol,
        trade.buyer,
        trade.seller,
        trade.qty,
        trade.price,
    )


def confirmation_of(row: Row) -> Confirmation:
    """The confirmation a row (as `TradeCapture` made it) stands for."""
    return Confirmation(
        row[4],
        row[3],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[LATE],
    )
