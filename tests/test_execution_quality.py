"""Execution quality from the read models: the quote each order arrived to (checked against
the engine's own book), and Rule 605 and 606-style reports of hand-built flows whose figures
are worked out by hand here; SQLite and PostgreSQL; the command and the admin route."""

import csv
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from api_helpers import served
from quality_helpers import RecordingMarket, database_url, projected
from risk_helpers import DOLLAR
from tradingfloor.compliance.quality_report import execution_quality_report
from tradingfloor.compliance.trade_dates import month_range
from tradingfloor.domain.commands import CancelOrder, Command, PlaceOrder, ReplaceOrder
from tradingfloor.domain.enums import OrderType, Side, TimeInForce
from tradingfloor.domain.events import Event, OrderAccepted, OrderReplaced
from tradingfloor.store import make_engine, upgrade
from tradingfloor.store.projector import Projector
from tradingfloor.store.quote_tables import arrival_quotes, book_levels

CENT = DOLLAR // 100


def november() -> RecordingMarket:
    """A market maker MM quotes 99.90 x 100.10 (500 x 1,000 shares); then, New York time on
    Monday 2026-11-23 from 10:00:00:
    - A (T): buy 200 limit 100.10, marketable, fills at the ask at once;
    - B (T): buy 100 limit 100.00 at +1 s, inside the quote, rests; S's market sell of 100
      at +15 s fills it at 100.00, 14 s after it arrived, $0.10 better than the ask;
    - C (T): buy 1,000 limit 99.85 at +20 s, near the quote (5 cents under the bid),
      canceled at +30 s, none filled;
    - E (T): buy 300 limit 100.20 at +50 s, marketable, fills 300 at the ask 100.10;
    - F (T): a stop sell of 10 (stop 90.00): an "other" order, waiting."""
    m = RecordingMarket()
    m.at("2026-11-23 09:00")
    m.listing("XYZ")
    m.account("MM", cash=1_000_000 * DOLLAR, shares={"XYZ": 10_000})
    m.account("T", cash=1_000_000 * DOLLAR, shares={"XYZ": 10})
    m.account("S", shares={"XYZ": 1_000})
    m.at("2026-11-23 09:59")
    m.order("MM", Side.BUY, 500, 99 * DOLLAR + 90 * CENT)
    m.order("MM", Side.SELL, 1_000, 100 * DOLLAR + 10 * CENT)
    m.at("2026-11-23 10:00")
    m.order("T", Side.BUY, 200, 100 * DOLLAR + 10 * CENT)
    m.later(1).order("T", Side.BUY, 100, 100 * DOLLAR)
    m.later(14).order("S", Side.SELL, 100)
    m.later(5)
    canceled, _ = m.order("T", Side.BUY, 1_000, 99 * DOLLAR + 85 * CENT)
    m.later(10).do(CancelOrder(canceled, "XYZ", "T"))
    m.later(20).order("T", Side.BUY, 300, 100 * DOLLAR + 20 * CENT)
    m.order("T", Side.SELL, 10, order_type=OrderType.STOP, stop_price=90 * DOLLAR)
    return m


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = projected(database_url(request, tmp_path), november())
    yield engine
    engine.dispose()


def report(database: Engine, rule: str, month: str = "2026-11") -> dict[str, object]:
    with database.connect() as connection:
        return execution_quality_report(connection, month_range(month), rule)


def cells(found: dict[str, object]) -> dict[tuple[str, str], dict[str, object]]:
    rows = found["rows"]
    assert isinstance(rows, list)
    return {(row["order_type"], row["size_bucket"]): row for row in rows}


