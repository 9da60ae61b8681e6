"""Simulated traders: each decides, from a read-only view, which commands to send next.

A trader never sees another trader's state and never touches the engine: it returns
commands, and the demo market submits them like any client would. Every trader stays inside
the risk rules so that rejects are rare: limit prices within a share of the collar and the
LULD band of the last trade, sells only of shares held and not already offered, buys sized
by buying power (market buys at the price a market order is held at, well above the last).
"""

import random
from collections.abc import Sequence
from typing import Protocol

from tradingfloor.demo.spec import DemoSpec, DemoSymbol, TraderKind
from tradingfloor.demo.view import BPS, MarketView, OwnOrder, Quote
from tradingfloor.domain.commands import CancelOrder, Command, PlaceOrder, ReplaceOrder
from tradingfloor.domain.enums import (
    STOP_ORDER_TYPES,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tradingfloor.domain.instruments import Instrument

BUY = Side.BUY
SELL = Side.SELL
NO_SELF_TRADE = SelfTradePrevention.CANCEL_OLDEST
"""A trader's new order never trades with its own resting one: the resting one goes."""
MARKET_BUY_HOLD_BPS = 11_500
"""A market buy is sized as if it cost this much (in bps) of the reference price: the engine
holds it at the collar (10% above), and the reference may move within the second."""


class Trader(Protocol):
    """A simulated participant. `act` must be deterministic given the view and `rng`."""

    @property
    def account(self) -> str: ...

    def act(self, view: MarketView, rng: random.Random) -> list[Command]: ...


def build_traders(spec: DemoSpec) -> list[Trader]:
    """The simulated traders of `spec`, in the order of `DemoSpec.trader_accounts`."""
    traders: list[Trader] = []
    makers = 0
    for account, kind in spec.trader_accounts():
        if kind == TraderKind.MARKET_MAKER:
            traders.append(
                MarketMaker(
                    account,
                    spec.symbols,
                    spec.market_maker_units,
                    half_spread_bps=4 + 4 * makers,
                    level_spacing_bps=4 + 2 * makers,
                    levels=spec.quote_levels,
                )
            )
            makers += 1
        elif kind == TraderKind.NOISE:
            traders.append(
                NoiseTrader(
                    account, spec.symbols, spec.trader_units, spec.open_orders_per_trader_max
                )
            )
        else:
            traders.append(
                MomentumTrader(
                    account, spec.symbols, spec.trader_units, spec.open_orders_per_trader_max // 3
                )
            )
    return traders


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _sell_cap(view: MarketView, symbol: str, qty: int) -> int:
    return min(qty, view.available_shares(symbol))


def _buy_cap(view: MarketView, qty: int, price: int) -> int:
    return min(qty, view.buying_power() // max(price, 1))


class MarketMaker:
    """Quotes a ladder on both sides of each symbol around its fair value.

    Each call looks after one symbol, in turn. The ladder is `levels` prices per side, from
    `half_spread_bps` off the fair value, `level_spacing_bps` apart. An order already at a
    wanted price stays (it keeps its queue position); the others move to the missing prices
    (`ReplaceOrder`), and leftovers are canceled. Inventory away from the starting holding
    skews the ladder (long: lower) and thins the side that would grow it, so the position
    stays within `inventory_limit_units` size units of where it started.
    """

    def __init__(
        self,
        account: str,
        symbols: Sequence[DemoSymbol],
        target_units: int,
        *,
        half_spread_bps: int,
        level_spacing_bps: int,
        levels: int,
        inventory_limit_units: int = 0,
    ) -> None:
        self._account = account
        self._symbols = {listed.symbol: listed for listed in symbols}
        self._turn = [listed.symbol for listed in symbols]
        self._next = 0
        self._target_units = target_units
        self._inventory_limit_units = inventory_limit_units or max(target_units * 3 // 8, 1)
        self._half_spread_bps = half_spread_bps
        self._level_spacing_bps = level_spacing_bps
        self._levels = levels
        self._centers: dict[str, int] = {}

    @property
    def account(self) -> str:
        return self._account

    def act(self, view: MarketView, rng: random.Random) -> list[Command]:
        symbol = self._turn[self._next % len(self._turn)]
        self._next += 1
        return self.requote(view, rng, symbol)

    def requote(self, view: MarketView, rng: random.Random, symbol: str) -> list[Command]:
        """The commands that bring `symbol`'s ladder to where it should be now."""
        if view.halted(symbol):
            return []
        unit = self._symbols[symbol].unit()
        deviation = view.position(symbol) - self._target_units * unit
        lean = _clamp(deviation / (self._inventory_limit_units * unit), -1.0, 1.0)
        bids, asks, center = self._ladder(view, symbol, lean, unit)
        mine = [order for order in view.open_orders(symbol) if order.order_type == OrderType.LIMIT]
        resting = {
            BUY: sorted((o for o in mine if o.side == BUY), key=lambda o: -(o.price or 0)),
            SELL: sorted((o for o in mine if o.side == SELL), key=lambda o: o.price or 0),
        }
        wanted = {BUY: bids, SELL: asks}
        # Moving up, the asks go first, so that no new bid meets one of our stale asks.
        rising = center >= self._centers.get(symbol, center)
        self._centers[symbol] = center
        budget = _Budget(view.buying_power(), view.available_shares(symbol))
        commands: list[Command] = []
        for side in (SELL, BUY) if rising else (BUY, SELL):
            commands.extend(
                self._side_commands(symbol, side, resting[side], wanted[side], budget, rng)
            )
        return commands

    def _ladder(
        self, view: MarketView, symbol: str, lean: float, unit: int
    ) -> tuple[dict[int, int], dict[int, int], int]:
        """(bid price -> size, ask price -> size, center) for this inventory lean."""
        instrument = view.instrument(symbol)
        fair = view.fair_price(symbol)
        tick = instrument.tick_at(fair)
        half = max(tick, fair * self._half_spread_bps // BPS)
        center = fair - int(lean * 0.8 * half)
        spacing = max(tick, fair * self._level_spacing_bps // BPS // tick * tick)
        buy_max, sell_min = view.price_limits(symbol)
        bid_top = min(instrument.round_to_tick(center - half, up=False), buy_max)
        ask_top = max(instrument.round_to_tick(center + half, up=True), sell_min, bid_top + tick)
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        # The best level follows the fair value tick by tick; the deeper ones sit on a grid
        # of `spacing`, so that a small move re-prices one order, not the whole ladder.
        below = (bid_top - 1) // spacing * spacing
        for level in range(self._levels_on(lean)):
            price = bid_top if level == 0 else below - (level - 1) * spacing
            if price > 0:
                bids[price] = unit * (1 + level // 2)
        above = (ask_top // spacing + 1) * spacing
        for level in range(self._levels_on(-lean)):
            asks[ask_top if level == 0 else above + (level - 1) * spacing] = unit * (
                1 + level // 2
            )
        return bids, asks, center

    def _levels_on(self, lean: float) -> int:
        """Levels on a side that a position leaning `lean` (-1..1) towards it would grow."""
        if lean < 0.5:
            return self._levels
        if lean < 0.9:
            return max(self._levels // 2, 1)
        return 0

    def _side_commands(
        self,
        symbol: str,
        side: Side,
        resting: list[OwnOrder],
        wanted: dict[int, int],
        budget: "_Budget",
        rng: random.Random,
    ) -> list[Command]:
        commands: list[Command] = []
        kept: dict[int, OwnOrder] = {}
        stale: list[OwnOrder] = []  # best price first: the worst moves (or goes) first
        for order in resting:
            price = order.price or 0
            if price in wanted and price not in kept:
                kept[price] = order
            else:
                stale.append(order)
        for price in sorted(wanted, reverse=side == BUY):
            size = wanted[price]
            held = kept.get(price)
            if held is not None:
                more = size - held.leaves
                if 2 * held.leaves < size and budget.take(
                    side, more if side == SELL else more * price
                ):
                    commands.append(self._replace(held, symbol, held.filled + size, None))
                continue
            if stale:
                order = stale.pop()
                more = size - order.leaves
                if side == BUY:
                    more = size * price - order.leaves * (order.price or 0)
                if budget.take(side, more):
                    commands.append(self._replace(order, symbol, order.filled + size, price))
                else:
                    commands.append(CancelOrder(order.order_id, symbol, self._account))
                continue
            size = max(1, size * rng.randint(8, 12) // 10)
            if budget.take(side, size if side == SELL else size * price):
                commands.append(
                    PlaceOrder(
                        0,
                        self._account,
                        symbol,
                        side,
                        OrderType.LIMIT,
                        size,
                        price,
                        tif=TimeInForce.GTC,
                        stp=NO_SELF_TRADE,
                    )
                )
        commands.extend(CancelOrder(order.order_id, symbol, self._account) for order in stale)
        return commands

    def _replace(self, order: OwnOrder, symbol: str, qty: int, price: int | None) -> ReplaceOrder:
        new_qty = None if qty - order.filled == order.leaves else qty
        new_price = None if price == order.price else price
        return ReplaceOrder(order.order_id, 0, symbol, self._account, new_qty, new_price)


class _Budget:
    """Cash and shares a trader may still commit within one decision. What a cancel or a
    replace frees counts only once the engine has applied it, so it is not counted here."""

    def __init__(self, cash: int, shares: int) -> None:
        self.cash = cash
        self.shares = shares

    def take(self, side: Side, amount: int) -> bool:
        """Commit `amount` more (cash for a buy, shares for a sell) if there is enough."""
        if amount <= 0:
            return True
        if side == SELL:
            if amount > self.shares:
                return False
            self.shares -= amount
            return True
        if amount > self.cash:
            return False
        self.cash -= amount
        return True


class NoiseTrader:
    """Small orders in random symbols: market, marketable limit and passive limit orders.

    The side leans towards bringing the holding back to where it started, so that the noise
    traders, and with them the market makers, keep bounded inventories. Resting orders are
    few (`open_orders_max`): the oldest is canceled to make room, and so is any that the
    market has left far behind.
    """

    def __init__(
        self, account: str, symbols: Sequence[DemoSymbol], target_units: int, open_orders_max: int
    ) -> None:
        self._account = account
        self._symbols = {listed.symbol: listed for listed in symbols}
        self._target_units = target_units
        self._open_orders_max = max(open_orders_max, 1)

    @property
    def account(self) -> str:
        return self._account

    def act(self, view: MarketView, rng: random.Random) -> list[Command]:
        commands: list[Command] = []
        mine = view.open_orders()
        stale = [order for order in mine if self._far(view, order)]
        if len(mine) >= self._open_orders_max:
            stale.append(mine[0])
        if stale:
            commands.append(CancelOrder(stale[0].order_id, stale[0].symbol, self._account))
        symbol = rng.choice(view.symbols)
        quote = view.quote(symbol)
        if quote.halted:
            return commands
        order = self._order(view, quote, rng)
        if order is not None:
            commands.append(order)
        return commands

    @staticmethod
    def _far(view: MarketView, order: OwnOrder) -> bool:
        if order.price is None:
            return False
        reference = view.reference(order.symbol)
        return abs(order.price - reference) * BPS > reference * 150

    def _order(self, view: MarketView, quote: Quote, rng: random.Random) -> PlaceOrder | None:
        symbol = quote.symbol
        listed = self._symbols[symbol]
        unit = listed.unit()
        target = self._target_units * unit
        lean = _clamp((view.position(symbol) - target) / max(target, 1), -1.0, 1.0)
        side = BUY if rng.random() < 0.5 - 0.4 * lean else SELL
        qty = max(1, int(unit * rng.choice((0.05, 0.1, 0.2, 0.25, 0.5, 1.0))))
        instrument = view.instrument(symbol)
        kind = rng.random()
        if kind < 0.25:
            return self._market(view, quote, side, qty)
        price: int | None = None
        tif = TimeInForce.DAY
        if kind < 0.6:
            price = self._marketable_price(view, quote, side, instrument, rng)
            if rng.random() < 0.5:
                tif = TimeInForce.IOC
        if price is None:
            price = self._passive_price(view, quote, side, instrument, rng)
        qty = _sell_cap(view, symbol, qty) if side == SELL else _buy_cap(view, qty, price)
        if qty <= 0:
            return None
        return PlaceOrder(
            0, self._account, symbol, side, OrderType.LIMIT, qty, price, tif=tif, stp=NO_SELF_TRADE
        )

    def _market(self, view: MarketView, quote: Quote, side: Side, qty: int) -> PlaceOrder | None:
        symbol = quote.symbol
        if side == SELL:
            qty = _sell_cap(view, symbol, qty)
        else:
            qty = _buy_cap(view, qty, quote.reference * MARKET_BUY_HOLD_BPS // BPS + 1)
        if qty <= 0 or (quote.ask if side == BUY else quote.bid) is None:
            return None
        return PlaceOrder(0, self._account, symbol, side, OrderType.MARKET, qty, stp=NO_SELF_TRADE)

    @staticmethod
    def _marketable_price(
        view: MarketView, quote: Quote, side: Side, instrument: Instrument, rng: random.Random
    ) -> int | None:
        """A price through the opposite side's best, within the limits; None if it is empty."""
        buy_max, sell_min = view.price_limits(quote.symbol)
        if side == BUY:
            if quote.ask is None:
                return None
            return min(quote.ask + rng.randint(0, 2) * instrument.tick_at(quote.ask), buy_max)
        if quote.bid is None:
            return None
        return max(quote.bid - rng.randint(0, 2) * instrument.tick_at(quote.bid), sell_min)

    @staticmethod
    def _passive_price(
        view: MarketView, quote: Quote, side: Side, instrument: Instrument, rng: random.Random
    ) -> int:
        """A price at or behind the own side's best, now and then inside the spread."""
        buy_max, sell_min = view.price_limits(quote.symbol)
        tick = instrument.tick_at(quote.reference)
        bid, ask = quote.bid, quote.ask
        inside = bid is not None and ask is not None and ask - bid > tick
        if side == BUY:
            if inside and bid is not None and rng.random() < 0.3:
                return min(bid + tick, buy_max)
            base = bid if bid is not None else quote.reference - tick
            return max(min(base - rng.randint(0, 4) * tick, buy_max), tick)
        if inside and ask is not None and rng.random() < 0.3:
            return max(ask - tick, sell_min)
        base = ask if ask is not None else quote.reference + tick
        return max(base + rng.randint(0, 4) * tick, sell_min)


class MomentumTrader:
    """Buys after rising trades and sells after falling ones, within a position limit.

    The signal is the last three trades against the ones before them. Now and then it
    protects the move with a stop the other way (stop, stop limit or trailing stop), and keeps
    at most `stops_max` of them per symbol.
    """

    def __init__(
        self,
        account: str,
        symbols: Sequence[DemoSymbol],
        target_units: int,
        stops_max: int,
        *,
        threshold_bps: int = 5,
        limit_units: int = 0,
    ) -> None:
        self._account = account
        self._symbols = {listed.symbol: listed for listed in symbols}
        self._target_units = target_units
        self._limit_units = limit_units or max(target_units // 2, 1)
        self._stops_max = max(stops_max, 1)
        self._threshold_bps = threshold_bps

    @property
    def account(self) -> str:
        return self._account

    def act(self, view: MarketView, rng: random.Random) -> list[Command]:
        symbol = rng.choice(view.symbols)
        quote = view.quote(symbol)
        trades = view.recent_trades(symbol)
        if quote.halted or len(trades) < 8:
            return []
        commands: list[Command] = []
        stops = [o for o in view.open_orders(symbol) if o.order_type in STOP_ORDER_TYPES]
        if len(stops) >= self._stops_max:
            commands.append(CancelOrder(stops[0].order_id, symbol, self._account))
        recent = sum(trades[-3:]) / 3
        before = sum(trades[:-3]) / (len(trades) - 3)
        move_bps = (recent - before) * BPS / before
        unit = self._symbols[symbol].unit()
        deviation = view.position(symbol) - self._target_units * unit
        limit = self._limit_units * unit
        if move_bps > self._threshold_bps and deviation < limit:
            side = BUY
        elif move_bps < -self._threshold_bps and -deviation < limit:
            side = SELL
        else:
            return commands
        qty = max(1, unit // 2)
        order = self._entry(view, quote, side, qty, rng)
        if order is None:
            return commands
        commands.append(order)
        if rng.random() < 0.35:
            stop = self._stop(view, quote, SELL if side == BUY else BUY, order.qty, rng)
            if stop is not None:
                commands.append(stop)
        return commands

    def _entry(
        self, view: MarketView, quote: Quote, side: Side, qty: int, rng: random.Random
    ) -> PlaceOrder | None:
        symbol = quote.symbol
        opposite = quote.ask if side == BUY else quote.bid
        if opposite is None:
            return None
        if side == SELL:
            qty = _sell_cap(view, symbol, qty)
        else:
            qty = _buy_cap(view, qty, quote.reference * MARKET_BUY_HOLD_BPS // BPS + 1)
        if qty <= 0:
            return None
        if rng.random() < 0.7:
            return PlaceOrder(
                0, self._account, symbol, side, OrderType.MARKET, qty, stp=NO_SELF_TRADE
            )
        buy_max, sell_min = view.price_limits(symbol)
        tick = view.instrument(symbol).tick_at(opposite)
        price = min(opposite + tick, buy_max) if side == BUY else max(opposite - tick, sell_min)
        return PlaceOrder(
            0,
            self._account,
            symbol,
            side,
            OrderType.LIMIT,
            qty,
            price,
            tif=TimeInForce.IOC,
            stp=NO_SELF_TRADE,
        )

    def _stop(
        self, view: MarketView, quote: Quote, side: Side, qty: int, rng: random.Random
    ) -> PlaceOrder | None:
        """A protective stop on `side`, 0.6% away from the last trade."""
        symbol = quote.symbol
        instrument = view.instrument(symbol)
        reference = quote.reference
        distance = reference * 60 // BPS
        if side == SELL:
            stop_price = instrument.round_to_tick(reference - distance, up=False)
            qty = _sell_cap(view, symbol, qty)
        else:
            stop_price = instrument.round_to_tick(reference + distance, up=True)
            qty = _buy_cap(view, qty, stop_price * MARKET_BUY_HOLD_BPS // BPS + 1)
        if qty <= 0 or stop_price <= 0:
            return None
        kind = rng.randrange(3)
        if kind == 0:
            return PlaceOrder(
                0,
                self._account,
                symbol,
                side,
                OrderType.STOP,
                qty,
                stop_price=stop_price,
                tif=TimeInForce.GTC,
                stp=NO_SELF_TRADE,
            )
        if kind == 1:
            offset = stop_price * 30 // BPS
            limit = (
                instrument.round_to_tick(stop_price - offset, up=True)
                if side == SELL
                else instrument.round_to_tick(stop_price + offset, up=False)
            )
            return PlaceOrder(
                0,
                self._account,
                symbol,
                side,
                OrderType.STOP_LIMIT,
                qty,
                limit,
                stop_price,
                tif=TimeInForce.GTC,
                stp=NO_SELF_TRADE,
            )
        return PlaceOrder(
            0,
            self._account,
            symbol,
            side,
            OrderType.TRAILING_STOP,
            qty,
            tif=TimeInForce.GTC,
            trail_bps=60,
            stp=NO_SELF_TRADE,
        )
