"""The monthly execution-quality reports: Rule 605-style (how orders executed) and Rule
606-style (where orders went), from the read models, as JSON-ready data or CSV.

Every order executes on the platform's own book: nothing is routed to another venue, and no
payment for order flow is paid or received. The 606 report says so in its `note` and lists
the platform as the one venue of every order type.
"""

import csv
import io
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from tradingfloor.compliance.execution_quality import Cell, cell_figures, rule_605_rows
from tradingfloor.compliance.order_categories import RULE_606_TYPES, rule_606_type
from tradingfloor.compliance.trade_dates import DateRange
from tradingfloor.store.quality_queries import quoted_orders_by_symbol

RULES = ("605", "606")
VENUE = "TradingFloor (own book)"
QUOTE_NOTE = (
    "Quotes are the platform's own best bid and ask when each order arrived (the command's "
    "sequence number); the platform is the only market for its symbols."
)
ROUTING_NOTE = (
    "Every order executes on the platform's own book: none is routed to another venue. "
    "No payment for order flow is paid or received."
)


def execution_quality_report(
    connection: Connection, dates: DateRange, rule: str
) -> dict[str, Any]:
    """The report of `rule` ("605" or "606") for the month `dates`."""
    if rule not in RULES:
        raise ValueError(f"rule {rule!r}: 605 or 606")
    header = {
        "rule": rule,
        "month": dates.first.isoformat()[:7],
        "from": dates.first.isoformat(),
        "to": dates.last.isoformat(),
        "market_center": VENUE,
    }
    if rule == "605":
        rows = []
        for symbol, orders in quoted_orders_by_symbol(connection, dates.after_ts, dates.before_ts):
            rows.extend(rule_605_rows(symbol, orders))
        return {**header, "note": QUOTE_NOTE, "rows": rows}
    return {**header, "note": ROUTING_NOTE, "rows": _rule_606_rows(connection, dates)}


def _rule_606_rows(connection: Connection, dates: DateRange) -> list[dict[str, Any]]:
    counts = dict.fromkeys(RULE_606_TYPES, 0)
    executed = dict.fromkeys(RULE_606_TYPES, 0)
    for _, orders in quoted_orders_by_symbol(connection, dates.after_ts, dates.before_ts):
        for order in orders:
            kind = rule_606_type(order)
            counts[kind] += 1
            executed[kind] += 1 if order.fills else 0
    total = sum(counts.values())
    return [
        {
            "order_type": kind,
            "orders": counts[kind],
            "percent_of_orders": _percent(counts[kind], total),
            "venue": VENUE,
            "venue_orders": counts[kind],
            "venue_percent": _percent(counts[kind], counts[kind]),
            "executed_orders": executed[kind],
            "net_payment_for_order_flow": "0.00",
        }
        for kind in RULE_606_TYPES
    ]


def _percent(part: int, whole: int) -> str | None:
    if not whole:
        return None
    return str((Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.01")))


COLUMNS = {
    "605": ("symbol", "order_type", "size_bucket", *cell_figures(Cell())),
    "606": (
        "order_type", "orders", "percent_of_orders", "venue", "venue_orders", "venue_percent",
        "executed_orders", "net_payment_for_order_flow",
    ),
}  # fmt: skip
"""Each report's columns, in order: a CSV of an empty month still names them."""


def report_csv(report: dict[str, Any]) -> bytes:
    """The report's rows as CSV (the rule and month in the first columns of every row)."""
    out = io.StringIO()
    rows = report["rows"]
    names = ["rule", "month", *COLUMNS[report["rule"]]]
    writer = csv.DictWriter(out, names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({"rule": report["rule"], "month": report["month"], **row})
    return out.getvalue().encode()
