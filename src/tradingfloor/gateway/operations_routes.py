"""Operations: liveness (`/healthz`), readiness (`/readyz`) and Prometheus metrics
(`/metrics`). Liveness is public; the problems behind a readiness answer and the metrics are
for the metrics token (`Authorization: Bearer <metrics_token>`) or an admin."""

import hmac
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from tradingfloor import observability as metrics
from tradingfloor.gateway import deps
from tradingfloor.gateway.answers import json_answer
from tradingfloor.gateway.backend import Backend
from tradingfloor.gateway.route_table import RouteTable
from tradingfloor.identity import AuthError

routes = RouteTable(tags=["operations"])


@routes.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@routes.get("/readyz")
async def readyz(request: Request, platform: deps.Platform) -> Response:
    """Ready or not; the metrics token or an admin also gets the problems and the seq
    (internals stay out of public answers)."""
    problems = await platform.problems()
    body: dict[str, Any] = {"status": "not ready" if problems else "ready"}
    try:
        _operator(request, platform)
        body.update(problems=problems, seq=platform.fed_seq)
    except AuthError:
        pass
    return json_answer(body, 503 if problems else 200)


@routes.get("/metrics", include_in_schema=False)
async def prometheus(request: Request, platform: deps.Platform) -> Response:
    """Prometheus metrics, for the metrics token or an admin."""
    _operator(request, platform)
    body, content_type = metrics.render(
        platform.fed_seq, platform.projected_seq(), platform.projection_lag()
    )
    return Response(body, media_type=content_type)


def _operator(request: Request, platform: Backend) -> None:
    """The metrics token, or an admin (else `AuthError`)."""
    token = platform.settings.metrics_token
    if token is not None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected):
            return
    deps.admin(request)
