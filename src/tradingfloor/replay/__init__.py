"""Replays of recorded market data through the engine."""
