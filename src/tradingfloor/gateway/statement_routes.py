"""`GET /v1/statements`: your account's daily or monthly statement, as HTML or PDF.

The statement is made from the read models (`settlement.statements`) once they reflect what
the caller must see. A trader gets their own account's; an admin may name any account with
`account=`. Periods are trading sessions of the XNYS calendar in New York time, as the market
clock (`/v2/clock`) tells them.
"""

import asyncio
from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from tradingfloor.domain.ids import ACCOUNT_ID_PATTERN
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import MALFORMED, error_answer
from tradingfloor.gateway.errors import ApiError
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.identity import Role, Scope
from tradingfloor.risk.calendar import calendar_for
from tradingfloor.settlement.statements import (
    Period,
    PeriodError,
    content_type,
    daily_period,
    load_statement,
    monthly_period,
    render,
)

routes = RouteTable()

_STATEMENT_RESPONSES = {
    200: {
        "description": "The statement, as a file (Content-Disposition names it).",
        "content": {"text/html": {}, "application/pdf": {}},
    },
    403: {"description": "Another account's statement, asked by a trader."},
    404: {"description": "No such account."},
    422: {"description": "A malformed date or month, or a day that is not a trading day."},
}


@routes.get("/v1/statements", tags=["portfolio"], responses=_STATEMENT_RESPONSES)
async def statement(
    principal: deps.Reader,
    platform: deps.Platform,
    period: Annotated[str, Query(pattern="^(daily|monthly)$")] = "daily",
    date: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD")] = None,
    month: Annotated[str | None, Query(max_length=7, description="YYYY-MM")] = None,
    format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html",
    account: Annotated[str | None, Query(pattern=f"^{ACCOUNT_ID_PATTERN}$")] = None,
) -> Response:
    """Your account's statement of one trading day (`period=daily&date=2026-12-02`) or one
    month (`period=monthly&month=2026-11`): trades with fees, settlements, deposits,
    withdrawals, dividends, splits and every other activity, opening and closing cash and
    positions, realized P&L. `format=html` or `pdf`."""
    if account is not None and account != principal.account_id:
        principal.require(Scope.ADMIN, role=Role.ADMIN)
    owner = account or principal.account_id
    chosen = await asyncio.to_thread(_period, period, date, month)
    data = await platform.read_model(
        owner, load_statement, owner, chosen.after_ts, chosen.until_ts
    )
    if data is None:
        reason = RejectReason.UNKNOWN_ACCOUNT
        return error_answer(int(reason), reason.message, 404)
    body, name = await asyncio.to_thread(render, data, chosen, format)
    disposition = "inline" if format == "html" else "attachment"
    headers = {"Content-Disposition": f'{disposition}; filename="{name}"'}
    return Response(body, 200, headers, media_type=content_type(format))


def _period(kind: str, date: str | None, month: str | None) -> Period:
    """The period asked for; 422 naming the parameter when it is missing or no period."""
    try:
        if kind == "daily":
            if date is None or month is not None:
                raise ApiError(422, MALFORMED, "period=daily takes date=YYYY-MM-DD (no month)")
            return daily_period(calendar_for(), date)
        if month is None or date is not None:
            raise ApiError(422, MALFORMED, "period=monthly takes month=YYYY-MM (no date)")
        return monthly_period(calendar_for(), month)
    except PeriodError as error:
        raise ApiError(422, MALFORMED, str(error)) from error
