"""`/v1/admin/breaks` and `/v1/admin/settlement`: the reconciliation's review queue and the
end of day's progress, for admins.

A break is resolved by a `ResolveBreak` command (who resolved it is the admin's username,
with a reason and an optional adjustment of the break's account), answered with the break as
the read models hold it once resolved. Lists are newest first, a bounded page at a time:
`next_page_token` (the last break's id) continues one.
"""

import asyncio
import re
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tradingfloor.domain.commands import ResolveBreak
from tradingfloor.domain.enums import BreakKind
from tradingfloor.domain.events import CommandRejected
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import deps
from tradingfloor.gateway import settlement_views as views
from tradingfloor.gateway.answers import json_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.errors import ApiError, refusal
from tradingfloor.gateway.params import price
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.store import settlement_queries as queries
from tradingfloor.store.settlement_queries import BreakRow

routes = RouteTable(tags=["settlement"])

BREAK_ID_LENGTH_MAX = 200
"""A break id is `date/KIND/<trade ref or account/symbol>`: well within this."""
BREAK_ID_PATTERN = rf"^[\x21-\x7e]{{1,{BREAK_ID_LENGTH_MAX}}}$"
"""Printable ASCII, no space: what the settlement role makes of dates, kinds, trade refs,
accounts and symbols."""
REASON_LENGTH_MAX = 500
breaks_per_page_max = 500
days_per_page_max = 366
SHARES_ADJUSTMENT_MAX = 1_000_000_000
MONEY_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$"
"""Signed dollars, at most four decimals (the price unit)."""
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
BREAK_KINDS = "|".join(kind.name.lower() for kind in BreakKind)
_BREAK_ID = re.compile(BREAK_ID_PATTERN)


def one_line(text: str) -> str:
    """One line of text with something in it: no control characters (PostgreSQL text
    cannot hold NUL, and a reason is shown on one line)."""
    if not text.strip() or any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise ValueError("one line of printable text")
    return text


Text = Annotated[str, Field(min_length=1, max_length=REASON_LENGTH_MAX), AfterValidator(one_line)]


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text
    cash_adjustment: str | None = Field(default=None, pattern=MONEY_PATTERN)
    """Dollars into (negative: out of) the break's account's settled cash."""
    shares_adjustment: int = Field(default=0, ge=-SHARES_ADJUSTMENT_MAX, le=SHARES_ADJUSTMENT_MAX)
    """Shares of the break's symbol into (negative: out of) the account."""


def _unknown_break() -> ApiError:
    return refusal(RejectReason.UNKNOWN_BREAK)


def break_id_of(text: str) -> str:
    """The break id of a path; one that cannot be a break's is an unknown break."""
    if not _BREAK_ID.match(text):
        raise _unknown_break()
    return text


async def _break(platform: Backend, break_id: str) -> BreakRow:
    row: BreakRow | None = await platform.read_model(None, queries.get_break, break_id)
    if row is None:
        raise _unknown_break()
    return row


@routes.get("/v1/admin/breaks")
async def list_breaks(
    _admin: deps.Admin,
    platform: deps.Platform,
    status: Annotated[str, Query(pattern="^(open|resolved|all)$")] = "open",
    date: Annotated[str | None, Query(pattern=DATE_PATTERN)] = None,
    kind: Annotated[str | None, Query(pattern=f"^({BREAK_KINDS})$")] = None,
    account: Annotated[str | None, Query(max_length=64, pattern=r"^[\x21-\x7e]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=breaks_per_page_max)] = 50,
    page_token: Annotated[str | None, Query(pattern=BREAK_ID_PATTERN)] = None,
) -> Response:
    """The review queue: open breaks by default (`status=resolved` or `all`), newest
    first, of a trade date, a kind, an account."""
    rows: list[BreakRow] = await platform.read_model(
        None,
        queries.list_breaks,
        None if status == "all" else status,
        date,
        kind,
        account,
        limit + 1,
        page_token,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_token = rows[-1].break_id if more else None
    return json_answer(
        {"breaks": [views.break_view(row) for row in rows], "next_page_token": next_token}
    )


@routes.get("/v1/admin/breaks/{break_id:path}")
async def get_break(break_id: str, _admin: deps.Admin, platform: deps.Platform) -> Response:
    return json_answer(views.break_view(await _break(platform, break_id_of(break_id))))


@routes.post("/v1/admin/breaks/{break_id:path}/resolve")
async def resolve_break(
    break_id: str, body: ResolveRequest, admin: deps.Admin, platform: deps.Platform
) -> Response:
    """Close the break with a reason, posting the adjustment (if any) to its account; the
    answer is the break, resolved. 404 for an unknown break, 409 for one resolved already."""
    row = await _break(platform, break_id_of(break_id))
    cash = 0 if body.cash_adjustment is None else price(body.cash_adjustment, "cash_adjustment")
    user = await asyncio.to_thread(platform.auth.get_user, admin.user_id)
    command = ResolveBreak(
        row.break_id,
        user.username,
        body.reason.strip(),
        row.account,
        row.symbol,
        cash,
        body.shares_adjustment,
    )
    result = await platform.submit(command, row.account or None)
    for event in result.events:
        if isinstance(event, CommandRejected):
            raise refusal(event.reason)
    return json_answer(views.break_view(await _break(platform, row.break_id)))


@routes.get("/v1/admin/settlement")
async def settlement(
    _admin: deps.Admin,
    platform: deps.Platform,
    limit: Annotated[int, Query(ge=1, le=days_per_page_max)] = 30,
) -> Response:
    """The newest days closed or settled (a day is closed, or settled, once every shard
    has done it), the last of each, and how many breaks are open."""
    days, open_breaks = await platform.read_model(None, _settlement, limit)
    shards = len(platform.feed.feeds)
    shown = [views.settlement_day(day, shards) for day in days]
    return json_answer(
        {
            "last_closed": next((day["date"] for day in shown if day["closed"]), None),
            "last_settled": next((day["date"] for day in shown if day["settled"]), None),
            "open_breaks": open_breaks,
            "days": shown,
        }
    )


def _settlement(connection: Any, limit: int) -> tuple[list[Any], int]:
    return queries.list_settlement_days(connection, limit), queries.count_breaks(connection)
