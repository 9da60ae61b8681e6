"""What the clearinghouse does with each request, on its SQLite store (`tables`).

Every request is one transaction: a refusal (`Refusal`) raised inside it changes nothing,
not even the release of held-back confirmations. Only one thread uses a store at a time (the
server runs every request on one worker thread), so the store is its own single writer and
numbers its rows itself.
"""

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Connection, Row, func, select, text, update

from tradingfloor.settlement.clearinghouse import tables as t
from tradingfloor.settlement.clearinghouse.faults import (
    CENT,
    FaultKind,
    FaultPlan,
    FaultRates,
    InjectedFault,
)
from tradingfloor.settlement.clearinghouse.netting import settle_date
from tradingfloor.settlement.protocol import Ack
from tradingfloor.settlement.records import (
    CASH_SYMBOL,
    ClearingTrade,
    Confirmation,
    Fail,
    Holding,
    Instruction,
    Movement,
)
from tradingfloor.store.database import make_engine

STORE_FILE = "clearinghouse.db"
LOOKUP_CHUNK_REFS = 900
"""Refs per `IN (...)` lookup: under SQLite's oldest limit of 999 parameters."""


class Refusal(Exception):
    """A request refused as a whole: answered with `REJ`, nothing stored."""

    def __init__(self, code: str, reason: str, record: int = 0, field: str = "batch") -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.record = record
        self.field = field


def recorded_faults(data_dir: Path) -> list[InjectedFault]:
    """Every fault the clearinghouse with its store in `data_dir` injected, in order."""
    store = ClearingStore(data_dir)
    try:
        return store.faults()
    finally:
        store.close()


