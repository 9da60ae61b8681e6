"""TradingFloor: a broker's front office and an exchange's matching core in one package."""

__version__ = "0.1.0"
