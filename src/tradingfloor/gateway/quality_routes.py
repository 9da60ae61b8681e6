"""`GET /v1/admin/reports/execution-quality`: the month's Rule 605 or 606-style report.

What `tradingfloor reports execution-quality` prints, for admins, once the read models
reflect what the caller has seen: JSON, or CSV as a file (Content-Disposition names it).
"""

from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from tradingfloor.compliance.quality_report import execution_quality_report, report_csv
from tradingfloor.compliance.trade_dates import DateRangeError, month_range
from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import MALFORMED, json_answer
from tradingfloor.gateway.errors import ApiError
from tradingfloor.gateway.route_table import RouteTable

routes = RouteTable(tags=["compliance"])


@routes.get("/v1/admin/reports/execution-quality")
async def execution_quality(
    _admin: deps.Admin,
    platform: deps.Platform,
    month: Annotated[str, Query(max_length=7, description="YYYY-MM")],
    rule: Annotated[str, Query(pattern="^(605|606)$")] = "605",
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Response:
    """Rule 605-style execution quality per symbol, order type and size bucket, or Rule
    606-style routing by order type, of a calendar month (New York)."""
    try:
        dates = month_range(month)
    except DateRangeError as error:
        raise ApiError(422, MALFORMED, str(error)) from error
    report = await platform.read_model(None, execution_quality_report, dates, rule)
    if format == "json":
        return json_answer(report)
    name = f"execution-quality-{rule}-{month}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(report_csv(report), 200, headers, media_type="text/csv; charset=utf-8")
