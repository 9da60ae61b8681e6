"""`/v2`'s calendar, account configurations, portfolio history and watchlists, driven by the
official `alpaca-py` SDK against a served platform (real HTTP), on SQLite and PostgreSQL."""

import datetime
import itertools
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alpaca.trading.enums import OrderStatus, PDTCheck, TradeConfirmationEmail
from alpaca.trading.models import (
    AccountConfiguration,
    Calendar,
    Order,
    PortfolioHistory,
    TradeAccount,
    Watchlist,
)
from alpaca.trading.requests import (
    CreateWatchlistRequest,
    GetCalendarRequest,
    GetPortfolioHistoryRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    UpdateWatchlistRequest,
)

from alpaca_helpers import (
    call,
    limit_buy,
    on_shared_platform,
    refused,
    sdk,
    shared_platform_fixtures,
    trader,
)
from api_helpers import Served, served

platform, api = shared_platform_fixtures()


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


@on_shared_platform
async def test_account_configurations_are_kept_and_suspend_trade_refuses_orders(
    api: Served,
) -> None:
    alice = await trader(api, "alice", cash="10000")
    bob = await trader(api, "bob")
    first = await call(alice.get_account_configurations)
    assert isinstance(first, AccountConfiguration)
    assert (first.suspend_trade, first.no_shorting, first.fractional_trading) == (
        False,
        True,
        False,
    )
    assert first.trade_confirm_email == TradeConfirmationEmail.ALL
    placed = await call(alice.submit_order, limit_buy(api.sym, 1, 99))
    assert isinstance(placed, Order)

    wanted = first.model_copy(
        update={
            "suspend_trade": True,
            "trade_confirm_email": TradeConfirmationEmail.NONE,
            "pdt_check": PDTCheck.BOTH,
            "max_margin_multiplier": "2",
        }
    )
    saved = await call(alice.set_account_configurations, wanted)
    assert isinstance(saved, AccountConfiguration) and saved.suspend_trade is True
    again = await call(alice.get_account_configurations)
    assert again == saved and again.pdt_check == PDTCheck.BOTH
    assert again.max_margin_multiplier == "2"
    other = await call(bob.get_account_configurations)
    assert isinstance(other, AccountConfiguration) and other.suspend_trade is False

    stopped = await refused(alice.submit_order, limit_buy(api.sym, 1, 99))
    assert (stopped.status_code, stopped.code) == (403, 2026)  # the engine's ACCOUNT_SUSPENDED
    assert "suspended" in stopped.message
    moved = await refused(alice.replace_order_by_id, placed.id, ReplaceOrderRequest(qty=2))
    assert moved.status_code == 403
    account = await call(alice.get_account)
    assert isinstance(account, TradeAccount) and account.trade_suspended_by_user is True
    await call(alice.cancel_order_by_id, placed.id)  # cancels still go through
    canceled = await call(alice.get_order_by_id, placed.id)
    assert isinstance(canceled, Order) and canceled.status == OrderStatus.CANCELED

    bad = await refused(alice.patch, "/account/configurations", {"no_shorting": False})
    assert (bad.status_code, bad.code) == (422, 1000) and "no_shorting" in bad.message
    bad = await refused(alice.patch, "/account/configurations", {"dtbp_check": "always"})
    assert bad.status_code == 422
    unchanged = await call(alice.get_account_configurations)
    assert unchanged == saved  # a refused change changes nothing

    await call(alice.patch, "/account/configurations", {"suspend_trade": False})
    resumed = await call(alice.submit_order, limit_buy(api.sym, 1, 99))
    assert isinstance(resumed, Order) and resumed.status == OrderStatus.NEW


