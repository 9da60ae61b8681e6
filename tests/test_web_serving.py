"""How the platform serves the web terminal: the page with its security headers, the hashed
assets cached for good, a clear 503 without a build, and the API's routes untouched."""

from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tradingfloor import web


def _app(static: Path) -> Starlette:
    async def api(_request: object) -> JSONResponse:
        return JSONResponse({"api": True})

    app = Starlette(routes=[Route("/v1/thing", api)])
    web.install(app, static)
    return app


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test")


async def test_without_a_build_the_page_says_how_to_build_it_and_the_api_still_answers(
    tmp_path: Path,
) -> None:
    client = _client(_app(tmp_path / "static"))
    page = await client.get("/")
    assert page.status_code == 503
    assert "./dev web" in page.text and "/docs" in page.text
    assert (await client.get("/assets/index.js")).status_code == 404
    assert (await client.get("/v1/thing")).json() == {"api": True}


async def test_the_built_page_is_served_with_its_security_headers_and_assets_cached(
    tmp_path: Path,
) -> None:
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><script src=/assets/index-abc.js>")
    (static / "assets" / "index-abc.js").write_text("console.log(1)")
    client = _client(_app(static))

    page = await client.get("/")
    assert page.status_code == 200 and "index-abc.js" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-cache"

    asset = await client.get("/assets/index-abc.js")
    assert asset.status_code == 200 and asset.text == "console.log(1)"
    assert "immutable" in asset.headers["cache-control"]
    assert (await client.get("/assets/../index.html")).status_code == 404
    assert (await client.get("/assets/missing.js")).status_code == 404
    assert (await client.post("/")).status_code == 405