class ClearingStore:
    """The clearinghouse's records in `data_dir/clearinghouse.db`."""

    def __init__(self, data_dir: Path, plan: FaultPlan | None = None) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(f"sqlite:///{data_dir / STORE_FILE}")
        t.metadata.create_all(self.engine)
        self.plan = plan or FaultPlan(FaultRates())
        with self.engine.connect() as conn:
            self._seq = conn.execute(select(func.max(t.confirmations.c.seq))).scalar() or 0

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ requests

    def capture_trades(
        self,
        batch_id: str,
        participant: str,
        date: str,
        digest: str,
        trades: Sequence[ClearingTrade],
    ) -> list[Any]:
        """Late confirmations released now, the batch's ACK, then its confirmations."""
        with self.engine.begin() as conn:
            done = self._known_batch(conn, batch_id, "TRD", digest)
            released = self._release(conn)
            if done is not None:
                stored = conn.execute(
                    select(t.confirmations)
                    .where(t.confirmations.c.batch_id == batch_id, ~t.confirmations.c.late)
                    .order_by(t.confirmations.c.seq)
                )
                return [*released, done, *(_confirmation(row) for row in stored)]
            rows, injected = self._take_trades(conn, batch_id, trades)
            _insert(conn, t.confirmations, rows)
            _insert(conn, t.faults, injected)
            taken = len({row[4] for row in rows if row[2] == "trade"})
            ack = Ack(batch_id, len(trades), taken)
            self._record_batch(conn, ack, "TRD", participant, date, digest)
            answer = [_confirmation_of(row) for row in rows if not row[15]]
            return [*released, ack, *answer]

    def record_movements(
        self, batch_id: str, participant: str, date: str, digest: str, moves: Sequence[Movement]
    ) -> list[Any]:
        """Late confirmations released now, then the batch's ACK (records taken)."""
        with self.engine.begin() as conn:
            done = self._known_batch(conn, batch_id, "MOV", digest)
            released = self._release(conn)
            if done is not None:
                return [*released, done]
            known = set(self._existing(conn, t.movements.c.ref, [m.ref for m in moves]))
            rows = []
            for move in moves:
                if move.ref not in known:
                    known.add(move.ref)
                    rows.append(
                        (move.ref, batch_id, move.date, move.participant, move.symbol, move.qty)
                    )
            _insert(conn, t.movements, rows)
            ack = Ack(batch_id, len(moves), len(rows))
            self._record_batch(conn, ack, "MOV", participant, date, digest)
            return [*released, ack]

    def release(self) -> list[Confirmation]:
        """The held-back confirmations, released now (a query's connection releases them)."""
        with self.engine.begin() as conn:
            return self._release(conn)

    def confirmations_page(
        self, trade_date: str, after_seq: int, limit: int
    ) -> tuple[list[Confirmation], int]:
        """Released confirmations of the trades recorded for `trade_date`, in the order taken,
        after row `after_seq`; and the last row's number (pages keep an answer's memory
        bounded)."""
        c = t.confirmations.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.confirmations)
                .where(
                    c.trade_date == trade_date, c.role == "trade", c.released, c.seq > after_seq
                )
                .order_by(c.seq)
                .limit(limit)
            ).all()
        return [_confirmation(row) for row in rows], (rows[-1].seq if rows else after_seq)

    def settle(self, date: str) -> tuple[list[Confirmation], list[Any]]:
        """Late confirmations released now; the instructions and fails of `date` (settled
        now, or the stored result when it was settled already)."""
        with self.engine.begin() as conn:
            settled = conn.execute(
                select(t.settlements.c.settle_date).where(t.settlements.c.settle_date == date)
            ).first()
            last = conn.execute(select(func.max(t.settlements.c.settle_date))).scalar()
            if settled is None and last is not None and date < last:
                raise Refusal(
                    "OUT_OF_ORDER", f"{date} is before {last}, settled already", 1, "date"
                )
            released = self._release(conn)
            if settled is None:
                self._settle(conn, date, last)
            instructions = conn.execute(
                select(t.instructions).where(t.instructions.c.settle_date == date)
            )
            fails = conn.execute(select(t.fails).where(t.fails.c.settle_date == date))
            return released, [
                *(Instruction(*row) for row in instructions),
                *(Fail(*row) for row in fails),
            ]

    def holdings(self, as_of: str) -> tuple[list[Confirmation], list[Holding]]:
        """Late confirmations released now; every non-zero holding as of `as_of`."""
        with self.engine.begin() as conn:
            released = self._release(conn)
            return released, self._holdings(conn, as_of)

    def faults(self) -> list[InjectedFault]:
        """Every fault injected so far, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.faults).order_by(t.faults.c.seq))
            return [
                InjectedFault(FaultKind(row.kind), row.trade_ref, row.batch_id, row.date)
                for row in rows
            ]

    # ------------------------------------------------------------------ inside a request

    def _known_batch(self, conn: Connection, batch_id: str, kind: str, digest: str) -> Ack | None:
        row = conn.execute(select(t.batches).where(t.batches.c.batch_id == batch_id)).first()
        if row is None:
            return None
        if row.kind != kind or row.digest != digest:
            raise Refusal("BATCH_ID_REUSED", f"batch {batch_id} was sent with other records")
        return Ack(batch_id, row.received, row.taken)

    def _record_batch(
        self, conn: Connection, ack: Ack, kind: str, participant: str, date: str, digest: str
    ) -> None:
        conn.execute(
            t.batches.insert().values(
                batch_id=ack.batch_id,
                kind=kind,
                participant=participant,
                date=date,
                digest=digest,
                received=ack.received,
                taken=ack.taken,
            )
        )

    def _release(self, conn: Connection) -> list[Confirmation]:
        c = t.confirmations.c
        rows = conn.execute(select(t.confirmations).where(~c.released).order_by(c.seq)).all()
        if rows:
            conn.execute(update(t.confirmations).where(~c.released).values(released=True))
        return [_confirmation(row) for row in rows]

    def _existing(self, conn: Connection, column: Any, refs: Iterable[str]) -> list[Any]:
        found: list[Any] = []
        unique = sorted(set(refs))
        for start in range(0, len(unique), LOOKUP_CHUNK_REFS):
            chunk = unique[start : start + LOOKUP_CHUNK_REFS]
            found.extend(conn.execute(select(column).where(column.in_(chunk))).scalars())
        return found

    def _first_trades(self, conn: Connection, refs: list[str]) -> dict[str, tuple[Any, ...]]:
        c = t.confirmations.c
        first: dict[str, tuple[Any, ...]] = {}
        unique = sorted(set(refs))
        for start in range(0, len(unique), LOOKUP_CHUNK_REFS):
            chunk = unique[start : start + LOOKUP_CHUNK_REFS]
            rows = conn.execute(
                select(t.confirmations)
                .where(c.trade_ref.in_(chunk), c.role == "trade")
                .order_by(c.seq)
            )
            for row in rows:
                first.setdefault(row.trade_ref, tuple(row))
        return first

    def _take_trades(
        self, conn: Connection, batch_id: str, trades: Sequence[ClearingTrade]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The rows of a new batch: confirmations (as `tables.confirmations` tuples) and
        injected faults."""
        last_settled = conn.execute(select(func.max(t.settlements.c.settle_date))).scalar()
        first = self._first_trades(conn, [trade.trade_ref for trade in trades])
        rows: list[tuple[Any, ...]] = []
        injected: list[tuple[Any, ...]] = []
        for trade in trades:
            prior = first.get(trade.trade_ref)
            if prior is not None:
                terms = _terms(trade)
                same = prior[6:11] == terms[:5] and prior[13:15] == terms[5:]
                rows.append(self._row(batch_id, trade, "repeat" if same else "refused", prior))
                continue
            if (last_settled is not None and trade.settle_date <= last_settled) or (
                trade.settle_date < trade.trade_date
            ):
                rows.append(self._row(batch_id, trade, "refused"))
                continue
            fault = self.plan.choose(batch_id, trade.trade_ref)
            if fault is not None:
                injected.append(
                    (None, fault.kind.value, trade.trade_ref, batch_id, trade.trade_date)
                )
            kind = None if fault is None else fault.kind
            if kind is FaultKind.DROP:
                continue
            qty, price = trade.qty, trade.price
            if kind is FaultKind.ALTER:
                qty, price = (
                    (qty, price + CENT) if fault and fault.alter_price else (qty + 1, price)
                )
            row = self._row(
                batch_id, trade, "trade", qty=qty, price=price, late=kind is FaultKind.LATE
            )
            rows.append(row)
            first[trade.trade_ref] = row
            if kind is FaultKind.DUPLICATE:
                rows.append(self._row(batch_id, trade, "trade"))
        return rows, injected

    def _row(
        self,
        batch_id: str,
        trade: ClearingTrade,
        role: str,
        prior: tuple[Any, ...] | None = None,
        qty: int | None = None,
        price: int | None = None,
        late: bool = False,
    ) -> tuple[Any, ...]:
        self._seq += 1
        terms = _terms(trade)
        if role == "repeat" and prior is not None:  # the first confirmation, as it was
            return (self._seq, batch_id, role, prior[3], *prior[4:15], False, True)
        return (
            self._seq,
            batch_id,
            role,
            f"C{self._seq:015d}",
            trade.trade_ref,
            role != "refused",
            *terms[:5],
            trade.qty if qty is None else qty,
            trade.price if price is None else price,
            trade.qty,
            trade.price,
            late,
            not late,
        )

    def _settle(self, conn: Connection, date: str, last: str | None) -> None:
        c = t.confirmations.c
        window = [c.role == "trade", c.settle_date <= date]
        if last is not None:
            window.append(c.settle_date > last)
        obligations: dict[tuple[str, str], tuple[int, int]] = {}
        for side, sign in ((c.buyer, 1), (c.seller, -1)):
            rows = conn.execute(
                select(side, c.symbol, func.sum(c.qty), func.sum(c.qty * c.price))
                .where(*window)
                .group_by(side, c.symbol)
            )
            for participant, symbol, qty, cash in rows:
                before = obligations.get((participant, symbol), (0, 0))
                obligations[(participant, symbol)] = (
                    before[0] + sign * qty,
                    before[1] - sign * cash,
                )
        carried = (
            []
            if last is None
            else [
                Fail(*row)
                for row in conn.execute(select(t.fails).where(t.fails.c.settle_date == last))
            ]
        )
        holdings = {(h.participant, h.symbol): h.qty for h in self._holdings(conn, date)}
        result = settle_date(date, obligations, carried, holdings)
        conn.execute(t.settlements.insert().values(settle_date=date))
        _insert(conn, t.instructions, _rows(result.instructions))
        _insert(conn, t.fails, _rows(result.fails))

    def _holdings(self, conn: Connection, as_of: str) -> list[Holding]:
        rows = conn.execute(text(_HOLDINGS_SQL), {"as_of": as_of, "cash": CASH_SYMBOL})
        return [Holding(participant, symbol, qty) for participant, symbol, qty in rows]


