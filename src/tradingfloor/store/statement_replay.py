"""An account's balances as of any moment, replayed from its activities.

A statement needs balances at the start of its period, which no read-model row keeps: the
balance and position rows hold only the newest state. Replaying the account's `activities`
rows in time order gives them at any moment, with the arithmetic the projector posts with
(`projection_ledger`): trades into unsettled cash, average cost taken off on sells, the
`settlement` rows moving cash from unsettled to settled.

How each kind counts (`qty` and `amount` are signed from the account's side):

- `trade`: `amount` into unsettled cash; `qty` bought adds `qty x price` to the position's cost,
  `qty` sold takes off its average cost (the rest of the proceeds is realized P&L).
- `fee`: `amount` (negative) into unsettled cash, as the ledger posts it.
- `deposit`, `withdrawal`, `dividend` (paid): `amount` into settled cash.
- `settlement`: `amount` moves from unsettled into settled cash (a row of settled shares
  changes no quantity: the shares were the account's since the trade).
- `shares_in`: `qty` at `price` per share of cost; `shares_out`: `qty` (negative) leaves with
  its average cost, as the engine takes it off.
- `adjustment` (a break resolved): `amount` into settled cash; `qty` shares in at the
  position's average cost, or out taking theirs.
- `split`: `qty` is the change of the position; `amount`, cash in lieu of a fraction, into
  settled cash; `price` the cost basis taken off with that fraction (the rest of the cash is
  realized P&L).
- `symbol_change`: two rows, the shares out of the old name (`qty` negative) and into the new
  one: the position moves with its cost and fraction (the first row of the pair takes the
  position out, the second puts it in: a position below one share has two rows of `qty` 0).
- `fraction`: a fill of a fraction with the fractional desk, settled at once: `qty` is in
  nano-shares (1e-9 share, signed), `amount` into settled cash; bought, it adds the cash to
  the cost; sold, it takes off its part of the cost (the rest of the cash is realized P&L).
- `fraction_split`: a split's change of a position's fraction, in nano-shares.
- Any other kind (`status`, `reject`, `day_trade`, and kinds added later) changes no balance:
  it is listed on the statement as it is, and counted in the totals by kind.

Cash moved between shards has no activity: it moves the account's cash from one shard's part
to another's and leaves the sum unchanged.
"""

from dataclasses import dataclass, field

from tradingfloor.domain.fractions import NANO, basis_sold, fraction_value

SETTLED_CASH_KINDS = frozenset(
    {"deposit", "withdrawal", "dividend", "adjustment", "split", "fraction"}
)
"""Kinds whose amount goes to settled cash as it is."""
UNSETTLED_CASH_KINDS = frozenset({"trade", "fee"})
"""Kinds whose amount is owed or due until its trade date settles."""


@dataclass(frozen=True)
class PositionLine:
    """One position as of a moment; `price` is the last trade price known then (None if the
    symbol never traded by then), `market_value` is `qty x price`."""

    symbol: str
    qty: int
    cost: int
    price: int | None
    fraction: int = 0
    """Nano-shares beyond `qty`."""

    @property
    def average_cost(self) -> int:
        """Cost per share, rounded down to the price unit (0 when flat), as the ledger's."""
        nano = self.qty * NANO + self.fraction
        return self.cost * NANO // nano if nano else 0

    @property
    def market_value(self) -> int | None:
        if self.price is None:
            return None
        return self.qty * self.price + fraction_value(self.fraction, self.price)


@dataclass(frozen=True)
class Balances:
    """Cash and positions as of a moment. `realized` is the realized P&L of every sell so far
    (fees apart), so the P&L of a period is the difference of two snapshots."""

    settled: int
    unsettled: int
    realized: int
    positions: tuple[PositionLine, ...]

    @property
    def cash(self) -> int:
        return self.settled + self.unsettled

    @property
    def market_value(self) -> int | None:
        """The positions' market value, or None when a held symbol has no known price."""
        values = [line.market_value for line in self.positions]
        if any(value is None for value in values):
            return None
        return sum(value for value in values if value is not None)


@dataclass
class _Position:
    qty: int = 0
    cost: int = 0
    fraction: int = 0


