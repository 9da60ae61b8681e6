"""Risk, fee and settlement settings: part of the engine's state, changed only by a command.

They travel in the journal (`ConfigureRisk`) so that a replay applies the same limits at the
same sequence numbers. Every limit is named with its unit last (STYLE rule 7); `bps` are
hundredths of a percent, `ppm` millionths, `_ns` integer nanoseconds, money in price units.
"""

import msgspec

from tradingfloor.domain.enums import DayTradePolicy
from tradingfloor.domain.prices import PRICE_SCALE

MINUTE_NS = 60_000_000_000


class FeeSchedule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Fees per fill, charged to each side: a per-share part plus a per-notional part.

    The notional part is rounded down to the price unit; a fee never exceeds the fill's value.
    """

    maker_per_share: int = 0
    taker_per_share: int = 0
    maker_notional_ppm: int = 0
    taker_notional_ppm: int = 0

    @property
    def is_free(self) -> bool:
        return not (
            self.maker_per_share
            or self.taker_per_share
            or self.maker_notional_ppm
            or self.taker_notional_ppm
        )


class RiskSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Pre-trade limits, day-trade policy, halts and circuit breakers, fees and settlement."""

    collar_bps: int = 1_000
    """A buy limit above, or a sell limit below, the reference price by more than this is
    refused; market orders are held (and capped) at this distance from the reference."""
    quantity_max: int = 1_000_000
    notional_max: int = 10_000_000 * PRICE_SCALE
    open_orders_per_symbol_max: int = 1_000

    day_trade_policy: DayTradePolicy = DayTradePolicy.PDT
    day_trade_window_sessions: int = 5
    pattern_day_trades_min: int = 4
    pattern_day_trader_equity_min: int = 25_000 * PRICE_SCALE
    intraday_exposure_bps: int = 10_000
    """`intraday_margin`: positions at market plus open buys may reach equity times this."""

    halt_move_bps: int = 1_000
    """A symbol halts when its trades within `price_window_ns` span more than this."""
    price_window_ns: int = 5 * MINUTE_NS
    """The window of the price-move halt and of the LULD reference price (the mean of its
    trades), kept in one-second buckets."""
    halt_duration_ns: int = 5 * MINUTE_NS

    luld_enabled: bool = True
    luld_tier_1_bps: int = 500
    luld_tier_2_bps: int = 1_000
    luld_open_window_ns: int = 15 * MINUTE_NS
    luld_close_window_ns: int = 25 * MINUTE_NS

    market_halt_levels_bps: tuple[int, int, int] = (700, 1_300, 2_000)
    market_halt_duration_ns: int = 15 * MINUTE_NS
    market_halt_late_window_ns: int = 35 * MINUTE_NS
    """Levels 1 and 2 do not halt within this much of the close (after 3:25 pm)."""

    settlement_sessions: int = 2
    calendar: str = "XNYS"
    fees: FeeSchedule = FeeSchedule()

    good_faith_window_sessions: int = 252
    """Good-faith violations of a cash account count within this many sessions (a year)."""
    good_faith_violations_max: int = 3
    """This many violations within the window restrict the account to settled cash."""
    good_faith_restriction_sessions: int = 63
    """How long the restriction lasts (ninety days), from the session of the violation."""
    open_breaks_max: int = 10_000
    """Reconciliation breaks open at once; recording another is refused."""
    fractional_desk_account: str = ""
    """The account that takes the other side of every fraction of a share (`engine.fractions`);
    empty: fractional and notional orders are refused."""

    def problems(self) -> list[str]:
        """What makes these settings unusable; empty when they are fine."""
        found = []
        if not 1 <= self.collar_bps <= 100_000:
            found.append("collar_bps must be within 1..100000")
        for name in (
            "quantity_max",
            "notional_max",
            "open_orders_per_symbol_max",
            "day_trade_window_sessions",
            "pattern_day_trades_min",
            "intraday_exposure_bps",
            "halt_move_bps",
            "price_window_ns",
            "halt_duration_ns",
            "luld_tier_1_bps",
            "luld_tier_2_bps",
            "market_halt_duration_ns",
            "good_faith_window_sessions",
            "good_faith_violations_max",
            "good_faith_restriction_sessions",
            "open_breaks_max",
        ):
            if getattr(self, name) <= 0:
                found.append(f"{name} must be positive")
        levels = self.market_halt_levels_bps
        if not 0 < levels[0] < levels[1] < levels[2] < 10_000:
            found.append("market_halt_levels_bps must rise within 1..9999")
        if self.settlement_sessions < 0:
            found.append("settlement_sessions must not be negative")
        fees = self.fees
        if (
            min(fees.maker_per_share, fees.taker_per_share) < 0
            or min(fees.maker_notional_ppm, fees.taker_notional_ppm) < 0
        ):
            found.append("fees must not be negative")
        return found
