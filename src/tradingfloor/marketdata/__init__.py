"""Market data: books, quotes, trades, depth and bars, built from the engine's events alone.

The marketdata role follows the event feed and reads nothing else, so it can run in a process
of its own. `view.MarketDataView` is its read side for the gateway: the listed symbols, each
symbol's visible book (`levels.LevelBook`, aggregated by price), quote, depth and recent trades
(`tape.TradeTape`). `hub.MarketDataHub` publishes conflated updates of those books per client
tier over WebSockets (its parts: `tiers`, `client`, `messages`, `settings`, `cache_writer`);
`bars.BarBook` keeps OHLCV bars per symbol and timeframe; `cache.RedisMarketDataCache` holds
the latest quote and book per symbol in Redis for other processes. This package imports only
`domain` (and `tradingfloor.outage`, the cache's fail-fast Redis client).
"""
