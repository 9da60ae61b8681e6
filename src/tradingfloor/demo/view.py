"""What a simulated trader may see: a read-only window on the engine, and the fair values.

The demo runs in the event loop that applies commands, so reading the engine between two
awaits sees a consistent state. A trader never gets the engine's own objects: the view
copies what it answers into frozen structs.
"""

import math
import random
from collections import deque
from collections.abc import Mapping
from typing import Protocol

import msgspec

from tradingfloor.domain.enums import OrderType, Side
from tradingfloor.domain.instruments import Instrument
from tradingfloor.engine.pipeline import RiskPipeline
from tradingfloor.matching.book import OrderBook

BPS = 10_000
PRICE_LIMIT_SHARE_BPS = 5_000
"""Traders keep their limit prices within this share (in bps) of the tighter of the price
collar and the LULD band around the last trade: well clear of a reject, even when the band's
reference (the mean of the last five minutes) lags the last trade."""


class EngineView(Protocol):
    """The parts of the engine the demo reads (`tradingfloor.engine.Engine` is one)."""

    @property
    def books(self) -> Mapping[str, OrderBook]: ...

    @property
    def risk(self) -> RiskPipeline | None: ...

    @property
    def last_ts(self) -> int: ...


class Quote(msgspec.Struct, frozen=True):
    """The top of one book. `reference` is the last trade, else the set reference price."""

    symbol: str
    bid: int | None
    bid_qty: int
    ask: int | None
    ask_qty: int
    last: int | None
    reference: int
    halted: bool


class OwnOrder(msgspec.Struct, frozen=True):
    """One of the trader's live orders, as the engine holds it now."""

    order_id: int
    symbol: str
    side: Side
    order_type: OrderType
    price: int | None
    stop_price: int | None
    qty: int
    filled: int
    leaves: int


class FairValue:
    """A symbol's hidden value: a mean-reverting random walk of its log price.

    It moves by `volatility_bps_per_minute` per minute (one standard deviation), is pulled
    back to where it started so that it stays about a third of `range_bps` from there, and is
    clipped at `range_bps`. Steps are in simulated seconds, so the walk does not depend on
    how fast commands are sent.
    """

    def __init__(self, start: int, volatility_bps_per_minute: int, range_bps: int) -> None:
        self._anchor = math.log(start)
        self._log_price = self._anchor
        self._sigma = volatility_bps_per_minute / BPS / math.sqrt(60.0)  # per sqrt(second)
        self._range = range_bps / BPS
        spread = self._range / 3.0
        self._reversion = self._sigma**2 / (2.0 * spread**2)  # per second
        self.price = start

    def step(self, seconds: float, rng: random.Random) -> None:
        deviation = self._log_price - self._anchor
        deviation -= self._reversion * deviation * seconds
        deviation += self._sigma * math.sqrt(seconds) * rng.gauss(0.0, 1.0)
        deviation = min(max(deviation, -self._range), self._range)
        self._log_price = self._anchor + deviation
        self.price = max(round(math.exp(self._log_price)), 1)


class MarketView:
    """A read-only view for one trader: books, fair values, its own orders and holdings."""

    def __init__(
        self,
        engine: EngineView,
        account: str,
        own_orders: Mapping[int, str],
        fair_values: Mapping[str, FairValue],
        recent_trades: Mapping[str, deque[int]],
    ) -> None:
        self._engine = engine
        self.account = account
        self._own_orders = own_orders
        self._fair_values = fair_values
        self._recent_trades = recent_trades
        self.symbols: tuple[str, ...] = tuple(fair_values)

    def quote(self, symbol: str) -> Quote:
        book = self._engine.books[symbol]
        depth = book.depth(1)
        bid = depth.bids[0] if depth.bids else None
        ask = depth.asks[0] if depth.asks else None
        return Quote(
            symbol,
            None if bid is None else bid.price,
            0 if bid is None else bid.qty,
            None if ask is None else ask.price,
            0 if ask is None else ask.qty,
            book.last_price,
            self.reference(symbol),
            self.halted(symbol),
        )

    def reference(self, symbol: str) -> int:
        """The price collars start from: the last trade, else the set reference price."""
        last = self._engine.books[symbol].last_price
        if last is not None:
            return last
        risk = self._engine.risk
        guard = None if risk is None else risk.guards.get(symbol)
        if guard is not None and guard.reference is not None:
            return guard.reference
        return self._fair_values[symbol].price

    def halted(self, symbol: str) -> bool:
        """Whether new orders in `symbol` would be refused for a halt (as of the last command)."""
        risk = self._engine.risk
        if risk is None:
            return False
        ts = self._engine.last_ts
        market = risk.market
        if market.halt is not None and (market.halted_until is None or ts < market.halted_until):
            return True
        guard = risk.guards.get(symbol)
        return guard is not None and guard.halted_at(ts)

    def price_limits(self, symbol: str) -> tuple[int, int]:
        """(highest buy, lowest sell) limit price a trader should use: a share of the tighter
        of the collar and the LULD band around the reference, on the tick."""
        reference = self.reference(symbol)
        risk = self._engine.risk
        width_bps = 500
        if risk is not None:
            settings = risk.settings
            width_bps = settings.collar_bps
            if settings.luld_enabled:
                tier = self.instrument(symbol).luld_tier
                band = settings.luld_tier_1_bps if tier == 1 else settings.luld_tier_2_bps
                width_bps = min(width_bps, band)
        distance = reference * width_bps * PRICE_LIMIT_SHARE_BPS // (BPS * BPS)
        instrument = self.instrument(symbol)
        buy_max = instrument.round_to_tick(reference + distance, up=False)
        sell_min = instrument.round_to_tick(max(reference - distance, 1), up=True)
        return buy_max, sell_min

    def instrument(self, symbol: str) -> Instrument:
        return self._engine.books[symbol].instrument

    def fair_price(self, symbol: str) -> int:
        return self._fair_values[symbol].price

    def recent_trades(self, symbol: str) -> tuple[int, ...]:
        """Prices of the latest trades the demo saw in `symbol`, oldest first."""
        return tuple(self._recent_trades[symbol])

    def open_orders(self, symbol: str | None = None) -> list[OwnOrder]:
        """The trader's live orders (of `symbol`, or all), oldest first."""
        found = []
        books = self._engine.books
        for order_id, order_symbol in self._own_orders.items():
            if symbol is not None and order_symbol != symbol:
                continue
            order = books[order_symbol].order_view(order_id)
            if order is None:
                continue
            found.append(
                OwnOrder(
                    order_id,
                    order_symbol,
                    order.side,
                    order.order_type,
                    order.price,
                    order.stop_price,
                    order.qty,
                    order.filled,
                    order.leaves,
                )
            )
        return found

    def position(self, symbol: str) -> int:
        """Shares held (including those open sells hold)."""
        position = self._position(symbol)
        return 0 if position is None else position[0]

    def available_shares(self, symbol: str) -> int:
        """Shares a new sell may take: held and not held by an open sell."""
        position = self._position(symbol)
        return 0 if position is None else position[0] - position[1]

    def buying_power(self) -> int:
        risk = self._engine.risk
        account = None if risk is None else risk.ledger.accounts.get(self.account)
        return 0 if account is None else account.buying_power

    def _position(self, symbol: str) -> tuple[int, int] | None:
        risk = self._engine.risk
        account = None if risk is None else risk.ledger.accounts.get(self.account)
        position = None if account is None else account.positions.get(symbol)
        return None if position is None else (position.qty, position.held)