@dataclass
class Replay:
    """The fold: `apply` each activity in time order, `snapshot` the balances at any point."""

    settled: int = 0
    unsettled: int = 0
    realized: int = 0
    positions: dict[str, _Position] = field(default_factory=dict)
    _renamed: _Position | None = None
    """The position a symbol change's first row took out, for its second row."""

    def apply(
        self, kind: str, symbol: str | None, qty: int | None, price: int | None, amount: int | None
    ) -> None:
        """One activity row (its kind, symbol, signed qty, price and signed amount)."""
        cash = amount or 0
        if kind in UNSETTLED_CASH_KINDS:
            self.unsettled += cash
        elif kind in SETTLED_CASH_KINDS:
            self.settled += cash
        elif kind == "settlement":
            self.unsettled -= cash
            self.settled += cash
        if kind == "symbol_change" and symbol is not None:
            self._rename(symbol)
            return
        if symbol is None or not qty:
            return
        if kind in ("trade", "shares_in"):
            self._add_or_remove(symbol, qty, price or 0, kind == "trade")
        elif kind in ("shares_out", "adjustment"):
            average = self._average_cost(symbol) if qty > 0 else 0
            self._add_or_remove(symbol, qty, average, realize=False)
        elif kind == "split":
            position = self.positions.setdefault(symbol, _Position())
            position.qty += qty
            position.cost -= price or 0
            self.realized += cash - (price or 0)
        elif kind == "fraction":
            self._fraction(symbol, qty, cash)
        elif kind == "fraction_split":
            self.positions.setdefault(symbol, _Position()).fraction += qty

    def _average_cost(self, symbol: str) -> int:
        position = self.positions.get(symbol)
        return position.cost // position.qty if position is not None and position.qty else 0

    def _rename(self, symbol: str) -> None:
        """The first row of a symbol change takes the old name's position out; the second
        (into the new name) puts it in."""
        moved = self._renamed
        if moved is None:
            self._renamed = self.positions.pop(symbol, _Position())
            return
        position = self.positions.setdefault(symbol, _Position())
        position.qty += moved.qty
        position.cost += moved.cost
        position.fraction += moved.fraction
        self._renamed = None

    def _fraction(self, symbol: str, nano: int, cash: int) -> None:
        """A desk fill of `nano` nano-shares (negative: sold) for `cash` (negative: paid)."""
        position = self.positions.setdefault(symbol, _Position())
        before = position.qty * NANO + position.fraction
        if nano > 0:
            position.cost -= cash
        else:
            sold = -nano
            removed = basis_sold(position.cost, sold, before)
            position.cost -= removed
            self.realized += cash - removed
        position.qty, position.fraction = divmod(before + nano, NANO)

    def _add_or_remove(self, symbol: str, qty: int, price: int, realize: bool) -> None:
        position = self.positions.setdefault(symbol, _Position())
        if qty > 0:
            position.qty += qty
            position.cost += qty * price
            return
        sold = -qty
        held = position.qty
        if held <= 0:  # nothing on record to take cost from (rows older than the account's)
            position.qty -= sold
            return
        removed = basis_sold(position.cost, sold * NANO, held * NANO + position.fraction)
        position.cost -= removed
        position.qty = held - sold
        if realize:
            self.realized += sold * price - removed

    def copy(self) -> "Replay":
        """The state as it is now, apart from what is applied next."""
        positions = {
            symbol: _Position(p.qty, p.cost, p.fraction) for symbol, p in self.positions.items()
        }
        return Replay(self.settled, self.unsettled, self.realized, positions)

    def symbols(self) -> list[str]:
        """The symbols held now, sorted."""
        return sorted(
            symbol
            for symbol, position in self.positions.items()
            if position.qty or position.fraction
        )

    def snapshot(self, prices: dict[str, int]) -> Balances:
        """The balances now, positions valued at `prices` (symbol -> last trade price)."""
        lines = tuple(
            PositionLine(
                symbol, position.qty, position.cost, prices.get(symbol), position.fraction
            )
            for symbol, position in sorted(self.positions.items())
            if position.qty or position.fraction
        )
        return Balances(self.settled, self.unsettled, self.realized, lines)
