"""Exports of orders and fills: files read back with pyarrow and csv equal the read models to
the price unit, ranges of New York trade dates (both ends included), accounts, chunks; the
command; the route's ownership rules and refusals."""

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow
import pyarrow.parquet
import pytest
from sqlalchemy import Engine, select

from api_helpers import served
from quality_helpers import RecordingMarket, database_url, projected
from risk_helpers import DOLLAR
from tradingfloor.compliance.export_writer import write_export
from tradingfloor.compliance.exports import EXPORT_KINDS, ExportQuery
from tradingfloor.compliance.trade_dates import (
    DateRangeError,
    TradeDates,
    date_range,
    month_range,
)
from tradingfloor.domain.enums import Side
from tradingfloor.domain.prices import format_price
from tradingfloor.store.readmodels import fills, orders

CENT = DOLLAR // 100


def three_days() -> RecordingMarket:
    """B sells to A on Monday 2026-11-23 (at a sub-dollar-cent price), on Tuesday at 23:59:59
    New York (still Tuesday), and on Wednesday at 00:00:00 (Wednesday); C's order rests
    unfilled on Monday; a price above what a float holds exactly."""
    m = RecordingMarket()
    m.at("2026-11-23 09:00")
    m.listing("XYZ")
    m.account("A", cash=10_000_000 * DOLLAR)
    m.account("B", cash=1_000 * DOLLAR, shares={"XYZ": 1_000})
    m.account("C", cash=1_000 * DOLLAR)
    m.at("2026-11-23 10:00")
    m.order("B", Side.SELL, 100, 100 * DOLLAR + 33 * CENT)
    m.order("A", Side.BUY, 100, 100 * DOLLAR + 33 * CENT)
    m.order("C", Side.BUY, 5, 90 * DOLLAR)
    m.at("2026-11-24 23:59:59")
    m.order("B", Side.SELL, 7, 101 * DOLLAR)
    m.order("A", Side.BUY, 7, 101 * DOLLAR)
    m.at("2026-11-25 00:00")
    m.order("B", Side.SELL, 3, 102 * DOLLAR + 1 * CENT)
    m.order("A", Side.BUY, 3, 102 * DOLLAR + 1 * CENT)
    return m


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = projected(database_url(request, tmp_path), three_days())
    yield engine
    engine.dispose()


def exported(
    database: Engine, kind: str, format: str, first: str, last: str, **query: Any
) -> list[dict[str, Any]]:
    """The export written to memory and read back: Parquet by pyarrow, CSV by `csv`."""
    dates = date_range(first, last)
    out = io.BytesIO()
    with database.connect() as connection:
        written = write_export(
            EXPORT_KINDS[kind],
            format,
            connection,
            ExportQuery(dates.after_ts, dates.before_ts, **query),
            out,
        )
    data = out.getvalue()
    if format == "parquet":
        table = pyarrow.parquet.read_table(io.BytesIO(data))
        assert table.schema == EXPORT_KINDS[kind].arrow_schema()
        rows: list[dict[str, Any]] = table.to_pylist()
    else:
        rows = [_typed(kind, row) for row in csv.DictReader(io.StringIO(data.decode()))]
    assert len(rows) == written
    return rows


def _typed(kind: str, row: dict[str, str]) -> dict[str, Any]:
    """A CSV row with its integer columns read as exact integers, empty ones as None (an
    empty text cell stays "": CSV tells no null text from an empty one)."""
    types = {column.name: column.type for column in EXPORT_KINDS[kind].columns}
    return {
        name: (None if text == "" else int(text)) if types[name] == "int" else text
        for name, text in row.items()
    }


