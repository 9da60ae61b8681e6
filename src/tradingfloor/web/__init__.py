"""The web terminal: the browser app the platform serves at `/`, for people rather than bots.

The app is TypeScript in the repository's `web/` folder, built by Vite into `static/` beside
this module (`./dev` builds it when its sources change; a wheel built from the source tree
builds it too and ships the built files). Every script, style and font comes from here: the
terminal works without internet. It speaks only the public REST and WebSocket APIs, with the
session a person opens by signing in (password, then the second factor).

`install(app)` adds `GET /` (the app's page) and `/assets/...` (its hashed, immutable files).
Without a build, `/` answers 503 with how to build it; the APIs are unaffected. The page is
sent with a content security policy that allows only this origin's scripts, styles, images
and connections (its WebSockets included) and forbids framing.
"""

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)
"""`connect-src 'self'` covers the page's own origin over ws: and wss: as well."""

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>TradingFloor</title>
<h1>The web terminal is not built</h1>
<p>Build it with <code>./dev web</code> (Node.js and npm needed), or install a wheel,
which ships it. The REST API and its documentation at <a href="/docs">/docs</a> work without
it.</p>"""


class _Assets(StaticFiles):
    """The built files: their names carry a content hash, so they are cached for good."""

    def _built(self) -> bool:
        return self.directory is not None and Path(self.directory).is_dir()

    async def check_config(self) -> None:
        if self._built():  # not built: every path is 404, not a server error
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not self._built():
            return Response("Not Found", 404, media_type="text/plain")
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def built(static: Path = STATIC) -> bool:
    return (static / "index.html").is_file()


def install(app: Starlette, static: Path = STATIC) -> None:
    """Add `GET /` and `/assets` to `app` (the API's routes keep precedence)."""

    async def page(_request: Request) -> Response:
        if not built(static):
            return HTMLResponse(NOT_BUILT, 503, headers={"Cache-Control": "no-cache"})
        return FileResponse(static / "index.html", headers=PAGE_HEADERS)

    app.add_route("/", page, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount("/assets", _Assets(directory=static / "assets", check_dir=False), name="web")
