"""The demo market for `tradingfloor serve --demo`: simulated traders on a few symbols."""

from tradingfloor.demo.market import DemoMarket, DemoStats, is_set_up
from tradingfloor.demo.spec import DemoSpec, DemoSymbol, TraderKind, setup_commands
from tradingfloor.demo.traders import MarketMaker, MomentumTrader, NoiseTrader, Trader
from tradingfloor.demo.view import EngineView, MarketView, OwnOrder, Quote

__all__ = [
    "DemoMarket",
    "DemoSpec",
    "DemoStats",
    "DemoSymbol",
    "EngineView",
    "MarketMaker",
    "MarketView",
    "MomentumTrader",
    "NoiseTrader",
    "OwnOrder",
    "Quote",
    "Trader",
    "TraderKind",
    "is_set_up",
    "setup_commands",
]
