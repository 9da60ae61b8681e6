"""An in-memory clearinghouse with the `ClearingClient` API, for the settlement role's tests.

It keeps what the real one keeps, in dicts: trades by trade_ref (a resubmitted batch is
answered with the same confirmations), movements by batch id, one settlement per date (CNS
as the real one nets, with its pure function: net shares and cash per participant and
security; a participant short of shares delivers what it has and the rest is a fail,
carried into the next settlement), holdings as of a date from the movements and
settlements dated up to it. Faults are named per trade_ref (`faults`): "drop" (no record,
no confirmation), "alter" (recorded and confirmed with one share more), "duplicate"
(recorded twice: a second confirmation under a second clearing ref), "late" (confirmed only
at the next call, or after `late_calls` calls, flagged late). `down = True` makes every
call raise `ConnectionError`, as an unreachable clearinghouse does; `calls` counts the calls
that reached it.
"""

from collections import Counter

import msgspec

from tradingfloor.settlement.clearinghouse.netting import settle_date as settle_date_of
from tradingfloor.settlement.records import (
    CASH_SYMBOL,
    ClearingTrade,
    Confirmation,
    Fail,
    Holding,
    Instruction,
    Movement,
)


class FakeClearinghouse:
    def __init__(self, faults: dict[str, str] | None = None, late_calls: int = 1) -> None:
        self.faults = dict(faults or {})
        self.late_calls = late_calls
        """A late confirmation is released after this many more connections."""
        self.down = False
        self.calls: Counter[str] = Counter()
        self.records: dict[str, list[ClearingTrade]] = {}
        """trade_ref -> the records cleared under it (two for a duplicate, none dropped)."""
        self.batches: dict[str, list[Confirmation]] = {}
        self.confirmed: dict[str, list[Confirmation]] = {}
        """trade date -> confirmations released."""
        self.held: list[tuple[int, Confirmation]] = []
        """(connections left before release, confirmation)."""
        self.movements: dict[str, list[Movement]] = {}
        self.settlements: dict[str, tuple[list[Instruction], list[Fail]]] = {}
        self._clearing_refs = 0

    def _connect(self, what: str) -> list[Confirmation]:
        """One connection: refused when down; releases what was held back."""
        if self.down:
            raise ConnectionError("the clearinghouse does not answer")
        self.calls[what] += 1
        self.held = [(calls - 1, confirmation) for calls, confirmation in self.held]
        released = [confirmation for calls, confirmation in self.held if calls <= 0]
        self.held = [(calls, confirmation) for calls, confirmation in self.held if calls > 0]
        for confirmation in released:
            self.confirmed.setdefault(confirmation.trade_date, []).append(confirmation)
        return released

    def _confirm(self, trade: ClearingTrade, late: bool = False) -> Confirmation:
        self._clearing_refs += 1
        return Confirmation(
            trade.trade_ref,
            f"C{self._clearing_refs:08d}",
            True,
            trade.trade_date,
            trade.settle_date,
            trade.symbol,
            trade.buyer,
            trade.seller,
            trade.qty,
            trade.price,
            late,
        )

    async def submit_trades(
        self, date: str, batch_id: str, trades: list[ClearingTrade]
    ) -> list[Confirmation]:
        released = self._connect("submit_trades")
        if batch_id in self.batches:
            return released + self.batches[batch_id]
        answers = []
        for trade in trades:
            if trade.trade_ref in self.records:
                continue
            fault = self.faults.get(trade.trade_ref)
            if fault == "drop":
                self.records[trade.trade_ref] = []
                continue
            if fault == "alter":
                trade = msgspec.structs.replace(trade, qty=trade.qty + 1)
            self.records[trade.trade_ref] = [trade]
            if fault == "late":
                self.held.append((self.late_calls, self._confirm(trade, late=True)))
                continue
            answers.append(self._confirm(trade))
            if fault == "duplicate":
                self.records[trade.trade_ref].append(trade)
                answers.append(self._confirm(trade))
        for answer in answers:
            self.confirmed.setdefault(answer.trade_date, []).append(answer)
        self.batches[batch_id] = answers
        return released + answers

    async def submit_movements(self, date: str, batch_id: str, movements: list[Movement]) -> int:
        self._connect("submit_movements")
        self.movements.setdefault(batch_id, list(movements))
        return len(self.movements[batch_id])

    async def confirmations(self, trade_date: str) -> list[Confirmation]:
        self._connect("confirmations")
        return list(self.confirmed.get(trade_date, []))

    async def settle(self, settle_date: str) -> tuple[list[Instruction], list[Fail]]:
        self._connect("settle")
        if settle_date not in self.settlements:
            self.settlements[settle_date] = self._cns(settle_date)
        return self.settlements[settle_date]

    def _cns(self, settle_date: str) -> tuple[list[Instruction], list[Fail]]:
        """The real clearinghouse's netting (`clearinghouse.netting`) over these dicts."""
        obligations: dict[tuple[str, str], tuple[int, int]] = {}
        for records in self.records.values():
            for trade in records:
                if trade.settle_date != settle_date:
                    continue
                value = trade.qty * trade.price
                for key, qty, cash in (
                    ((trade.buyer, trade.symbol), trade.qty, -value),
                    ((trade.seller, trade.symbol), -trade.qty, value),
                ):
                    before = obligations.get(key, (0, 0))
                    obligations[key] = (before[0] + qty, before[1] + cash)
        last = max(self.settlements, default=None)
        carried = [] if last is None else self.settlements[last][1]
        ordered = [
            (participant, symbol, qty, cash)
            for (participant, symbol), (qty, cash) in sorted(
                obligations.items(), key=lambda item: (item[0][1], item[0][0])
            )
        ]
        settled = settle_date_of(settle_date, ordered, carried, self._positions(settle_date))
        return settled.instructions, settled.fails

    def _positions(self, as_of: str) -> dict[tuple[str, str], int]:
        """Movements dated up to `as_of` and the settlements of those dates (instructions,
        less what failed), as the real one counts them."""
        held: dict[tuple[str, str], int] = {}

        def add(key: tuple[str, str], qty: int) -> None:
            held[key] = held.get(key, 0) + qty

        for movements in self.movements.values():
            for movement in movements:
                if movement.date <= as_of:
                    add((movement.participant, movement.symbol), movement.qty)
        for date, (instructions, fails) in self.settlements.items():
            if date <= as_of:
                for instruction in instructions:
                    add((instruction.participant, instruction.symbol), instruction.qty)
                    add((instruction.participant, CASH_SYMBOL), instruction.cash)
                for fail in fails:
                    add((fail.participant, fail.symbol), fail.qty)
        return held

    async def holdings(self, as_of: str) -> list[Holding]:
        self._connect("holdings")
        return [
            Holding(participant, symbol, qty)
            for (participant, symbol), qty in sorted(self._positions(as_of).items())
            if qty
        ]
