"""The terminal's admin view (halts, users and keys, the kill switch) and the states a person
must see at once: halted, disconnected, market closed; its layout at laptop and phone widths;
and the API documentation page, offline, with "Authorize" for an API key or a bearer token."""

import json
import time
from typing import Any

import httpx
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


def listed_symbol(demo: Demo, prefix: str) -> str:
    """A symbol of the test's own, so that halting it disturbs no other test."""
    symbol = f"{prefix}{int(time.time() * 1000) % 10_000:04d}"[:8]
    with demo.api() as admin:
        listed = admin.post(
            "/v1/admin/symbols",
            json={"symbol": symbol, "tick_size": "0.01", "reference_price": "20.00"},
        )
    assert listed.status_code == 200, listed.text
    return symbol


def test_the_admin_halts_a_symbol_and_the_traders_ticket_shows_it(
    demo: Demo, new_page: Any
) -> None:
    symbol = listed_symbol(demo, "HLT")
    operator = make_trader(demo, role="admin")
    trader = make_trader(demo)
    admin_page = new_page()
    sign_in(admin_page, demo, operator)
    trader_page = new_page()
    sign_in(trader_page, demo, trader)
    trader_page.select_option("[data-testid=ticket-symbol]", symbol)
    assert trader_page.locator("[data-testid=ticket-halted]").count() == 0

    admin_page.click("nav a[data-page=admin]")
    admin_page.click(f"[data-testid=halt-{symbol}]")
    admin_page.wait_for_selector(f"[data-testid=resume-{symbol}]")
    row = admin_page.locator("[data-testid=admin-symbols] tr", has_text=symbol)
    assert "halted: manual" in (row.text_content() or "")
    screenshot(admin_page, "admin")

    # The trader's page learns it from the stream: the ticket says so and will not send.
    halted = trader_page.locator("[data-testid=ticket-halted]")
    halted.wait_for()
    assert halted.text_content() == f"{symbol} is halted (manual)"
    assert trader_page.is_disabled("[data-testid=ticket-submit]")
    assert f"{symbol} is halted" in (trader_page.text_content("[data-testid=banner]") or "")
    screenshot(trader_page, "halted")

    admin_page.click(f"[data-testid=resume-{symbol}]")
    admin_page.wait_for_selector(f"[data-testid=halt-{symbol}]")
    halted.wait_for(state="detached")
    assert trader_page.is_enabled("[data-testid=ticket-submit]")


def test_the_admin_sees_users_and_their_keys_and_uses_the_kill_switch(
    demo: Demo, new_page: Any
) -> None:
    operator = make_trader(demo, role="admin")
    trader = make_trader(demo)
    page = new_page()
    sign_in(page, demo, operator)
    page.click("nav a[data-page=admin]")
    row = page.locator("[data-testid=admin-users] tr", has_text=trader.username)
    row.wait_for()
    assert trader.account in (row.text_content() or "")
    row.get_by_role("button", name="Keys").click()
    page.wait_for_selector(f"[data-testid=admin-keys] h4:has-text('{trader.username}')")

    row.get_by_role("button", name="Kill switch").click()
    page.wait_for_selector(f"[data-testid=notices] :text('Account {trader.account} blocked')")
    refused = new_page()
    refused.goto(demo.url + "/")
    refused.fill("input[name=username]", trader.username)
    refused.fill("input[name=password]", trader.password)
    refused.click("button[type=submit]")
    refused.wait_for_function(
        "() => document.querySelector('[data-testid=login-error]')?.textContent?.length > 0"
    )
    row.get_by_role("button", name="Restore").click()
    page.wait_for_selector(f"[data-testid=notices] :text('Account {trader.account} active')")


def test_a_lost_market_data_connection_is_shown_and_recovered(demo: Demo, new_page: Any) -> None:
    trader = make_trader(demo)
    page = new_page()
    sockets: list[Any] = []

    def through(socket: Any) -> None:
        sockets.append(socket)
        socket.connect_to_server()

    page.route_web_socket("**/v1/market-data*", through)
    sign_in(page, demo, trader)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=connection]')?.textContent === 'live'"
    )
    sockets[-1].close(code=4000, reason="gone")
    banner = page.locator("[data-testid=banner]")
    banner.wait_for()
    assert "Disconnected from market data" in (banner.text_content() or "")
    screenshot(page, "disconnected")
    # It reconnects by itself, and the quotes come back from a fresh snapshot.
    page.wait_for_function(
        "() => document.querySelector('[data-testid=connection]')?.textContent === 'live'"
    )
    banner.wait_for(state="hidden")
    assert len(sockets) >= 2


