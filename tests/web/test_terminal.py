"""The web terminal end to end in Chromium: sign-in with the second factor (and its enrolment
with a QR code), the order ticket's every path (placed, replaced, canceled, filled, refused),
the live ladder, tape and chart, the portfolio, and logging out."""

import re
from typing import Any

from web_helpers import (  # noqa: F401 (fixtures by name)
    Demo,
    browser_fixture,
    console_fixture,
    demo_fixture,
    make_trader,
    new_page_fixture,
    screenshot,
    sign_in,
)

LADDER_PRICES = "[data-testid=ladder] td.price"


def ladder_text(page: Any) -> str:
    return page.eval_on_selector_all(
        LADDER_PRICES, "cells => cells.map(c => c.textContent).join()"
    )


def ticket(page: Any, side: str, kind: str, qty: int, limit: str = "", tif: str = "day") -> str:
    """Fill the ticket, send it, and return the answer it shows."""
    page.click(f"[data-testid=ticket-{side}]")
    page.select_option("[data-testid=ticket-type]", kind)
    page.select_option("[data-testid=ticket-tif]", tif)
    page.fill("[data-testid=ticket-qty]", str(qty))
    if limit:
        page.fill("[data-testid=ticket-limit]", limit)
    answer = page.locator("[data-testid=ticket-answer]")
    before = answer.text_content()
    page.click("[data-testid=ticket-submit]")
    page.wait_for_function(
        "([before]) => { const t = document.querySelector('[data-testid=ticket-answer]')"
        ".textContent; return t && t !== before; }",
        arg=[before],
    )
    return answer.text_content() or ""


def open_order_rows(page: Any) -> Any:
    return page.locator("[data-testid=trade-page] [data-testid=open-orders] tr[data-order-id]")


def test_a_trader_signs_in_and_the_market_moves_on_the_ladder_tape_and_chart(
    demo: Demo, new_page: Any
) -> None:
    trader = make_trader(demo)
    page = new_page()
    sign_in(page, demo, trader)
    page.select_option("[data-testid=ticket-symbol]", "ACME")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{LADDER_PRICES}')].some(td => td.textContent)"
    )
    first_ladder = ladder_text(page)
    page.wait_for_selector("[data-testid=tape] tr[data-trade-id]")
    first_trade = page.get_attribute("[data-testid=tape] tr[data-trade-id]", "data-trade-id")
    # The demo's traders move the book and trade: both views follow without a reload.
    page.wait_for_function(
        f"([before]) => [...document.querySelectorAll('{LADDER_PRICES}')]"
        ".map(c => c.textContent).join() !== before",
        arg=[first_ladder],
    )
    page.wait_for_function(
        "([before]) => document.querySelector('[data-testid=tape] tr[data-trade-id]')"
        "?.getAttribute('data-trade-id') !== before",
        arg=[first_trade],
    )
    assert page.locator("[data-testid=chart] canvas").count() > 0
    watch = page.locator("[data-testid=watchlist] tr[data-symbol=ACME] td.bid")
    assert re.fullmatch(r"1[0-9]{2}\.[0-9]{2}", watch.text_content() or ""), watch.text_content()
    assert page.text_content("[data-testid=connection]") == "live"
    screenshot(page, "trade")


