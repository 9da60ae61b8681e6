"""Fractions of a share: quantities in nano-shares (1e-9 share, Alpaca's finest), integers.

A fractional order asks `qty` whole shares plus `fraction` nano-shares; positions keep their
whole shares and a `fraction` below one share. The book trades whole shares only: fractions
trade against the platform's fractional desk (`engine.fractions`), at a price per whole share,
and their cash is `fraction x price / NANO` rounded once, half to even, to the price unit.
"""

NANO = 1_000_000_000
"""Nano-shares in one share."""


def fraction_value(nano: int, price: int) -> int:
    """The cash of `nano` nano-shares at `price` per share, rounded half to even."""
    quotient, remainder = divmod(nano * price, NANO)
    twice = 2 * remainder
    if twice > NANO or (twice == NANO and quotient % 2):
        return quotient + 1
    return quotient


def fraction_hold(nano: int, price: int) -> int:
    """The cash to hold for `nano` nano-shares bought at up to `price`: the value rounded
    up, never less than any fill at or below `price` costs."""
    return -(-nano * price // NANO)


def basis_sold(cost: int, sold_nano: int, held_nano: int) -> int:
    """The part of a position's cost basis that `sold_nano` of its `held_nano` nano-shares
    take with them: all of it when they are all, else their share rounded down (average
    cost; the one derivation the ledger, the read models and statements post with)."""
    return cost if sold_nano >= held_nano else cost * sold_nano // held_nano


def average_fill_price(
    filled_qty: int, filled_notional: int, filled_fraction: int, fraction_price: int | None
) -> int | None:
    """The mean fill price of whole shares (`filled_notional` is their qty x price) and a
    fraction filled at `fraction_price`, rounded down; None before the first fill."""
    if filled_fraction:
        total = filled_qty * NANO + filled_fraction
        value = filled_notional * NANO + filled_fraction * (fraction_price or 0)
        return value // total
    return filled_notional // filled_qty if filled_qty else None


def format_shares(whole: int, nano: int = 0) -> str:
    """`whole` shares and `nano` nano-shares as decimal text: "2", "2.5", "0.123456789"."""
    if not nano:
        return str(whole)
    total = whole * NANO + nano
    sign = "-" if total < 0 else ""
    units, rest = divmod(abs(total), NANO)
    return f"{sign}{units}.{rest:09d}".rstrip("0")
