"""An Alpaca-compatible Trading API under `/v2`: the official `alpaca-py` SDK works unchanged
(`TradingClient(key_id, secret, url_override=...)` with one of our API keys).

Same engine, same checks as `/v1`: order entry needs the trade scope, the second factor and
the rate limit (`deps.Trader`: a limiter whose Redis is down refuses, 503 with code 5034);
reads need the read scope. Refusals keep our stable codes: the HTTP status of
`errors.http_status` and a `{"code", "message"}` body, which the SDK raises as `APIError`.
Order classes (bracket, OCO, OTO) are the engine's (`alpaca_order_classes`). What Alpaca
offers and we do not (notional and fractional orders, extended hours, `opg`/`cls`) is
refused with a 422 that names the field.

The routes, by area: orders (`alpaca_order_routes`), positions, the account and its
activities (`alpaca_account_routes`), assets and the clock (`alpaca_asset_routes`),
corporate action announcements (`alpaca_announcement_routes`), options, which the platform
does not list (`alpaca_option_routes`), the trading days (`alpaca_calendar_routes`), the
account's settings (`alpaca_configuration_routes`), its equity over time
(`alpaca_portfolio_routes`), watchlists (`alpaca_watchlist_routes`); the
`trade_updates` stream is `alpaca_stream`. The market data API v2 (`/v2/stocks/...`, the
`/v2/iex` and `/v2/sip` streams) is `alpaca_data_routes` and `alpaca_data_stream`.
"""

from fastapi import FastAPI

from tradingfloor.gateway import (
    alpaca_account_routes,
    alpaca_announcement_routes,
    alpaca_asset_routes,
    alpaca_calendar_routes,
    alpaca_configuration_routes,
    alpaca_option_routes,
    alpaca_order_routes,
    alpaca_portfolio_routes,
    alpaca_watchlist_routes,
)


def install(app: FastAPI) -> None:
    """Add the `/v2` routes to `app`, area by area."""
    areas = (
        alpaca_order_routes,
        alpaca_account_routes,
        alpaca_asset_routes,
        alpaca_announcement_routes,
        alpaca_option_routes,
        alpaca_calendar_routes,
        alpaca_configuration_routes,
        alpaca_portfolio_routes,
        alpaca_watchlist_routes,
    )
    for area in areas:
        area.routes.install(app)
