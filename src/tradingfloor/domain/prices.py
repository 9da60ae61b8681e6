"""Prices are integers in 1/10,000 of a dollar; cash uses the same unit, so qty x price is exact.

`Decimal` appears only here, where text becomes a number or a number becomes text.
"""

from decimal import Decimal, InvalidOperation

PRICE_SCALE = 10_000
"""Units per dollar: $150.25 is 1_502_500 (the ITCH and LOBSTER convention)."""

ONE_DOLLAR = PRICE_SCALE
CENT = PRICE_SCALE // 100
SUB_PENNY = 1


NUMBER_TEXT_LENGTH_MAX = 40
"""Characters of a number's text at most: a price, a quantity, a percentage."""
NUMBER_DIGITS_MAX = 32
NUMBER_EXPONENT_MIN = -32
"""Fractional digits at most: 1E-33 and 0E-99 are refused rather than carried."""
NUMBER_MAGNITUDE_MAX = 18
"""Powers of ten at most (the adjusted exponent): 1E+19 is refused before any arithmetic."""


class PriceFormatError(ValueError):
    """Text that is not a price in dollars with at most four decimals."""


def bounded_decimal(value: Decimal) -> Decimal:
    """`value`, if it is finite and small enough to compute with; else `PriceFormatError`.

    A client's number must be checked before any arithmetic or formatting: `1e999999999` is
    one cheap `Decimal`, but formatting it writes a billion digits and turning it into an
    `int` takes seconds and gigabytes. Looking at its digits and exponent costs nothing."""
    if not value.is_finite():
        raise PriceFormatError(f"not a finite number: {value}")
    _sign, digits, exponent = value.as_tuple()
    if (
        len(digits) > NUMBER_DIGITS_MAX
        or not isinstance(exponent, int)
        or exponent < NUMBER_EXPONENT_MIN
        or value.adjusted() > NUMBER_MAGNITUDE_MAX
    ):
        raise PriceFormatError(
            f"out of range: at most {NUMBER_DIGITS_MAX} digits, {-NUMBER_EXPONENT_MIN} "
            f"decimals, below 1E+{NUMBER_MAGNITUDE_MAX + 1}"
        )
    return value


def parse_decimal(text: str) -> Decimal:
    """A client's number text as a bounded `Decimal` (see `bounded_decimal`)."""
    if len(text) > NUMBER_TEXT_LENGTH_MAX:
        raise PriceFormatError(f"more than {NUMBER_TEXT_LENGTH_MAX} characters")
    try:
        value = Decimal(text.strip())
    except InvalidOperation as error:
        raise PriceFormatError(f"not a number: {text!r}") from error
    return bounded_decimal(value)


def parse_price(text: str | int) -> int:
    """Turn a dollar amount ("150.25", "0.0001", 3) into price units, exactly or not at all."""
    value = parse_decimal(str(text))
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
