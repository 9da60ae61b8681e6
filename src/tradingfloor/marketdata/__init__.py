"""Market data: quotes, trades, depth and bars for subscribers, built from the engine's events.

`hub.MarketDataHub` is fed every applied batch by the platform's batch listener (which only
marks symbols dirty and appends trades) and flushes conflated updates per client tier;
`bars.BarBook` keeps OHLCV bars per symbol and timeframe; `cache.RedisMarketDataCache` publishes
the latest quote and book per symbol to Redis for other processes. This package imports only
`domain` (and `tradingfloor.outage`, the cache's fail-fast Redis client): the order books it
reads are passed in as plain views (see `hub.BookView`).
"""
