"""`POST /v1/orders` straight to its handler: the hottest route skips FastAPI's routing,
dependency solving and exception middleware, which cost many times what parsing the order
does (ARCHITECTURE.md, "Measured on this machine")."""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response


class OrderEntryFastPath:
    """ASGI middleware: `POST /v1/orders` to `place_order` (the route stays declared for the
    OpenAPI document); every other request to the app. Errors the handler raises are answered
    by the app's own exception handlers."""

    def __init__(
        self,
        app: Any,
        place_order: Callable[[Request], Awaitable[Response]],
        app_handlers: FastAPI,
    ) -> None:
        self.app = app
        self.place_order = place_order
        self.handlers = app_handlers.exception_handlers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/orders" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.place_order(request)
        except Exception as error:
            handler = next(
                (self.handlers[kind] for kind in type(error).__mro__ if kind in self.handlers),
                None,
            )
            if handler is None:
                raise
            handled: Any = handler(request, error)  # every handler here is a coroutine
            response = await handled
        await response(scope, receive, send)
