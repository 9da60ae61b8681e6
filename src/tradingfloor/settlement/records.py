"""What the platform and the clearinghouse tell each other, as plain values.

These are the records of the clearing protocol (`settlement.protocol` writes each as one
fixed-width line) and what the settlement role and the clearinghouse reason about. Dates are
ISO trading days (`"2026-12-02"`); prices and cash in price units (1/10,000 dollar);
quantities in whole shares. A participant is a platform account (the clearinghouse keeps
positions per account, as sub-accounts of the platform's clearing membership). Cash is the
symbol `USD`.
"""

import msgspec

CASH_SYMBOL = "USD"


class ClearingTrade(msgspec.Struct, frozen=True, array_like=True):
    """One execution as the platform submits it for clearing (trade capture)."""

    trade_ref: str
    """Unique on the platform: `<shard>:<symbol>:<trade id>` (trade ids count per book)."""
    trade_date: str
    settle_date: str
    symbol: str
    buyer: str
    seller: str
    qty: int
    price: int


class Confirmation(msgspec.Struct, frozen=True, array_like=True):
    """The clearinghouse's confirmation of one trade, with the terms it recorded."""

    trade_ref: str
    clearing_ref: str
    accepted: bool
    trade_date: str
    settle_date: str
    symbol: str
    buyer: str
    seller: str
    qty: int
    price: int
    late: bool = False
    """Released after the answer to the batch that carried the trade."""


class Movement(msgspec.Struct, frozen=True, array_like=True):
    """Settled cash or shares into (positive) or out of (negative) a participant outside
    trading: deposits, withdrawals, dividends, split adjustments, break adjustments."""

    ref: str
    date: str
    participant: str
    symbol: str
    qty: int


class Instruction(msgspec.Struct, frozen=True, array_like=True):
    """CNS settlement of one participant in one security on `settle_date`: shares received
    (positive) or delivered (negative) and cash received (positive) or paid (negative)."""

    settle_date: str
    participant: str
    symbol: str
    qty: int
    cash: int


class Fail(msgspec.Struct, frozen=True, array_like=True):
    """Shares due on `settle_date` that were not delivered (`qty` > 0: the participant was
    short), carried to the next settlement date; `from_date` is when the fail first arose."""

    settle_date: str
    participant: str
    symbol: str
    qty: int
    from_date: str


class Holding(msgspec.Struct, frozen=True, array_like=True):
    """A participant's position at the clearinghouse: shares of `symbol`, or cash (`USD`)."""

    participant: str
    symbol: str
    qty: int
