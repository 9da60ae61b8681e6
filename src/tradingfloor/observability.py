"""Prometheus metrics: ack and matching latency, fills, rejects by reason, journal batches,
the failures of the dependencies (read-model projection, Redis) with the 503s they cause,
sign-in refusals, and the requests and connections the HTTP server refused.

Every role's process records its own (the shard its journal batches and matching times, the
projector its failures, each gateway its requests); under `serve`'s supervisor they share a
directory (`MULTIPROCESS_DIR_ENV`) and any gateway's `/metrics` answers for them all."""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Set by `serve` for its role processes: each writes its metrics to files there, and a
gateway's `/metrics` sums them (prometheus_client's multiprocess mode)."""

registry = CollectorRegistry()
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)

ack_seconds = Histogram(
    "tradingfloor_order_ack_seconds",
    "From the order request's arrival to its durable answer",
    ["symbol"],
    buckets=LATENCY_BUCKETS,
    registry=registry,
)
matching_seconds = Histogram(
    "tradingfloor_matching_seconds",
    "Engine time per command (risk, matching, ledger)",
    ["symbol"],
    buckets=(0.000005, 0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005),
    registry=registry,
)
fills = Counter("tradingfloor_fills_total", "Fills (one per trade)", ["symbol"], registry=registry)
rejects = Counter(
    "tradingfloor_rejects_total", "Orders refused, by reason", ["reason"], registry=registry
)
rate_limited = Counter(
    "tradingfloor_rate_limited_total", "Requests answered 429", registry=registry
)
client_disconnects = Counter(
    "tradingfloor_client_disconnects_total",
    "Requests whose client closed the connection before their body arrived",
    registry=registry,
)
sign_in_refusals = Counter(
    "tradingfloor_sign_in_refusals_total",
    "Sign-in steps refused: wrong password or code, lockouts, blocked sources, busy",
    ["reason"],
    registry=registry,
)
http_refused = Counter(
    "tradingfloor_http_refused_total",
    "Requests and connections the HTTP server refused before the application, by kind",
    ["kind"],
    registry=registry,
)
connections_open = Gauge(
    "tradingfloor_connections_open",
    "Open HTTP and WebSocket connections",
    registry=registry,
    multiprocess_mode="livesum",
)
journal_batch = Histogram(
    "tradingfloor_journal_batch_commands",
    "Commands per journal write (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
    registry=registry,
)
projection_failures = Counter(
    "tradingfloor_projection_failures_total",
    "Failed attempts to project into the read models (each is retried with backoff)",
    registry=registry,
)
redis_failures = Counter(
    "tradingfloor_redis_failures_total",
    "Redis calls that failed or timed out, by use (rate_limits, marketdata_cache)",
    ["use"],
    registry=registry,
)
unavailable = Counter(
    "tradingfloor_unavailable_total",
    "Requests answered 503 because a dependency is down, by dependency",
    ["dependency"],
    registry=registry,
)
last_seq = Gauge(
    "tradingfloor_last_seq",
    "The engine's last sequence number",
    registry=registry,
    multiprocess_mode="max",
)
projected_seq = Gauge(
    "tradingfloor_projected_seq",
    "The read models' last sequence number",
    registry=registry,
    multiprocess_mode="max",
)
projection_lag = Gauge(
    "tradingfloor_projection_lag_commands",
    "Commands the shard has applied that the read models do not hold yet, as a gateway knows "
    "it (new orders are refused above projection_lag_max_commands)",
    registry=registry,
    multiprocess_mode="max",
)


def render(fed_seq: int, read_models_seq: int, lag: int | None = None) -> tuple[bytes, str]:
    """The metrics as Prometheus text, with the seq this gateway's feed and the read models
    have reached, and the read models' lag behind the shard (None: unknown, left as it was)."""
    last_seq.set(fed_seq)
    projected_seq.set(read_models_seq)
    if lag is not None:
        projection_lag.set(lag)
    if MULTIPROCESS_DIR_ENV in os.environ:  # serve's processes: the metrics of them all
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return generate_latest(collected), CONTENT_TYPE_LATEST
    return generate_latest(registry), CONTENT_TYPE_LATEST