def test_arrival_quotes_are_the_book_at_each_order(database: Engine) -> None:
    with database.connect() as connection:
        quotes = {
            row.order_id: (row.bid, row.bid_qty, row.ask, row.ask_qty)
            for row in connection.execute(select(arrival_quotes))
        }
        levels = connection.execute(
            select(book_levels.c.side, book_levels.c.price, book_levels.c.qty).order_by(
                book_levels.c.side
            )
        ).all()
    bid, ask = 99 * DOLLAR + 90 * CENT, 100 * DOLLAR + 10 * CENT
    assert quotes == {
        1: (None, 0, None, 0),  # MM's bid: an empty book
        2: (bid, 500, None, 0),  # MM's ask: its bid alone
        3: (bid, 500, ask, 1_000),  # A
        4: (bid, 500, ask, 800),  # B
        5: (100 * DOLLAR, 100, ask, 800),  # S: B's bid is the best
        6: (bid, 500, ask, 800),  # C
        7: (bid, 500, ask, 800),  # E
        8: (bid, 500, ask, 500),  # F
    }
    # What rests at the end: MM's bid, and 500 of MM's ask (the stop waits unseen).
    assert [tuple(level) for level in levels] == [("buy", bid, 500), ("sell", ask, 500)]


def test_rule_605_figures_worked_out_by_hand(database: Engine) -> None:
    found = cells(report(database, "605"))
    assert set(found) == {
        ("market", "100_499"),
        ("marketable_limit", "100_499"),
        ("inside_the_quote_limit", "100_499"),
        ("near_the_quote_limit", "500_1999"),
    }
    marketable = found[("marketable_limit", "100_499")]
    # A (200) and E (300), each at the ask 100.10 on arrival, mid 100.00, spread 0.20.
    assert {
        key: marketable[key]
        for key in (
            "covered_orders", "covered_shares", "canceled_shares", "executed_shares",
            "fill_rate_pct", "average_time_to_fill_ms", "median_time_to_fill_ms",
            "executed_shares_0_to_9_99_s", "average_effective_spread",
            "average_quoted_spread", "effective_over_quoted_pct", "price_improved_shares",
            "price_improvement_amount", "average_price_improvement", "at_the_quote_shares",
            "outside_the_quote_shares",
        )
    } == {
        "covered_orders": 2, "covered_shares": 500, "canceled_shares": 0,
        "executed_shares": 500, "fill_rate_pct": "100.00", "average_time_to_fill_ms": 0,
        "median_time_to_fill_ms": 0, "executed_shares_0_to_9_99_s": 500,
        "average_effective_spread": "0.200000", "average_quoted_spread": "0.200000",
        "effective_over_quoted_pct": "100.00", "price_improved_shares": 0,
        "price_improvement_amount": "0.000000", "average_price_improvement": None,
        "at_the_quote_shares": 500, "outside_the_quote_shares": 0,
    }  # fmt: skip
    inside = found[("inside_the_quote_limit", "100_499")]
    # B: 100 at 100.00, 14 s after arriving to 99.90 x 100.10: at the midpoint (no effective
    # spread), $0.10 a share better than the ask, $10.00 in all.
    assert {key: inside[key] for key in inside if key not in ("symbol",)} == {
        "order_type": "inside_the_quote_limit", "size_bucket": "100_499",
        "covered_orders": 1, "covered_shares": 100, "canceled_shares": 0,
        "executed_shares": 100, "fill_rate_pct": "100.00",
        "average_time_to_fill_ms": 14_000, "median_time_to_fill_ms": 14_000,
        "executed_shares_0_to_9_99_s": 0, "executed_shares_10_to_29_99_s": 100,
        "executed_shares_30_to_59_99_s": 0, "executed_shares_60_to_299_99_s": 0,
        "executed_shares_5_to_30_min": 0,
        "average_effective_spread": "0.000000", "average_quoted_spread": "0.200000",
        "effective_over_quoted_pct": "0.00", "price_improved_shares": 100,
        "price_improvement_amount": "10.000000", "average_price_improvement": "0.100000",
        "average_price_improvement_time_ms": 14_000, "at_the_quote_shares": 0,
        "outside_the_quote_shares": 0,
    }  # fmt: skip
    market = found[("market", "100_499")]
    # S sells 100 at the bid 100.00 of a 100.00 x 100.10 quote: mid 100.05, effective 0.10.
    assert (market["executed_shares"], market["average_effective_spread"]) == (100, "0.100000")
    assert (market["average_quoted_spread"], market["at_the_quote_shares"]) == ("0.100000", 100)
    near = found[("near_the_quote_limit", "500_1999")]
    # C: 1,000 canceled, none filled.
    assert (near["covered_orders"], near["covered_shares"], near["canceled_shares"]) == (
        1, 1_000, 1_000)  # fmt: skip
    assert (near["executed_shares"], near["fill_rate_pct"]) == (0, "0.00")
    assert near["average_time_to_fill_ms"] is None and near["average_effective_spread"] is None


