"""What every part of the risk pipeline works on: the settings, the books, the ledger, the
symbol and market guards, and the trading calendar, loaded on first use.

`RiskPipeline` is the whole of it; its parts (`AccountViews`, `OrderChecks`, `Halts`,
`Posting`, `AccountCommands`) each add one concern on top of this state.
"""

from typing import TYPE_CHECKING

from tradingfloor.domain.commands import Command
from tradingfloor.domain.events import CommandRejected, Event
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.ledger import Ledger
from tradingfloor.matching.book import OrderBook
from tradingfloor.risk.guards import MarketGuardState, SymbolGuard

if TYPE_CHECKING:
    from tradingfloor.engine.client_orders import ClientOrders
    from tradingfloor.engine.corporate_actions import CorporateActions
    from tradingfloor.risk.calendar import TradingCalendar

NO_PRICE_MAX = 1 << 62
"""Above any price: the buy limit of a symbol without one, the start of a running minimum."""


class RiskContext:
    """The state of `RiskPipeline`, and the helpers all its parts use."""

    corporate_actions: "CorporateActions"
    """Splits, dividends and symbol changes (set by `RiskPipeline`)."""

    def __init__(self, settings: RiskSettings, books: dict[str, OrderBook]) -> None:
        self.books = books
        self.ledger = Ledger(settings.fees)
        self.guards: dict[str, SymbolGuard] = {}
        self.market = MarketGuardState()
        self.settings = settings
        self._calendar: TradingCalendar | None = None
        self._session_second = -1
        self._session_index = -1
        self.client_orders: ClientOrders | None = None
        """The engine's client order ids (a symbol change renames them); set by `Engine`."""
        self.settled_through = -1
        """The newest trade session settled by `SettleDay` (-1: none)."""
        self.last_settled = -1
        """The newest settlement date (session index) `SettleDay` settled (-1: none)."""

    @property
    def calendar(self) -> "TradingCalendar":
        if self._calendar is None:  # built on first use: loading the calendar takes ~0.5 s
            from tradingfloor.risk.calendar import calendar_for

            self._calendar = calendar_for(self.settings.calendar)
        return self._calendar

    def _reject(
        self,
        command: Command,
        subject: str,
        reason: RejectReason,
        seq: int,
        ts: int,
        out: list[Event],
    ) -> None:
        out.append(CommandRejected(seq, ts, type(command).__name__, subject, reason))
