"""Open connections, counted in total and per source address, and refused above their caps.

Every connection holds a file descriptor and some memory for as long as it is open, whatever
it sends. Without a cap, idle or slow connections from one client fill the process's
open-file limit and every other client is refused, health checks included. The gate counts
the connections of one server: the HTTP protocol admits a connection when it is made, and its
slot goes with the transport to the WebSocket protocol on an upgrade, so a WebSocket keeps its
place until it closes. Releasing a slot twice is harmless; forgetting one would leak a place
for the life of the process, so every protocol releases in `connection_lost`.
"""

import resource

from tradingfloor import observability as metrics
from tradingfloor.gateway.refusals import RefusalKind

OPEN_FILES_RESERVED = 256
"""Descriptors kept out of the connection cap: journal segments, databases, log files, the
listening socket, the event loop's own, pipes of worker threads, and the one a connection above
the cap takes while it is answered 503."""


def raise_open_file_limit() -> int:
    """Raise the soft limit of open files to the hard one; the soft limit now in force.

    The soft limit is often 1,024 while the hard one allows tens of thousands: a server
    should use what the operator allowed it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # RLIM_INFINITY above the kernel's nr_open
            return soft
        return hard
    return soft


def connections_cap(connections_max: int, open_files_max: int) -> int:
    """`connections_max`, lowered to leave OPEN_FILES_RESERVED descriptors for the rest.

    Above the open-file limit accept() fails and the event loop stops accepting for a while:
    every client then waits, instead of the extra ones being refused at once.
    """
    if open_files_max == resource.RLIM_INFINITY:
        return connections_max
    return max(1, min(connections_max, open_files_max - OPEN_FILES_RESERVED))


class ConnectionSlot:
    """One admitted connection's place in its gate's counts, released once."""

    __slots__ = ("_gate", "_held", "source")

    def __init__(self, gate: "ConnectionGate", source: str) -> None:
        self._gate = gate
        self.source = source
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._gate._release(self.source)


LOCAL_PEER = ""
"""The source of a connection on a Unix socket (it has no address)."""


class ConnectionGate:
    """Counts the open connections of one server; refuses a new one above either cap."""

    def __init__(self, total_max: int, per_source_max: int) -> None:
        self.total_max = total_max
        self.per_source_max = per_source_max
        self.total = 0
        self._per_source: dict[str, int] = {}

    def admit(self, source: str) -> ConnectionSlot | RefusalKind:
        """A slot for a new connection from `source` (its IP address), or why it is refused.
        A Unix socket's peer (source "": a local process of the platform, such as a gateway
        forwarding its clients to the market-data role) counts only towards the total."""
        if self.total >= self.total_max:
            return RefusalKind.TOO_MANY_CONNECTIONS
        count = self._per_source.get(source, 0)
        if count >= self.per_source_max and source != LOCAL_PEER:
            return RefusalKind.TOO_MANY_CONNECTIONS_FROM_SOURCE
        self._per_source[source] = count + 1
        self.total += 1
        metrics.connections_open.inc()
        return ConnectionSlot(self, source)

    def open_from(self, source: str) -> int:
        """Connections open from `source` now."""
        return self._per_source.get(source, 0)

    @property
    def sources(self) -> int:
        """Source addresses with a connection open (none is kept once its last one closed)."""
        return len(self._per_source)

    def _release(self, source: str) -> None:
        count = self._per_source[source] - 1
        if count:
            self._per_source[source] = count
        else:
            del self._per_source[source]
        self.total -= 1
        metrics.connections_open.dec()
