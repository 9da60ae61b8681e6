"""Trade reports in the style of FINRA's Trade Reporting Facility: one for every execution
(`TradeExecuted`), made from the event feed alone, within `trade_report_late_ms` of it.

The reporting party is the platform (`reporter_imid`) on behalf of the aggressor (the taker,
whose order met the book): `side` and `capacity` are the aggressor's, the contra party is the
resting order's account. Capacity is principal ("P") for the firm's own accounts
(`trade_report_principal_accounts`) and agency ("A") for every customer's.

A trade id names one execution for good, whoever makes the report and how often:
`shard-seq-match`, the seq of the command that traded and the execution's place (from 1)
among that command's fills.

Modifiers (FINRA's trade report modifiers, as far as the platform's events tell them):
- `T`: executed outside the regular session (pre-market, after hours), reported in time;
- `U`: executed outside the regular session and reported late;
- `Z`: executed in the regular session and reported late ("sold out of sequence").
"""

from collections.abc import Collection, Iterable

import msgspec

from tradingfloor.compliance.report_time import iso_text, trade_date
from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import Event, TradeExecuted
from tradingfloor.domain.prices import format_price
from tradingfloor.risk.calendar import TradingCalendar

CAPACITY_AGENCY = "A"
CAPACITY_PRINCIPAL = "P"
MODIFIER_EXTENDED_HOURS = "T"
MODIFIER_EXTENDED_HOURS_LATE = "U"
MODIFIER_LATE = "Z"
_NS_PER_MS = 1_000_000


class TradeReport(msgspec.Struct, frozen=True, kw_only=True):
    """One execution as reported. Prices in price units (`price`) and as dollars
    (`price_text`); times in ns (`ts_*`) and as New York ISO text."""

    trade_id: str
    shard: str
    seq: int
    match_index: int
    trade_date: str
    symbol: str
    price: int
    price_text: str
    quantity: int
    ts_execution: int
    execution_time: str
    side: str
    """The aggressor's (the reporting party's) side: "B" or "S"."""
    capacity: str
    reporting_party: str
    reporting_account: str
    contra_party: str
    buyer_account: str
    seller_account: str
    buy_order_id: int
    sell_order_id: int
    modifiers: list[str]
    ts_report: int
    report_time: str
    late: bool


def trade_id_of(shard: str, seq: int, match_index: int) -> str:
    return f"{shard}-{seq}-{match_index}"


class TradeReporter:
    """Makes the reports of a seq's events; `calendar` tells the regular session apart."""

    def __init__(
        self,
        reporter_imid: str,
        calendar: TradingCalendar,
        late_ms: int,
        principal_accounts: Collection[str] = (),
    ) -> None:
        self.reporter_imid = reporter_imid
        self.calendar = calendar
        self.late_ns = late_ms * _NS_PER_MS
        self.principal_accounts = frozenset(principal_accounts)

    def reports(
        self, shard: str, seq: int, events: Iterable[Event], ts_report: int
    ) -> list[TradeReport]:
        """The reports of one seq's executions, in their order, made at `ts_report`."""
        trades = [event for event in events if type(event) is TradeExecuted]
        return [
            self.report(shard, index, trade, ts_report)
            for index, trade in enumerate(trades, start=1)
        ]

    def report(
        self, shard: str, match_index: int, trade: TradeExecuted, ts_report: int
    ) -> TradeReport:
        buyer_is_taker = trade.aggressor == Side.BUY
        taker, maker = trade.taker_account, trade.maker_account
        late = ts_report - trade.ts > self.late_ns
        return TradeReport(
            trade_id=trade_id_of(shard, trade.seq, match_index),
            shard=shard,
            seq=trade.seq,
            match_index=match_index,
            trade_date=trade_date(trade.ts),
            symbol=trade.symbol,
            price=trade.price,
            price_text=format_price(trade.price),
            quantity=trade.qty,
            ts_execution=trade.ts,
            execution_time=iso_text(trade.ts),
            side="B" if buyer_is_taker else "S",
            capacity=self.capacity(taker),
            reporting_party=self.reporter_imid,
            reporting_account=taker,
            contra_party=maker,
            buyer_account=taker if buyer_is_taker else maker,
            seller_account=maker if buyer_is_taker else taker,
            buy_order_id=trade.taker_order_id if buyer_is_taker else trade.maker_order_id,
            sell_order_id=trade.maker_order_id if buyer_is_taker else trade.taker_order_id,
            modifiers=self.modifiers(trade.ts, late),
            ts_report=ts_report,
            report_time=iso_text(ts_report),
            late=late,
        )

    def capacity(self, account: str) -> str:
        return CAPACITY_PRINCIPAL if account in self.principal_accounts else CAPACITY_AGENCY

    def modifiers(self, ts: int, late: bool) -> list[str]:
        if not self.in_regular_session(ts):
            return [MODIFIER_EXTENDED_HOURS_LATE if late else MODIFIER_EXTENDED_HOURS]
        return [MODIFIER_LATE] if late else []

    def in_regular_session(self, ts: int) -> bool:
        try:
            ts_open, ts_close = self.calendar.session_bounds(ts)
        except ValueError:  # outside the calendar's years: no session to be in
            return False
        return ts_open <= ts <= ts_close
