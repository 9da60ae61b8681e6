"""`/v2`'s calendar, account configurations, portfolio history and watchlists, driven by the
official `alpaca-py` SDK against a served platform (real HTTP), on SQLite and PostgreSQL."""

import datetime
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from alpaca.trading.client import TradingClient
from alpaca.trading.models import Calendar
from alpaca.trading.requests import GetCalendarRequest

from api_helpers import SHARED_PLATFORMS, Served, shared_platform, shared_platform_id
from test_alpaca import call, refused, sdk

on_shared_platform = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=SHARED_PLATFORMS, ids=shared_platform_id
)
async def platform(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Served]:
    async with shared_platform(
        tmp_path_factory.mktemp("platform") / "data", request.param
    ) as here:
        yield here


@pytest_asyncio.fixture(loop_scope="module")
async def api(platform: Served) -> Served:
    return await platform.share()


async def trader(api: Served, name: str, **terms: object) -> TradingClient:
    return sdk(api, await api.trader(name, **terms))  # type: ignore[arg-type]


@on_shared_platform
async def test_the_calendar_lists_the_exchange_trading_days(api: Served) -> None:
    alice = await trader(api, "alice")
    days = await call(
        alice.get_calendar,
        GetCalendarRequest(start=datetime.date(2025, 11, 24), end=datetime.date(2025, 12, 1)),
    )
    assert isinstance(days, list) and all(isinstance(day, Calendar) for day in days)
    # Thanksgiving (27th) is closed, the day after closes at 13:00, the weekend is closed
    assert [day.date.isoformat() for day in days] == [
        "2025-11-24",
        "2025-11-25",
        "2025-11-26",
        "2025-11-28",
        "2025-12-01",
    ]
    assert [(day.open.strftime("%H:%M"), day.close.strftime("%H:%M")) for day in days] == [
        ("09:30", "16:00"),
        ("09:30", "16:00"),
        ("09:30", "16:00"),
        ("09:30", "13:00"),
        ("09:30", "16:00"),
    ]
    raw = await call(alice.get, "/calendar", {"start": "2025-11-26", "end": "2025-11-26"})
    assert raw == [
        {
            "date": "2025-11-26",
            "open": "09:30",
            "close": "16:00",
            "session_open": "0930",
            "session_close": "1600",
            "settlement_date": "2025-12-01",  # T+2: the platform's settlement_sessions
        }
    ]
    too_wide = await refused(alice.get, "/calendar", {"start": "2000-01-03", "end": "2030-01-01"})
    assert (too_wide.status_code, too_wide.code) == (422, 1000)
    backwards = await refused(alice.get, "/calendar", {"start": "2025-12-02", "end": "2025-12-01"})
    assert backwards.status_code == 422
    default = await call(alice.get_calendar)
    assert isinstance(default, list) and 240 <= len(default) <= 255  # a year from today
