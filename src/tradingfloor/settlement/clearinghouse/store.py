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
from sqlalchemy import Connection, Row, func, select, update

from tradingfloor.settlement.clearinghouse import tables as t
from tradingfloor.settlement.clearinghouse.capture import TradeCapture, confirmation_of, fetch
from tradingfloor.settlement.clearinghouse.faults import (
    FaultKind,
    FaultPlan,
    FaultRates,
    InjectedFault,
)
from tradingfloor.settlement.clearinghouse.netting import Settled, settle_date
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
        with self.engine.connect() as conn:
            last_seq = conn.execute(select(func.max(t.confirmations.c.seq))).scalar() or 0
        self._capture = TradeCapture(plan or FaultPlan(FaultRates()), last_seq)

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
                c = t.confirmations.c
                stored = conn.execute(
                    select(t.confirmations)
                    .where(c.seq.between(done.first_seq, done.last_seq), c.late.is_(False))
                    .order_by(c.seq)
                )
                return [*released, _ack(done), *(_confirmation(row) for row in stored)]
            first_seq = self._capture.seq + 1
            rows, injected = self._capture.take(conn, batch_id, trades)
            _insert(conn, t.confirmations, rows)
            _insert(conn, t.faults, injected)
            taken = len({row[4] for row in rows if row[2] == "trade"})
            ack = Ack(batch_id, len(trades), taken)
            seqs = (first_seq, self._capture.seq)
            self._record_batch(conn, ack, "TRD", participant, date, digest, seqs)
            answer = [confirmation_of(row) for row in rows if not row[15]]
            return [*released, ack, *answer]

    def record_movements(
        self, batch_id: str, participant: str, date: str, digest: str, moves: Sequence[Movement]
    ) -> list[Any]:
        """Late confirmations released now, then the batch's ACK (records taken)."""
        with self.engine.begin() as conn:
            done = self._known_batch(conn, batch_id, "MOV", digest)
            released = self._release(conn)
            if done is not None:
                return [*released, _ack(done)]
            refs = msgspec.json.encode([move.ref for move in moves]).decode()
            known = {row[0] for row in fetch(conn, _KNOWN_MOVEMENTS_SQL, (refs,))}
            rows = []
            for move in moves:
                if move.ref not in known:
                    known.add(move.ref)
                    rows.append(
                        (move.ref, batch_id, move.date, move.participant, move.symbol, move.qty)
                    )
            _insert(conn, t.movements, rows)
            ack = Ack(batch_id, len(moves), len(rows))
            self._record_batch(conn, ack, "MOV", participant, date, digest, (0, -1))
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
        with self.engine.connect() as conn:
            rows = fetch(conn, _PAGE_SQL, (trade_date, after_seq, limit))
        return [confirmation_of(row) for row in rows], (rows[-1][0] if rows else after_seq)

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
                result = self._settle(conn, date, last)
                return released, [*result.instructions, *result.fails]
            instructions = fetch(conn, "SELECT * FROM instructions WHERE settle_date = ?", (date,))
            fails = fetch(conn, "SELECT * FROM fails WHERE settle_date = ?", (date,))
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

    def _known_batch(self, conn: Connection, batch_id: str, kind: str, digest: str) -> Any:
        """The row of batch `batch_id` taken before (None: a new batch)."""
        row = conn.execute(select(t.batches).where(t.batches.c.batch_id == batch_id)).first()
        if row is not None and (row.kind != kind or row.digest != digest):
            raise Refusal("BATCH_ID_REUSED", f"batch {batch_id} was sent with other records")
        return row

    def _record_batch(
        self,
        conn: Connection,
        ack: Ack,
        kind: str,
        participant: str,
        date: str,
        digest: str,
        seqs: tuple[int, int],
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
                first_seq=seqs[0],
                last_seq=seqs[1],
            )
        )

    def _release(self, conn: Connection) -> list[Confirmation]:
        c = t.confirmations.c
        held = c.released.is_(False)  # as the partial index `confirmations_held` says
        rows = conn.execute(select(t.confirmations).where(held).order_by(c.seq)).all()
        if rows:
            conn.execute(update(t.confirmations).where(held).values(released=True))
        return [_confirmation(row) for row in rows]

    def _settle(self, conn: Connection, date: str, last: str | None) -> Settled:
        obligations = fetch(conn, _OBLIGATIONS_SQL, (date, last or "") * 2)
        carried = [Fail(*row) for row in fetch(conn, _OF_DATE.format(table="fails"), (last,))]
        held = fetch(conn, _HOLDINGS_SQL, (date,) * 4)
        holdings = {(participant, symbol): qty for participant, symbol, qty in held}
        result = settle_date(date, obligations, carried, holdings)
        conn.execute(t.settlements.insert().values(settle_date=date))
        _insert(conn, t.instructions, _rows(result.instructions))
        _insert(conn, t.fails, _rows(result.fails))
        return result

    def _holdings(self, conn: Connection, as_of: str) -> list[Holding]:
        rows = fetch(conn, _HOLDINGS_SQL, (as_of,) * 4)
        return [Holding(participant, symbol, qty) for participant, symbol, qty in rows]


_KNOWN_MOVEMENTS_SQL = "SELECT ref FROM movements WHERE ref IN (SELECT value FROM json_each(?))"
_OF_DATE = "SELECT * FROM {table} WHERE settle_date = ?"
_PAGE_SQL = """
SELECT * FROM confirmations
WHERE trade_date = ? AND seq > ? AND role = 'trade' AND released
ORDER BY trade_date, seq LIMIT ?
"""
"""A page of a CNQ answer: a range of the index (trade_date, seq), read in its order."""
_OBLIGATIONS_SQL = """
SELECT participant, symbol, SUM(qty), SUM(cash) FROM (
    SELECT buyer AS participant, symbol, qty, -qty * price AS cash FROM confirmations
    WHERE role = 'trade' AND settle_date <= ? AND settle_date > ?
    UNION ALL
    SELECT seller, symbol, -qty, qty * price FROM confirmations
    WHERE role = 'trade' AND settle_date <= ? AND settle_date > ?
) GROUP BY symbol, participant ORDER BY symbol, participant
"""
"""Per participant and symbol, the net shares and cash of the confirmed trades settling in the
window (after the last settled date, up to this one), in the order netting wants them."""

_HOLDINGS_SQL = f"""
SELECT participant, symbol, SUM(qty) FROM (
    SELECT participant, symbol, qty FROM movements WHERE date <= ?
    UNION ALL SELECT participant, symbol, qty FROM instructions WHERE settle_date <= ?
    UNION ALL SELECT participant, '{CASH_SYMBOL}', cash FROM instructions WHERE settle_date <= ?
    UNION ALL SELECT participant, symbol, qty FROM fails WHERE settle_date <= ?
) GROUP BY participant, symbol HAVING SUM(qty) != 0 ORDER BY participant, symbol
"""
"""Holdings: movements, plus each settlement's instructions (shares and cash) less what failed
(a deliverer's fail, > 0, is shares it kept; a receiver's, < 0, shares it did not get)."""


def _rows(values: Iterable[Any]) -> list[tuple[Any, ...]]:
    return [msgspec.structs.astuple(value) for value in values]


def _insert(conn: Connection, table: Any, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(t.insert_sql(table), rows)


def _ack(batch: Any) -> Ack:
    return Ack(batch.batch_id, batch.received, batch.taken)


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
