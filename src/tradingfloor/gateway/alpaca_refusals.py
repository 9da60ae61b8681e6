"""A refused `/v2` order answered as Alpaca answers it: the status Alpaca gives (403 for what
the account may not do, 422 for what cannot be an order, an unknown symbol among them) and a
`{"code", "message"}` body with our stable code (`errors.refusal`) and a message that names
what was refused, so that the SDK's `APIError` says it. The refused order itself is kept,
with its terms, among the account's orders (status `rejected`)."""

from tradingfloor.domain.commands import PlaceOrder
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.gateway.errors import ApiError, refusal


def order_refusal(reason: RejectReason, command: PlaceOrder) -> ApiError:
    """The answer to a new order refused for `reason`."""
    error = refusal(reason)
    if reason is RejectReason.UNKNOWN_SYMBOL:  # Alpaca: 422, as a symbol it cannot trade
        return ApiError(422, error.code, f'could not find asset "{command.symbol}"')
    return error