def test_rule_606_counts_orders_by_type_all_on_the_own_book(database: Engine) -> None:
    found = report(database, "606")
    assert "none is routed" in str(found["note"])
    rows = {row["order_type"]: row for row in found["rows"]}  # type: ignore[attr-defined]
    # 8 orders: S's market; A and E marketable; MM's two, B and C not; F's stop other.
    assert {kind: (row["orders"], row["percent_of_orders"], row["executed_orders"])
            for kind, row in rows.items()} == {
        "market": (1, "12.50", 1),
        "marketable_limit": (2, "25.00", 2),
        "non_marketable_limit": (4, "50.00", 2),
        "other": (1, "12.50", 0),
    }  # fmt: skip
    assert {row["net_payment_for_order_flow"] for row in rows.values()} == {"0.00"}
    assert {row["venue"] for row in rows.values()} == {"TradingFloor (own book)"}


def test_another_month_is_empty(database: Engine) -> None:
    assert report(database, "605", "2026-12")["rows"] == []
    counted = report(database, "606", "2026-10")["rows"]
    assert [row["orders"] for row in counted] == [0, 0, 0, 0]  # type: ignore[union-attr]


# ------------------------------------------------------------------ the book, any flow


@dataclass
class WatchedMarket(RecordingMarket):
    """A `RecordingMarket` that notes the engine's best bid and ask before each order entry
    or replace: the quote the order arrives to."""

    seen: dict[int, tuple[int | None, int, int | None, int]] = field(default_factory=dict)

    def do(self, command: Command, advance_ns: int = 0) -> list[Event]:
        if isinstance(command, PlaceOrder | ReplaceOrder):
            book = self.engine.books.get(command.symbol)
            bid = None if book is None else book.best_bid()
            ask = None if book is None else book.best_ask()
            arriving = (
                command.order_id if isinstance(command, PlaceOrder) else command.new_order_id
            )
            self.seen[arriving] = (
                None if bid is None else bid.price, 0 if bid is None else bid.qty,
                None if ask is None else ask.price, 0 if ask is None else ask.qty,
            )  # fmt: skip
        return super().do(command, advance_ns)


def random_flow(seed: int) -> WatchedMarket:
    """Random limits, markets, IOCs, cancels and replaces of two symbols."""
    rng = random.Random(seed)
    m = WatchedMarket()
    m.at("2026-11-23 09:30")
    for symbol in ("XYZ", "ABC"):
        m.listing(symbol)
    for name in ("P", "Q", "R"):
        m.account(name, cash=10_000_000 * DOLLAR, shares={"XYZ": 100_000, "ABC": 100_000})
    live: list[tuple[int, str, str]] = []
    for _ in range(300):
        m.later(rng.random())
        symbol, account = rng.choice(("XYZ", "ABC")), rng.choice("PQR")
        roll = rng.random()
        if roll < 0.25 and live:
            order_id, symbol, account = live.pop(rng.randrange(len(live)))
            if roll < 0.15:
                m.do(CancelOrder(order_id, symbol, account))
                continue
            m.order_id += 1
            price = (100 + rng.randint(-15, 15)) * 10 * CENT
            replace = ReplaceOrder(
                order_id, m.order_id, symbol, account, rng.randint(1, 300), price
            )
            if any(type(event) is OrderReplaced for event in m.do(replace)):
                live.append((m.order_id, symbol, account))
            continue
        side = rng.choice((Side.BUY, Side.SELL))
        qty = rng.randint(1, 400)
        if roll < 0.35:
            m.order(account, side, qty, symbol=symbol)
            continue
        price = (100 + rng.randint(-15, 15)) * 10 * CENT
        tif = TimeInForce.IOC if roll < 0.45 else TimeInForce.GTC
        order_id, events = m.order(account, side, qty, price, symbol=symbol, tif=tif)
        if any(type(event) is OrderAccepted for event in events):
            live.append((order_id, symbol, account))
    return m


