"""The market-data role's own HTTP edge: the market-data WebSockets (`streams`), served by
the role's hub, and `/health`. Gateways forward their clients' market-data WebSockets here
(`stream_proxy`); professional clients may also connect here directly."""

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from tradingfloor.gateway.streams import install_websockets
from tradingfloor.identity import AuthService
from tradingfloor.marketdata.feed import MarketFeed, MarketFeeds


def create_marketdata_app(feed: MarketFeed | MarketFeeds, auth: AuthService) -> FastAPI:
    hub = feed.hub
    app = FastAPI(
        title="TradingFloor market data", openapi_url=None, docs_url=None, redoc_url=None
    )
    install_websockets(app, hub, auth)

    @app.get("/health")
    async def health() -> JSONResponse:
        """ok while the hub publishes; `seq` is the newest event-feed seq it has taken."""
        body: dict[str, Any] = {
            "status": "ok" if hub.failure is None else "degraded",
            "seq": feed.fed_seq,
            "clients": sum(len(state.clients) for state in hub.tiers.values()),
        }
        if hub.failure is not None:
            body["problems"] = [f"market data publishing stopped: {hub.failure}"]
        return JSONResponse(body, 200 if hub.failure is None else 503)

    return app
