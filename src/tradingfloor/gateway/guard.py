"""What the guarded protocols of one server share: the connection gate, the request limits
of `Settings`, the refusals' answers (encoded once) and the record of refusals.

`protocols` checks the limits; `server.build_server` makes one `Guard` per server.
"""

from dataclasses import dataclass

from tradingfloor.config import Settings
from tradingfloor.gateway.connections import ConnectionGate
from tradingfloor.gateway.refusals import RefusalRecord, answer_bytes, refusals


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """The request limits of `Settings`, as the protocol reads them on every request."""

    body_bytes_max: int
    header_bytes_max: int
    headers_max: int
    header_timeout_s: float
    body_timeout_s: float

    @classmethod
    def of(cls, settings: Settings) -> "RequestLimits":
        return cls(
            body_bytes_max=settings.request_body_bytes_max,
            header_bytes_max=settings.request_header_bytes_max,
            headers_max=settings.request_headers_max,
            header_timeout_s=settings.request_header_timeout_s,
            body_timeout_s=settings.request_body_timeout_s,
        )


class Guard:
    """What the protocols of one server share: the connection gate, the limits, the answers
    and the record of refusals."""

    def __init__(self, settings: Settings, connections_max: int) -> None:
        self.gate = ConnectionGate(connections_max, settings.connections_per_source_max)
        self.limits = RequestLimits.of(settings)
        self.answers = {
            kind: answer_bytes(refusal) for kind, refusal in refusals(settings).items()
        }
        self.record = RefusalRecord()
