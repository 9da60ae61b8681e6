"""`GET /v1/exports/orders` and `/v1/exports/fills`: your orders or fills as a file.

The file is what `tradingfloor export` writes (`compliance.exports`: the same columns, money
as integers in price units with a dollar text twin), as CSV or Parquet, for trade dates
`from` to `to` (New York, both included). A trader gets their own account's rows; an admin
may name any account with `account=`. The range is bounded (`export_days_max`) and so are the
rows (`export_rows_max`): a larger export is refused before anything is written, and the
operator's command has no such limit. The file is built in a spooled temporary file (memory,
then disk past `spool_bytes_max`) from the read models in chunks, then streamed.
"""

import tempfile
from collections.abc import Iterator
from typing import IO, Annotated, Any

from fastapi import Path, Query
from fastapi.responses import Response, StreamingResponse

from tradingfloor.compliance.export_writer import CONTENT_TYPES, write_export
from tradingfloor.compliance.exports import EXPORT_KINDS, ExportKind, ExportQuery
from tradingfloor.compliance.trade_dates import DateRangeError, date_range
from tradingfloor.domain.ids import ACCOUNT_ID_PATTERN
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import MALFORMED
from tradingfloor.gateway.errors import ApiError
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.identity import Role, Scope

routes = RouteTable(tags=["portfolio"])

API_EXPORT_KINDS = ("orders", "fills")
"""The kinds a caller may export of their own account (others are the operator's)."""
spool_bytes_max = 8 * 1024 * 1024
"""An export larger than this waits on disk, not in memory, until it is sent."""
send_chunk_bytes = 256 * 1024

_EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file (Content-Disposition names it).",
        "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
    },
    403: {"description": "Another account's rows, asked by a trader."},
    404: {"description": "No such export, or no such account."},
    422: {"description": "Malformed or backwards dates, too many days, or too many rows."},
}


@routes.get("/v1/exports/{kind}", responses=_EXPORT_RESPONSES)
async def export(
    principal: deps.Reader,
    platform: deps.Platform,
    kind: Annotated[str, Path(pattern="^[a-z_]{1,32}$")],
    from_date: Annotated[str, Query(alias="from", max_length=10, description="YYYY-MM-DD")],
    to_date: Annotated[str, Query(alias="to", max_length=10, description="YYYY-MM-DD")],
    format: Annotated[str, Query(pattern="^(csv|parquet)$")] = "csv",
    account: Annotated[str | None, Query(pattern=f"^{ACCOUNT_ID_PATTERN}$")] = None,
) -> Response:
    """Your orders (by the day entered) or fills (by the day traded) of trade dates `from` to
    `to`, both included, as `format=csv` or `parquet`. Prices and amounts are integers in
    price units (1/10,000 dollar) beside their dollar text (`price_usd`)."""
    if kind not in API_EXPORT_KINDS:
        raise ApiError(404, MALFORMED, f"no export {kind!r}: orders or fills")
    if account is not None and account != principal.account_id:
        principal.require(Scope.ADMIN, role=Role.ADMIN)
        if not await platform.account_exists(account):
            reason = RejectReason.UNKNOWN_ACCOUNT
            raise ApiError(404, int(reason), reason.message)
    owner = account or principal.account_id
    settings = platform.settings
    try:
        dates = date_range(from_date, to_date, settings.export_days_max)
    except DateRangeError as error:
        raise ApiError(422, MALFORMED, str(error)) from error
    chosen = EXPORT_KINDS[kind]
    query = ExportQuery(dates.after_ts, dates.before_ts, [owner])
    rows = await platform.read_model(owner, chosen.count, query)
    if rows > settings.export_rows_max:
        message = f"{rows:,} rows: at most {settings.export_rows_max:,}; ask for fewer days"
        raise ApiError(422, MALFORMED, message)
    spool = await platform.read_model(owner, _spooled, chosen, format, query)
    name = f"{kind}-{owner}-{dates.label}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(_sent(spool), 200, headers, media_type=CONTENT_TYPES[format])


def _spooled(connection: Any, kind: ExportKind, format: str, query: ExportQuery) -> IO[bytes]:
    """The export written to a spooled temporary file, rewound."""
    spool = tempfile.SpooledTemporaryFile(max_size=spool_bytes_max)  # noqa: SIM115
    try:
        write_export(kind, format, connection, query, spool)  # type: ignore[arg-type]
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def _sent(spool: IO[bytes]) -> Iterator[bytes]:
    """The file's bytes a chunk at a time (Starlette runs this in a thread), then closed."""
    try:
        while chunk := spool.read(send_chunk_bytes):
            yield chunk
    finally:
        spool.close()