def text_as_csv(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """`row` as CSV tells it: a null text is an empty one."""
    types = {column.name: column.type for column in EXPORT_KINDS[kind].columns}
    return {
        name: "" if value is None and types.get(name) == "text" else value
        for name, value in row.items()
    }


def table_rows(database: Engine, table: Any) -> list[dict[str, Any]]:
    key = table.primary_key.columns.values()[0]
    with database.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(table).order_by(key))]


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_orders_and_fills_read_back_equal_the_read_models(database: Engine, format: str) -> None:
    for kind, table in (("orders", orders), ("fills", fills)):
        rows = exported(database, kind, format, "2026-11-01", "2026-11-30")
        expected = table_rows(database, table)
        assert len(rows) == len(expected) > 0
        for row, wanted in zip(rows, expected, strict=True):
            if format == "csv":
                wanted = text_as_csv(kind, wanted)
            assert {name: row[name] for name in wanted} == wanted
            price_usd = None if wanted["price"] is None else format_price(wanted["price"])
            assert row["price_usd"] == (price_usd or "" if format == "csv" else price_usd)
            assert all(not isinstance(value, float) for value in row.values())
    sold = exported(database, "fills", format, "2026-11-23", "2026-11-23", accounts=["B"])
    assert [(row["price"], row["price_usd"], row["qty"]) for row in sold] == [
        (1_003_300, "100.33", 100)
    ]
    first = exported(database, "orders", format, "2026-11-23", "2026-11-23")
    assert [row["trade_date"] for row in first] == ["2026-11-23"] * 3


def test_trade_dates_are_new_york_days_both_ends_included(database: Engine) -> None:
    def prices(first: str, last: str) -> list[int]:
        return [row["price"] for row in exported(database, "fills", "csv", first, last)]

    assert prices("2026-11-24", "2026-11-24") == [101 * DOLLAR] * 2
    assert prices("2026-11-25", "2026-11-25") == [102 * DOLLAR + CENT] * 2
    assert prices("2026-11-24", "2026-11-25") == [101 * DOLLAR] * 2 + [102 * DOLLAR + CENT] * 2
    assert prices("2026-11-26", "2026-12-31") == []
    tuesday = exported(database, "fills", "parquet", "2026-11-24", "2026-11-24")
    assert {row["trade_date"] for row in tuesday} == {"2026-11-24"}


def test_accounts_and_chunks(database: Engine) -> None:
    whole = exported(database, "orders", "parquet", "2026-11-23", "2026-11-25")
    of_c = exported(database, "orders", "csv", "2026-11-23", "2026-11-25", accounts=["C"])
    assert [row["account"] for row in of_c] == ["C"]
    assert of_c[0]["status"] == "new" and of_c[0]["leaves_qty"] == 5
    in_twos = exported(database, "orders", "parquet", "2026-11-23", "2026-11-25", chunk_rows=2)
    assert in_twos == whole
    dates = date_range("2026-11-23", "2026-11-25")
    with database.connect() as connection:
        counted = EXPORT_KINDS["orders"].count(
            connection, ExportQuery(dates.after_ts, dates.before_ts)
        )
    assert counted == len(whole) == 7


@pytest.mark.parametrize(
    "first,last",
    [
        ("2026-11-24", "2026-11-23"),
        ("2026-02-30", "2026-03-01"),
        ("2026-1-01", "2026-01-02"),
        ("yesterday", "2026-01-02"),
        ("2026-01-01", "2" * 100),
    ],
)
def test_bad_dates_are_refused(first: str, last: str) -> None:
    with pytest.raises(DateRangeError):
        date_range(first, last)


def test_ranges_are_bounded_and_months_are_whole() -> None:
    with pytest.raises(DateRangeError, match="at most 31"):
        date_range("2026-01-01", "2026-02-01", days_max=31)
    assert date_range("2026-01-01", "2026-01-31", days_max=31).days == 31
    november = month_range("2026-11")
    assert (november.first.isoformat(), november.last.isoformat()) == ("2026-11-01", "2026-11-30")
    # 2026-11-01 is the end of daylight saving time: the month is 30 days and an hour.
    assert november.before_ts - november.after_ts == (30 * 24 + 1) * 3600 * 10**9
    for bad in ("2026-13", "2026-00", "26-11", "2026-1"):
        with pytest.raises(DateRangeError):
            month_range(bad)


