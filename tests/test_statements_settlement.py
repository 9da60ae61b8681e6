"""A statement replays what end of day does to an account (settlements, splits with cash in
lieu, dividends, break adjustments, a symbol change) to the balances the read models hold."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from settlement_scenario import project, scenario
from tradingfloor.settlement.statements import load_statement
from tradingfloor.store import make_engine, upgrade
from tradingfloor.store.queries import get_balances, list_positions


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_a_statement_closes_as_the_read_models_after_every_kind_of_end_of_day_event(
    database: Engine,
) -> None:
    commands = scenario().commands
    project(database, commands)
    last_ts = max(ts for _, ts, _ in commands)
    with database.connect() as connection:
        for account in ("A", "B"):
            data = load_statement(connection, account, 0, last_ts + 1, 100)
            assert data is not None
            balance = get_balances(connection, account)
            assert balance is not None
            closing = data.closing
            assert (closing.settled, closing.unsettled) == (balance.settled, balance.unsettled)
            held = [(p.symbol, p.qty, p.cost) for p in list_positions(connection, account)]
            assert [(p.symbol, p.qty, p.cost) for p in closing.positions] == held
            realized = sum(p.realized for p in list_positions(connection, account))
            assert closing.realized == realized
    kinds = {total.kind for total in data.totals.by_kind}
    assert {"split", "dividend", "symbol_change", "settlement"} <= kinds
