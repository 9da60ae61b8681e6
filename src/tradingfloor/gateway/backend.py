"""What a gateway sees of the platform: ports, never another role's objects.

- the shard (`ShardPort`): commands, and the live state the engine answers between commands
  (accounts, positions, live orders, instruments);
- the read models: SQL queries, run once the projection (`ProjectionPort`) has reached what
  the reader must see;
- the market-data view and hub, fed by the shard's event feed in this process (quotes, depth,
  the tape, bars, WebSocket fan-out), and `feed_listeners` for other live consumers
  (`trade_updates`);
- its own edges: sign-in (`identity.AuthService`) and the order-entry rate limiter.

Read your writes: every answer to a command carries its seq (`TF-Seq` header); a read waits
until the read models reach the seq the client names (`TF-Min-Seq` header) or, without one,
the shard's last seq when the read began (so every answer the client was given before, by any
gateway process, and everyone's fills before it).
"""

import asyncio
import contextvars
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tradingfloor.config import Settings
from tradingfloor.domain.commands import Command
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.shards import seq_token, split_token
from tradingfloor.engine.pipeline import AccountSummary, PositionView
from tradingfloor.gateway import views
from tradingfloor.gateway.origins import begin_request, gateway_name, request_origin
from tradingfloor.gateway.stream_proxy import Upstream
from tradingfloor.identity import AuthService
from tradingfloor.marketdata.feed import MarketFeeds
from tradingfloor.marketdata.hub import MarketDataHub
from tradingfloor.marketdata.view import MarketDataView
from tradingfloor.service.ports import EventBatch, LiveOrder, ProjectionPort, ShardPort
from tradingfloor.service.projection import status_problem
from tradingfloor.service.sequencer import Result

log = logging.getLogger("tradingfloor.gateway")

read_wait_s_max = 5.0
"""How long a read waits for the read models to reach what its client must see."""
_min_seq: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "tf_min_seq", default=None
)
"""The seq tokens the current request's client names (`TF-Min-Seq`), for its reads."""
_answered_seq: contextvars.ContextVar[int] = contextvars.ContextVar("tf_seq", default=0)
"""The seq of the newest command the current request was answered (its `TF-Seq`)."""
SEQ_TOKEN_DIGITS_MAX = 19
SEQ_TOKENS_MAX = 16
"""Tokens in one `TF-Min-Seq` header (one per shard the client wrote to), at most."""


class ReadModelsUnavailable(Exception):
    """The read models cannot answer now (their projection is failing, or the projector
    cannot be reached): retry after `retry_after_s`."""

    def __init__(self, reason: str, retry_after_s: int) -> None:
        super().__init__(f"read models unavailable: {reason}")
        self.retry_after_s = retry_after_s


class ReadModelsLagging(Exception):
    """A new order refused as backpressure: the read models are `lag` commands behind the
    shard, more than `lag_max` (`projection_lag_max_commands`)."""

    def __init__(self, lag: int, lag_max: int) -> None:
        super().__init__(
            f"the read models are {lag} commands behind the shard (at most {lag_max}): "
            "new orders wait for them, retry"
        )
        self.lag, self.lag_max = lag, lag_max


