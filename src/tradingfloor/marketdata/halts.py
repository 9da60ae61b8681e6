"""Trading halts as the event feed tells them: each symbol's and the whole market's.

A halt starts with `TradingHalted` and ends with `TradingResumed`, or, when it has an
`until_ts`, by itself once that time has passed: no event says so (the engine notices at the
next order, and only then emits `TradingResumed`). So a halt is read at a time (`in_force`).

A market-wide halt is a command every shard applies: each shard's feed brings its own
`TradingHalted(None)` and, in time, its own `TradingResumed(None)`, and the feeds run side by
side. `MarketHalts` keeps each shard's word apart: the market is halted while any shard's halt
is in force, and the one that lasts longest is the one told (no end outlasts every end).
"""

from collections.abc import Callable, Iterable

import msgspec

from tradingfloor.domain.enums import HaltReason
from tradingfloor.domain.events import TradingHalted, TradingResumed


class HaltState(msgspec.Struct, frozen=True):
    """A halt: why, and until when (engine time, ns; None: until resumed)."""

    reason: HaltReason
    until_ts: int | None = None

    def in_force(self, now_ns: int) -> bool:
        """Whether the halt still holds at `now_ns` (a timed one ends by itself)."""
        return self.until_ts is None or now_ns < self.until_ts

    @property
    def reason_name(self) -> str:
        """The reason in lower case: `manual`, `price_move`, `market_wide_level_1`, ..."""
        return self.reason.name.lower()


def no_halt(symbol: str, now_ns: int) -> HaltState | None:
    """A halt source that knows of no halt (a hub fed no halt events)."""
    return None


def lasting_longest(halts: list[HaltState]) -> HaltState | None:
    """Of halts in force, the one that ends last (one without an end first)."""
    if not halts:
        return None
    return max(halts, key=lambda halt: (halt.until_ts is None, halt.until_ts or 0))


class MarketHalts:
    """The market-wide halt, as each shard's feed tells it (see the module)."""

    def __init__(self) -> None:
        self.by_shard: dict[int, HaltState] = {}

    def halted(self, shard: int, halt: HaltState) -> None:
        self.by_shard[shard] = halt

    def resumed(self, shard: int) -> None:
        self.by_shard.pop(shard, None)

    def at(self, now_ns: int) -> HaltState | None:
        """The market-wide halt in force at `now_ns`, if any."""
        if not self.by_shard:
            return None
        return lasting_longest([h for h in self.by_shard.values() if h.in_force(now_ns)])


class HaltNews:
    """The symbols whose quotes a publisher must send anew for a halt: those a halt event
    names (the market's: every symbol of `symbols()`) and, though no event tells it, those
    whose timed halt has run out (`ends`: per symbol, None for the market, the latest end
    heard of)."""

    def __init__(self, symbols: Callable[[], Iterable[str]]) -> None:
        self.symbols = symbols
        self.ends: dict[str | None, int] = {}

    def told(self, events: Iterable[TradingHalted | TradingResumed]) -> set[str]:
        """The symbols these halt events change."""
        changed: set[str] = set()
        for event in events:
            symbol = event.symbol
            if type(event) is TradingHalted and event.until_ts is not None:
                known = self.ends.get(symbol)
                if known is None or event.until_ts > known:
                    self.ends[symbol] = event.until_ts
            self._add(changed, symbol)
        return changed

    def ran_out(self, now_ns: int) -> set[str]:
        """The symbols whose timed halt has run out by `now_ns` (each told once)."""
        changed: set[str] = set()
        for symbol, until_ts in list(self.ends.items()):
            if until_ts <= now_ns:
                del self.ends[symbol]
                self._add(changed, symbol)
        return changed

    def _add(self, changed: set[str], symbol: str | None) -> None:
        if symbol is None:
            changed.update(self.symbols())
        else:
            changed.add(symbol)
