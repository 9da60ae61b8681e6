"""Per-symbol and market-wide trading guards: halts, the price-move circuit breaker, LULD bands.

State here changes only through the engine, with the command's time as an argument. Prices are
watched in one-second buckets over a sliding window, so a trade costs a few integer operations
and the window's high, low and mean are recomputed only when a new second begins.
"""

from collections import deque

import msgspec

from tradingfloor.domain.enums import HaltReason

SECOND_NS = 1_000_000_000
BPS = 10_000


class Bucket(msgspec.Struct, gc=False, array_like=True):
    second: int
    total: int
    count: int
    high: int
    low: int


class SymbolGuardState(msgspec.Struct, array_like=True):
    symbol: str
    reference: int | None
    halt: HaltReason | None
    halted_until: int | None
    buckets: list[Bucket]
    limits_second: int
    collar: tuple[int, int] | None
    band: tuple[int, int] | None
    buy_max: int
    sell_min: int


class SymbolGuard:
    """One symbol's reference price, halt, and window of recent trade prices."""

    __slots__ = (
        "_buckets",
        "_count",
        "_high",
        "_low",
        "_second",
        "_total",
        "band",
        "buy_max",
        "collar",
        "halt",
        "halted_until",
        "limits_second",
        "reference",
        "sell_min",
        "symbol",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.reference: int | None = None
        self.halt: HaltReason | None = None
        self.halted_until: int | None = None
        self._buckets: deque[Bucket] = deque()
        self._second = -1
        self._total = 0
        self._count = 0
        self._high = 0
        self._low = 0
        self.limits_second = -1
        """The second (ts // 1 s) the price limits below were fixed in; -1: not fixed."""
        self.collar: tuple[int, int] | None = None
        """(highest buy, lowest sell) limit prices by the collar; None: no reference."""
        self.band: tuple[int, int] | None = None
        """(highest buy, lowest sell) limit prices by the LULD band; None: off or no price."""
        self.buy_max = 0
        self.sell_min = 0
        """The tightest of both, for the fast path."""

    def set_reference(self, price: int) -> None:
        self.reference = price
        self.limits_second = -1

    def on_trades(
        self, ts: int, count: int, total: int, high: int, low: int, window_ns: int, move_bps: int
    ) -> bool:
        """Record `count` trades at `ts` (their price sum, high and low); True when the
        window's prices now span more than `move_bps`."""
        second = ts // SECOND_NS
        if second == self._second:
            bucket = self._buckets[-1]
            bucket.total += total
            bucket.count += count
            if high > bucket.high:
                bucket.high = high
            if low < bucket.low:
                bucket.low = low
            self._total += total
            self._count += count
            if high > self._high:
                self._high = high
            if low < self._low:
                self._low = low
        else:
            self._second = second
            self._buckets.append(Bucket(second, total, count, high, low))
            self._recompute(second - window_ns // SECOND_NS)
        return (self._high - self._low) * BPS > self._low * move_bps

    def mean_price(self, ts: int, window_ns: int) -> int | None:
        """The mean trade price over the window ending at `ts`, or None with no trade in it."""
        if self._buckets and self._buckets[0].second <= ts // SECOND_NS - window_ns // SECOND_NS:
            self._recompute(ts // SECOND_NS - window_ns // SECOND_NS)
        return self._total // self._count if self._count else None

    def _recompute(self, oldest_excluded: int) -> None:
        buckets = self._buckets
        while buckets and buckets[0].second <= oldest_excluded:
            buckets.popleft()
        self._total = sum(bucket.total for bucket in buckets)
        self._count = sum(bucket.count for bucket in buckets)
        self._high = max((bucket.high for bucket in buckets), default=0)
        self._low = min((bucket.low for bucket in buckets), default=0)

    def halted_at(self, ts: int) -> bool:
        """Whether a halt is in force at `ts` (a timed halt that has run out is not)."""
        if self.halt is None:
            return False
        return self.halted_until is None or ts < self.halted_until

    def export_state(self) -> SymbolGuardState:
        return SymbolGuardState(
            self.symbol,
            self.reference,
            self.halt,
            self.halted_until,
            [msgspec.structs.replace(bucket) for bucket in self._buckets],
            self.limits_second,
            self.collar,
            self.band,
            self.buy_max,
            self.sell_min,
        )

    @classmethod
    def from_state(cls, state: SymbolGuardState) -> "SymbolGuard":
        guard = cls(state.symbol)
        guard.reference = state.reference
        guard.halt = state.halt
        guard.halted_until = state.halted_until
        guard._buckets = deque(msgspec.structs.replace(bucket) for bucket in state.buckets)
        guard.limits_second = state.limits_second
        guard.collar = state.collar
        guard.band = state.band
        guard.buy_max = state.buy_max
        guard.sell_min = state.sell_min
        if guard._buckets:
            guard._second = guard._buckets[-1].second
            guard._recompute(guard._buckets[0].second - 1)
        return guard


class MarketGuardState(msgspec.Struct, array_like=True):
    reference: int | None = None
    value: int | None = None
    levels_session: int = -1
    levels_hit: int = 0
    halt: HaltReason | None = None
    halted_until: int | None = None


MARKET_LEVELS = (
    HaltReason.MARKET_WIDE_LEVEL_1,
    HaltReason.MARKET_WIDE_LEVEL_2,
    HaltReason.MARKET_WIDE_LEVEL_3,
)


def market_level(decline_bps: int, levels_bps: tuple[int, int, int]) -> int:
    """How many market-wide levels a decline (in bps of the reference) has reached: 0..3."""
    return sum(1 for level in levels_bps if decline_bps >= level)


def band_bps(tier: int, tier_1_bps: int, tier_2_bps: int, doubled: bool) -> int:
    """The LULD band's half-width: by tier, doubled near the open and the close."""
    width = tier_1_bps if tier == 1 else tier_2_bps
    return width * 2 if doubled else width


def collar_caps(reference: int, collar_bps: int) -> tuple[int, int]:
    """The highest price a buy and the lowest a sell may reach from `reference` (unrounded)."""
    buy_cap = reference + reference * collar_bps // BPS
    sell_cap = reference - reference * collar_bps // BPS
    return buy_cap, max(sell_cap, 1)