@pytest.mark.parametrize("batch_commands", [1, 7, 1_000])
def test_the_projected_quote_is_the_engines_book_at_every_arrival(
    tmp_path: Path, batch_commands: int
) -> None:
    """The arrival quotes the projector wrote are the engine's best bid and ask before each
    order entry or replace, however the batches cut the feed; the levels left at the end
    are the engine's books."""
    m = random_flow(batch_commands)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    projector = Projector(engine)
    for start in range(0, len(m.log), batch_commands):
        projector.apply(m.log[start : start + batch_commands])
    with engine.connect() as connection:
        quotes = {row[0]: tuple(row[4:]) for row in connection.execute(select(arrival_quotes))}
        levels = connection.execute(
            select(book_levels.c.symbol, book_levels.c.side, book_levels.c.price,
                   book_levels.c.qty)
        ).all()  # fmt: skip
    engine.dispose()
    assert len(quotes) > 100
    assert quotes == {order_id: m.seen[order_id] for order_id in quotes}
    books = set()
    for symbol, book in m.engine.books.items():
        depth = book.depth()
        for side, found in (("buy", depth.bids), ("sell", depth.asks)):
            books.update((symbol, side, level.price, level.qty) for level in found)
    assert {tuple(level) for level in levels} == books


def test_the_levels_follow_a_symbol_change(tmp_path: Path) -> None:
    """A symbol change moves the resting orders, and so the levels, to the new name: an order
    in the new name arrives to the same quote, and nothing is left under the old one."""
    from corporate_helpers import announce, close
    from tradingfloor.domain.corporate_actions import SymbolChange

    m = RecordingMarket()
    m.at("2026-11-24 09:00")
    m.listing("XYZ")
    m.account("B", cash=100_000 * DOLLAR)
    m.account("S", shares={"XYZ": 1_000})
    m.at("2026-11-24 10:00")
    m.order("B", Side.BUY, 10, 99 * DOLLAR + 90 * CENT)
    m.order("S", Side.SELL, 40, 100 * DOLLAR + 10 * CENT)
    announced = announce(m, SymbolChange("rename", "XYZ", "XYZW", "2026-11-25"))
    m.log.append((m.seq, m.ts, announced))
    closed = close(m, "2026-11-24")
    m.log.append((m.seq, m.ts, closed))
    m.at("2026-11-25 10:00")
    arriving, _ = m.order("B", Side.BUY, 5, 99 * DOLLAR, symbol="XYZW")
    engine = projected(f"sqlite:///{tmp_path / 'store.db'}", m)
    with engine.connect() as connection:
        quote = connection.execute(
            select(arrival_quotes).where(arrival_quotes.c.order_id == arriving)
        ).one()
        levels = connection.execute(
            select(book_levels.c.symbol, book_levels.c.side, book_levels.c.price,
                   book_levels.c.qty).order_by(book_levels.c.side, book_levels.c.price)
        ).all()  # fmt: skip
    engine.dispose()
    bid, ask = 99 * DOLLAR + 90 * CENT, 100 * DOLLAR + 10 * CENT
    assert (quote.symbol, quote.bid, quote.bid_qty, quote.ask, quote.ask_qty) == (
        "XYZW", bid, 10, ask, 40)  # fmt: skip
    assert [tuple(level) for level in levels] == [
        ("XYZW", "buy", 99 * DOLLAR, 5), ("XYZW", "buy", bid, 10), ("XYZW", "sell", ask, 40)
    ]  # fmt: skip