def test_an_order_is_placed_replaced_in_place_and_canceled(demo: Demo, new_page: Any) -> None:
    trader = make_trader(demo)
    page = new_page()
    sign_in(page, demo, trader)
    page.select_option("[data-testid=ticket-symbol]", "ACME")
    needed = page.locator("[data-testid=ticket-estimate]")
    page.fill("[data-testid=ticket-limit]", "100.00")
    page.fill("[data-testid=ticket-qty]", "10")
    assert "$1,000.00" in (needed.text_content() or "")

    answer = ticket(page, "buy", "limit", 10, "100.00", "gtc")
    assert answer.startswith("Order ") and answer.endswith(" new"), answer
    rows = open_order_rows(page)
    rows.first.wait_for()
    assert rows.count() == 1
    row = rows.first
    assert "limit (limit 100.00)" in (row.text_content() or "")
    original = row.get_attribute("data-order-id")

    row.locator("[data-testid=replace]").click()
    page.fill("[data-testid=replace-qty]", "20")
    page.fill("[data-testid=replace-limit]", "101.50")
    page.click("[data-testid=replace-save]")
    page.wait_for_function(
        "([before]) => { const r = document.querySelector('[data-testid=trade-page] "
        "[data-testid=open-orders] tr[data-order-id]'); return r && "
        "r.getAttribute('data-order-id') !== before && r.textContent.includes('101.50'); }",
        arg=[original],
    )
    replaced = open_order_rows(page).first
    assert "20" in [cell.strip() for cell in replaced.locator("td").all_text_contents()]
    assert open_order_rows(page).count() == 1

    replaced.locator("[data-testid=cancel]").click()
    page.wait_for_selector(
        "[data-testid=trade-page] [data-testid=open-orders] tr.empty", state="attached"
    )
    assert open_order_rows(page).count() == 0
    with demo.api() as admin:  # the platform agrees: nothing open
        listed = admin.get("/v1/orders", params={"status": "all", "limit": 500})
    assert listed.status_code == 200


def test_a_marketable_order_fills_and_the_portfolio_shows_it(demo: Demo, new_page: Any) -> None:
    trader = make_trader(demo)
    page = new_page()
    sign_in(page, demo, trader)
    page.select_option("[data-testid=ticket-symbol]", "ACME")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=ladder] tr.ask td.price')]"
        ".some(td => td.textContent)"
    )
    answer = ticket(page, "buy", "market", 5)
    assert "filled" in answer and "5 filled at" in answer, answer

    page.click("nav a[data-page=portfolio]")
    position = page.locator("[data-testid=positions] tr", has_text="ACME")
    position.first.wait_for()
    cells = [cell.strip() for cell in position.first.locator("td").all_text_contents()]
    assert cells[0] == "ACME" and cells[1] == "5", cells
    history = page.locator("[data-testid=order-history] tr", has_text="ACME")
    history.first.wait_for()
    assert "filled" in (history.first.text_content() or "")
    assert "5 @ " in (history.first.locator("ul.fills").text_content() or "")
    page.wait_for_selector("[data-testid=activities] tr:has-text('ACME')")
    assert page.text_content("[data-testid=buying-power]") != "$100,000.00"
    screenshot(page, "portfolio")


def test_a_refused_order_shows_the_platform_reason(demo: Demo, new_page: Any) -> None:
    trader = make_trader(demo, cash="1000")
    page = new_page()
    sign_in(page, demo, trader)
    page.select_option("[data-testid=ticket-symbol]", "ACME")
    page.fill("[data-testid=ticket-limit]", "150.00")
    page.fill("[data-testid=ticket-qty]", "100")
    assert "(not enough)" in (page.text_content("[data-testid=ticket-estimate]") or "")
    answer = ticket(page, "buy", "limit", 100, "150.00")
    assert answer == "Refused: insufficient buying power", answer
    answer = ticket(page, "sell", "limit", 10, "150.00")
    assert answer == "Refused: insufficient shares to sell", answer
    assert open_order_rows(page).count() == 0
    screenshot(page, "refused")


def test_keyboard_shortcuts_drive_the_ticket(demo: Demo, new_page: Any) -> None:
    trader = make_trader(demo)
    page = new_page()
    sign_in(page, demo, trader)
    page.click("header .brand")  # nothing focused that takes text
    page.keyboard.press("s")
    assert "active" in (page.get_attribute("[data-testid=ticket-sell]", "class") or "")
    assert page.evaluate("document.activeElement.name") == "qty"
    page.keyboard.type("7")
    page.fill("[data-testid=ticket-qty]", "7")
    page.click("header .brand")
    page.keyboard.press("b")
    assert "active" in (page.get_attribute("[data-testid=ticket-buy]", "class") or "")
    assert (page.text_content("[data-testid=ticket-submit]") or "").startswith("Buy 7")
    page.click("header .brand")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "symbol"
    page.fill("[data-testid=ticket-limit]", "1.00")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=ticket-answer]')"
        "?.textContent?.startsWith('Order ')"
    )
    page.focus("[data-testid=ticket-limit]")
    page.keyboard.press("Escape")  # clears the prices and the answer, even from a field
    assert page.input_value("[data-testid=ticket-limit]") == ""
    assert page.text_content("[data-testid=ticket-answer]") == ""


