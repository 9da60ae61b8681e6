"""CNS settlement of a date as a pure function: who delivers, who receives, who fails."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.settlement.clearinghouse.netting import settle_date
from tradingfloor.settlement.records import Fail, Instruction

D1, D2, D3 = "2026-12-01", "2026-12-02", "2026-12-03"


def test_a_shortfall_goes_first_to_what_is_owed_longest_then_by_participant() -> None:
    carried = [Fail(D2, "seller", "X", 5, D1), Fail(D2, "zed", "X", -5, D1)]
    obligations = [
        ("alice", "X", 4, -40),
        ("bob", "X", 6, -60),
        ("seller", "X", -10, 100),
    ]
    settled = settle_date(D3, obligations, carried, {("seller", "X"): 12})
    assert settled.instructions == [
        Instruction(D3, "alice", "X", 4, -40),
        Instruction(D3, "bob", "X", 6, -60),
        Instruction(D3, "seller", "X", -15, 100),
        Instruction(D3, "zed", "X", 5, 0),
    ]
    # 12 of 15 delivered: the 5 owed since D1 first (zed), then alice 4, then bob 3 of 6.
    assert settled.fails == [Fail(D3, "seller", "X", 3, D3), Fail(D3, "bob", "X", -3, D3)]


def test_a_fail_keeps_its_first_date_until_delivered_in_full() -> None:
    carried = [Fail(D2, "seller", "X", 5, D1), Fail(D2, "buyer", "X", -5, D1)]
    settled = settle_date(
        D3, [("buyer", "X", 10, 0), ("seller", "X", -10, 0)], carried, {("seller", "X"): 3}
    )
    assert settled.fails == [Fail(D3, "seller", "X", 12, D1), Fail(D3, "buyer", "X", -12, D1)]


@st.composite
def _day(draw: st.DrawFn) -> tuple[list[tuple[str, str, int, int]], dict[tuple[str, str], int]]:
    """Balanced obligations (trades between participants) and random holdings."""
    participants = ["p0", "p1", "p2", "p3", "p4"]
    net: dict[tuple[str, str], list[int]] = {}
    for _ in range(draw(st.integers(0, 30))):
        symbol = draw(st.sampled_from(["X", "Y"]))
        buyer, seller = draw(st.permutations(participants))[:2]
        qty = draw(st.integers(1, 50))
        net.setdefault((buyer, symbol), [0, 0])[0] += qty
        net.setdefault((seller, symbol), [0, 0])[0] -= qty
    obligations = sorted(
        ((p, s, qty, -qty * 100) for (p, s), (qty, _) in net.items()), key=lambda o: (o[1], o[0])
    )
    holdings = {key: draw(st.integers(0, 60)) for key in net}
    return obligations, holdings


@settings(max_examples=200, deadline=None)
@given(_day())
def test_what_is_delivered_is_received_and_fails_are_what_was_missing(
    day: tuple[list[tuple[str, str, int, int]], dict[tuple[str, str], int]],
) -> None:
    obligations, holdings = day
    settled = settle_date(D3, obligations, [], holdings)
    fails = {(f.participant, f.symbol): f.qty for f in settled.fails}
    for participant, symbol, qty, _ in obligations:
        failed = fails.get((participant, symbol), 0)
        if qty < 0:  # delivers what it holds, fails the rest
            assert failed == -qty - min(-qty, holdings[(participant, symbol)])
        else:  # never receives more than it is due, nor a negative quantity
            assert -qty <= failed <= 0
    for symbol in ("X", "Y"):
        assert sum(q for (_, s), q in fails.items() if s == symbol) == 0
    assert [(i.participant, i.symbol, i.qty, i.cash) for i in settled.instructions] == [
        o for o in obligations if o[2] or o[3]
    ]


def test_obligations_that_do_not_net_to_zero_are_a_bug() -> None:
    with pytest.raises(InvariantViolation):
        settle_date(D3, [("a", "X", 5, 0), ("b", "X", -4, 0)], [], {("b", "X"): 4})
