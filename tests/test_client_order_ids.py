"""Client order ids as engine state: a resubmission changes nothing and names the first order,
a reuse with other terms is refused, a replacement answers to its own id; the memory is
bounded, kept in snapshots and the state hash, and the same on every replay."""

import msgspec
import pytest

from tradingfloor.domain.commands import (
    AddInstrument,
    Command,
    PlaceOrder,
    ReplaceOrder,
)
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.events import (
    Event,
    OrderAccepted,
    OrderRejected,
    OrderReplaced,
    OrderResubmitted,
    ReplaceRejected,
)
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.reasons import RejectReason
from tradingfloor.engine import Engine
from tradingfloor.engine.client_orders import client_order_ids_max
from tradingfloor.engine.state import EngineState, decode_state, encode_state

SYMBOL = "T"
BUY, SELL = Side.BUY, Side.SELL
LIMIT = OrderType.LIMIT
GTC = TimeInForce.GTC


class Desk:
    """An engine with one instrument; numbers commands and order ids."""

    def __init__(
        self, client_order_ids: int = client_order_ids_max, engine: Engine | None = None
    ) -> None:
        self.engine = engine if engine is not None else Engine(client_order_ids=client_order_ids)
        self.seq = self.engine.last_seq
        if engine is None:
            self.apply(AddInstrument(Instrument(SYMBOL, tick_size=1)))

    def apply(self, command: Command) -> list[Event]:
        self.seq += 1
        return self.engine.apply(command, self.seq, self.seq * 1_000)

    def place(
        self,
        client_order_id: str,
        qty: int = 10,
        price: int = 99,
        account: str = "A",
        symbol: str = SYMBOL,
    ) -> list[Event]:
        return self.apply(
            PlaceOrder(
                self.seq + 1,
                account,
                symbol,
                BUY,
                LIMIT,
                qty,
                price,
                tif=GTC,
                client_order_id=client_order_id,
            )
        )

    def replace(self, order_id: int, client_order_id: str = "", **terms: int) -> list[Event]:
        return self.apply(
            ReplaceOrder(order_id, self.seq + 1, SYMBOL, client_order_id=client_order_id, **terms)
        )


def test_a_resubmission_with_the_same_terms_names_the_first_order_and_changes_nothing() -> None:
    desk = Desk()
    [first] = desk.place("c-1")
    book_before = desk.engine.book(SYMBOL).export_state()

    events = desk.place("c-1")

    assert isinstance(first, OrderAccepted)
    assert events == [
        OrderResubmitted(desk.seq, desk.seq * 1_000, first.order_id, "A", SYMBOL, "c-1")
    ]
    assert desk.engine.book(SYMBOL).export_state() == book_before
    assert desk.engine.book(SYMBOL).live_order_ids() == [first.order_id]


def test_a_reuse_with_other_terms_is_refused_and_makes_no_order() -> None:
    desk = Desk()
    desk.place("c-1", qty=10)
    book_before = desk.engine.book(SYMBOL).export_state()

    events = desk.place("c-1", qty=11)

    assert events == [
        OrderRejected(
            desk.seq,
            desk.seq * 1_000,
            desk.seq,
            "A",
            SYMBOL,
            RejectReason.CLIENT_ORDER_ID_REUSED,
            "c-1",
        )
    ]
    assert desk.engine.book(SYMBOL).export_state() == book_before
    assert desk.place("c-1", qty=10)[0].first_order_id == 2  # type: ignore[attr-defined]


def test_a_refused_first_order_is_the_one_its_resubmission_names() -> None:
    desk = Desk()
    [refused] = desk.place("c-1", symbol="NOPE")

    events = desk.place("c-1", symbol="NOPE")

    assert isinstance(refused, OrderRejected) and refused.reason == RejectReason.UNKNOWN_SYMBOL
    assert [type(e) for e in events] == [OrderResubmitted]
    assert events[0].first_order_id == refused.order_id  # type: ignore[attr-defined]


def test_client_order_ids_are_per_account_and_an_empty_one_names_nothing() -> None:
    desk = Desk()
    desk.place("c-1", account="A")

    theirs = desk.place("c-1", account="B")
    unnamed = [desk.place(""), desk.place("")]

    assert [type(e) for e in theirs] == [OrderAccepted]
    assert [type(e) for events in unnamed for e in events] == [OrderAccepted, OrderAccepted]


def test_an_order_id_already_used_is_refused_before_its_client_order_id_is_looked_at() -> None:
    desk = Desk()
    desk.place("c-1")

    events = desk.apply(PlaceOrder(1, "A", SYMBOL, BUY, LIMIT, 10, 99, client_order_id="c-2"))

    assert [e.reason for e in events] == [RejectReason.DUPLICATE_ORDER_ID]  # type: ignore[attr-defined]
    assert [type(e) for e in desk.place("c-2")] == [OrderAccepted]  # c-2 was not taken


