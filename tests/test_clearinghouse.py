"""The clearinghouse simulator, served on 127.0.0.1 and spoken to by the real client."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.settlement import clearing_client
from tradingfloor.settlement.clearing_client import (
    ClearingClient,
    ClearingRejected,
    ClearingUnavailable,
)
from tradingfloor.settlement.clearinghouse import store as store_module
from tradingfloor.settlement.clearinghouse.command import run_clearinghouse
from tradingfloor.settlement.clearinghouse.faults import FaultKind, FaultPlan, FaultRates
from tradingfloor.settlement.clearinghouse.server import ClearinghouseServer, ServerLimits
from tradingfloor.settlement.clearinghouse.store import ClearingStore, recorded_faults
from tradingfloor.settlement.protocol import PROTOCOL_VERSION, Header, encode_lines, trailer_of
from tradingfloor.settlement.records import (
    ClearingTrade,
    Confirmation,
    Fail,
    Holding,
    Instruction,
    Movement,
)

D1, D2, D3, D4 = "2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"
WAIT_S = 20.0
"""Bound on every wait of these tests (a subprocess starting, a server stopping)."""


def trade(ref: str, buyer: str, seller: str, qty: int, price: int = 1_500_000) -> ClearingTrade:
    return ClearingTrade(ref, D1, D3, "AAPL", buyer, seller, qty, price)


@asynccontextmanager
async def clearinghouse(
    data: Path, rates: FaultRates | None = None, seed: int = 7, **limits: float
) -> AsyncIterator[ClearingClient]:
    store = ClearingStore(data, FaultPlan(rates or FaultRates(), seed))
    server = ClearinghouseServer(store, limits=ServerLimits(**limits))  # type: ignore[arg-type]
    host, port = await server.start("127.0.0.1", 0)
    try:
        yield ClearingClient(host, port, "platform", timeout_s=WAIT_S)
    finally:
        await server.stop()


async def test_trades_are_confirmed_and_a_resubmitted_batch_answers_the_same(
    tmp_path: Path,
) -> None:
    trades = [trade("s1:1", "a", "b", 100), trade("s1:2", "c", "b", 10)]
    async with clearinghouse(tmp_path) as client:
        first = await client.submit_trades(D1, "D1/TRD", trades)
        again = await client.submit_trades(D1, "D1/TRD", trades)
        recorded = await client.confirmations(D1)
    assert [(c.trade_ref, c.accepted, c.qty, c.late) for c in first] == [
        ("s1:1", True, 100, False),
        ("s1:2", True, 10, False),
    ]
    assert len({c.clearing_ref for c in first}) == 2
    assert again == first
    assert recorded == first


async def test_a_trade_ref_sent_again_in_a_new_batch(tmp_path: Path) -> None:
    async with clearinghouse(tmp_path) as client:
        [first] = await client.submit_trades(D1, "b1", [trade("s1:1", "a", "b", 100)])
        same = await client.submit_trades(D1, "b2", [trade("s1:1", "a", "b", 100)])
        other = await client.submit_trades(D1, "b3", [trade("s1:1", "a", "b", 99)])
        recorded = await client.confirmations(D1)
        instructions, _ = await client.settle(D3)
    assert same == [first]
    [refused] = other
    assert not refused.accepted
    assert refused.qty == 99
    assert refused.clearing_ref != first.clearing_ref
    assert recorded == [first]
    assert {(i.participant, i.qty) for i in instructions} == {("a", 100), ("b", -100)}


async def test_a_batch_id_sent_with_other_records_is_refused(tmp_path: Path) -> None:
    async with clearinghouse(tmp_path) as client:
        await client.submit_trades(D1, "b1", [trade("s1:1", "a", "b", 100)])
        with pytest.raises(ClearingRejected) as refused:
            await client.submit_trades(D1, "b1", [trade("s1:2", "a", "b", 100)])
        assert await client.confirmations(D1) != []
    assert refused.value.reject.code == "BATCH_ID_REUSED"


async def _raw_exchange(client: ClearingClient, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(data)
    await writer.drain()
    async with asyncio.timeout(WAIT_S):
        answer = await reader.read()
    writer.close()
    return answer


async def test_a_batch_with_a_bad_hash_total_or_record_changes_nothing(tmp_path: Path) -> None:
    header = Header(PROTOCOL_VERSION, "TRD", "platform", D1, "bad")
    trades = [trade("s1:1", "a", "b", 100), trade("s1:2", "a", "b", 5)]
    wrong = trailer_of(trades)
    wrong_hash = encode_lines([header, *trades, type(wrong)(2, wrong.hash_qty + 1, 0)])
    bad_record = bytearray(encode_lines([header, *trades, wrong]))
    bad_record[256 * 2 + 203] = ord("x")  # the qty of record 3
    not_ascii = bytearray(encode_lines([header, *trades, wrong]))
    not_ascii[256 + 59] = 0xE9  # the symbol of record 2
    async with clearinghouse(tmp_path) as client:
        hashed = await _raw_exchange(client, wrong_hash)
        damaged = await _raw_exchange(client, bytes(bad_record))
        foreign = await _raw_exchange(client, bytes(not_ascii))
        assert await client.confirmations(D1) == []
        assert await client.submit_trades(D1, "bad", trades) != []  # the id is still free
    assert hashed.startswith(b"REJ0000000004hash_qty")
    assert damaged.startswith(b"REJ0000000003qty")
    assert foreign.startswith(b"REJ0000000002symbol")
    assert b"\\xe9" in foreign
    assert len(hashed) == len(damaged) == len(foreign) == 256


async def test_netting_settles_each_participant_and_symbol_once(tmp_path: Path) -> None:
    trades = [
        trade("s1:1", "a", "b", 100, 1_000_000),
        trade("s1:2", "b", "a", 30, 1_100_000),
        trade("s1:3", "c", "a", 20, 1_000_000),
        ClearingTrade("s2:1", D1, D3, "MSFT", "b", "c", 5, 4_000_000),
    ]
    moves = [
        Movement("m1", D1, "a", "AAPL", 1_000),
        Movement("m2", D1, "b", "AAPL", 1_000),
        Movement("m3", D1, "c", "MSFT", 1_000),
    ]
    async with clearinghouse(tmp_path) as client:
        assert await client.submit_movements(D1, "D1/MOV", moves) == 3
        assert await client.submit_movements(D1, "D1/MOV", moves) == 3  # same answer
        assert await client.submit_movements(D1, "D1/MOV2", moves) == 0  # refs taken before
        await client.submit_trades(D1, "D1/TRD", trades)
        instructions, fails = await client.settle(D3)
    assert sorted(instructions, key=lambda i: (i.symbol, i.participant)) == [
        Instruction(D3, "a", "AAPL", 100 - 30 - 20, -100_000_000 + 33_000_000 + 20_000_000),
        Instruction(D3, "b", "AAPL", -100 + 30, 100_000_000 - 33_000_000),
        Instruction(D3, "c", "AAPL", 20, -20_000_000),
        Instruction(D3, "b", "MSFT", 5, -20_000_000),
        Instruction(D3, "c", "MSFT", -5, 20_000_000),
    ]
    assert fails == []


async def test_a_fail_to_deliver_is_carried_and_retried_the_next_date(tmp_path: Path) -> None:
    async with clearinghouse(tmp_path) as client:
        await client.submit_movements(D1, "m", [Movement("b-has", D1, "b", "AAPL", 60)])
        await client.submit_trades(D1, "t", [trade("s1:1", "a", "b", 100)])
        first = await client.settle(D3)
        assert await client.settle(D3) == first  # a repeat answers the stored result
        held = await client.holdings(D3)
        await client.submit_movements(D3, "m2", [Movement("b-buys", D3, "b", "AAPL", 40)])
        retried = await client.settle(D4)
        after = await client.holdings(D4)
        with pytest.raises(ClearingRejected) as late:
            await client.settle(D2)
    assert first == (
        [
            Instruction(D3, "a", "AAPL", 100, -150_000_000),
            Instruction(D3, "b", "AAPL", -100, 150_000_000),
        ],
        [Fail(D3, "b", "AAPL", 40, D3), Fail(D3, "a", "AAPL", -40, D3)],
    )
    assert held == [
        Holding("a", "AAPL", 60),
        Holding("a", "USD", -150_000_000),
        Holding("b", "USD", 150_000_000),
    ]
    assert retried == (
        [Instruction(D4, "a", "AAPL", 40, 0), Instruction(D4, "b", "AAPL", -40, 0)],
        [],
    )
    assert after[0] == Holding("a", "AAPL", 100)
    assert Holding("b", "AAPL", 0) not in after and len(after) == 3
    assert late.value.reject.code == "OUT_OF_ORDER"


async def _with_fault(tmp_path: Path, kind: FaultKind) -> tuple[list[Confirmation], ...]:
    rates = FaultRates(**{kind.value: 1.0})
    async with clearinghouse(tmp_path, rates) as client:
        answer = await client.submit_trades(D1, "D1/TRD", [trade("s1:1", "a", "b", 100)])
        recorded = await client.confirmations(D1)
        instructions, _ = await client.settle(D3)
    assert [(f.kind, f.trade_ref, f.batch_id, f.date) for f in recorded_faults(tmp_path)] == [
        (kind, "s1:1", "D1/TRD", D1)
    ]
    return answer, recorded, instructions  # type: ignore[return-value]


async def test_a_dropped_trade_is_not_stored_nor_confirmed(tmp_path: Path) -> None:
    answer, recorded, instructions = await _with_fault(tmp_path, FaultKind.DROP)
    assert answer == recorded == instructions == []


async def test_an_altered_trade_is_stored_and_confirmed_with_other_terms(tmp_path: Path) -> None:
    answer, recorded, instructions = await _with_fault(tmp_path, FaultKind.ALTER)
    [confirmation] = answer
    assert recorded == answer
    assert (confirmation.qty, confirmation.price) in {(101, 1_500_000), (100, 1_500_100)}
    bought = Instruction(D3, "a", "AAPL", confirmation.qty, -confirmation.qty * confirmation.price)
    assert instructions[0] == bought  # netted as the clearinghouse recorded it


async def test_a_duplicated_trade_is_stored_twice(tmp_path: Path) -> None:
    answer, recorded, instructions = await _with_fault(tmp_path, FaultKind.DUPLICATE)
    assert [c.trade_ref for c in answer] == ["s1:1", "s1:1"]
    assert len({c.clearing_ref for c in answer}) == 2
    assert recorded == answer
    assert {(i.participant, i.qty) for i in instructions} == {("a", 200), ("b", -200)}


async def test_a_late_confirmation_comes_with_the_next_connection(tmp_path: Path) -> None:
    async with clearinghouse(tmp_path, FaultRates(late=1.0)) as client:
        answer = await client.submit_trades(D1, "D1/TRD", [trade("s1:1", "a", "b", 100)])
        instructions, _ = await client.settle(D3)  # netted though not confirmed yet
        later = await client.submit_trades(D2, "D2/TRD", [])
        recorded = await client.confirmations(D1)
    assert answer == []
    assert {(i.participant, i.qty) for i in instructions} == {("a", 100), ("b", -100)}
    [late] = later
    assert (late.trade_ref, late.late) == ("s1:1", True)
    assert recorded == [late]
    assert [f.kind for f in recorded_faults(tmp_path)] == [FaultKind.LATE]


async def test_faults_are_drawn_from_the_seed(tmp_path: Path) -> None:
    rates = FaultRates(drop=0.2, alter=0.2, duplicate=0.2, late=0.2)
    trades = [trade(f"s1:{n}", "a", "b", 1) for n in range(60)]
    drawn = []
    for run, seed in enumerate((3, 3, 4)):
        async with clearinghouse(tmp_path / str(run), rates, seed) as client:
            await client.submit_trades(D1, "D1/TRD", trades)
        drawn.append([(f.kind, f.trade_ref) for f in recorded_faults(tmp_path / str(run))])
    assert drawn[0] == drawn[1] != drawn[2]
    assert {kind for kind, _ in drawn[0]} == set(FaultKind)


async def test_a_silent_clearinghouse_times_the_client_out(tmp_path: Path) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def never_answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = ClearingClient("127.0.0.1", port, "platform", timeout_s=0.3)
    try:
        with pytest.raises(ClearingUnavailable, match="TimeoutError"):
            await client.holdings(D1)
    finally:
        for writer in accepted:
            writer.close()
        server.close()
    with pytest.raises(ClearingUnavailable):
        await client.holdings(D1)  # nobody listens any more


async def test_connections_beyond_the_limit_are_refused_at_once(tmp_path: Path) -> None:
    async with clearinghouse(tmp_path, connections_max=1) as client:
        _, stalled = await asyncio.open_connection(client.host, client.port)
        await asyncio.sleep(0)
        try:
            for _ in range(100):  # until the server has taken the stalled one in
                try:
                    await client.holdings(D1)
                except ClearingRejected as refused:
                    assert refused.reject.code == "BUSY"
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("a second connection was served")
        finally:
            stalled.close()


async def test_a_long_list_goes_as_several_batches_each_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clearing_client, "RECORDS_PER_BATCH_MAX", 2)
    trades = [trade(f"s1:{n}", "a", "b", n + 1) for n in range(5)]
    async with clearinghouse(tmp_path, records_per_batch_max=2) as client:
        first = await client.submit_trades(D1, "D1/TRD", trades)
        again = await client.submit_trades(D1, "D1/TRD", trades)
        recorded = await client.confirmations(D1)
    assert [c.trade_ref for c in first] == [f"s1:{n}" for n in range(5)]
    assert again == first == recorded


async def test_requests_the_clearinghouse_does_not_take(tmp_path: Path) -> None:
    async with clearinghouse(tmp_path, records_per_batch_max=2) as client:
        with pytest.raises(ClearingRejected) as too_many:
            await client.submit_trades(
                D1, "big", [trade(f"s1:{n}", "a", "b", 1) for n in range(3)]
            )
        header = Header(PROTOCOL_VERSION, "TRD", "platform", D1, "mixed")
        moves = [Movement("m1", D1, "a", "USD", 5)]
        mixed = await _raw_exchange(client, encode_lines([header, *moves, trailer_of(moves)]))
        assert await client.confirmations(D1) == []
    assert too_many.value.reject.code == "BATCH_TOO_LARGE"
    assert mixed.startswith(b"REJ0000000002type")
    store = ClearingStore(tmp_path / "only")
    server = ClearinghouseServer(store, participant="platform")
    host, port = await server.start("127.0.0.1", 0)
    try:
        with pytest.raises(ClearingRejected) as stranger:
            await ClearingClient(host, port, "someone-else", timeout_s=WAIT_S).holdings(D1)
        assert await ClearingClient(host, port, "platform", timeout_s=WAIT_S).holdings(D1) == []
    finally:
        await server.stop()
    assert (stranger.value.reject.code, stranger.value.reject.field) == (
        "BAD_PARTICIPANT",
        "participant",
    )


async def test_a_trade_settling_on_a_date_already_settled_is_refused(tmp_path: Path) -> None:
    async with clearinghouse(tmp_path) as client:
        await client.settle(D3)
        [refused] = await client.submit_trades(D1, "b", [trade("s1:1", "a", "b", 1)])
        instructions, _ = await client.settle(D4)
    assert not refused.accepted
    assert instructions == []


async def test_a_restarted_clearinghouse_answers_from_its_store(tmp_path: Path) -> None:
    trades = [trade("s1:1", "a", "b", 100)]
    async with clearinghouse(tmp_path, FaultRates(late=1.0)) as client:
        assert await client.submit_trades(D1, "b1", trades) == []
    async with clearinghouse(tmp_path) as client:
        late, _ = await client.submit_trades(D1, "b2", [trade("s1:2", "a", "b", 5)])
        again = await client.submit_trades(D1, "b1", trades)
        settled = await client.settle(D3)
    assert (late.trade_ref, late.late) == ("s1:1", True)
    assert again == []  # its confirmation was held back: the batch's answer had none
    assert {(i.participant, i.qty) for i in settled[0]} == {("a", 105), ("b", -105)}


async def test_a_request_that_stalls_is_dropped_after_the_read_timeout(tmp_path: Path) -> None:
    async with clearinghouse(tmp_path, read_timeout_s=0.2) as client:
        reader, writer = await asyncio.open_connection(client.host, client.port)
        header = Header(PROTOCOL_VERSION, "TRD", "platform", D1, "slow")
        writer.write(encode_lines([header]))  # and never the records nor the trailer
        async with asyncio.timeout(WAIT_S):
            assert await reader.read() == b""  # closed by the server, nothing answered
        writer.close()
        assert await client.confirmations(D1) == []


async def test_a_bug_met_while_answering_stops_the_clearinghouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise InvariantViolation("fails do not balance")

    monkeypatch.setattr(store_module, "settle_date", broken)
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    running = asyncio.create_task(
        run_clearinghouse(
            tmp_path, port=0, stop=asyncio.Event(), on_ready=lambda _, p: ready.set_result(p)
        )
    )
    port = await asyncio.wait_for(ready, WAIT_S)
    with pytest.raises(ClearingUnavailable):
        await ClearingClient("127.0.0.1", port, "platform", timeout_s=WAIT_S).settle(D3)
    with pytest.raises(InvariantViolation):
        await asyncio.wait_for(running, WAIT_S)
