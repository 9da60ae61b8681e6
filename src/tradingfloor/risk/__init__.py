"""Pre-trade and post-trade risk rules.

Part of the deterministic core: no clock, no asyncio, no database.
"""
