"""`tradingfloor ledger check|accounts|history` over a node's data, and the checks themselves
catching a broken ledger."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from risk_helpers import DOLLAR, Market
from tradingfloor.cli import app
from tradingfloor.domain.commands import (
    AddInstrument,
    Deposit,
    DepositShares,
    OpenAccount,
    PlaceOrder,
    SetReferencePrice,
)
from tradingfloor.domain.enums import OrderType, Side
from tradingfloor.domain.errors import InvariantViolation
from tradingfloor.domain.instruments import Instrument
from tradingfloor.domain.settings import RiskSettings
from tradingfloor.engine.check import check_ledger, check_postings
from tradingfloor.service.node import Node, NodeSettings


async def make_node_data(data: Path) -> None:
    node = Node(NodeSettings(data, fsync=False, risk=RiskSettings()))
    await node.start()
    await node.configure_risk()
    for command in [
        AddInstrument(Instrument("XYZ")),
        SetReferencePrice("XYZ", 100 * DOLLAR),
        OpenAccount("alice"),
        Deposit("alice", 5_000 * DOLLAR),
        OpenAccount("bob"),
        DepositShares("bob", "XYZ", 100, 90 * DOLLAR),
        PlaceOrder(0, "bob", "XYZ", Side.SELL, OrderType.LIMIT, 30, 100 * DOLLAR),
        PlaceOrder(0, "alice", "XYZ", Side.BUY, OrderType.LIMIT, 20, 100 * DOLLAR),
        PlaceOrder(0, "alice", "XYZ", Side.BUY, OrderType.LIMIT, 5, 99 * DOLLAR),
    ]:
        await node.submit(command)
    await node.stop()


async def test_ledger_check_accounts_and_history_read_a_nodes_data(tmp_path: Path) -> None:
    data = tmp_path / "node"
    await make_node_data(data)
    runner = CliRunner()

    checked = runner.invoke(app, ["ledger", "check", "--data", str(data), "--every", "1"])
    accounts = runner.invoke(app, ["ledger", "accounts", "--data", str(data)])
    history = runner.invoke(
        app, ["ledger", "history", "--data", str(data), "--account", "alice", "--kind", "trade"]
    )

    assert checked.exit_code == 0, checked.output
    assert "ledger good at seq 10" in checked.output
    assert "2 accounts, 2 open orders" in checked.output
    assert accounts.exit_code == 0, accounts.output
    assert "alice" in accounts.output and "3000.00" in accounts.output  # cash after $2,000
    assert history.exit_code == 0, history.output
    assert "bob/unsettled" in history.output and "alice/shares/XYZ" in history.output
    assert "deposit" not in history.output


def test_ledger_check_refuses_a_missing_journal(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ledger", "check", "--data", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "no journal" in result.output


def traded() -> Market:
    market = Market(RiskSettings())
    market.listing("XYZ", 100 * DOLLAR)
    market.account("alice", cash=10_000 * DOLLAR)
    market.account("bob", shares={"XYZ": 100})
    market.order("bob", Side.SELL, 50, 100 * DOLLAR)
    market.order("alice", Side.BUY, 20, 100 * DOLLAR)
    market.order("alice", Side.BUY, 10, 99 * DOLLAR)
    return market


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda ledger: setattr(ledger.accounts["alice"], "held", 1), "held"),
        (lambda ledger: setattr(ledger.accounts["alice"], "settled", -1), "negative"),
        (lambda ledger: setattr(ledger.accounts["bob"].positions["XYZ"], "qty", 81), "shares"),
        (lambda ledger: setattr(ledger.accounts["alice"], "fees", 5), "fees"),
        (lambda ledger: ledger.holds.pop(next(iter(ledger.holds))), "holds and live orders"),
        (lambda ledger: setattr(ledger.accounts["bob"], "unsettled", 1), "unsettled"),
    ],
)
def test_the_invariant_check_catches_each_kind_of_damage(damage: object, message: str) -> None:
    market = traded()
    risk = market.engine.risk
    assert risk is not None
    damage(risk.ledger)  # type: ignore[operator]
    with pytest.raises(InvariantViolation, match=message):
        check_ledger(market.engine)


def test_the_postings_check_catches_a_balance_the_events_do_not_explain() -> None:
    market = traded()
    assert market.check_postings() > 0
    risk = market.engine.risk
    assert risk is not None
    risk.ledger.accounts["alice"].settled += DOLLAR
    risk.ledger.accounts["alice"].deposited += DOLLAR  # conservation still holds
    check_ledger(market.engine)
    with pytest.raises(InvariantViolation, match="alice/cash"):
        check_postings(market.engine, market.events)