@dataclass
class Backend:
    settings: Settings
    shard: ShardPort
    projection: ProjectionPort
    auth: AuthService
    limiter: Any
    """`check(user_id)` → a decision (`gateway.ratelimit`)."""
    marketdata: MarketDataHub
    market: "MarketDataView"
    """The market as the event feed tells it (quotes, depth, the tape), fed here."""
    clock: Callable[[], int]
    feed_listeners: list[Callable[[EventBatch], None]] = field(default_factory=list)
    market_data_upstream: Upstream | None = None
    """Where this gateway forwards market-data WebSockets (the market-data role), or None
    to serve them from its own hub."""
    shard_feeds: list[Callable[[int], Any]] | None = None
    """Each shard's event feed (`follow`), in the shard map's order; None: the shard port's."""

    def __post_init__(self) -> None:
        from tradingfloor.store.database import make_engine

        self.gateway = gateway_name()

        self.store = make_engine(self.settings.database_url)
        follows = self.shard_feeds or [self.shard.follow]
        self.feed = MarketFeeds(follows, self.market, self.marketdata, self.feed_listeners)
        self.answered: dict[int, int] = {}
        """Per shard index: the newest seq this gateway's commands were answered with."""

    @property
    def fed_seq(self) -> int:
        """The newest seq this gateway has taken from the event feed."""
        return self.feed.fed_seq

    async def start(self, feed_from_seq: int = 1) -> None:
        """Follow the shard's event feed from `feed_from_seq` (1: rebuild the market-data
        view from the whole event log)."""
        self.feed.start(feed_from_seq)

    async def stop(self) -> None:
        await self.feed.stop()
        await self.marketdata.stop()
        close = getattr(self.limiter, "close", None)
        if close is not None:
            await close()
        self.store.dispose()

    async def catch_up(self, tokens: list[int], timeout_s: float = read_wait_s_max) -> None:
        """Before serving: wait until this gateway's feeds have reached the seq tokens
        `tokens` (`ShardPort.last_tokens`: its market data reflect them)."""
        await self.feed.catch_up(tokens, timeout_s)

    async def market_caught_up(self) -> None:
        """Read your writes on the market-data view: wait until it reflects the request's
        `TF-Min-Seq` or, without one, every command applied before this read began (as
        processes, the view follows the event feed a moment behind the answers)."""
        tokens = _min_seq.get()
        if tokens is None:
            tokens = await self.shard.last_tokens()
        if not await self.feed.reach(tokens, read_wait_s_max):
            raise TimeoutError("the market-data view is behind")

    # ------------------------------------------------------------------ commands

    async def submit(self, command: Command, account: str | None = None) -> Result:
        """Sequence, journal and apply one command (its answer once durable); the answer to
        the request carries its seq (`TF-Seq`)."""
        result = await self.shard.submit(command, request_origin(self.gateway))
        if result.seq > _answered_seq.get():
            _answered_seq.set(result.seq)
        shard, seq = split_token(result.seq)
        if seq > self.answered.get(shard, 0):
            self.answered[shard] = seq
        return result

    # ------------------------------------------------------------------ backpressure

    def shard_seq(self, index: int = 0) -> int:
        """The newest seq this gateway knows shard `index` has reached: its own answers' and
        its event feed's (every gateway's commands). Numbers it holds already, no request."""
        return max(self.answered.get(index, 0), self.feed.feeds[index].fed_seq)

    def projection_lag(self) -> int | None:
        """Commands a shard has applied that the read models do not hold yet, as far as this
        gateway knows, the most of any shard (None: a projector cannot be reached, the lag
        is unknown)."""
        lag = 0
        for index in range(len(self.feed.feeds)):
            base = seq_token(index, 0)
            status = self.projection.status_of(base)
            if status is None:
                return None
            lag = max(lag, self.shard_seq(index) - (status.projected_seq - base))
        return lag

    def admit_order(self) -> None:
        """Backpressure on new orders (cancels are always taken): refused with
        `ReadModelsLagging` while the read models are more than `projection_lag_max_commands`
        behind, whether the projector is slow or its database is failing, so that they never
        fall further behind than a bounded catch-up. A projector that cannot be reached tells
        no lag: orders go on (its reads are refused meanwhile), as while it restarts."""
        lag = self.projection_lag()
        lag_max = self.settings.projection_lag_max_commands
        if lag is not None and lag > lag_max:
            raise ReadModelsLagging(lag, lag_max)

    # ------------------------------------------------------------------ the shard's state

    async def account_exists(self, account: str) -> bool:
        return await self.shard.account(account, self.clock()) is not None

    async def account_summary(self, account: str) -> dict[str, Any] | None:
        summary = await self.account(account)
        return None if summary is None else views.account(summary)

    async def account(self, account: str) -> AccountSummary | None:
        return await self.shard.account(account, self.clock())

    async def open_positions(self, account: str) -> list[PositionView]:
        return [view for view in await self.shard.positions(account) if view.qty or view.fraction]

    async def positions(self, account: str) -> list[dict[str, Any]]:
        return [views.position(view) for view in await self.open_positions(account)]

    async def live_order(self, order_id: int) -> LiveOrder | None:
        return await self.shard.live_order(order_id)

    # ------------------------------------------------------------------ read models

    async def caught_up(self, min_seq: list[int] | None = None) -> None:
        """Wait until the read models reflect the seq tokens `min_seq` or, without them,
        every command applied (on every shard) before this read began; refused (503) while
        they cannot."""
        wanted = min_seq if min_seq is not None else await self.shard.last_tokens()
        for token in wanted:
            await self._caught_up_to(token)

    async def _caught_up_to(self, token: int) -> None:
        status = self.projection.status_of(token)
        if status is not None and status.projected_seq >= token:
            return
        self._refuse_while_failing(status)
        status = await self.projection.wait_for(token, read_wait_s_max)
        if status is not None and status.projected_seq >= token:
            return
        self._refuse_while_failing(status)
        raise TimeoutError(f"the read models are behind seq {token}")

    def _refuse_while_failing(self, status: Any) -> None:
        problem = status_problem(status)
        if problem is None:
            return
        retry_after_s = 1 if status is None else max(1, math.ceil(status.retry_after_s))
        raise ReadModelsUnavailable(problem, retry_after_s)

    async def read_model(self, account: str | None, query: Callable[..., Any], *args: Any) -> Any:
        """Run a read-model query once the read models have caught up (`caught_up`)."""
        await self.caught_up(_min_seq.get())

        def run() -> Any:
            with self.store.connect() as connection:
                return query(connection, *args)

        return await asyncio.to_thread(run)

    async def order_view(self, order_id: int, account: str) -> dict[str, Any] | None:
        from tradingfloor.store import queries

        row = await self.read_model(account, queries.get_order, order_id)
        if row is None or row.account != account:
            return None
        fills = await self.read_model(account, queries.list_fills, account, order_id, None, 1_000)
        view = views.order(row, fills)
        if row.order_class != "simple" and row.parent_order_id is None:
            legs = await self.read_model(account, queries.list_legs, [order_id])
            view["legs"] = [views.order(leg, []) for leg in legs]
        return view

    async def order_by_client_id(
        self, account: str, client_order_id: str
    ) -> dict[str, Any] | None:
        from tradingfloor.store import queries

        row = await self.read_model(
            account, queries.get_order_by_client_id, account, client_order_id
        )
        if row is None:
            return None
        fills = await self.read_model(
            account, queries.list_fills, account, row.order_id, None, 1_000
        )
        return views.order(row, fills)

    async def list_orders(
        self,
        account: str,
        status: str,
        symbol: str | None,
        after_ts: int | None,
        until_ts: int | None,
        limit: int,
        after_order_id: int | None,
        direction: str,
        with_fills: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        from tradingfloor.store import queries

        rows = await self.read_model(
            account,
            queries.list_orders,
            account,
            None if status == "all" else status,
            symbol,
            after_ts,
            until_ts,
            limit + 1,
            after_order_id,
            direction,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_token = str(rows[-1].order_id) if more and rows else None
        if not with_fills:
            return [views.order(row, []) for row in rows], next_token
        ids = [row.order_id for row in rows]
        fills = await self.read_model(account, queries.fills_of_orders, account, ids)
        return [views.order(row, fills[row.order_id]) for row in rows], next_token

    async def activities(
        self,
        account: str,
        kinds: list[str] | None,
        after_seq: int,
        until_seq: int | None,
        limit: int,
        direction: str = "asc",
    ) -> list[dict[str, Any]]:
        from tradingfloor.store import queries

        rows = await self.read_model(
            account,
            queries.list_activities,
            account,
            set(kinds) if kinds else None,
            after_seq or None,
            until_seq,
            limit,
            None,
            direction,
        )
        return [views.activity(row) for row in rows]

    # ------------------------------------------------------------------ market data

    def known(self, symbol: str) -> bool:
        return bool(self.market.knows(symbol))

    def symbols(self) -> list[str]:
        return sorted(self.market.symbols())

    def instrument(self, symbol: str) -> Instrument:
        """The instrument of a listed symbol (`known` first)."""
        instrument: Instrument | None = self.market.instrument(symbol)
        if instrument is None:
            raise KeyError(symbol)
        return instrument

    def quote(self, symbol: str) -> dict[str, Any]:
        quote = self.market.quote(symbol)
        halt = self.market.halt(symbol, self.clock())
        return views.quote(symbol, quote.bid, quote.ask, quote.last_price, quote.seq, halt)

    def book_depth(self, symbol: str, levels: int) -> dict[str, Any]:
        return views.depth(symbol, self.market.depth(symbol, levels), self.market.seq_of(symbol))

    def recent_trades(self, symbol: str, limit: int) -> list[dict[str, Any]]:
        return [views.trade(event) for event in self.market.recent_trades(symbol, limit)]

    # ------------------------------------------------------------------ operations

    async def problems(self) -> list[str]:
        found = list(await self.shard.problems())
        problem = status_problem(self.projection.status())
        if problem is not None:
            found.append(problem)
        return found

    def projected_seq(self) -> int:
        status = self.projection.status()
        return 0 if status is None else status.projected_seq


def _tokens(value: bytes) -> list[int] | None:
    """The tokens of a `TF-Min-Seq` header (digits, comma-separated), or None if it is not
    one (a malformed header waits as if absent: for every shard's newest)."""
    parts = value.split(b",")
    if len(parts) > SEQ_TOKENS_MAX:
        return None
    tokens = []
    for part in parts:
        part = part.strip()
        if not part.isdigit() or len(part) > SEQ_TOKEN_DIGITS_MAX:
            return None
        tokens.append(int(part))
    return tokens


class SeqTokens:
    """Read your writes across gateway processes (ASGI middleware): a request's `TF-Min-Seq`
    header (digits) makes its reads wait for that seq; an answer to a request that ran
    commands carries the newest one's seq in `TF-Seq`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = None
        for name, value in scope["headers"]:
            if name == b"tf-min-seq":
                wanted = _tokens(value)
                break
        _min_seq.set(wanted)
        _answered_seq.set(0)
        begin_request(scope)

        async def send_with_token(message: Any) -> None:
            if message["type"] == "http.response.start":
                seq = _answered_seq.get()
                if seq:
                    headers = list(message.get("headers", ()))
                    headers.append((b"tf-seq", str(seq).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_token)
