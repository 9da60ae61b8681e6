"""`/v1/admin/trade-reports`: the trade reports the reporting role made, for admins, from
its table (`store.trade_reports`).

`GET` pages through them oldest first: `since_id` is the last row id seen (0 for the first
page), `next_since_id` continues. The WebSocket `/stream` sends every report as it lands, one
JSON text message each (`{"id": ..., "report": {...}}`), from `since_id` on (default: the
newest, so only new ones): it reads the table every `trade_report_stream_poll_ms` (200 ms by
default) at most `reports_per_page_max` at a time, so a report reaches the admin within
about that interval after the role stored it. At most `trade_report_stream_clients_max`
streams per gateway process; another is closed with 1013 (try again later).

The table is written by the reporting role, not the projector: reads do not wait for the
projector to catch up.
"""

import asyncio
import contextlib
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from fastapi import FastAPI, Query, WebSocket
from fastapi.responses import Response
from starlette.websockets import WebSocketDisconnect

from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import json_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.gateway.streams import POLICY_VIOLATION, TRY_AGAIN_LATER, _credentials
from tradingfloor.identity import AuthError, Role, Scope
from tradingfloor.store.trade_reports import TradeReportRow, list_trade_reports

routes = RouteTable(tags=["trade reports"])

reports_per_page_max = 1_000
ROW_ID_MAX = 2**62


def _view(row: TradeReportRow) -> dict[str, Any]:
    return {"id": row.id, "report": msgspec.Raw(row.body)}


async def _rows(platform: Backend, since_id: int, limit: int) -> list[TradeReportRow]:
    def run() -> list[TradeReportRow]:
        with platform.store.connect() as connection:
            return list_trade_reports(connection, since_id, limit)

    return await asyncio.to_thread(run)


async def _newest_id(platform: Backend) -> int:
    def run() -> int:
        from sqlalchemy import func, select

        from tradingfloor.store.trade_reports import trade_reports

        with platform.store.connect() as connection:
            return int(connection.scalar(select(func.max(trade_reports.c.id))) or 0)

    return await asyncio.to_thread(run)


@routes.get("/v1/admin/trade-reports")
async def list_reports(
    _admin: deps.Admin,
    platform: deps.Platform,
    since_id: Annotated[int, Query(ge=0, le=ROW_ID_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=reports_per_page_max)] = 100,
) -> Response:
    """Trade reports after row `since_id`, oldest first; `next_since_id` continues."""
    rows = await _rows(platform, since_id, limit)
    next_id = rows[-1].id if rows else since_id
    return json_answer({"reports": [_view(row) for row in rows], "next_since_id": next_id})


def install(app: FastAPI, platform: Backend) -> None:
    """The stream of new trade reports (a WebSocket: not in a `RouteTable`)."""
    streams: set[WebSocket] = set()
    settings = platform.settings

    @app.websocket("/v1/admin/trade-reports/stream")
    async def trade_report_stream(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            principal = deps.authenticate(platform.auth, _credentials(websocket))
            principal.require(Scope.ADMIN, role=Role.ADMIN)
            since_id = _since(websocket.query_params.get("since_id"))
        except AuthError as error:
            await websocket.close(POLICY_VIOLATION, error.message)
            return
        except ValueError:
            await websocket.close(POLICY_VIOLATION, f"since_id: 0 to {ROW_ID_MAX}")
            return
        if len(streams) >= settings.trade_report_stream_clients_max:
            await websocket.close(TRY_AGAIN_LATER, "too many trade report streams")
            return
        streams.add(websocket)
        try:
            if since_id is None:
                since_id = await _newest_id(platform)
            poll_s = settings.trade_report_stream_poll_ms / 1000
            await _until_gone(websocket, lambda: _send_new(websocket, platform, since_id, poll_s))
        finally:
            streams.discard(websocket)


def _since(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    if not 0 <= value <= ROW_ID_MAX:
        raise ValueError(text)
    return value


async def _send_new(websocket: WebSocket, platform: Backend, since_id: int, poll_s: float) -> None:
    """Send each report after `since_id` as it lands, reading the table every `poll_s`."""
    while True:
        rows = await _rows(platform, since_id, reports_per_page_max)
        for row in rows:
            await websocket.send_text(msgspec.json.encode(_view(row)).decode())
            since_id = row.id
        if len(rows) < reports_per_page_max:
            await asyncio.sleep(poll_s)


async def _until_gone(websocket: WebSocket, sending: Callable[[], Any]) -> None:
    """Run the sender until the client goes (what it sends is ignored)."""
    sender = asyncio.create_task(sending())
    receiver = asyncio.create_task(_drain(websocket))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _drain(websocket: WebSocket) -> None:
    while True:
        try:
            message = await websocket.receive()
        except WebSocketDisconnect:
            return
        if message["type"] == "websocket.disconnect":
            return