# ------------------------------------------------------------------ command and route


@pytest.mark.parametrize("rule,format", [("605", "json"), ("606", "csv")])
def test_the_command_prints_the_report(tmp_path: Path, rule: str, format: str) -> None:
    from typer.testing import CliRunner

    from tradingfloor.cli import app

    data = tmp_path / "data"
    projected(f"sqlite:///{data / 'tradingfloor.db'}", november()).dispose()
    out = tmp_path / f"report.{format}"
    arguments = ["reports", "execution-quality", "--month", "2026-11", "--rule", rule]
    done = CliRunner().invoke(
        app, [*arguments, "--format", format, "--data", str(data), "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    if format == "json":
        rows = json.loads(out.read_text())["rows"]
        assert {row["order_type"] for row in rows} >= {"marketable_limit", "market"}
    else:
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        assert [(row["order_type"], row["orders"]) for row in rows][:2] == [
            ("market", "1"), ("marketable_limit", "2")]  # fmt: skip
    bad = CliRunner().invoke(app, ["reports", "execution-quality", "--month", "2026-13",
                                   "--data", str(data)])  # fmt: skip
    assert bad.exit_code == 2


async def test_the_admin_route_answers_the_report(tmp_path: Path) -> None:
    async with served(tmp_path / "data") as api:
        await api.symbol("XYZ")
        alice = await api.trader("alice", cash="10000")
        bob = await api.trader("bob", cash="10000", shares={"XYZ": 50})
        for headers, side, price in ((bob, "buy", "99"), (bob, "sell", "100"),
                                     (alice, "buy", "100")):  # fmt: skip
            placed = await api.order(headers, side=side, type="limit", qty=4, limit_price=price)
            assert placed.status_code in (200, 201), placed.text
        from tradingfloor.compliance.trade_dates import TradeDates

        month = TradeDates().of(api.clock())[:7]
        path = "/v1/admin/reports/execution-quality"
        answer = await api.client.get(path, params={"month": month, "rule": "606"},
                                      headers=api.admin)  # fmt: skip
        assert answer.status_code == 200, answer.text
        rows = {row["order_type"]: row for row in answer.json()["rows"]}
        assert (rows["marketable_limit"]["orders"], rows["non_marketable_limit"]["orders"]) == (
            1, 2)  # fmt: skip
        as_csv = await api.client.get(path, params={"month": month, "format": "csv"},
                                      headers=api.admin)  # fmt: skip
        assert as_csv.status_code == 200 and as_csv.text.startswith("rule,month,symbol,")
        [row] = csv.DictReader(io.StringIO(as_csv.text))
        # Alice's buy of 4 at 100.00 arrived to 99.00 x 100.00: marketable, filled at the ask.
        assert (row["order_type"], row["size_bucket"], row["executed_shares"]) == (
            "marketable_limit", "odd_lot", "4")  # fmt: skip
        assert (row["average_effective_spread"], row["average_quoted_spread"]) == (
            "1.000000", "1.000000")  # fmt: skip
        assert "attachment" in as_csv.headers["content-disposition"]
        refused = await api.client.get(path, params={"month": month}, headers=alice)
        assert refused.status_code == 403
        for bad in ({"month": "2026-13"}, {"month": month, "rule": "607"}, {}):
            answer = await api.client.get(path, params=bad, headers=api.admin)
            assert answer.status_code == 422, (bad, answer.text)
