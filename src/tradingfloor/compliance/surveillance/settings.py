"""The thresholds of every surveillance pattern, named with their unit last.

Defaults are for a liquid US equity in whole shares; a deployment tunes them per market. All
times are integer nanoseconds of the events' `ts` (the detectors have no clock).
"""

import msgspec

SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS


class SurveillanceSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    wash_trade_qty_min: int = 1
    """A trade between two accounts of one owner this big or bigger is a wash trade."""

    spoof_order_qty_min: int = 2_000
    """Shares resting on one side (one order or several levels) that count as large."""
    spoof_size_ratio_min: int = 5
    """The large side is at least this many times the opposite fill."""
    spoof_window_ns: int = 30 * SECOND_NS
    """The large orders rest this long or less before the fill, and are canceled this long
    or less after it."""
    spoof_canceled_pct_min: int = 80
    """Percent of the large orders' open shares canceled within the window."""

    close_window_ns: int = 5 * MINUTE_NS
    """The last minutes of the session that count for marking the close."""
    close_volume_pct_min: int = 30
    """The account took (as aggressor) at least this percent of the window's volume."""
    close_trades_min: int = 3
    """Aggressive trades of the account in the window, at least."""
    close_move_bps_min: int = 50
    """The last price moved at least this far (hundredths of a percent) from its level
    before the window to the close, in the account's direction."""

    entry_window_ns: int = 10 * SECOND_NS
    """The window over which one account's order entry is counted."""
    entry_messages_min: int = 200
    """Orders, cancels and replaces (accepted or refused) of one account within the window."""
    entry_order_to_trade_ratio_min: int = 50
    """Messages per fill within the window (no fill counts as one)."""

    def warm_up_ns(self) -> int:
        """How much of a feed, before the place a role stopped at, rebuilds every detector's
        state: twice the longest span any of them looks back over."""
        return 2 * max(2 * self.spoof_window_ns, self.close_window_ns, self.entry_window_ns)

    def problems(self) -> list[str]:
        """What makes these settings unusable (an empty list: none)."""
        found = [
            f"{name} must be positive"
            for name in self.__struct_fields__
            if getattr(self, name) <= 0
        ]
        for name in ("spoof_canceled_pct_min", "close_volume_pct_min"):
            if getattr(self, name) > 100:
                found.append(f"{name} is a percent: at most 100")
        return found
