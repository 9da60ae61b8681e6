"""A role's connection to NATS: one per process, shared by its adapters, kept up by itself.

`connect` waits for as long as it takes: a role may start before the NATS server, or while it
restarts. Afterwards the client reconnects by itself, for ever, and resubscribes; while it is
disconnected the adapters refuse requests at once (`is_connected`) rather than let them wait in
the client's buffer. An outage is logged when it starts and when it ends, not at every attempt.

A server that stops closes its connections, and the client knows at once. A partition is
silent: no reset reaches either side, and a TCP connection with nothing to acknowledge looks
alive for as long as nobody writes (with something unacknowledged, for the kernel's
retransmissions, about fifteen minutes). So the client pings the server every
`ping_interval_ms` (`nats_ping_interval_ms`) and counts the connection lost when
`pings_outstanding_max` (`nats_pings_outstanding_max`) pings in a row go unanswered: within
(pings_outstanding_max + 1) x ping_interval_ms of the last answer (the client library's default
of two minutes and two pings would leave requests waiting for their timeout, one after the
other, for four to six minutes).

Giving a connection up must not wait for it either. The client closes a lost connection
gracefully, which waits until the kernel has sent what is buffered; in a partition under load
that is never, and the client would not even start to reconnect until the link is back and the
kernel's retransmission, backed off by then for up to two minutes, gets through (delivering
commands whose clients were refused long before). So the kernel is told to abort the
connection once what it sent has gone unacknowledged for the same bound (`TCP_USER_TIMEOUT`,
Linux): the buffered bytes are dropped, the reconnection begins at once, and it is ready as
soon as the link is.
"""

import logging
import socket
import time

import nats
from nats.aio.client import Client

log = logging.getLogger("tradingfloor.nats")

connect_timeout_s = 2.0
reconnect_wait_s = 0.5
"""Between two attempts to reach the server."""
outage_log_every_s = 30.0
"""While the server cannot be reached, how often it is said again."""


def _bound_unacknowledged(client: Client, bound_ms: int) -> None:
    """Have the kernel abort the client's connection when what it sent stays unacknowledged
    for `bound_ms` (see the module); nothing where TCP_USER_TIMEOUT does not exist."""
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    # The client library offers no socket option of its own: its transport's stream writer.
    writer = getattr(getattr(client, "_transport", None), "_io_writer", None)
    sock = writer.get_extra_info("socket") if writer is not None else None
    if option is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.IPPROTO_TCP, option, bound_ms)


class _Outage:
    """Logs the first error of an outage, then at most one every `outage_log_every_s`; bounds
    each new connection's unacknowledged bytes (`_bound_unacknowledged`)."""

    def __init__(self, url: str, name: str, unacknowledged_max_ms: int) -> None:
        self.url = url
        self.name = name
        self.unacknowledged_max_ms = unacknowledged_max_ms
        self.since = 0.0
        self.logged_at = 0.0
        self.disconnected_told = False
        self.client: Client | None = None

    async def on_error(self, error: Exception) -> None:
        now = time.monotonic()
        if not self.since:
            self.since = now
        if now - self.logged_at >= outage_log_every_s:
            self.logged_at = now
            log.warning(
                "%s: NATS at %s cannot be reached (for %.0f s, trying every %.1f s): %r",
                self.name,
                self.url,
                now - self.since,
                reconnect_wait_s,
                error,
            )

    async def on_disconnected(self) -> None:
        if self.client is not None and self.client.is_closed:
            return  # closed by us: no outage
        if not self.since:
            self.since = time.monotonic()
        if not self.disconnected_told:  # once, whether or not an error came first
            self.disconnected_told = True
            log.warning("%s: disconnected from NATS at %s: reconnecting", self.name, self.url)

    async def on_connected(self) -> None:
        if self.client is not None:
            _bound_unacknowledged(self.client, self.unacknowledged_max_ms)
        if self.since:
            log.warning(
                "%s: connected to NATS at %s again after %.1f s",
                self.name,
                self.url,
                time.monotonic() - self.since,
            )
        self.since = self.logged_at = 0.0
        self.disconnected_told = False


async def connect(
    url: str, name: str, *, ping_interval_ms: int = 1_000, pings_outstanding_max: int = 3
) -> Client:
    """A connection to `url` named `name` (in the server's monitoring), once the server
    answers; lost after `pings_outstanding_max` pings unanswered (see the module)."""
    outage = _Outage(url, name, (pings_outstanding_max + 1) * ping_interval_ms)
    client = await nats.connect(
        url,
        name=name,
        connect_timeout=connect_timeout_s,
        reconnect_time_wait=reconnect_wait_s,
        max_reconnect_attempts=-1,  # for ever, the first connection included
        ping_interval=ping_interval_ms / 1000,
        max_outstanding_pings=pings_outstanding_max,
        error_cb=outage.on_error,
        disconnected_cb=outage.on_disconnected,
        reconnected_cb=outage.on_connected,
    )
    outage.client = client
    await outage.on_connected()
    return client
