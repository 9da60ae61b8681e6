"""Prices are integers in 1/10,000 of a dollar; cash uses the same unit, so qty x price is exact.

`Decimal` appears only here, where text becomes a number or a number becomes text.
"""

from decimal import Decimal, InvalidOperation

PRICE_SCALE = 10_000
"""Units per dollar: $150.25 is 1_502_500 (the ITCH and LOBSTER convention)."""

ONE_DOLLAR = PRICE_SCALE
CENT = PRICE_SCALE // 100
SUB_PENNY = 1


class PriceFormatError(ValueError):
    """Text that is not a price in dollars with at most four decimals."""


def parse_price(text: str | int) -> int:
    """Turn a dollar amount ("150.25", "0.0001", 3) into price units, exactly or not at all."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as error:
        raise PriceFormatError(f"not a number: {text!r}") from error
    if not value.is_finite():
        raise PriceFormatError(f"not a finite number: {text!r}")
    units = value * PRICE_SCALE
    if units != units.to_integral_value():
        raise PriceFormatError(f"more than four decimals: {text!r}")
    return int(units)


def format_price(units: int) -> str:
    """Price units as dollars, at least two decimals, no trailing noise: 1502500 -> "150.25"."""
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), PRICE_SCALE)
    digits = f"{fraction:04d}"
    if digits.endswith("00"):
        digits = digits[:2]
    return f"{sign}{whole}.{digits}"


def format_optional_price(units: int | None) -> str | None:
    """`format_price`, with None for None (an order without a limit price, no fill yet)."""
    return None if units is None else format_price(units)


def format_price_decimal(units: int) -> Decimal:
    """Price units as an exact `Decimal` number of dollars."""
    return Decimal(units).scaleb(-4)
