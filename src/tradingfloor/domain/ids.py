"""Distinct identifier types: an `OrderId` is never a `ClientOrderId`."""

from typing import NewType

OrderId = NewType("OrderId", int)
"""Engine-wide order identifier, assigned before the command reaches the engine."""

ClientOrderId = NewType("ClientOrderId", str)
"""The client's own identifier for an order, unique per account."""

AccountId = NewType("AccountId", str)
Symbol = NewType("Symbol", str)
TradeId = NewType("TradeId", int)