def test_a_replacement_answers_to_the_id_its_replace_names_never_its_predecessors() -> None:
    desk = Desk()
    [first] = desk.place("c-1")
    [named] = desk.replace(first.order_id, "c-2", qty=8)  # type: ignore[attr-defined]
    [unnamed] = desk.replace(named.new_order_id, qty=6)  # type: ignore[attr-defined]

    assert isinstance(named, OrderReplaced) and named.client_order_id == "c-2"
    assert isinstance(unnamed, OrderReplaced) and unnamed.client_order_id == ""
    assert desk.engine.book(SYMBOL).order_view(unnamed.new_order_id).client_order_id == ""  # type: ignore[union-attr]
    # each id still names the order entered under it
    assert desk.place("c-1")[0].first_order_id == first.order_id  # type: ignore[attr-defined]
    again = desk.place("c-2", qty=8)
    assert again[0].first_order_id == named.new_order_id  # type: ignore[attr-defined]


def test_a_replace_naming_a_client_order_id_in_use_is_refused() -> None:
    desk = Desk()
    [first] = desk.place("c-1")
    desk.place("c-2", price=98)
    book_before = desk.engine.book(SYMBOL).export_state()

    events = desk.replace(first.order_id, "c-2", qty=8)  # type: ignore[attr-defined]
    again = desk.replace(first.order_id, "c-1", qty=8)  # type: ignore[attr-defined]

    for refused in (events, again):
        assert [(type(e), e.reason, e.account) for e in refused] == [  # type: ignore[attr-defined]
            (ReplaceRejected, RejectReason.CLIENT_ORDER_ID_REUSED, "A")
        ]
    assert desk.engine.book(SYMBOL).export_state() == book_before


def test_the_oldest_ids_are_forgotten_first_beyond_the_bound() -> None:
    desk = Desk(client_order_ids=2)
    for name in ("c-1", "c-2", "c-3"):
        desk.place(name)

    assert len(desk.engine.client_orders) == 2
    assert [type(e) for e in desk.place("c-1")] == [OrderAccepted]  # forgotten: a new order
    assert [type(e) for e in desk.place("c-3")] == [OrderResubmitted]
    assert [type(e) for e in desk.place("c-2")] == [OrderAccepted]  # pushed out by c-1


def test_a_snapshot_keeps_the_ids_their_order_and_bound_and_the_hash_covers_them() -> None:
    desk = Desk(client_order_ids=3)
    for name in ("c-1", "c-2", "c-3"):
        desk.place(name)
    without = Desk(client_order_ids=3)
    for _ in range(3):
        without.place("")

    restored = Desk(engine=Engine.restore(desk.engine.snapshot()))

    assert restored.engine.snapshot() == desk.engine.snapshot()
    assert desk.engine.state_hash() != without.engine.state_hash()
    for engine in (desk, restored):
        assert [type(e) for e in engine.place("c-4")] == [OrderAccepted]  # c-1 goes
        assert [type(e) for e in engine.place("c-1")] == [OrderAccepted]
        assert [type(e) for e in engine.place("c-3")] == [OrderResubmitted]
    assert restored.engine.state_hash() == desk.engine.state_hash()


def test_the_same_commands_give_the_same_answers_and_state() -> None:
    def run() -> tuple[bytes, str]:
        desk = Desk()
        events: list[Event] = []
        [first] = desk.place("c-1")
        events += [first]
        events += desk.place("c-1")
        events += desk.place("c-1", qty=3)
        events += desk.replace(first.order_id, "c-2", qty=5)  # type: ignore[attr-defined]
        events += desk.place("c-2", qty=5)
        return msgspec.msgpack.encode(events), desk.engine.state_hash()

    assert run() == run()


def test_a_version_2_state_restores_with_the_ids_of_its_live_orders() -> None:
    desk = Desk()
    [done] = desk.place("done", qty=1, price=99)
    desk.apply(PlaceOrder(desk.seq + 1, "B", SYMBOL, SELL, LIMIT, 1, 99, tif=GTC))  # fills it
    [live] = desk.place("live", qty=4, price=95)
    state = decode_state(desk.engine.snapshot())
    fields = msgspec.msgpack.decode(
        encode_state(
            EngineState(
                2, state.last_seq, state.last_ts, state.last_order_id, state.books, state.risk
            )
        )
    )
    old = msgspec.msgpack.encode(fields[:7])  # the version 2 layout: seven fields,
    assert fields[6] is None  # the last one no client order ids

    restored = Desk(engine=Engine.restore(old))

    assert [type(e) for e in restored.place("live", qty=4, price=95)] == [OrderResubmitted]
    # a version 2 state never knew the ids of orders done before it
    assert [type(e) for e in restored.place("done", qty=1, price=99)] == [OrderAccepted]
    assert done.order_id != live.order_id  # type: ignore[attr-defined]


def test_a_state_of_an_unknown_version_is_refused() -> None:
    state = decode_state(Engine().snapshot())
    newer = encode_state(msgspec.structs.replace(state, version=4))

    with pytest.raises(ValueError, match="version 4"):
        Engine.restore(newer)
