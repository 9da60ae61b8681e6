"""Account statements from the read models: a real engine's events projected into SQLite and
PostgreSQL, statements of a day and of a month over them (trades, balances, totals to the
price unit), activity kinds added later listed as they come, hostile text escaped, the PDF
read back, the route's ownership rules, and the command that writes a file."""

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import Engine, insert

from api_helpers import served
from risk_helpers import DOLLAR, Market
from tradingfloor.domain.commands import (
    Command,
    Deposit,
    DepositShares,
    SettleFunds,
    Withdraw,
    WithdrawShares,
)
from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import Event
from tradingfloor.domain.settings import FeeSchedule, RiskSettings
from tradingfloor.risk.calendar import calendar_for, ts_at
from tradingfloor.settlement.statement_view import money
from tradingfloor.settlement.statements import (
    Period,
    PeriodError,
    StatementData,
    daily_period,
    load_statement,
    monthly_period,
    render,
    render_html,
    statement_view,
)
from tradingfloor.store import make_engine, upgrade
from tradingfloor.store.projector import Projector
from tradingfloor.store.queries import get_balances, list_positions
from tradingfloor.store.readmodels import account_balances, activities
from tradingfloor.store.statement_replay import PositionLine

CENT = DOLLAR // 100
FEES = FeeSchedule(maker_per_share=10, taker_per_share=30)
"""A tenth of a cent a share to the maker, three tenths to the taker."""


@dataclass
class RecordingMarket(Market):
    """A `Market` that keeps (seq, ts, events) of every command: what the projector reads."""

    log: list[tuple[int, int, list[Event]]] = field(default_factory=list)

    def do(self, command: Command, advance_ns: int = 0) -> list[Event]:
        out = super().do(command, advance_ns)
        self.log.append((self.seq, self.ts, out))
        return out

    def at(self, when: str) -> "RecordingMarket":
        """Move the clock to `when`, New York time."""
        self.ts = ts_at(when)
        return self


def two_weeks_of_trading() -> RecordingMarket:
    """A buys 100 XYZ from B on Monday 2026-11-23, sells 40 back on Tuesday, deposits in the
    evening (Wednesday's session), withdraws on Wednesday; T+2 settles Monday on Wednesday
    and Tuesday on Friday (Thursday is Thanksgiving, Friday a half day); B's shares go out and
    in; A buys 10 more on Tuesday 2026-12-01. Fees: A is the taker every time."""
    m = RecordingMarket(RiskSettings(fees=FEES))
    m.at("2026-11-23 09:00")
    m.listing("XYZ")
    m.account("A", cash=100_000 * DOLLAR)
    m.account("B", cash=100_000 * DOLLAR, shares={"XYZ": 1_000}, cost_price=90 * DOLLAR)
    m.at("2026-11-23 10:00")
    m.order("B", Side.SELL, 100, 100 * DOLLAR)
    m.order("A", Side.BUY, 100, 100 * DOLLAR)
    m.at("2026-11-24 11:00")
    m.order("B", Side.BUY, 40, 105 * DOLLAR)
    m.order("A", Side.SELL, 40, 105 * DOLLAR)
    m.at("2026-11-24 18:00").do(Deposit("A", 5 * DOLLAR))
    m.at("2026-11-25 09:00").do(SettleFunds())
    m.at("2026-11-25 10:00").do(Withdraw("A", 1_000 * DOLLAR))
    m.do(WithdrawShares("B", "XYZ", 333))
    m.do(DepositShares("B", "XYZ", 7, 80 * DOLLAR))
    m.at("2026-11-27 12:00").do(SettleFunds())
    m.at("2026-12-01 10:00")
    m.order("B", Side.SELL, 10, 110 * DOLLAR)
    m.order("A", Side.BUY, 10, 110 * DOLLAR)
    return m


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The read models of `two_weeks_of_trading`, on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    engine = make_engine(url)
    Projector(engine).apply(two_weeks_of_trading().log)
    yield engine
    engine.dispose()


def statement(
    database: Engine, account: str, period: Period, lines_max: int = 100
) -> StatementData:
    with database.connect() as connection:
        data = load_statement(connection, account, period.after_ts, period.until_ts, lines_max)
    assert data is not None
    return data


def day(date: str) -> Period:
    return daily_period(calendar_for(), date)


def month(text: str) -> Period:
    return monthly_period(calendar_for(), text)


