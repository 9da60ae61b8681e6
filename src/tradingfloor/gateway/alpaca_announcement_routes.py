"""`/v2/corporate_actions/announcements`: the platform's corporate actions as Alpaca's
announcements (`TradingClient.get_corporate_announcements` and `..._by_id`).

A cash dividend is a `dividend` of sub-type `cash` (its `record_date`, `payable_date` and the
`ex_date` the engine keeps: the record date less N - 1 sessions under T+N); a split is a
`split`, sub-type `stock_split` or `reverse_split`, with `old_rate` and
`new_rate` its old and new shares and its `ex_date`. A symbol change has no Alpaca type and is
not listed. `declaration_date` is the UTC day the action was announced. There are no CUSIPs:
`initiating_original_cusip` is empty. An announcement's id is a name-based UUID of the
action's id (uuid5), stable across restarts.

Alpaca's filters: `ca_types` (comma-separated, required), `since` and `until` (days, at most
90 apart, inclusive), `symbol`, `date_type` (which date falls in the range; without it, any of
the four).
"""

import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response

from tradingfloor.domain.ids import SYMBOL_PATTERN
from tradingfloor.domain.prices import format_price
from tradingfloor.gateway import deps
from tradingfloor.gateway.alpaca_views import NAMESPACE
from tradingfloor.gateway.answers import MALFORMED, json_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.errors import ApiError
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.risk.calendar import calendar_for
from tradingfloor.store import settlement_queries as queries
from tradingfloor.store.settlement_queries import CorporateActionRow

routes = RouteTable(tags=["alpaca"])

ANNOUNCEMENT_NOT_FOUND = 4041
announcement_range_days_max = 90
"""Alpaca's limit on `until - since`."""
announcements_max = 1_000
"""Announcements one answer lists at most (the newest announced first)."""
actions_scanned_per_page = 500
"""Rows one read of the corporate actions brings, while looking for an id or a range."""
CA_TYPES = ("dividend", "merger", "spinoff", "split")
DATE_TYPES = ("declaration_date", "ex_date", "record_date", "payable_date")
_KINDS = {"dividend": "dividend", "split": "split"}
"""Alpaca's types the platform's kinds are; mergers and spinoffs are never announced."""


def announcement_uuid(action_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"corporate-action:{action_id}")


@routes.get("/v2/corporate_actions/announcements")
async def get_announcements(
    _principal: deps.Reader,
    platform: deps.Platform,
    ca_types: Annotated[str, Query(max_length=64)],
    since: Annotated[datetime.date, Query()],
    until: Annotated[datetime.date, Query()],
    symbol: Annotated[str | None, Query(pattern=f"^{SYMBOL_PATTERN}$")] = None,
    cusip: Annotated[str | None, Query(max_length=16)] = None,
    date_type: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """The announcements of the asked types with a date (of `date_type`) in the range."""
    types = _types(ca_types)
    if date_type is not None and date_type not in DATE_TYPES:
        raise ApiError(422, MALFORMED, f"date_type: one of {', '.join(DATE_TYPES)}")
    if until < since or (until - since).days > announcement_range_days_max:
        message = f"until must not be before since, nor more than {announcement_range_days_max}"
        raise ApiError(422, MALFORMED, f"{message} days after it")
    if cusip:  # the platform knows no CUSIPs: nothing has one
        return json_answer([])
    found: list[dict[str, Any]] = []
    async for row in _actions(platform, symbol):
        if _KINDS.get(row.kind) not in types:
            continue
        announcement = announcement_of(row, platform.settings.settlement_sessions)
        if _in_range(announcement, since, until, date_type):
            found.append(announcement)
            if len(found) == announcements_max:
                break
    return json_answer(found)


@routes.get("/v2/corporate_actions/announcements/{announcement_id}")
async def get_announcement(
    announcement_id: str, _principal: deps.Reader, platform: deps.Platform
) -> Response:
    """One announcement by its id (404 when no listed action has it)."""
    wanted = announcement_id.lower()
    async for row in _actions(platform, None):
        if row.kind in _KINDS and str(announcement_uuid(row.action_id)) == wanted:
            return json_answer(announcement_of(row, platform.settings.settlement_sessions))
    raise ApiError(404, ANNOUNCEMENT_NOT_FOUND, "no such corporate action announcement")


def announcement_of(row: CorporateActionRow, settlement_sessions: int) -> dict[str, Any]:
    """Alpaca's `CorporateActionAnnouncement` of a split or a cash dividend (T+N: N is
    `settlement_sessions`)."""
    declared = datetime.datetime.fromtimestamp(row.announced_ts / 1e9, datetime.UTC).date()
    common = {
        "id": str(announcement_uuid(row.action_id)),
        "corporate_action_id": row.action_id,
        "ca_type": _KINDS[row.kind],
        "initiating_symbol": row.symbol,
        "initiating_original_cusip": "",
        "target_symbol": row.symbol,
        "target_original_cusip": "",
        "declaration_date": declared.isoformat(),
    }
    if row.kind == "dividend":
        amount = row.amount_per_share or 0
        return common | {
            "ca_sub_type": "cash",
            "ex_date": _ex_date(row.record_date, settlement_sessions),
            "record_date": row.record_date,
            "payable_date": row.pay_date,
            "cash": format_price(amount),
            "old_rate": "1",
            "new_rate": "1",
        }
    old, new = row.old_shares or 1, row.new_shares or 1
    return common | {
        "ca_sub_type": "stock_split" if new >= old else "reverse_split",
        "ex_date": row.ex_date,
        "record_date": None,
        "payable_date": row.ex_date,
        "cash": "0",
        "old_rate": str(old),
        "new_rate": str(new),
    }


def _ex_date(record_date: str | None, settlement_sessions: int) -> str | None:
    """The engine's ex-date of a dividend: the first session whose buyers settle after the
    record date."""
    if record_date is None:
        return None
    calendar = calendar_for()
    return calendar.session_date(calendar.session_of_date(record_date) - settlement_sessions + 1)


def _types(text: str) -> set[str]:
    types = {name.strip().lower() for name in text.split(",") if name.strip()}
    unknown = types - set(CA_TYPES)
    if not types or unknown:
        raise ApiError(
            422, MALFORMED, f"ca_types: a comma-separated list of {', '.join(CA_TYPES)}"
        )
    return types


def _in_range(
    announcement: dict[str, Any], since: datetime.date, until: datetime.date, date_type: str | None
) -> bool:
    names = DATE_TYPES if date_type is None else (date_type,)
    days = (announcement.get(name) for name in names)
    return any(
        day is not None and since <= datetime.date.fromisoformat(day) <= until for day in days
    )


async def _actions(platform: Backend, symbol: str | None) -> AsyncIterator[CorporateActionRow]:
    """Every corporate action (of `symbol`), newest announced first, a page at a time."""
    after: str | None = None
    while True:
        rows: list[CorporateActionRow] = await platform.read_model(
            None, queries.list_corporate_actions, symbol, None, actions_scanned_per_page, after
        )
        for row in rows:
            yield row
        if len(rows) < actions_scanned_per_page:
            return
        after = rows[-1].action_id
