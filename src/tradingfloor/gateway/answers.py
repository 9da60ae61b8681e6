"""How `/v1` answers: JSON bodies encoded by msgspec, and refusals as `{"code", "message"}`
(with `field` when a request is malformed), the HTTP status of `errors.http_status`."""

from typing import Any

import msgspec
from fastapi.responses import Response

from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway.errors import http_status, public_reason, retry_after

MALFORMED = 1000
"""The code of a request that is not what the route takes (body, field, parameter)."""

encode = msgspec.json.Encoder().encode


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode(body), status, headers, media_type="application/json")


def error_answer(code: int, message: str, status: int, **extra: Any) -> Response:
    return json_answer({"code": code, "message": message, **extra}, status)


def unavailable_answer(code: int, message: str, retry_after_s: float = 1) -> Response:
    """503: a dependency cannot answer now; the client may retry after `retry_after_s`."""
    return json_answer({"code": code, "message": message}, 503, retry_after(retry_after_s))


def refusal_answer(reason: RejectReason) -> Response:
    """A refusal by the engine as the client is told it (`errors.public_reason`)."""
    reason = public_reason(reason)
    return error_answer(int(reason), reason.message, http_status(reason))


def malformed_answer(error: Exception, field: str | None = None) -> Response:
    """422 for a body msgspec could not decode, naming the field its error names."""
    text = str(error)
    if field is None and "at `$." in text:  # msgspec names the path: "... - at `$.qty`"
        field = text.rsplit("at `$.", 1)[1].rstrip("`").split("[")[0].split(".")[0]
    elif field is None and "missing required field `" in text:
        field = text.split("missing required field `", 1)[1].split("`")[0]
    return error_answer(MALFORMED, text, 422, field=field)
