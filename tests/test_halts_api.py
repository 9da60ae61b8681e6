"""Halts as market data tells them, end to end: `GET /v1/symbols`, `GET /v1/quotes/{symbol}`,
`GET /v1/last-quote/{symbol}` and the WebSocket's quote messages show a symbol's halt and the
market's from the moment an admin halts, and clear when trading resumes or a timed halt runs
out."""

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api_helpers import TOPOLOGIES, Served, served
from test_streams import Stream, open_stream
from tradingfloor.domain.settings import RiskSettings

MANUAL = {"reason": "manual", "until_ts": None}


@pytest.fixture(params=TOPOLOGIES)
async def api(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    """The platform in one process, then as processes (the WebSockets: the market-data
    role's)."""
    async with served(tmp_path / "data", None, request.param) as here:
        await here.symbol("XYZ", "100")
        await here.symbol("ABC", "20", tick_size="0.05", lot_size=10)
        yield here


async def listing(api: Served) -> dict[str, Any]:
    await api.market_data_caught_up()
    answer = await api.client.get("/v1/symbols", headers=api.admin)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def halts(body: dict[str, Any]) -> dict[str, Any]:
    return {entry["symbol"]: entry["halt"] for entry in body["symbols"]}


async def quote_halt(api: Served, symbol: str) -> Any:
    answer = await api.client.get(f"/v1/quotes/{symbol}", headers=api.admin)
    assert answer.status_code == 200, answer.text
    return answer.json()["halt"]


async def streamed_halt(stream: Stream, wanted: Any, timeout_s: float = 10.0) -> None:
    """Wait for a quote message that tells `wanted` (the latest state always comes)."""
    deadline = time.monotonic() + timeout_s
    seen = []
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no quote with halt {wanted}; quotes told {seen}"
        message = await stream.next_of("quote", left)
        if message["halt"] == wanted:
            return
        seen.append(message["halt"])


async def admin(api: Served, method: str, path: str) -> None:
    answer = await api.client.request(method, path, headers=api.admin)
    assert answer.status_code == 200, answer.text


async def test_symbols_quotes_and_streamed_quotes_show_a_symbols_halt_and_the_markets(
    api: Served,
) -> None:
    body = await listing(api)
    assert body == {
        "symbols": [
            {
                "symbol": "ABC",
                "tick_size": "0.05",
                "lot_size": 10,
                "last_price": None,
                "reference_price": "20.00",
                "halt": None,
            },
            {
                "symbol": "XYZ",
                "tick_size": None,  # the Rule 612 ticks
                "lot_size": 1,
                "last_price": None,
                "reference_price": "100.00",
                "halt": None,
            },
        ],
        "market_halt": None,
    }
    stream = await open_stream(api, "/v1/market-data/XYZ?channels=quotes", api.admin)
    assert (await stream.next_of("quote"))["halt"] is None  # the snapshot

    await admin(api, "POST", "/v1/admin/halts/XYZ")

    body = await listing(api)
    assert halts(body) == {"ABC": None, "XYZ": MANUAL} and body["market_halt"] is None
    assert await quote_halt(api, "XYZ") == MANUAL and await quote_halt(api, "ABC") is None
    last = await api.client.get("/v1/last-quote/XYZ", headers=api.admin)
    assert last.json()["halt"] == MANUAL
    await streamed_halt(stream, MANUAL)

    await admin(api, "DELETE", "/v1/admin/halts/XYZ")

    assert halts(await listing(api)) == {"ABC": None, "XYZ": None}
    assert await quote_halt(api, "XYZ") is None
    await streamed_halt(stream, None)

    await admin(api, "POST", "/v1/admin/halts/*")

    body = await listing(api)
    assert body["market_halt"] == MANUAL
    assert halts(body) == {"ABC": MANUAL, "XYZ": MANUAL}
    assert await quote_halt(api, "ABC") == MANUAL
    await streamed_halt(stream, MANUAL)

    await admin(api, "DELETE", "/v1/admin/halts/*")

    body = await listing(api)
    assert body["market_halt"] is None and halts(body) == {"ABC": None, "XYZ": None}
    await streamed_halt(stream, None)
    await stream.connection.close()


async def test_a_price_move_halt_shows_until_it_runs_out(tmp_path: Path) -> None:
    # One process: the test moves its clock. A move of more than 5% halts (within the
    # collar's 10%, whichever second the engine's limits were fixed in).
    risk = RiskSettings(halt_move_bps=500)
    async with served(tmp_path / "data", risk=risk) as api:
        await api.symbol("XYZ", "100")
        alice = await api.trader("alice", cash="1000000")
        bob = await api.trader("bob", cash="0", shares={"XYZ": 1_000})
        stream = await open_stream(api, "/v1/market-data/XYZ?channels=quotes", api.admin)
        assert (await stream.next_of("quote"))["halt"] is None

        for price in ("100.00", "105.01"):
            sold = await api.order(bob, side="sell", type="limit", qty=10, limit_price=price)
            assert sold.status_code == 200, sold.text
            bought = await api.order(alice, side="buy", type="limit", qty=10, limit_price=price)
            assert bought.json().get("status") == "filled", (price, bought.text)

        (entry,) = (await listing(api))["symbols"]
        halt = entry["halt"]
        assert halt["reason"] == "price_move" and isinstance(halt["until_ts"], int)
        assert entry["last_price"] == "105.01"
        assert await quote_halt(api, "XYZ") == halt
        await streamed_halt(stream, halt)

        api.clock.offset_ns += halt["until_ts"] - api.clock()  # its end has come

        assert halts(await listing(api)) == {"XYZ": None}
        assert await quote_halt(api, "XYZ") is None
        await streamed_halt(stream, None)  # though no event says so
        await stream.connection.close()


async def test_a_listing_right_after_a_halt_shows_it(api: Served) -> None:
    """Read your writes on the market-data view: the listing waits for the commands applied
    before it (as processes, the gateway's view follows the event feed a moment behind)."""
    for symbol in ("XYZ", "ABC") * 3:
        await admin(api, "POST", f"/v1/admin/halts/{symbol}")
        answer = await api.client.get("/v1/symbols", headers=api.admin)
        assert halts(answer.json())[symbol] == MANUAL
        await admin(api, "DELETE", f"/v1/admin/halts/{symbol}")
        answer = await api.client.get("/v1/symbols", headers=api.admin)
        assert halts(answer.json())[symbol] is None


async def test_a_listing_never_answers_from_a_view_behind_the_callers_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's view stopped behind a halt: the listing refuses (503) rather than say
    the symbol trades, and shows the halt once the view has it."""
    from tradingfloor.gateway import backend

    monkeypatch.setattr(backend, "read_wait_s_max", 0.2)
    async with served(tmp_path / "data") as api:
        await api.symbol("XYZ", "100")
        assert api.platform is not None
        feed = api.platform.backend.feed
        await api.market_data_caught_up()
        await feed.stop()
        await admin(api, "POST", "/v1/admin/halts/XYZ")

        behind = await api.client.get("/v1/symbols", headers=api.admin)
        feed.start(feed.fed_seq + 1)
        caught_up = await api.client.get("/v1/symbols", headers=api.admin)

    assert behind.status_code == 503, behind.text
    assert halts(caught_up.json()) == {"XYZ": MANUAL}