# ------------------------------------------------------------------------ command and route


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_the_command_writes_the_file(tmp_path: Path, format: str) -> None:
    from typer.testing import CliRunner

    from tradingfloor.cli import app

    data = tmp_path / "data"
    projected(f"sqlite:///{data / 'tradingfloor.db'}", three_days()).dispose()
    out = tmp_path / f"fills.{format}"
    arguments = ["export", "fills", "--from", "2026-11-24", "--to", "2026-11-25"]
    arguments += ["--format", format, "--account", "A", "--out", str(out), "--data", str(data)]
    done = CliRunner().invoke(app, arguments)
    assert done.exit_code == 0, done.output
    if format == "parquet":
        rows = pyarrow.parquet.read_table(out).to_pylist()
    else:
        rows = [_typed("fills", row) for row in csv.DictReader(out.open())]
    assert [(row["account"], row["qty"], row["price"]) for row in rows] == [
        ("A", 7, 101 * DOLLAR),
        ("A", 3, 102 * DOLLAR + CENT),
    ]
    backwards = ["export", "fills", "--from", "2026-11-25", "--to", "2026-11-24"]
    refused = CliRunner().invoke(app, [*backwards, "--data", str(data)])
    assert refused.exit_code == 2 and "before" in refused.output
    unknown = CliRunner().invoke(app, ["export", "trades", "--from", "2026-11-25", "--to",
                                       "2026-11-25", "--data", str(data)])  # fmt: skip
    assert unknown.exit_code == 2 and "orders" in unknown.output


async def test_the_route_gives_your_own_rows_and_an_admin_any(tmp_path: Path) -> None:
    async with served(tmp_path / "data", export_days_max=31, export_rows_max=3) as api:
        await api.symbol("XYZ")
        alice = await api.trader("alice", cash="10000")
        bob = await api.trader("bob", cash="10000", shares={"XYZ": 50})
        bob_account = (await api.client.get("/v1/account", headers=bob)).json()["account"]
        for headers, side in ((bob, "sell"), (alice, "buy")):
            placed = await api.order(headers, side=side, type="limit", qty=4, limit_price="100.5")
            assert placed.status_code in (200, 201), placed.text
        fills_of = (await api.client.get("/v1/activities", headers=alice)).json()
        ts = next(row["ts"] for row in fills_of if row["kind"] == "trade")
        day = TradeDates().of(ts)
        query = {"from": day, "to": day}

        answer = await api.client.get("/v1/exports/fills", params=query, headers=alice)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert 'attachment; filename="fills-' in answer.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert [(row["side"], row["qty"], row["price"], row["price_usd"]) for row in rows] == [
            ("buy", "4", "1005000", "100.50")
        ]
        parquet = await api.client.get(
            "/v1/exports/orders", params={**query, "format": "parquet"}, headers=bob
        )
        assert parquet.status_code == 200, parquet.text
        read = pyarrow.parquet.read_table(io.BytesIO(parquet.content)).to_pylist()
        assert {row["account"] for row in read} == {bob_account}
        assert [row["qty"] for row in read] == [4]

        others = {**query, "account": bob_account}
        refused = await api.client.get("/v1/exports/fills", params=others, headers=alice)
        assert refused.status_code == 403, refused.text
        as_admin = await api.client.get("/v1/exports/fills", params=others, headers=api.admin)
        assert as_admin.status_code == 200
        assert [row["side"] for row in csv.DictReader(io.StringIO(as_admin.text))] == ["sell"]
        nobody = {**query, "account": "nobody"}
        missing = await api.client.get("/v1/exports/fills", params=nobody, headers=api.admin)
        assert missing.status_code == 404, missing.text

        for _ in range(3):
            await api.order(alice, side="buy", type="limit", qty=1, limit_price="90")
        too_many = await api.client.get("/v1/exports/orders", params=query, headers=alice)
        assert too_many.status_code == 422 and "at most 3" in too_many.json()["message"]
        for bad in (
            {"from": "2026-02-30", "to": "2026-03-01"},
            {"from": day, "to": "2020-01-01"},
            {"from": "2026-01-01", "to": "2026-03-01"},
            {"from": day},
            {**query, "format": "xlsx"},
            {"from": "2" * 5_000, "to": day},
        ):
            answer = await api.client.get("/v1/exports/fills", params=bad, headers=alice)
            assert answer.status_code == 422, (bad, answer.text)
        audit = await api.client.get("/v1/exports/audit", params=query, headers=alice)
        assert audit.status_code == 404
        anonymous = await api.client.get("/v1/exports/fills", params=query)
        assert anonymous.status_code == 401
