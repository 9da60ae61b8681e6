"""Hypothesis: random multi-account streams (places of every type, cancels, replaces, cash and
share movements, halts, index moves, settlement, expiry, kill switches, days passing) keep the
ledger's invariants after every command, never let buying power go below zero, agree with
their own double-entry postings, and replay to the same state byte for byte."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tradingfloor.bench.ledger import random_stream
from tradingfloor.domain.events import Event, TradeExecuted
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine import Engine
from tradingfloor.engine.check import check_ledger, check_postings


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), length=st.integers(50, 1_500))
def test_random_streams_keep_every_ledger_invariant_and_replay_identically(
    seed: int, length: int
) -> None:
    engine = Engine(RiskSettings())
    events: list[Event] = []
    commands = []
    halfway_snapshot = b""
    for seq, (command, ts) in enumerate(
        random_stream(engine, seed, length, adjustments=True), start=1
    ):
        events.extend(engine.apply(command, seq, ts))
        commands.append((command, seq, ts))
        check_ledger(engine)
        for book in engine.books.values():
            book.check_invariants()
        if seq == length // 2:
            halfway_snapshot = engine.snapshot()
    check_postings(engine, events)

    replayed = Engine(RiskSettings())
    replayed_events = [e for c, seq, ts in commands for e in replayed.apply(c, seq, ts)]
    assert replayed_events == events
    assert replayed.snapshot() == engine.snapshot()

    restored = Engine.restore(halfway_snapshot)
    for command, seq, ts in commands[restored.last_seq :]:
        restored.apply(command, seq, ts)
    assert restored.state_hash() == engine.state_hash()


def test_a_long_stream_trades_and_exercises_the_rejects() -> None:
    """The generator is worth its name: trades happen and many reject reasons show up."""
    engine = Engine(RiskSettings())
    events: list[Event] = []
    for seq, (command, ts) in enumerate(
        random_stream(engine, 7, 5_000, adjustments=True), start=1
    ):
        events.extend(engine.apply(command, seq, ts))
    check_ledger(engine)
    check_postings(engine, events)
    trades = sum(1 for e in events if isinstance(e, TradeExecuted))
    reasons = {getattr(e, "reason", None) for e in events if type(e).__name__.endswith("Rejected")}
    assert trades > 50
    assert len(reasons) >= 10, reasons


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), length=st.integers(50, 1_000))
def test_the_fast_path_decides_exactly_as_the_full_checks(seed: int, length: int) -> None:
    fast = Engine(RiskSettings())
    checked = Engine(RiskSettings())
    assert checked.risk is not None
    checked.risk.fast_path = False
    for seq, (command, ts) in enumerate(
        random_stream(fast, seed, length, adjustments=True), start=1
    ):
        assert fast.apply(command, seq, ts) == checked.apply(command, seq, ts), command
    assert fast.snapshot() == checked.snapshot()