def test_a_closed_session_is_shown(demo: Demo, new_page: Any) -> None:
    trader = make_trader(demo)
    page = new_page()
    closed = {
        "timestamp": "2026-12-05T10:00:00-05:00",
        "is_open": False,
        "next_open": "2026-12-07T09:30:00-05:00",
        "next_close": "2026-12-07T16:00:00-05:00",
    }
    page.route(
        "**/v2/clock",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(closed)
        ),
    )
    sign_in(page, demo, trader)
    state = page.locator("[data-testid=session-state]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=session-state]')?.textContent"
        "?.startsWith('session closed')"
    )
    assert "closed" in (state.get_attribute("class") or "")
    assert "session closed" in (page.text_content("[data-testid=ticket-state]") or "")


def test_the_layout_fits_a_laptop_and_a_phone(demo: Demo, new_page: Any) -> None:
    trader = make_trader(demo)
    laptop = new_page(1366, 768)
    sign_in(laptop, demo, trader)
    stored = laptop.evaluate("sessionStorage.getItem('tradingfloor.session')")
    phone = new_page(390, 844)  # the same session: a code is good for one sign-in
    phone.add_init_script(f"sessionStorage.setItem('tradingfloor.session', {json.dumps(stored)})")
    phone.goto(demo.url + "/")
    for name, page, width in (("laptop", laptop, 1366), ("phone", phone, 390)):
        page.wait_for_selector("[data-testid=ticket-submit]")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: {overflow}px wider than the screen"
        ticket = page.locator("[data-testid=ticket]").bounding_box()
        ladder = page.locator("[data-testid=ladder]").bounding_box()
        assert ticket is not None and ladder is not None
        assert ticket["x"] + ticket["width"] <= width
        if name == "laptop":  # side by side, in the first screen
            assert ladder["x"] + ladder["width"] <= ticket["x"] and ticket["y"] < 768
        else:  # one column: the ticket first, the full width, then the ladder below it
            assert ticket["width"] > width * 0.9 and ladder["y"] > ticket["y"]
        screenshot(page, f"layout-{name}")


def test_the_api_documentation_works_offline_and_authorizes_a_key_or_a_token(
    demo: Demo, new_page: Any
) -> None:
    page = new_page()
    outside: list[str] = []

    def only_here(route: Any) -> None:
        if route.request.url.startswith(demo.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    page.goto(demo.url + "/docs")
    page.wait_for_selector(".swagger-ui .information-container")
    page.click(".swagger-ui button.authorize")
    dialog = page.locator(".swagger-ui .dialog-ux")
    dialog.wait_for()
    text = dialog.text_content() or ""
    for scheme in ("ApiKeyId", "ApiKeySecret", "Bearer"):
        assert scheme in text, text
    login = demo.logins["alice"]
    forms = dialog.locator("form")  # one per scheme: the key's id, its secret, a bearer token
    for index, value in ((0, login["key_id"]), (1, login["key_secret"])):
        forms.nth(index).locator("input").fill(value)
        forms.nth(index).locator("button.authorize").click()
    dialog.locator("button.btn-done").first.click()
    assert _account_in_docs(page) == "demo-alice"

    trader = make_trader(demo)  # now a bearer token instead
    with httpx.Client(base_url=demo.url, timeout=10) as client:
        half = client.post(
            "/v1/auth/login", json={"username": trader.username, "password": trader.password}
        ).json()["access_token"]
        token = client.post(
            "/v1/auth/totp/verify",
            json={"code": trader.code()},
            headers={"Authorization": f"Bearer {half}"},
        ).json()["access_token"]
    page.click(".swagger-ui button.authorize")
    for index in (0, 1):  # log the key out
        forms.nth(index).locator("button.authorize, button:has-text('Logout')").click()
    forms.nth(2).locator("input").fill(token)
    forms.nth(2).locator("button.authorize").click()
    dialog.locator("button.btn-done").first.click()
    assert _account_in_docs(page) == trader.account
    assert outside == []
    screenshot(page, "docs")


def _account_in_docs(page: Any) -> str:
    """Run `GET /v1/account` from the documentation page; the account it answered."""
    operation = page.locator("#operations-portfolio-account_v1_account_get")
    if not operation.locator("button.execute").count():
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
    clear = operation.locator("button.btn-clear")
    if clear.count():
        clear.click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert (status.text_content() or "").strip() == "200"
    body = operation.locator(".live-responses-table tbody .microlight").first.text_content()
    return str(json.loads(body or "{}")["account"])
