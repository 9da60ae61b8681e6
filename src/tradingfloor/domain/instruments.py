"""Instrument specifications: symbol, tick size schedule, lot size and default self-trade rule."""

import msgspec

from tradingfloor.domain.enums import SelfTradePrevention
from tradingfloor.domain.prices import CENT, ONE_DOLLAR, SUB_PENNY


class Instrument(msgspec.Struct, frozen=True):
    """A tradable symbol.

    `tick_size` 0 means the Reg NMS Rule 612 schedule: a cent at or above $1.00, 1/100 cent below.
    Any other value is a fixed tick in price units (test books use 1). `luld_tier` 1 (S&P 500,
    Russell 1000 and some ETPs) gets the narrow limit up-limit down band, 2 the wide one.
    """

    symbol: str
    tick_size: int = 0
    lot_size: int = 1
    stp: SelfTradePrevention = SelfTradePrevention.NONE
    luld_tier: int = 2

    def tick_at(self, price: int) -> int:
        """The tick that applies to an order at `price`."""
        if self.tick_size:
            return self.tick_size
        return CENT if price >= ONE_DOLLAR else SUB_PENNY

    def is_on_tick(self, price: int) -> bool:
        return price % self.tick_at(price) == 0

    def round_to_tick(self, price: int, *, up: bool) -> int:
        """The nearest price on the tick at or above (`up`) or at or below `price`."""
        tick = self.tick_at(price)
        floor = price - price % tick
        if up and floor != price:
            return floor + tick
        return floor
