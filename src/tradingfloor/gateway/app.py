"""The FastAPI application: REST `/v1`, Alpaca's `/v2`, the WebSockets, health and metrics,
assembled from a router per area.

Routes are thin: authenticate (`deps`), turn the request into a command, await the durable
answer, map it to a response; order entry's path between command and answer is one for every
API (`order_entry`). The order-entry routes (`order_routes`) are the hot path and keep
FastAPI's machinery off it; the other routes use its conveniences. Refusals raised anywhere
are answered by `handlers`.
"""

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from tradingfloor import web
from tradingfloor.gateway import (
    account_routes,
    admin_routes,
    alpaca,
    alpaca_data_routes,
    alpaca_data_stream,
    alpaca_stream,
    auth_routes,
    corporate_action_routes,
    export_routes,
    handlers,
    market_routes,
    operations_routes,
    order_routes,
    quality_routes,
    settlement_routes,
    shard_routes,
    statement_routes,
    streams,
    surveillance_routes,
    trade_report_routes,
    user_admin,
)
from tradingfloor.gateway.backend import Backend, SeqTokens
from tradingfloor.gateway.fast_path import OrderEntryFastPath
from tradingfloor.gateway.openapi import install_openapi


def create_app(platform: Backend) -> FastAPI:
    """The app over a started platform (the caller starts and stops it)."""
    # The documentation pages' scripts and styles come from the installed package, not a CDN:
    # /docs and /redoc work offline.
    app = FastAPIOffline(
        title="TradingFloor",
        version="0.1.0",
        description="Stock trading platform. Prices and money are decimal strings in dollars.",
    )
    app.state.backend = platform
    app.state.auth = platform.auth
    handlers.install(app)
    areas = (
        order_routes,
        account_routes,
        market_routes,
        admin_routes,
        shard_routes,
        settlement_routes,
        corporate_action_routes,
        surveillance_routes,
        trade_report_routes,
        export_routes,
        quality_routes,
    )
    for area in (*areas, statement_routes, operations_routes):
        area.routes.install(app)
    auth_routes.install(app, platform)
    user_admin.install(app, platform)
    streams.install(app, platform)
    trade_report_routes.install(app, platform)
    alpaca.install(app)
    alpaca_data_routes.routes.install(app)
    alpaca_data_stream.install(app, platform)
    alpaca_stream.install(app, platform)
    install_openapi(app)
    web.install(app)  # the web terminal at / (after the API's routes, which keep precedence)
    app.add_middleware(OrderEntryFastPath, place_order=order_routes.place_order, app_handlers=app)
    app.add_middleware(SeqTokens)
    return app
