"""JSON views of the end of day's read models: breaks, corporate actions, settlement days.
Money and prices as decimal strings in dollars, quantities as integers, times in ns."""

from typing import Any

from tradingfloor.domain.prices import format_optional_price, format_price
from tradingfloor.store.settlement_queries import BreakRow, CorporateActionRow, SettlementDayRow


def break_view(row: BreakRow) -> dict[str, Any]:
    resolution = None
    if row.status == "resolved":
        resolution = {
            "resolved_by": row.resolved_by,
            "reason": row.reason,
            "cash_adjustment": format_price(row.cash_adjustment or 0),
            "shares_adjustment": row.shares_adjustment or 0,
            "seq": row.resolved_seq,
            "ts": row.resolved_ts,
        }
    return {
        "id": row.break_id,
        "date": row.date,
        "kind": row.kind,
        "status": row.status,
        "account": row.account,
        "symbol": row.symbol or None,
        "platform": {"qty": row.platform_qty, "cash": format_price(row.platform_cash)},
        "other": {"qty": row.other_qty, "cash": format_price(row.other_cash)},
        "detail": row.detail,
        "opened_seq": row.opened_seq,
        "opened_ts": row.opened_ts,
        "resolution": resolution,
    }


def corporate_action(row: CorporateActionRow) -> dict[str, Any]:
    """The action's terms as it was announced, by kind, and how far it went."""
    terms: dict[str, Any]
    if row.kind == "split":
        terms = {
            "old_shares": row.old_shares,
            "new_shares": row.new_shares,
            "ex_date": row.ex_date,
            "cash_in_lieu_price": format_optional_price(row.cash_in_lieu_price),
        }
    elif row.kind == "dividend":
        terms = {
            "amount_per_share": format_optional_price(row.amount_per_share),
            "record_date": row.record_date,
            "pay_date": row.pay_date,
        }
    else:
        terms = {"new_symbol": row.new_symbol, "effective_date": row.effective_date}
    return {
        "id": row.action_id,
        "kind": row.kind,
        "symbol": row.symbol,
        **terms,
        "status": row.status,
        "announced_seq": row.announced_seq,
        "announced_ts": row.announced_ts,
        "applied_seq": row.applied_seq,
        "paid_seq": row.paid_seq,
    }


def settlement_day(row: SettlementDayRow, shards: int) -> dict[str, Any]:
    """A day is closed (settled) once every one of the platform's `shards` closed (settled)
    it; until then `shards_closed` tells how many have."""
    return {
        "date": row.date,
        "session": row.session,
        "closed": row.shards_closed >= shards,
        "settled": row.shards_settled >= shards,
        "shards_closed": row.shards_closed,
        "shards_settled": row.shards_settled,
        "closed_ts": row.closed_ts,
        "settled_ts": row.settled_ts,
        "expired_orders": row.expired,
        "trade_dates_settled": row.trade_dates,
    }