@on_shared_platform
async def test_suspend_trade_is_the_engines_and_never_lifts_an_operators_restriction(
    api: Served,
) -> None:
    keys = await api.trader("alice", cash="10000")
    alice = sdk(api, keys)
    account = await call(alice.get_account)
    assert isinstance(account, TradeAccount)
    await call(alice.patch, "/account/configurations", {"suspend_trade": True})

    # Every channel: /v1 refuses the account's orders too.
    v1_order = await api.order(keys, side="buy", type="limit", qty=1, limit_price="99")
    assert (v1_order.status_code, v1_order.json()["code"]) == (403, 2026)

    # An operator's restriction: the owner can neither suspend over it nor lift it.
    status = f"/v1/admin/accounts/{account.account_number}/status"
    restricted = await api.client.post(status, json={"status": "restricted"}, headers=api.admin)
    assert restricted.status_code == 200, restricted.text
    for suspend in (False, True):
        refused_change = await refused(
            alice.patch, "/account/configurations", {"suspend_trade": suspend}
        )
        assert (refused_change.status_code, refused_change.code) == (403, 2002)
    after = await call(alice.get_account_configurations)
    assert isinstance(after, AccountConfiguration) and after.suspend_trade is False
    lifted = await api.client.post(status, json={"status": "active"}, headers=api.admin)
    assert lifted.status_code == 200, lifted.text
    placed = await call(alice.submit_order, limit_buy(api.sym, 1, 99))
    assert isinstance(placed, Order) and placed.status == OrderStatus.NEW


@on_shared_platform
async def test_portfolio_history_marks_the_positions_at_the_last_trade(api: Served) -> None:
    alice = await trader(api, "alice", cash="100000")
    bob = await trader(api, "bob", cash="0", shares={api.sym: 20})
    carol = await trader(api, "carol", cash="100000")
    await call(alice.submit_order, limit_buy(api.sym, 10, 100))
    await call(
        bob.submit_order,
        MarketOrderRequest(symbol=api.sym, qty=10, side="sell", time_in_force="day"),
    )
    await call(carol.submit_order, limit_buy(api.sym, 5, 110))
    await call(
        bob.submit_order,
        MarketOrderRequest(symbol=api.sym, qty=5, side="sell", time_in_force="day"),
    )

    history = await call(
        alice.get_portfolio_history,
        GetPortfolioHistoryRequest(
            period="1D", timeframe="1Min", intraday_reporting="continuous", pnl_reset="no_reset"
        ),
    )
    assert isinstance(history, PortfolioHistory) and history.timeframe == "1Min"
    stamps = history.timestamp
    assert 1_400 <= len(stamps) <= 1_441 and len(history.equity) == len(stamps)
    assert {b - a for a, b in itertools.pairwise(stamps)} == {60}
    account = await call(alice.get_account)
    assert isinstance(account, TradeAccount)
    # now: 100,000 - 10 x 100 cash, 10 shares at the last trade, 110
    assert history.equity[-1] == float(account.equity) == 100_100
    assert history.base_value == 0  # the account had nothing a day ago
    assert history.profit_loss[-1] == 100  # the deposit is no profit
    assert history.equity[0] == 0 and history.profit_loss_pct[-1] == 0

    daily = await call(
        alice.get_portfolio_history, GetPortfolioHistoryRequest(period="2W", timeframe="1D")
    )
    assert isinstance(daily, PortfolioHistory) and 8 <= len(daily.timestamp) <= 11
    zone = ZoneInfo("America/New_York")
    for stamp in daily.timestamp:
        assert datetime.datetime.fromtimestamp(stamp, zone).strftime("%H:%M") == "00:00"

    too_long = await refused(
        alice.get,
        "/account/portfolio/history",
        {"period": "1A", "timeframe": "1Min", "intraday_reporting": "continuous"},
    )
    assert (too_long.status_code, too_long.code) == (422, 1000)
    assert "2000" in too_long.message


