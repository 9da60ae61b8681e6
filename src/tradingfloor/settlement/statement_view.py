"""A statement as text: every number formatted once, for the HTML and the PDF alike.

Money is exact: integers of 1/10,000 dollar printed with thousands separators and two
decimals, four when a sub-cent digit is there (`format_price`), never a float. Times are the
exchange's local time (New York for XNYS). The view is a title, a header and a list of
tables; both renderers draw the tables in order, so whatever the read models list (an
activity kind added later included) shows in both without a change here.
"""

import datetime
from dataclasses import dataclass

from tradingfloor.domain.fractions import format_shares
from tradingfloor.domain.prices import format_price
from tradingfloor.settlement.statement_periods import Period
from tradingfloor.store.statement_queries import StatementData
from tradingfloor.store.statement_replay import Balances

NOT_KNOWN = "n/a"
_SECOND_NS = 1_000_000_000


def money(units: int | None) -> str:
    """Price units as dollars with thousands separators: -12345678 -> "-1,234.5678"."""
    if units is None:
        return NOT_KNOWN
    text = format_price(units)
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}.{fraction}"


def quantity(shares: int | None) -> str:
    return "" if shares is None else f"{shares:,}"


def local_time(ts: int, timezone: datetime.tzinfo) -> str:
    """`ts` (ns since the epoch) as exchange-local time to the second."""
    moment = datetime.datetime.fromtimestamp(ts // _SECOND_NS, datetime.UTC)
    return moment.astimezone(timezone).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    numeric: tuple[bool, ...]
    """Per column: right-aligned (numbers) or not."""
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    """What the rows do not show (lines left out), or why there are none."""


@dataclass(frozen=True)
class StatementView:
    title: str
    account: str
    account_kind: str
    period: str
    covers: str
    tables: tuple[Table, ...]
    file_stem: str


def statement_view(data: StatementData, period: Period) -> StatementView:
    """The statement of `data` over `period`, as text."""
    timezone = period.timezone
    title = "Daily statement" if period.kind == "daily" else "Monthly statement"
    sessions = f"{period.sessions} trading session{'s' if period.sessions != 1 else ''}"
    covers = (
        f"From {local_time(period.after_ts, timezone)} (exclusive) to "
        f"{local_time(period.until_ts, timezone)} {period.timezone_name}: {sessions}, "
        f"{period.first_session} to {period.last_session}"
    )
    tables = (
        _balances(data.opening, data.closing),
        _totals(data),
        _positions("Positions at the opening", data.opening),
        _positions("Positions at the closing", data.closing),
        _trades(data, timezone),
        _activities(data, timezone),
        _by_kind(data),
    )
    return StatementView(
        title,
        data.account,
        data.account_kind,
        period.label,
        covers,
        tables,
        f"statement-{_safe(data.account)}-{period.label}",
    )


def _safe(text: str) -> str:
    """`text` with every character but letters, digits and `-_.@` made `_` (a file name)."""
    kept = "".join(c if c.isascii() and (c.isalnum() or c in "-_.@") else "_" for c in text)
    return kept[:64] or "_"


def _equity(balances: Balances) -> int | None:
    value = balances.market_value
    return None if value is None else balances.cash + value


def _balances(opening: Balances, closing: Balances) -> Table:
    rows = (
        ("Settled cash", money(opening.settled), money(closing.settled)),
        ("Unsettled cash", money(opening.unsettled), money(closing.unsettled)),
        ("Cash", money(opening.cash), money(closing.cash)),
        ("Market value of positions", money(opening.market_value), money(closing.market_value)),
        ("Equity", money(_equity(opening)), money(_equity(closing))),
    )
    return Table("Balances", ("", "Opening", "Closing"), (False, True, True), rows)


def _totals(data: StatementData) -> Table:
    totals = data.totals
    rows = (
        ("Bought", money(totals.bought)),
        ("Sold", money(totals.sold)),
        ("Fees", money(totals.fees)),
        ("Realized P&L", money(totals.realized)),
        ("Change in cash", money(data.closing.cash - data.opening.cash)),
    )
    return Table("Totals of the period", ("", "Amount"), (False, True), rows)


def _positions(title: str, balances: Balances) -> Table:
    columns = ("Symbol", "Quantity", "Average cost", "Cost basis", "Last price", "Market value")
    rows = tuple(
        (
            line.symbol,
            format_shares(line.qty, line.fraction) if line.fraction else quantity(line.qty),
            money(line.average_cost),
            money(line.cost),
            money(line.price),
            money(line.market_value),
        )
        for line in balances.positions
    )
    note = "" if rows else "No positions."
    return Table(title, columns, (False, *[True] * 5), rows, note)


def _trades(data: StatementData, timezone: datetime.tzinfo) -> Table:
    columns = ("Time", "Symbol", "Side", "Quantity", "Price", "Value", "Fee", "Liquidity", "Trade")
    rows = tuple(
        (
            local_time(fill.ts, timezone),
            fill.symbol,
            fill.side,
            quantity(fill.qty),
            money(fill.price),
            money(fill.qty * fill.price),
            money(fill.fee),
            fill.liquidity,
            str(fill.trade_id),
        )
        for fill in data.trades
    )
    numeric = (False, False, False, True, True, True, True, False, True)
    return Table("Trades", columns, numeric, rows, _left_out(len(rows), data.trades_count))


def _activity_quantity(kind: str, qty: int | None) -> str:
    """An activity's quantity: nano-shares for the fractions' kinds, shares for the rest."""
    if kind in ("fraction", "fraction_split") and qty is not None:
        return format_shares(0, qty)
    return quantity(qty)


def _activities(data: StatementData, timezone: datetime.tzinfo) -> Table:
    columns = ("Time", "Kind", "Symbol", "Quantity", "Price", "Amount", "Description")
    rows = tuple(
        (
            local_time(row.ts, timezone),
            row.kind,
            row.symbol or "",
            _activity_quantity(row.kind, row.qty),
            "" if row.price is None else money(row.price),
            "" if row.amount is None else money(row.amount),
            row.description,
        )
        for row in data.activities
    )
    numeric = (False, False, False, True, True, True, False)
    title = "Settlements, deposits, withdrawals, dividends, splits and other activity"
    return Table(title, columns, numeric, rows, _left_out(len(rows), data.activities_count))


def _by_kind(data: StatementData) -> Table:
    rows = tuple(
        (total.kind, f"{total.count:,}", money(total.amount)) for total in data.totals.by_kind
    )
    note = "" if rows else "No activity in the period."
    return Table("Activity by kind", ("Kind", "Count", "Amount"), (False, True, True), rows, note)


def _left_out(listed: int, count: int) -> str:
    if count == 0:
        return "None in the period."
    if listed < count:
        return f"{count - listed:,} more not listed (the first {listed:,} of {count:,} shown)."
    return ""