def add_activity(database: Engine, account: str, kind: str, when: str, **values: object) -> None:
    """A row of the activities table as a projector of another kind of event would write it."""
    row = {"seq": 1_000_000, "ts": ts_at(when), "account": account, "kind": kind, **values}
    row.setdefault("description", f"{kind} row")
    with database.begin() as connection:
        connection.execute(insert(activities).values(**row))


# ------------------------------------------------------------------------------- the data


def test_a_day_has_its_trades_balances_and_totals(database: Engine) -> None:
    data = statement(database, "A", day("2026-11-24"))
    assert (data.account, data.account_kind) == ("A", "cash")
    assert data.opening.settled == 100_000 * DOLLAR
    assert data.opening.unsettled == -(10_000 * DOLLAR + 30 * CENT)  # Monday's buy and fee
    assert data.opening.positions == (PositionLine("XYZ", 100, 10_000 * DOLLAR, 100 * DOLLAR),)
    [fill] = data.trades
    assert (fill.side, fill.qty, fill.price, fill.fee) == ("sell", 40, 105 * DOLLAR, 12 * CENT)
    assert data.closing.settled == 100_000 * DOLLAR
    assert data.closing.unsettled == -(5_800 * DOLLAR + 42 * CENT)
    assert data.closing.positions == (PositionLine("XYZ", 60, 6_000 * DOLLAR, 105 * DOLLAR),)
    assert data.closing.market_value == 6_300 * DOLLAR
    totals = data.totals
    assert (totals.bought, totals.sold, totals.fees) == (0, 4_200 * DOLLAR, 12 * CENT)
    assert totals.realized == 200 * DOLLAR  # 40 x (105 - 100)
    assert data.activities == ()  # the evening's deposit is Wednesday's


def test_the_evening_belongs_to_the_next_session(database: Engine) -> None:
    data = statement(database, "A", day("2026-11-25"))
    assert [(row.kind, row.amount) for row in data.activities] == [
        ("deposit", 5 * DOLLAR),
        ("settlement", -(10_000 * DOLLAR + 30 * CENT)),
        ("settlement", None),  # the 100 shares bought settle too
        ("withdrawal", -1_000 * DOLLAR),
    ]
    assert data.opening == statement(database, "A", day("2026-11-24")).closing
    assert data.trades == ()
    assert data.closing.settled == (100_005 - 10_000 - 1_000) * DOLLAR - 30 * CENT
    assert data.closing.unsettled == 4_200 * DOLLAR - 12 * CENT
    # The close is a price: Tuesday's last trade, the only trade since.
    assert data.closing.positions[0].price == 105 * DOLLAR


def test_a_month_from_nothing_to_its_close(database: Engine) -> None:
    data = statement(database, "A", month("2026-11"))
    assert (data.opening.cash, data.opening.positions) == (0, ())
    assert [fill.side for fill in data.trades] == ["buy", "sell"]
    assert data.closing.settled == 93_204 * DOLLAR + 58 * CENT
    assert data.closing.unsettled == 0  # both trade days settled by Friday
    by_kind = {total.kind: (total.count, total.amount) for total in data.totals.by_kind}
    # Two trade dates settled, each a row of cash and a row of shares.
    assert by_kind["settlement"] == (4, 4_199 * DOLLAR + 88 * CENT - 10_000 * DOLLAR - 30 * CENT)
    assert by_kind["deposit"] == (2, 100_005 * DOLLAR)
    assert by_kind["fee"] == (2, -42 * CENT)
    assert data.totals.realized == 200 * DOLLAR
    assert data.trades_count == 2


def test_the_next_month_opens_where_the_last_closed_and_closes_as_the_read_models(
    database: Engine,
) -> None:
    november = statement(database, "A", month("2026-11"))
    december = statement(database, "A", month("2026-12"))
    assert december.opening == november.closing
    assert december.totals.bought == 1_100 * DOLLAR
    with database.connect() as connection:
        for account in ("A", "B"):
            closing = statement(database, account, month("2026-12")).closing
            balance = get_balances(connection, account)
            assert balance is not None
            assert (closing.settled, closing.unsettled) == (balance.settled, balance.unsettled)
            held = [(p.symbol, p.qty, p.cost) for p in list_positions(connection, account)]
            assert [(p.symbol, p.qty, p.cost) for p in closing.positions] == held


