"""The engine's settings that the platform's settings choose: one place, for every process
that runs a shard or reasons about its days (shard, standby, settlement role, serve)."""

from tradingfloor.config import Settings
from tradingfloor.domain.settings import RiskSettings


def risk_settings(settings: Settings) -> RiskSettings:
    """The risk settings a shard configures its engine with (the rest at their defaults):
    T+N from `settlement_sessions`, the fractional desk from `fractional_desk_account`."""
    return RiskSettings(
        settlement_sessions=settings.settlement_sessions,
        fractional_desk_account=settings.fractional_desk_account,
    )
