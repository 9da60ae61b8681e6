"""Fault injection: which trade records the clearinghouse mishandles on purpose, and how.

A fault is chosen per trade record by a seeded random draw: a hash (BLAKE2b) of the seed, the
batch id and the trade ref, read as a number in [0, 1), compared with the cumulative rates in
the order drop, alter, duplicate, late. So a run is reproducible whatever the order of the
batches and across restarts, a record has at most one fault, and a trade resubmitted in a new
batch (after a drop, say) gets a fresh draw. A batch resubmitted under its own id is answered
from the store and never drawn again.

- drop: not stored, no confirmation.
- alter: stored and confirmed with qty + 1 or price + one cent (which of the two: the draw).
- duplicate: stored twice, under two clearing refs, with two confirmations.
- late: stored and netted; its confirmation held back and released at the next connection.
"""

import hashlib
from dataclasses import dataclass
from enum import StrEnum

CENT = 100
"""One cent in price units (1/10,000 dollar): what an altered price is off by."""


class FaultKind(StrEnum):
    DROP = "drop"
    ALTER = "alter"
    DUPLICATE = "duplicate"
    LATE = "late"


@dataclass(frozen=True)
class FaultRates:
    """The share of trade records (0 to 1 each, 1 at most together) given each fault."""

    drop: float = 0.0
    alter: float = 0.0
    duplicate: float = 0.0
    late: float = 0.0

    def __post_init__(self) -> None:
        rates = (self.drop, self.alter, self.duplicate, self.late)
        if any(not 0.0 <= rate <= 1.0 for rate in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError("fault rates are each between 0 and 1 and add up to 1 at most")

    @classmethod
    def parse(cls, text: str) -> "FaultRates":
        """`drop=0.01,alter=0.01,duplicate=0.01,late=0.01` (any of them; empty for none)."""
        rates: dict[str, float] = {}
        for part in filter(None, (piece.strip() for piece in text.split(","))):
            name, equals, value = part.partition("=")
            if not equals or name not in FaultKind.__members__.values():
                raise ValueError(f"{part!r}: expected drop|alter|duplicate|late=RATE")
            rates[name] = float(value)
        return cls(**rates)

    @property
    def any(self) -> bool:
        return bool(self.drop or self.alter or self.duplicate or self.late)


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    alter_price: bool
    """For `alter`: the price is off by a cent (else the quantity by a share)."""


@dataclass(frozen=True)
class InjectedFault:
    """A fault the clearinghouse injected, as its store records it."""

    kind: FaultKind
    trade_ref: str
    batch_id: str
    date: str
    """The trade date."""


class FaultPlan:
    """The faults of a clearinghouse: its rates and seed."""

    def __init__(self, rates: FaultRates, seed: int = 0) -> None:
        self.rates = rates
        self.seed = seed
        self._bounds = [
            (rates.drop, FaultKind.DROP),
            (rates.drop + rates.alter, FaultKind.ALTER),
            (rates.drop + rates.alter + rates.duplicate, FaultKind.DUPLICATE),
            (rates.drop + rates.alter + rates.duplicate + rates.late, FaultKind.LATE),
        ]

    def choose(self, batch_id: str, trade_ref: str) -> Fault | None:
        """The fault of this trade record in this batch, if it gets one."""
        if not self.rates.any:
            return None
        digest = hashlib.blake2b(
            f"{self.seed}\0{batch_id}\0{trade_ref}".encode(), digest_size=9
        ).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        for bound, kind in self._bounds:
            if draw < bound:
                return Fault(kind, alter_price=bool(digest[8] & 1))
        return None