def test_dividends_splits_and_kinds_added_later_are_listed_and_counted(
    database: Engine,
) -> None:
    add_activity(database, "A", "dividend", "2026-11-30 09:00", symbol="XYZ", amount=60 * DOLLAR)
    add_activity(database, "A", "split", "2026-11-30 09:00", symbol="XYZ", qty=60)
    add_activity(database, "A", "notice", "2026-11-30 09:30", description="a word from us")
    data = statement(database, "A", day("2026-11-30"))
    assert [row.kind for row in data.activities] == ["dividend", "split", "notice"]
    assert data.closing.settled == data.opening.settled + 60 * DOLLAR
    # A 2-for-1 split: twice the shares, the same cost basis, half the average cost.
    [position] = data.closing.positions
    assert (position.qty, position.cost, position.average_cost) == (
        120,
        6_000 * DOLLAR,
        50 * DOLLAR,
    )
    kinds = {total.kind: total.count for total in data.totals.by_kind}
    assert kinds == {"dividend": 1, "split": 1, "notice": 1}
    html = render_html(statement_view(data, day("2026-11-30")))
    assert "a word from us" in html and ">split<" in html and ">60.00<" in html


def test_lists_are_cut_and_the_totals_count_every_row(database: Engine) -> None:
    data = statement(database, "A", month("2026-11"), lines_max=1)
    assert len(data.trades) == 1 and data.trades_count == 2
    assert len(data.activities) == 1 and data.activities_count == 8
    assert data.totals.sold == 4_200 * DOLLAR  # from the fill left out
    view = statement_view(data, month("2026-11"))
    assert "1 more not listed" in render_html(view)


def test_an_account_the_read_models_do_not_know_has_no_statement(database: Engine) -> None:
    period = day("2026-11-24")
    with database.connect() as connection:
        assert load_statement(connection, "nobody", period.after_ts, period.until_ts) is None


# ------------------------------------------------------------------------------ documents


def test_html_escapes_hostile_text(database: Engine) -> None:
    hostile = "<script>alert(1)</script>"
    with database.begin() as connection:
        connection.execute(
            insert(account_balances).values(
                account=hostile, kind="cash", status="active", settled=0, unsettled=0,
                deposited=0, withdrawn=0, fees=0, updated_seq=1,
            )
        )  # fmt: skip
    add_activity(database, hostile, "deposit", "2026-11-24 10:00", amount=DOLLAR)
    add_activity(database, "A", "notice", "2026-11-24 10:00", description=f'"{hostile}" & co')
    for account in (hostile, "A"):
        body, name = render(
            statement(database, account, day("2026-11-24")), day("2026-11-24"), "html"
        )
        html = body.decode()
        assert "<script" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<" not in name and ">" not in name and "/" not in name
    assert "&#34;&lt;script&gt;" in html and "&amp; co" in html


def test_the_pdf_is_a_pdf_holding_the_totals(database: Engine) -> None:
    period = month("2026-11")
    add_activity(database, "A", "notice", "2026-11-30 09:00", description="Zürich \u2603 €")
    body, name = render(statement(database, "A", period), period, "pdf")
    assert body.startswith(b"%PDF-") and name == "statement-A-2026-11.pdf"
    reader = pypdf.PdfReader(io.BytesIO(body))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Monthly statement" in text
    assert "Settled cash 0.00 93,204.58" in text
    assert "Realized P&L 200.00" in text
    assert "Fees 0.42" in text
    assert "XYZ 60 100.00 6,000.00 105.00 6,300.00" in text
    assert "settlement -10,000.30" in text
    assert "Zürich ? ?" in text  # beyond Latin-1, the standard fonts have no glyph


def test_money_is_exact_with_separators() -> None:
    assert money(1_502_500) == "150.25"
    assert money(-12_345_678) == "-1,234.5678"
    assert money(123_456_789_000_000) == "12,345,678,900.00"
    assert money(None) == "n/a"


# -------------------------------------------------------------------------------- periods


