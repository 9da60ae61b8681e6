"""The web terminal's figures, measured in Chromium on localhost against `serve --demo` and
printed (not asserted): time to the first render and to the first live quote, and the frames
the book ladder drops at the pro tier's update rate (10 a second).

    ./dev test tests/web/test_figures.py -p no:xdist
"""

import json
import statistics
from typing import Any

import httpx
from web_helpers import (  # noqa: F401 (fixtures by name)
    Demo,
    Trader,
    browser_fixture,
    console_fixture,
    demo_fixture,
    make_trader,
    new_page_fixture,
)

LOADS = 5
LADDER_S = 10


def _session(demo: Demo, trader: Trader) -> str:
    """A signed-in session as the page keeps it (the page's sign-in is not what is timed)."""
    with httpx.Client(base_url=demo.url, timeout=10) as client:
        half = client.post(
            "/v1/auth/login", json={"username": trader.username, "password": trader.password}
        ).json()
        tokens = client.post(
            "/v1/auth/totp/verify",
            json={"code": trader.code()},
            headers={"Authorization": f"Bearer {half['access_token']}"},
        ).json()
    return json.dumps({"tokens": tokens, "username": trader.username})


def _signed_in_page(new_page: Any, session: str) -> Any:
    page = new_page()
    page.add_init_script(f"sessionStorage.setItem('tradingfloor.session', {json.dumps(session)})")
    return page


def test_time_to_first_render_and_first_live_quote(demo: Demo, new_page: Any) -> None:
    session = _session(demo, make_trader(demo))
    renders, quotes, opens, symbols = [], [], [], []
    for _ in range(LOADS):
        page = _signed_in_page(new_page, session)
        page.goto(demo.url + "/")
        page.wait_for_function("() => window.tradingfloorMetrics.firstQuoteMs !== null")
        figures = page.evaluate("window.tradingfloorMetrics")
        marks = dict(
            page.evaluate(
                "performance.getEntriesByType('mark').map(mark => [mark.name, mark.startTime])"
            )
        )
        renders.append(figures["firstRenderMs"])
        quotes.append(figures["firstQuoteMs"])
        opens.append(marks["tradingfloor:stream-open"])
        symbols.append(marks["tradingfloor:symbols"])
        page.context.close()
    sign_in_page = new_page()
    sign_in_page.goto(demo.url + "/")
    sign_in_page.wait_for_selector("input[name=username]")
    form_ms = sign_in_page.evaluate("window.tradingfloorMetrics.firstRenderMs")
    print(
        f"\nweb terminal on localhost, {LOADS} loads of a signed-in page (ms since navigation):"
        f"\n  first render      median {statistics.median(renders):6.1f}  max {max(renders):6.1f}"
        f"\n  stream open       median {statistics.median(opens):6.1f}  max {max(opens):6.1f}"
        f"\n  symbols listed    median {statistics.median(symbols):6.1f}  max {max(symbols):6.1f}"
        f"\n  first live quote  median {statistics.median(quotes):6.1f}  max {max(quotes):6.1f}"
        f"\n  sign-in form      {form_ms:6.1f}"
    )
    assert all(quote >= render for quote, render in zip(quotes, renders, strict=True))


def test_frames_the_ladder_drops_at_the_pro_rate(demo: Demo, new_page: Any) -> None:
    session = _session(demo, make_trader(demo, role="admin"))  # admins get the pro tier
    page = _signed_in_page(new_page, session)
    page.goto(demo.url + "/")
    page.select_option("[data-testid=ticket-symbol]", "ACME")
    page.wait_for_function("() => window.tradingfloorMetrics.ladder.updates > 5")
    page.evaluate(
        "() => { const m = window.tradingfloorMetrics; m.longFrames = 0; m.longFramesMs = 0;"
        " Object.assign(m.ladder, {updates: 0, renders: 0, superseded: 0, frames: 0,"
        " dropped: 0, renderMsMax: 0, renderMsTotal: 0}); }"
    )
    page.wait_for_timeout(LADDER_S * 1000)
    figures = page.evaluate("window.tradingfloorMetrics")
    ladder = figures["ladder"]
    renders = max(1, ladder["renders"])
    shown = ladder["frames"] + ladder["dropped"]
    print(
        f"\nbook ladder, pro tier, ACME of the demo market, {LADDER_S} s:"
        f"\n  depth updates {ladder['updates']} ({ladder['updates'] / LADDER_S:.1f}/s),"
        f" drawn {ladder['renders']}, superseded before a frame drew them"
        f" {ladder['superseded']}"
        f"\n  display frames {ladder['frames']}, missed vsyncs {ladder['dropped']}"
        f" ({100 * ladder['dropped'] / max(1, shown):.2f}% of {shown})"
        f"\n  frames of 50 ms or more {figures['longFrames']}"
        f" ({figures['longFramesMs']:.0f} ms in all)"
        f"\n  draw time mean {ladder['renderMsTotal'] / renders:.3f} ms,"
        f" max {ladder['renderMsMax']:.3f} ms"
    )
    assert ladder["updates"] > 0 and ladder["renders"] > 0