@on_shared_platform
async def test_watchlists_through_every_sdk_call(api: Served) -> None:
    alice = await trader(api, "alice")
    bob = await trader(api, "bob")
    other = f"{api.sym}B"
    await api.symbol(other, "50")

    made = await call(
        alice.create_watchlist, CreateWatchlistRequest(name="tech", symbols=[api.sym])
    )
    assert isinstance(made, Watchlist) and made.name == "tech"
    assert [asset.symbol for asset in made.assets or []] == [api.sym]
    assert made.assets and made.assets[0].tradable and made.created_at.tzinfo is not None
    second = await call(alice.create_watchlist, CreateWatchlistRequest(name="empty", symbols=[]))
    assert isinstance(second, Watchlist) and second.assets == []

    added = await call(alice.add_asset_to_watchlist_by_id, made.id, other)
    assert isinstance(added, Watchlist)
    assert [asset.symbol for asset in added.assets or []] == [api.sym, other]
    assert added.updated_at >= made.updated_at
    renamed = await call(
        alice.update_watchlist_by_id,
        made.id,
        UpdateWatchlistRequest(name="favourites", symbols=[other]),
    )
    assert isinstance(renamed, Watchlist) and renamed.name == "favourites"
    assert [asset.symbol for asset in renamed.assets or []] == [other]
    got = await call(alice.get_watchlist_by_id, made.id)
    assert isinstance(got, Watchlist) and got.name == "favourites" and got.id == made.id
    listed = await call(alice.get_watchlists)
    assert isinstance(listed, list) and [w.name for w in listed] == ["favourites", "empty"]
    assert await call(bob.get_watchlists) == []

    removed = await call(alice.remove_asset_from_watchlist_by_id, made.id, other)
    assert isinstance(removed, Watchlist) and removed.assets == []
    await call(alice.delete_watchlist_by_id, second.id)
    listed = await call(alice.get_watchlists)
    assert isinstance(listed, list) and [w.id for w in listed] == [made.id]

    refusals = [
        (alice.create_watchlist, (CreateWatchlistRequest(name="x", symbols=["NOPE"]),), 422),
        (alice.add_asset_to_watchlist_by_id, (made.id, "NOPE"), 422),
        (alice.create_watchlist, (CreateWatchlistRequest(name="favourites", symbols=[]),), 422),
        (alice.remove_asset_from_watchlist_by_id, (made.id, other), 404),
        (bob.get_watchlist_by_id, (made.id,), 404),  # another account's: as if missing
        (bob.delete_watchlist_by_id, (made.id,), 404),
        (alice.get_watchlist_by_id, (second.id,), 404),
    ]
    for function, args, status in refusals:
        error = await refused(function, *args)
        assert error.status_code == status, (function, args, error)
    unknown = await refused(alice.add_asset_to_watchlist_by_id, made.id, "NOPE")
    assert unknown.code == 1012 and "NOPE" in unknown.message
    still = await call(alice.get_watchlist_by_id, made.id)
    assert isinstance(still, Watchlist) and still.assets == []  # refusals changed nothing


async def test_watchlist_limits(
    tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limits, lowered: in a platform of the test's own, in this process (its gateway
    is the one the patch reaches)."""
    from tradingfloor.gateway import alpaca_watchlist_routes as routes

    async with served(tmp_path / "data", database_url) as api:
        await api.symbol(api.sym, "100")
        await _watchlist_limits(api, routes, monkeypatch)


async def _watchlist_limits(api: Served, routes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = await trader(api, "alice")
    monkeypatch.setattr(routes, "watchlists_per_account_max", 2)
    monkeypatch.setattr(routes, "watchlist_symbols_max", 1)
    first = await call(alice.create_watchlist, CreateWatchlistRequest(name="a", symbols=[api.sym]))
    assert isinstance(first, Watchlist)
    await call(alice.create_watchlist, CreateWatchlistRequest(name="b", symbols=[]))
    third = await refused(alice.create_watchlist, CreateWatchlistRequest(name="c", symbols=[]))
    assert (third.status_code, third.code) == (422, 4220) and "2" in third.message
    other = f"{api.sym}C"
    await api.symbol(other, "10")
    full = await refused(alice.add_asset_to_watchlist_by_id, first.id, other)
    assert (full.status_code, full.code) == (422, 4220)