def test_periods_are_sessions_in_new_york_time() -> None:
    calendar = calendar_for()
    friday = day("2026-11-27")  # the half day after Thanksgiving: closes at 13:00
    assert friday.after_ts == ts_at("2026-11-25 16:00") and friday.until_ts == ts_at(
        "2026-11-27 13:00"
    )
    monday = day("2026-11-02")  # the first session after DST ended (Sunday 2026-11-01)
    assert monday.after_ts == ts_at("2026-10-30 16:00") == ts_at("2026-10-30T20:00:00+00:00")
    assert monday.until_ts == ts_at("2026-11-02T21:00:00+00:00")
    november = month("2026-11")
    assert (november.first_session, november.last_session) == ("2026-11-02", "2026-11-30")
    assert november.sessions == 20 and november.after_ts == monday.after_ts
    assert november.timezone is calendar.timezone


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("daily", "2026-11-28"),  # a Saturday
        ("daily", "2026-11-26"),  # Thanksgiving
        ("daily", "2026-13-01"),
        ("daily", "26-11-02"),
        ("daily", "2026-11-02x"),
        ("daily", "1999-12-31"),  # before the calendar
        ("monthly", "2026-13"),
        ("monthly", "2026-1"),
        ("monthly", "1999-12"),
    ],
)
def test_what_is_no_period_is_refused(kind: str, text: str) -> None:
    with pytest.raises(PeriodError):
        day(text) if kind == "daily" else month(text)


# ------------------------------------------------------------------------ route and command


async def test_the_route_gives_your_own_statement_and_an_admin_any(tmp_path: Path) -> None:
    async with served(tmp_path / "data") as api:
        alice = await api.trader("alice", cash="1000")
        bob = await api.trader("bob", cash="2000")
        accounts = {}
        for name, headers in (("alice", alice), ("bob", bob)):
            accounts[name] = (await api.client.get("/v1/account", headers=headers)).json()[
                "account"
            ]
        deposits = (await api.client.get("/v1/activities", headers=alice)).json()
        ts = next(row["ts"] for row in deposits if row["kind"] == "deposit")
        calendar = calendar_for()
        date = calendar.session_date(calendar.session_index(ts))
        query = {"period": "daily", "date": date}

        answer = await api.client.get("/v1/statements", params=query, headers=alice)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert (
            f'filename="statement-{accounts["alice"]}-{date}.html"'
            in answer.headers["content-disposition"]
        )
        assert ">1,000.00<" in answer.text and ">2,000.00<" not in answer.text

        pdf = await api.client.get(
            "/v1/statements", params={**query, "format": "pdf"}, headers=alice
        )
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-")

        others = {**query, "account": accounts["bob"]}
        refused = await api.client.get("/v1/statements", params=others, headers=alice)
        assert refused.status_code == 403, refused.text
        as_admin = await api.client.get("/v1/statements", params=others, headers=api.admin)
        assert as_admin.status_code == 200 and ">2,000.00<" in as_admin.text
        unknown = {**query, "account": "nobody"}
        missing = await api.client.get("/v1/statements", params=unknown, headers=api.admin)
        assert missing.status_code == 404, missing.text

        for bad in (
            {"period": "daily", "date": "2026-11-28"},
            {"period": "daily", "date": "2026-02-30"},
            {"period": "daily"},
            {"period": "monthly", "month": "2026-13"},
            {"period": "monthly", "date": date},
            {"period": "weekly", "date": date},
            {"period": "daily", "date": date, "format": "docx"},
            {"period": "daily", "date": "2" * 5_000},
        ):
            answer = await api.client.get("/v1/statements", params=bad, headers=alice)
            assert answer.status_code == 422, (bad, answer.text)
        anonymous = await api.client.get("/v1/statements", params=query)
        assert anonymous.status_code == 401


@pytest.mark.parametrize("format", ["html", "pdf"])
def test_the_command_writes_a_statement_file(tmp_path: Path, format: str) -> None:
    from typer.testing import CliRunner

    from tradingfloor.cli import app

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    Projector(engine).apply(two_weeks_of_trading().log)
    engine.dispose()
    config = tmp_path / "tradingfloor.toml"
    config.write_text(f'database_url = "{url}"\n')
    out = tmp_path / f"november.{format}"
    arguments = ["statement", "--account", "A", "--month", "2026-11", "--format", format]
    done = CliRunner().invoke(app, [*arguments, "--out", str(out), "--config", str(config)])
    assert done.exit_code == 0, done.output
    body = out.read_bytes()
    assert body.startswith(b"%PDF-" if format == "pdf" else b"<!DOCTYPE html>")
    if format == "html":
        assert ">93,204.58<" in body.decode()
    refused = CliRunner().invoke(
        app, ["statement", "--account", "A", "--date", "2026-11-28", "--out", str(out),
              "--config", str(config)]
    )  # fmt: skip
    assert refused.exit_code == 2
    unknown = CliRunner().invoke(
        app, ["statement", "--account", "Q", "--month", "2026-11", "--out", str(tmp_path / "q"),
              "--config", str(config)]
    )  # fmt: skip
    assert unknown.exit_code == 1 and not (tmp_path / "q").exists()
