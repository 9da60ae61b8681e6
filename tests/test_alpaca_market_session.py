"""The session `/v2/clock` tells: the exchange's, or the demo's market that trades at any hour
(`market_always_open`, what `serve --demo` runs unless configured)."""

import datetime
from pathlib import Path

import pytest
from alpaca.trading.models import Clock

from alpaca_helpers import call, sdk
from api_helpers import served
from tradingfloor.bootstrap.serve_cli import demo_session
from tradingfloor.config import load_settings
from tradingfloor.risk.calendar import calendar_for


@pytest.mark.parametrize("topology", ["single", "processes"])
async def test_an_always_open_market_says_it_is_open(tmp_path: Path, topology: str) -> None:
    async with served(tmp_path / "data", None, topology, market_always_open=True) as api:
        alice = sdk(api, await api.trader("alice"))
        clock = await call(alice.get_clock)
        history = await call(alice.get, "/account/portfolio/history", {"period": "1D"})

    assert isinstance(clock, Clock) and clock.is_open is True
    assert clock.timestamp < clock.next_close == clock.next_open
    # The day ends at the exchange's next close, when the end of day expires DAY orders.
    calendar = calendar_for()
    now = int(clock.timestamp.timestamp() * 1e9)
    index = calendar.session_index(now)
    closes = [calendar.session_times(index + step)[1] for step in (-1, 0, 1)]
    next_close = min(close for close in closes if close > now)
    assert int(clock.next_close.timestamp()) == next_close // 1_000_000_000
    assert clock.next_close - clock.timestamp <= datetime.timedelta(days=5)
    # every window is market hours: a point each minute of the last day
    assert isinstance(history, dict) and len(history["timestamp"]) >= 1_439


def test_the_demo_runs_always_open_unless_configured() -> None:
    assert demo_session(load_settings(None)) == {
        "market_always_open": True,
        "fractional_desk_account": "demo-fractional-desk",
    }
    configured = load_settings(None, market_always_open=False, fractional_desk_account="")
    assert demo_session(configured) == {}
    assert load_settings(None).market_always_open is False
