"""Helpers for the end-of-day tests: a market with one listing and two funded accounts, the
engine's state without its clock, and the events of a command by type."""

import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

import msgspec

from risk_helpers import DOLLAR, Market
from tradingfloor.domain.commands import CloseDay, Command, SettleDay
from tradingfloor.domain.enums import AccountKind, Side
from tradingfloor.domain.events import CommandRejected, Event
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.engine.state import decode_state, encode_state
from tradingfloor.risk.calendar import calendar_for, ts_at

BUY, SELL = Side.BUY, Side.SELL
CALENDAR = calendar_for()
SECOND = 1_000_000_000
NEW_YORK = ZoneInfo("America/New_York")
E = TypeVar("E")


class RecordingMarket(Market):
    """A market that keeps every command it applied, with its seq and ts (a journal)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.journal: list[tuple[Command, int, int]] = []

    def do(self, command: Command, advance_ns: int = 0) -> list[Event]:
        out = super().do(command, advance_ns)
        self.journal.append((command, self.seq, self.ts))
        return out


def market_at(
    when: str, settings: RiskSettings | None = None, kind: AccountKind = AccountKind.CASH
) -> RecordingMarket:
    """XYZ at $100; alice (cash) has $100,000, bob 1,000 shares of XYZ; the clock at `when`
    (New York time)."""
    market = RecordingMarket(settings or RiskSettings(), ts=ts_at(when))
    market.listing("XYZ", 100 * DOLLAR)
    market.account("alice", cash=100_000 * DOLLAR, kind=kind)
    market.account("bob", shares={"XYZ": 1_000})
    return market


def trade(market: Market, buyer: str = "alice", seller: str = "bob", qty: int = 10) -> None:
    """`buyer` buys `qty` XYZ at $100 from `seller` (a resting sell, then a crossing buy)."""
    market.order(seller, SELL, qty, 100 * DOLLAR)
    market.order(buyer, BUY, qty, 100 * DOLLAR)


def of_type(events: list[Event], kind: type[E]) -> list[E]:
    return [event for event in events if isinstance(event, kind)]


def refused(events: list[Event]) -> RejectReason | None:
    found = of_type(events, CommandRejected)
    return found[0].reason if found else None


def close_at(market: Market, date: str, when: str) -> list[Event]:
    market.ts = ts_at(when)
    return market.do(CloseDay(date))


def settle_at(market: Market, date: str, when: str) -> list[Event]:
    market.ts = ts_at(when)
    return market.do(SettleDay(date))


def close_time(date: str) -> str:
    """One second after the close of session `date`, as New York wall-clock text."""
    _, ts_close = CALENDAR.session_times(CALENDAR.session_of_date(date))
    local = datetime.datetime.fromtimestamp((ts_close + SECOND) // SECOND, tz=NEW_YORK)
    return local.strftime("%Y-%m-%d %H:%M:%S")


def state_without_clock(engine: Engine) -> bytes:
    """The engine's state with its last seq and ts blanked: what a refused command must
    leave unchanged (it still advances the sequence)."""
    state = decode_state(engine.snapshot())
    return encode_state(msgspec.structs.replace(state, last_seq=0, last_ts=0))
