"""`/v1/admin/alerts`: the market-surveillance review queue, for admins.

The surveillance role writes alerts; a reviewer closes one (`dismiss` or `escalate`) with a
note, which records who, when and why. Lists are newest first, a bounded page at a time:
`next_page_token` (the last alert's id) continues one. An alert is read with its evidence:
the orders (ids as text, as every order id the API answers) and the (shard, seq) of the
commands it rests on, which the audit trail shows.
"""

import asyncio
import re
from typing import Annotated, Any

import msgspec
from fastapi import Query
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import json_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.errors import refusal
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.gateway.settlement_routes import one_line
from tradingfloor.store import surveillance_queries as queries
from tradingfloor.store.surveillance_queries import AlertRow

routes = RouteTable(tags=["surveillance"])

ALERT_ID_PATTERN = r"^[a-z_]{1,32}-[0-9a-f]{24}$"
"""`<pattern>-<24 hex>`: what the detectors make (`compliance.surveillance.alerts`)."""
PATTERNS = "wash_trade|spoofing|marking_the_close|order_entry_abuse"
NOTE_LENGTH_MAX = 2_000
alerts_per_page_max = 500
TEXT_PATTERN = r"^[\x21-\x7e]{1,64}$"
_ALERT_ID = re.compile(ALERT_ID_PATTERN)

Note = Annotated[str, Field(min_length=1, max_length=NOTE_LENGTH_MAX), AfterValidator(one_line)]


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Annotated[str, Field(pattern="^(dismiss|escalate)$")]
    note: Note


OUTCOMES = {"dismiss": "dismissed", "escalate": "escalated"}


def alert_view(row: AlertRow, evidence: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row.alert_id,
        "pattern": row.pattern,
        "state": row.state,
        "shard": row.shard,
        "accounts": row.accounts.split(","),
        "owner": row.owner,
        "symbol": row.symbol,
        "ts": row.ts,
        "seq": row.seq,
        "score": row.score,
        "summary": row.summary,
        "review": None,
    }
    if row.state == "closed":
        view["review"] = {
            "outcome": row.outcome,
            "reviewer": row.reviewer,
            "note": row.note,
            "ts": row.reviewed_ts,
        }
    if evidence:
        found = msgspec.json.decode(row.evidence)
        view["evidence"] = {
            "order_ids": [str(order_id) for order_id in found["order_ids"]],
            "events": [{"shard": shard, "seq": seq} for shard, seq in found["events"]],
            "explanation": found["explanation"],
        }
    return view


async def _sql(platform: Backend, query: Any, *args: Any, write: bool = False) -> Any:
    """Run a query on the review queue. Alerts are not read models of the projector: no
    wait for the projection."""

    def run() -> Any:
        if write:
            with platform.store.begin() as connection:
                return query(connection, *args)
        with platform.store.connect() as connection:
            return query(connection, *args)

    return await asyncio.to_thread(run)


async def _alert(platform: Backend, alert_id: str) -> AlertRow:
    row: AlertRow | None = await _sql(platform, queries.get_alert, alert_id)
    if row is None:
        raise refusal(RejectReason.UNKNOWN_ALERT)
    return row


@routes.get("/v1/admin/alerts")
async def list_alerts(
    _admin: deps.Admin,
    platform: deps.Platform,
    state: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
    pattern: Annotated[str | None, Query(pattern=f"^({PATTERNS})$")] = None,
    symbol: Annotated[str | None, Query(pattern=TEXT_PATTERN)] = None,
    account: Annotated[str | None, Query(pattern=TEXT_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=alerts_per_page_max)] = 50,
    page_token: Annotated[str | None, Query(pattern=ALERT_ID_PATTERN)] = None,
) -> Response:
    """The review queue: open alerts by default (`state=closed` or `all`), newest first,
    of a pattern, a symbol, an account."""
    rows: list[AlertRow] = await _sql(
        platform,
        queries.list_alerts,
        None if state == "all" else state,
        pattern,
        symbol,
        account,
        limit + 1,
        page_token,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return json_answer(
        {
            "alerts": [alert_view(row, evidence=False) for row in rows],
            "next_page_token": rows[-1].alert_id if more else None,
        }
    )


@routes.get("/v1/admin/alerts/{alert_id}")
async def get_alert(alert_id: str, _admin: deps.Admin, platform: deps.Platform) -> Response:
    """One alert with its evidence."""
    return json_answer(alert_view(await _alert(platform, _checked(alert_id)), evidence=True))


@routes.post("/v1/admin/alerts/{alert_id}")
async def review_alert(
    alert_id: str, body: ReviewRequest, admin: deps.Admin, platform: deps.Platform
) -> Response:
    """Close an open alert: `dismiss` (no case) or `escalate` (a case to pursue), with a
    note. 404 for an unknown alert, 409 for one closed already."""
    row = await _alert(platform, _checked(alert_id))
    user = await asyncio.to_thread(platform.auth.get_user, admin.user_id)
    outcome = OUTCOMES[body.action]
    closed = await _sql(
        platform,
        queries.close_alert,
        row.alert_id,
        outcome,
        user.username,
        body.note.strip(),
        platform.clock(),
        write=True,
    )
    if not closed:
        raise refusal(RejectReason.ALERT_CLOSED)
    return json_answer(alert_view(await _alert(platform, row.alert_id), evidence=True))


def _checked(alert_id: str) -> str:
    """The alert id of a path; one that cannot be an alert's is an unknown alert."""
    if not _ALERT_ID.match(alert_id):
        raise refusal(RejectReason.UNKNOWN_ALERT)
    return alert_id
