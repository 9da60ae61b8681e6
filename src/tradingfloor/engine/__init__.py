"""The deterministic state machine: commands in, events out."""

from tradingfloor.engine.engine import Engine

__all__ = ["Engine"]
