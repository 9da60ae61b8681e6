"""The web terminal in a real browser: Debian's Chromium (`/usr/bin/chromium`, or
`TRADINGFLOOR_CHROMIUM`) driven by Playwright, against `tradingfloor serve --demo` run as a
user runs it (one process, its own data directory, the demo's simulated market).

Each test gets a fresh browser context (no shared storage) whose console is watched: an error
logged by the page or an uncaught exception fails the test. Screenshots go to
`out/screenshots/` (kept by CI as artifacts). Without Chromium or a built terminal the tests
skip, and fail under TRADINGFLOOR_REQUIRE_SERVICES=1.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "out" / "screenshots"
BUILT = ROOT / "src" / "tradingfloor" / "web" / "static" / "index.html"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Headless Chromium as root, with nothing that reaches for the internet on its own."""
PASSWORD = "a-long-password"
CHEAP_PASSWORD_HASHES = {
    "TRADINGFLOOR_PASSWORD_HASH_TIME_COST": "1",
    "TRADINGFLOOR_PASSWORD_HASH_MEMORY_KIB": "1024",
    "TRADINGFLOOR_PASSWORD_HASH_PARALLELISM": "1",
}
"""Every sign-in checks a password at the lowest CPU priority: at full cost, a suite that keeps
both cores busy starves them for seconds. What the pages do is the same at any cost."""
TOTP_STEP_S = 30


@dataclass
class Demo:
    """The served demo platform: its URL, and the demo logins as `DATA/demo-logins.json` has
    them."""

    url: str
    logins: dict[str, dict[str, str]]
    process: subprocess.Popen[bytes]
    log: Path

    def headers(self, who: str = "admin") -> dict[str, str]:
        login = self.logins[who]
        return {"X-API-Key-Id": login["key_id"], "X-API-Secret": login["key_secret"]}

    def api(self, who: str = "admin") -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(who), timeout=10)


@dataclass
class Trader:
    username: str
    account: str
    totp_secret: str
    password: str = PASSWORD

    def code(self) -> str:
        return pyotp.TOTP(self.totp_secret).now()


def chromium_path() -> str:
    path = os.environ.get("TRADINGFLOOR_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists() and shutil.which("chromium") is None:
        skip_or_fail(f"no Chromium at {path} (apt install chromium)")
    return path if Path(path).exists() else str(shutil.which("chromium"))


_shared: dict[str, Any] = {}
"""The one demo platform and the one browser of this test process: every module that imports
the fixtures shares them (a session fixture imported into two modules would be made twice)."""


@pytest.fixture(name="demo")
def demo_fixture(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Demo:
    if "demo" not in _shared:
        if not BUILT.exists():
            skip_or_fail("the web terminal is not built (./dev web)")
        _shared["demo"] = _serve_demo(tmp_path_factory.mktemp("web-demo"))
        request.config.add_cleanup(lambda: _stop(_shared.pop("demo")))
    demo: Demo = _shared["demo"]
    assert demo.process.poll() is None, "the demo platform stopped:\n" + demo.log.read_text()
    return demo


def _serve_demo(data: Path) -> Demo:
    log = data / "serve.log"
    with log.open("w") as output:  # a file, not a pipe nobody drains
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "tradingfloor", "serve", "--demo", "--single-process"),
                *("--port", "0", "--data", str(data / "platform"), "--no-fsync"),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **CHEAP_PASSWORD_HASHES},
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"listening on (http://\S+)", log.read_text())
        if found:
            logins = json.loads((data / "platform" / "demo-logins.json").read_text())
            return Demo(found.group(1), logins, process, log)
        time.sleep(0.1)
    process.kill()
    raise AssertionError("the demo platform did not start:\n" + log.read_text())


def _stop(demo: Demo) -> None:
    demo.process.send_signal(signal.SIGINT)
    try:
        demo.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        demo.process.kill()
        demo.process.wait()


_made = 0


def make_trader(demo: Demo, role: str = "trader", cash: str = "100000") -> Trader:
    """A new login with its second factor enrolled over the API (the code of the previous
    step, so that the current one is still unused for signing in) and a funded account."""
    global _made
    _made += 1
    username = f"web{os.getpid()}x{_made}{int(time.time() * 1000) % 100_000}"
    with demo.api() as admin:
        made = admin.post(
            "/v1/admin/users", json={"username": username, "password": PASSWORD, "role": role}
        )
        assert made.status_code == 201, made.text
        account = made.json()["account"]
        deposit = admin.post(f"/v1/admin/accounts/{account}/deposits", json={"amount": cash})
        assert deposit.status_code == 200, deposit.text
    enrolment = made.json()["enrollment_token"]
    with httpx.Client(base_url=demo.url, timeout=10) as client:
        half = client.post("/v1/auth/login", json={"username": username, "password": PASSWORD})
        bearer = {"Authorization": f"Bearer {half.json()['access_token']}"}
        secret = client.post(
            "/v1/auth/totp/enroll", json={"enrollment_token": enrolment}, headers=bearer
        ).json()["secret"]
        previous = pyotp.TOTP(secret).at(time.time() - TOTP_STEP_S)
        confirmed = client.post("/v1/auth/totp/confirm", json={"code": previous}, headers=bearer)
        assert confirmed.status_code == 200, confirmed.text
    return Trader(username, account, secret)


@pytest.fixture(name="browser")
def browser_fixture(request: pytest.FixtureRequest) -> Any:
    if "browser" not in _shared:
        path = chromium_path()
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            skip_or_fail("Playwright is not installed (pip install '.[dev]')")
        playwright = sync_playwright().start()
        _shared["browser"] = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)

        def stop() -> None:
            _shared.pop("browser").close()
            playwright.stop()

        request.config.add_cleanup(stop)
    return _shared["browser"]


API_REFUSAL = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d")


class Console:
    """What a page logged as errors, and its uncaught exceptions. The browser's own line for
    an API call answered 4xx (a refusal the page shows the person) is not an error of the
    page's; any other failed load (a 5xx, a missing asset) is."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any) -> None:
        def logged(message: Any) -> None:
            if message.type != "error":
                return
            url = message.location.get("url", "")
            if API_REFUSAL.match(message.text) and ("/v1/" in url or "/v2/" in url):
                return
            self.errors.append(f"{page.url}: {message.text} ({url})")

        page.on("console", logged)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))


@pytest.fixture(name="console")
def console_fixture() -> Iterator[Console]:
    watched = Console()
    yield watched
    assert watched.errors == [], "the page logged errors:\n" + "\n".join(watched.errors)


@pytest.fixture(name="new_page")
def new_page_fixture(
    browser: Any, console: Console, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """`new_page(width, height)`: a page in a context of its own, watched by `console`."""
    contexts: list[Any] = []

    def make(width: int = 1440, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        console.watch(page)
        return page

    yield make
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def sign_in(page: Any, demo: Demo, trader: Trader) -> None:
    """Sign in through the page: the password, then a code of the second factor."""
    page.goto(demo.url + "/")
    page.fill("input[name=username]", trader.username)
    page.fill("input[name=password]", trader.password)
    page.click("button[type=submit]")
    page.fill("input[name=code]", trader.code())
    page.click("button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=trade-page]') || "
        "document.querySelector('[data-testid=login-error]')?.textContent"
    )
    refused = page.locator("[data-testid=login-error]")
    assert not refused.count() or not refused.text_content(), refused.text_content()
    page.wait_for_selector("[data-testid=trade-page]")
