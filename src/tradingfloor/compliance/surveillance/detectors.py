"""Every pattern's detector over one shard's feed, fed one command's events at a time.

The detectors share one index of the shard's live orders (`LiveOrders`), brought up to date
after they have seen a command's events, so that a cancel or a fill can still be traced to
the order's account, side and price as they were. Detectors are pure: no I/O and no clock
(times are the events' `ts`), so the same feed gives the same alerts, under the same ids.
"""

from tradingfloor.compliance.surveillance.alerts import Alert, Owners
from tradingfloor.compliance.surveillance.closing import MarkingCloseDetector
from tradingfloor.compliance.surveillance.order_entry import OrderEntryDetector
from tradingfloor.compliance.surveillance.orders import LiveOrders
from tradingfloor.compliance.surveillance.settings import SurveillanceSettings
from tradingfloor.compliance.surveillance.spoofing import SpoofingDetector
from tradingfloor.compliance.surveillance.wash import WashTradeDetector
from tradingfloor.domain.events import Event
from tradingfloor.risk.calendar import TradingCalendar


class ShardSurveillance:
    """The detectors of one shard."""

    def __init__(
        self, settings: SurveillanceSettings, owners: Owners, calendar: TradingCalendar
    ) -> None:
        problems = settings.problems()
        if problems:
            raise ValueError("surveillance settings: " + "; ".join(problems))
        self.orders = LiveOrders()
        self.wash = WashTradeDetector(settings, owners, self.orders)
        self.spoofing = SpoofingDetector(settings, owners, self.orders)
        self.closing = MarkingCloseDetector(settings, owners, calendar)
        self.order_entry = OrderEntryDetector(settings, owners, self.orders)

    def feed(self, shard: str, seq: int, ts: int, events: list[Event]) -> list[Alert]:
        found: list[Alert] = []
        for detector in (self.wash, self.spoofing, self.closing, self.order_entry):
            found += detector.feed(shard, seq, ts, events)
        self.orders.feed(events)
        return found


class Surveillance:
    """The detectors of every shard, each shard's apart (a shard's feed is in time order;
    two shards' are not in order with each other)."""

    def __init__(
        self,
        settings: SurveillanceSettings,
        owners: Owners,
        calendar: TradingCalendar,
    ) -> None:
        self.settings = settings
        self.owners = owners
        self.calendar = calendar
        self.shards: dict[str, ShardSurveillance] = {}

    def feed(self, shard: str, seq: int, ts: int, events: list[Event]) -> list[Alert]:
        detectors = self.shards.get(shard)
        if detectors is None:
            detectors = ShardSurveillance(self.settings, self.owners, self.calendar)
            self.shards[shard] = detectors
        return detectors.feed(shard, seq, ts, events)
