"""A market with corporate actions: the end-of-day hooks driven directly, at each close and
settlement, with the ledger's invariants and postings checked after every step."""

from risk_helpers import DOLLAR, Market
from tradingfloor.domain.commands import AnnounceCorporateAction
from tradingfloor.domain.corporate_actions import CorporateAction
from tradingfloor.domain.events import Event
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine.check import check_ledger
from tradingfloor.engine.pipeline import RiskPipeline
from tradingfloor.risk.calendar import ts_at


def risk_of(market: Market) -> RiskPipeline:
    risk = market.engine.risk
    assert risk is not None
    return risk


def holders_market(settings: RiskSettings | None = None) -> Market:
    """XYZ at $100; alice holds 101 shares bought at $100, bob and carol have cash."""
    market = Market(settings or RiskSettings())
    market.ts = ts_at("2026-11-24 10:00")
    market.listing("XYZ", 100 * DOLLAR)
    market.account("alice", cash=10_000 * DOLLAR, shares={"XYZ": 101})
    market.account("bob", cash=100_000 * DOLLAR)
    market.account("carol", cash=100_000 * DOLLAR)
    return market


def announce(market: Market, action: CorporateAction) -> list[Event]:
    return market.do(AnnounceCorporateAction(action))


def _hook(market: Market, at_close: bool, date: str) -> list[Event]:
    risk = risk_of(market)
    index = risk.calendar.session_of_date(date)
    market.seq += 1
    market.ts = max(market.ts, risk.calendar.session_times(index)[1])
    out: list[Event] = []
    if at_close:
        risk.corporate_actions.at_close(index, market.seq, market.ts, out)
    else:
        risk.corporate_actions.at_settlement(index, market.seq, market.ts, out)
    market.engine.last_seq, market.engine.last_ts = market.seq, market.ts
    market.events.extend(out)
    check_ledger(market.engine)
    for book in market.engine.books.values():
        book.check_invariants()
    market.check_postings()
    return out


def close(market: Market, date: str) -> list[Event]:
    """What `CloseDay(date)` asks of the component, at the close of `date`."""
    return _hook(market, True, date)


def settle(market: Market, date: str) -> list[Event]:
    """What `SettleDay(date)` asks of the component."""
    return _hook(market, False, date)


def of_type(events: list[Event], kind: type) -> list:  # type: ignore[type-arg]
    return [event for event in events if type(event) is kind]
