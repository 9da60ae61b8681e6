"""Every limit of the market-data hub, units last."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MarketDataSettings:
    """Intervals of the tiers' flushes, sizes of messages and rings, and client limits."""

    retail_interval_s: float = 1.0
    pro_interval_s: float = 0.1
    depth_levels: int = 10
    trades_per_message_max: int = 500
    trades_kept_per_symbol: int = 1_000
    """Recent trades kept per symbol (last trade, snapshots, trades messages)."""
    snapshot_trades_max: int = 50
    symbols_per_client_max: int = 200
    control_messages_max: int = 1_000
    """Acks, snapshots and errors waiting to be sent to one client."""
    clients_max: int = 10_000
    slow_client_s: float = 5.0
    cache_ttl_ms: int = 5_000
    cache_prefix: str = "tradingfloor:md:"