_HOLDINGS_SQL = """
SELECT participant, symbol, SUM(qty) FROM (
    SELECT participant, symbol, qty FROM movements WHERE date <= :as_of
    UNION ALL SELECT participant, symbol, qty FROM instructions WHERE settle_date <= :as_of
    UNION ALL SELECT participant, :cash, cash FROM instructions WHERE settle_date <= :as_of
    UNION ALL SELECT participant, symbol, qty FROM fails WHERE settle_date <= :as_of
) GROUP BY participant, symbol HAVING SUM(qty) != 0 ORDER BY participant, symbol
"""
"""Holdings: movements, plus each settlement's instructions (shares and cash) less what failed
(a deliverer's fail, > 0, is shares it kept; a receiver's, < 0, shares it did not get)."""


def _terms(trade: ClearingTrade) -> tuple[Any, ...]:
    return (
        trade.trade_date,
        trade.settle_date,
        trade.symbol,
        trade.buyer,
        trade.seller,
        trade.qty,
        trade.price,
    )


def _rows(values: Iterable[Any]) -> list[tuple[Any, ...]]:
    return [msgspec.structs.astuple(value) for value in values]


def _insert(conn: Connection, table: Any, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(t.insert_sql(table), rows)


def _confirmation_of(row: tuple[Any, ...]) -> Confirmation:
    """From a `tables.confirmations` tuple (as inserted)."""
    return Confirmation(
        row[4], row[3], row[5], row[6], row[7], row[8], row[9], row[10], row[11], row[12], row[15]
    )


def _confirmation(row: Row[Any]) -> Confirmation:
    return Confirmation(
        row.trade_ref,
        row.clearing_ref,
        row.accepted,
        row.trade_date,
        row.settle_date,
        row.symbol,
        row.buyer,
        row.seller,
        row.qty,
        row.price,
        late=row.late,
    )
