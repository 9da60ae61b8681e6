"""The connection gate's counts, its caps, and the cap under the open-file limit."""

import resource

from tradingfloor.gateway.connections import (
    LOCAL_PEER,
    OPEN_FILES_RESERVED,
    ConnectionGate,
    ConnectionSlot,
    connections_cap,
    raise_open_file_limit,
)
from tradingfloor.gateway.refusals import RefusalKind


def admitted(gate: ConnectionGate, source: str) -> ConnectionSlot:
    slot = gate.admit(source)
    assert isinstance(slot, ConnectionSlot), slot
    return slot


def test_a_source_above_its_cap_is_refused_while_others_are_admitted() -> None:
    gate = ConnectionGate(total_max=10, per_source_max=2)
    first = [admitted(gate, "10.0.0.1") for _ in range(2)]

    assert gate.admit("10.0.0.1") is RefusalKind.TOO_MANY_CONNECTIONS_FROM_SOURCE
    other = admitted(gate, "10.0.0.2")
    assert (gate.total, gate.open_from("10.0.0.1"), gate.open_from("10.0.0.2")) == (3, 2, 1)

    first[0].release()
    admitted(gate, "10.0.0.1")
    other.release()
    assert (gate.total, gate.sources) == (2, 1)


def test_unix_socket_peers_count_only_towards_the_total() -> None:
    """A gateway forwards each of its clients' market-data WebSockets over a Unix socket: the
    market-data role must not take them all for one source (each was checked at the gateway)."""
    gate = ConnectionGate(total_max=5, per_source_max=2)
    [admitted(gate, LOCAL_PEER) for _ in range(5)]

    assert gate.admit(LOCAL_PEER) is RefusalKind.TOO_MANY_CONNECTIONS
    assert gate.admit("10.0.0.1") is RefusalKind.TOO_MANY_CONNECTIONS


def test_the_total_cap_holds_for_every_source() -> None:
    gate = ConnectionGate(total_max=3, per_source_max=3)
    slots = [admitted(gate, f"10.0.0.{index}") for index in range(3)]

    assert gate.admit("10.0.0.9") is RefusalKind.TOO_MANY_CONNECTIONS
    slots[1].release()
    admitted(gate, "10.0.0.9")
    assert gate.total == 3


def test_a_slot_released_twice_counts_once_and_no_source_is_kept_once_closed() -> None:
    gate = ConnectionGate(total_max=5, per_source_max=5)
    slot = admitted(gate, "10.0.0.1")
    kept = admitted(gate, "10.0.0.1")

    slot.release()
    slot.release()
    assert (gate.total, gate.open_from("10.0.0.1")) == (1, 1)
    kept.release()
    assert (gate.total, gate.sources) == (0, 0)


def test_the_cap_leaves_descriptors_for_the_rest_of_the_process() -> None:
    assert connections_cap(10_000, 20_000) == 10_000
    assert connections_cap(10_000, 1_024) == 1_024 - OPEN_FILES_RESERVED
    assert connections_cap(10_000, OPEN_FILES_RESERVED) == 1
    assert connections_cap(10_000, resource.RLIM_INFINITY) == 10_000


def test_the_soft_open_file_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 512), hard))
        raised = raise_open_file_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (raised, hard)
        if hard != resource.RLIM_INFINITY:
            assert raised == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