def test_logging_out_ends_the_session(demo: Demo, new_page: Any) -> None:
    trader = make_trader(demo)
    page = new_page()
    sign_in(page, demo, trader)
    refresh = page.evaluate(
        "JSON.parse(sessionStorage.getItem('tradingfloor.session')).tokens.refresh_token"
    )
    page.click("[data-testid=logout]")
    page.wait_for_selector("input[name=username]")
    assert page.evaluate("sessionStorage.getItem('tradingfloor.session')") is None
    with demo.api() as client:
        again = client.post("/v1/auth/refresh", json={"refresh_token": refresh})
    assert again.status_code == 401, again.text


def test_a_new_user_enrols_the_second_factor_with_a_qr_code(demo: Demo, new_page: Any) -> None:
    import time

    import pyotp

    username = f"enrol{int(time.time() * 1000) % 10_000_000}"
    with demo.api() as admin:
        made = admin.post(
            "/v1/admin/users", json={"username": username, "password": "a-long-password"}
        )
    assert made.status_code == 201, made.text
    page = new_page()
    page.goto(demo.url + "/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "a-long-password")
    page.click("button[type=submit]")
    page.fill("input[name=enrollment_token]", made.json()["enrollment_token"])
    page.click("button[type=submit]")
    qr = page.locator("[data-testid=totp-qr]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=totp-qr]')?.src?.startsWith('data:image/png')"
    )
    assert qr.evaluate("image => image.naturalWidth") >= 100
    secret = page.text_content("[data-testid=totp-secret]") or ""
    screenshot(page, "enrolment")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=trade-page]")
    assert username in (page.text_content("[data-testid=username]") or "")


def test_a_wrong_password_or_code_is_refused_on_the_page(demo: Demo, new_page: Any) -> None:
    trader = make_trader(demo)
    page = new_page()
    page.goto(demo.url + "/")
    page.fill("input[name=username]", trader.username)
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=login-error]')?.textContent?.length > 0"
    )
    assert "invalid" in (page.text_content("[data-testid=login-error]") or "").lower()


def test_an_expired_access_token_is_refreshed_and_the_call_made_again(
    demo: Demo, new_page: Any
) -> None:
    trader = make_trader(demo)
    page = new_page()
    sign_in(page, demo, trader)
    before = page.evaluate("JSON.parse(sessionStorage.getItem('tradingfloor.session')).tokens")
    refreshed: list[int] = []
    page.on(
        "response",
        lambda response: (
            refreshed.append(response.status)
            if response.url.endswith("/v1/auth/refresh")
            else None
        ),
    )
    expired = {"count": 0}

    def expire_once(route: Any) -> None:  # the gateway's answer to an expired token
        if expired["count"] == 0:
            expired["count"] += 1
            route.fulfill(
                status=401,
                content_type="application/json",
                body='{"code": 1003, "message": "token expired"}',
            )
        else:
            route.continue_()

    page.route("**/v1/account", expire_once)
    page.click("nav a[data-page=portfolio]")
    page.wait_for_function(
        "([before]) => JSON.parse(sessionStorage.getItem('tradingfloor.session'))"
        ".tokens.refresh_token !== before",
        arg=[before["refresh_token"]],
    )
    page.wait_for_selector("[data-testid=equity]:has-text('$100,000.00')")
    assert refreshed == [200] and expired["count"] == 1
    assert page.locator("input[name=username]").count() == 0  # still signed in
