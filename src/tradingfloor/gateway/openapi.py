"""The OpenAPI document: FastAPI's, with the msgspec schemas of the hot routes, and every
refusal a route can answer documented with our error body.

Refusals are documented by what a route does, not one by one: any route that authenticates
may answer 401 and 403; any route that takes parameters or a body, 422; any route with an id or
a symbol in its path, the account, the admin routes and Alpaca's routes, 404; a command (a POST,
PATCH or DELETE of the API) may find the market's or the user's state against it (409); order
entry and sign-in are limited (429); and every route but the liveness probe depends on the
database, the journal or Redis (503, with `Retry-After`). FastAPI's own 422 schema
(`HTTPValidationError`) is not what the API answers: it is replaced by ours.

The ways to authenticate are declared as security schemes (an API key's id and secret, both
headers, or a bearer access token), required by every route but the public ones, so that the
documentation page's "Authorize" fills them in.
"""

from typing import Any

import msgspec
from fastapi import FastAPI

from tradingfloor.gateway.schemas import ErrorBody, OrderRequest, OrderView, ReplaceRequest

SCHEMAS = msgspec.json.schema_components(
    [OrderRequest, ReplaceRequest, OrderView, ErrorBody],
    ref_template="#/components/schemas/{name}",
)[1]

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
REFUSALS = {
    401: "not authenticated: no, a wrong or an expired credential, or the second factor missing",
    403: "not allowed: scope, role, account status, funds or shares",
    404: "no such order, symbol, user or key (or not yours)",
    409: "the market's or the user's state forbids it now (a halt, a name taken)",
    422: "malformed, or refused by validation (`field` names what)",
    429: "rate limited, locked out or blocked for now (see Retry-After)",
    503: "a dependency cannot answer now (the shard, database, journal, Redis), or new orders "
    "wait for the read models to catch up: retry after Retry-After",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, **_ERROR} for status, text in REFUSALS.items()
}
"""Every refusal, for a route that declares its responses itself."""

_PUBLIC = frozenset(
    {"/healthz", "/readyz", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout"}
)
SECURITY_SCHEMES = {
    "ApiKeyId": {"type": "apiKey", "in": "header", "name": "X-API-Key-Id"},
    "ApiKeySecret": {"type": "apiKey", "in": "header", "name": "X-API-Secret"},
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from /v1/auth/login (then /v1/auth/totp/verify).",
    },
}
SECURITY: list[dict[str, list[str]]] = [{"ApiKeyId": [], "ApiKeySecret": []}, {"Bearer": []}]
"""An API key (both headers together), or a bearer token."""
"""Routes that take no credential (sign-in refuses with 401 and 403 all the same)."""
_LIMITED = ("/v1/orders", "/v2/orders", "/v2/positions", "/v1/auth/")
_COMMANDS = frozenset({"post", "patch", "delete"})


def body_schema(name: str) -> dict[str, Any]:
    """`openapi_extra` of a hot route whose body msgspec parses: its request schema."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


def order_responses() -> dict[int | str, dict[str, Any]]:
    view = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderView"}}}
    }
    return {200: {"description": "The order after its command", **view}, **ERROR_RESPONSES}


def install_openapi(app: FastAPI) -> None:
    """Complete FastAPI's generated document as the module says, once, when first asked."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(SCHEMAS)
            components["securitySchemes"] = SECURITY_SCHEMES
            schema["security"] = SECURITY
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    _document_refusals(path, method, operation)
                    if path in _PUBLIC:
                        operation["security"] = []  # no credential needed
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_refusals(path: str, method: str, operation: dict[str, Any]) -> None:
    if path == "/healthz":
        return
    statuses = {503}
    if path != "/readyz":
        statuses |= {401, 403, 422}
    if "{" in path or path == "/v1/account" or path.startswith(("/v1/admin/", "/v2/")):
        statuses.add(404)
    if method in _COMMANDS and path not in _PUBLIC:
        statuses.add(409)
    if path.startswith(_LIMITED) and (method in _COMMANDS or path.startswith("/v1/auth/")):
        statuses.add(429)
    if path.startswith("/v1/auth/"):
        statuses |= {409, 429}
    responses = operation.setdefault("responses", {})
    for status in sorted(statuses):
        responses[str(status)] = {"description": REFUSALS[status], **_ERROR}
