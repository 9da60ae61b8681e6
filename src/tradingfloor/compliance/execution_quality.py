"""Rule 605-style execution quality of one month, per symbol, order type and size, from the
read models.

Each covered order (`order_categories`) counts at the quote it arrived to (the platform's own
best bid and ask at its seq, `store.quote_tables`): its shares, the shares canceled (the part
of a canceled, expired or replaced order that never filled), the shares executed, and, per
executed share, the time from arrival to fill, the effective spread (twice the distance from
the quote's midpoint, signed so that a worse price is a wider spread), the quoted spread, and
the price improvement (how much better than the far side of the quote: the ask for a buy,
the bid for a sell). Averages are weighted by shares, as the rule weights them. A
replacement is an order of its own, at the quote of its replace; the fills it carried over
from its predecessor count there, not again.

Money is summed exactly in price units; averages are printed as decimal text in dollars
(six decimals: a fraction of a cent per share is common), times in whole milliseconds.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tradingfloor.compliance.order_categories import RULE_605_TYPES, SIZE_BUCKETS, rule_605_type
from tradingfloor.compliance.order_categories import size_bucket as bucket_of
from tradingfloor.domain.prices import PRICE_SCALE
from tradingfloor.store.quality_queries import QuotedOrder

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
TIME_BUCKETS = (
    ("0_to_9_99_s", 0, 10 * NS_PER_S),
    ("10_to_29_99_s", 10 * NS_PER_S, 30 * NS_PER_S),
    ("30_to_59_99_s", 30 * NS_PER_S, 60 * NS_PER_S),
    ("60_to_299_99_s", 60 * NS_PER_S, 300 * NS_PER_S),
    ("5_to_30_min", 300 * NS_PER_S, 1_800 * NS_PER_S),
)
"""Time from arrival to fill: (name, from, before) in ns; shares filled later than 30 minutes
count as executed, in no bucket."""
CLOSED_UNFILLED = frozenset({"canceled", "expired", "replaced"})
_DOLLARS = Decimal("0.000001")
_PERCENT = Decimal("0.01")


@dataclass
class Cell:
    """The sums of one (symbol, order type, size bucket)."""

    orders: int = 0
    covered_shares: int = 0
    canceled_shares: int = 0
    executed_shares: int = 0
    fill_times: list[tuple[int, int]] = field(default_factory=list)
    """(ns from arrival, shares) of every fill."""
    effective_spread_sum: int = 0
    quoted_spread_sum: int = 0
    improved_shares: int = 0
    improvement_sum: int = 0
    improved_time_sum: int = 0
    at_quote_shares: int = 0
    outside_quote_shares: int = 0

    def add(self, order: QuotedOrder, covered: int) -> None:
        """One covered order: `covered` of its shares (those not filled before a replace)."""
        bid, ask = order.bid or 0, order.ask or 0
        buy = order.side == "buy"
        executed = 0
        for ts, price, qty in order.fills:
            executed += qty
            self.fill_times.append((ts - order.created_ts, qty))
            twice_from_mid = 2 * price - (bid + ask)
            self.effective_spread_sum += qty * (twice_from_mid if buy else -twice_from_mid)
            self.quoted_spread_sum += qty * (ask - bid)
            better = ask - price if buy else price - bid
            if better > 0:
                self.improved_shares += qty
                self.improvement_sum += qty * better
                self.improved_time_sum += qty * (ts - order.created_ts)
            elif better == 0:
                self.at_quote_shares += qty
            else:
                self.outside_quote_shares += qty
        self.orders += 1
        self.covered_shares += covered
        self.executed_shares += executed
        if order.status in CLOSED_UNFILLED:
            self.canceled_shares += max(covered - executed, 0)


def covered_shares(order: QuotedOrder) -> int:
    """The order's shares less fills carried over from the order it replaced."""
    own = sum(qty for _, _, qty in order.fills)
    return order.qty - max(order.filled_qty - own, 0)


def rule_605_cells(orders: Iterable[QuotedOrder]) -> dict[tuple[str, str], Cell]:
    """The orders of one symbol summed per (order type, size bucket)."""
    cells: dict[tuple[str, str], Cell] = {}
    for order in orders:
        kind = rule_605_type(order)
        if kind is None:
            continue
        shares = covered_shares(order)
        if shares <= 0:
            continue
        key = (kind, bucket_of(shares))
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = Cell()
        cell.add(order, shares)
    return cells


def rule_605_rows(symbol: str, orders: Iterable[QuotedOrder]) -> list[dict[str, Any]]:
    """The report's rows of one symbol, in the rule's order of types and sizes."""
    cells = rule_605_cells(orders)
    rows = []
    for kind in RULE_605_TYPES:
        for bucket, _, _ in SIZE_BUCKETS:
            cell = cells.get((kind, bucket))
            if cell is not None:
                rows.append({"symbol": symbol, "order_type": kind, "size_bucket": bucket,
                             **cell_figures(cell)})  # fmt: skip
    return rows


def cell_figures(cell: Cell) -> dict[str, Any]:
    """A cell as the report prints it."""
    executed = cell.executed_shares
    figures: dict[str, Any] = {
        "covered_orders": cell.orders,
        "covered_shares": cell.covered_shares,
        "canceled_shares": cell.canceled_shares,
        "executed_shares": executed,
        "fill_rate_pct": _percent(executed, cell.covered_shares),
        "average_time_to_fill_ms": _ms(sum(t * q for t, q in cell.fill_times), executed),
        "median_time_to_fill_ms": median_ms(cell.fill_times),
    }
    for name, start, end in TIME_BUCKETS:
        shares = sum(q for t, q in cell.fill_times if start <= t < end)
        figures[f"executed_shares_{name}"] = shares
    effective = _dollars(cell.effective_spread_sum, executed)
    quoted = _dollars(cell.quoted_spread_sum, executed)
    figures.update(
        average_effective_spread=effective,
        average_quoted_spread=quoted,
        effective_over_quoted_pct=_percent(cell.effective_spread_sum, cell.quoted_spread_sum),
        price_improved_shares=cell.improved_shares,
        price_improvement_amount=_dollars(cell.improvement_sum, 1),
        average_price_improvement=_dollars(cell.improvement_sum, cell.improved_shares),
        average_price_improvement_time_ms=_ms(cell.improved_time_sum, cell.improved_shares),
        at_the_quote_shares=cell.at_quote_shares,
        outside_the_quote_shares=cell.outside_quote_shares,
    )
    return figures


def median_ms(times: list[tuple[int, int]]) -> int | None:
    """The share-weighted median time to fill: the time of the share at the middle (the
    lower middle for an even count), whole milliseconds."""
    total = sum(qty for _, qty in times)
    if not total:
        return None
    middle = (total + 1) // 2
    seen = 0
    for elapsed, qty in sorted(times):
        seen += qty
        if seen >= middle:
            return elapsed // NS_PER_MS
    return None


def _ms(total_ns: int, shares: int) -> int | None:
    return None if not shares else total_ns // shares // NS_PER_MS


def _dollars(units: int, shares: int) -> str | None:
    """`units / shares` price units, in dollars."""
    if not shares:
        return None
    value = Decimal(units) / Decimal(shares) / PRICE_SCALE
    return str(value.quantize(_DOLLARS, ROUND_HALF_EVEN))


def _percent(part: int, whole: int) -> str | None:
    if not whole:
        return None
    return str((Decimal(100 * part) / Decimal(whole)).quantize(_PERCENT, ROUND_HALF_EVEN))
