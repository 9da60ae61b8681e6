"""Market surveillance: pure detectors over the event feed (wash trades, spoofing and
layering, marking the close, order-entry abuse), each finding an `Alert` with its evidence.

The role that runs them on the platform's feeds and keeps the review queue in SQL is
`surveillance.role`; the thresholds are `SurveillanceSettings`.
"""

from tradingfloor.compliance.surveillance.alerts import (
    Alert,
    EventRef,
    Evidence,
    Owners,
    Pattern,
    alert_id,
)
from tradingfloor.compliance.surveillance.detectors import ShardSurveillance, Surveillance
from tradingfloor.compliance.surveillance.settings import SurveillanceSettings

__all__ = [
    "Alert",
    "EventRef",
    "Evidence",
    "Owners",
    "Pattern",
    "ShardSurveillance",
    "Surveillance",
    "SurveillanceSettings",
    "alert_id",
]
