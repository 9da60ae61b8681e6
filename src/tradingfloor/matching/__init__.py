"""The order book of one symbol and its matching rules."""

from tradingfloor.matching.book import BookLevel, Depth, OrderBook, RestingOrder

__all__ = ["BookLevel", "Depth", "OrderBook", "RestingOrder"]
