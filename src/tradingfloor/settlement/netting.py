"""A trade date's fills as the clearinghouse takes them, and netted as each side must settle.

Pure: fills in, values out. A fill is a `TradeExecuted` event with the name of the shard that
emitted it. Trade ids are numbered per order book (per symbol), so the `trade_ref` the
clearinghouse knows a trade by is `<shard>:<symbol>:<trade_id>`: unique on the platform (a
symbol that moves to another shard keeps its book's numbering, under the new shard's name).

Two views of the same netting, because they answer different questions:

- `cash`: what the clearinghouse settles, `qty x price` (received by the seller, paid by the
  buyer). Fees are the platform's own: the clearinghouse never sees them.
- `ledger_cash`: what the platform's ledger moves from unsettled to settled cash for the
  same fills (`FundsSettled`): the clearing cash less each side's fee. Reconciliation compares
  it with what the engine settled (`LEDGER_DIFFERS`).
"""

from collections.abc import Iterable, Mapping
from typing import NamedTuple

import msgspec

from tradingfloor.domain.enums import Side
from tradingfloor.domain.events import TradeExecuted
from tradingfloor.settlement.records import ClearingTrade

Fill = tuple[str, TradeExecuted]
"""(shard, fill)."""


class Obligation(msgspec.Struct):
    """One account's net in one symbol over some trade dates: shares received (positive) or
    delivered (negative), cash received (positive) or paid (negative) as the clearinghouse
    sees it, the same with fees as the ledger sees it, and the fees alone."""

    shares: int = 0
    cash: int = 0
    ledger_cash: int = 0
    fees: int = 0


def trade_ref(shard: str, symbol: str, trade_id: int) -> str:
    return f"{shard}:{symbol}:{trade_id}"


def parties(trade: TradeExecuted) -> tuple[str, str, int, int]:
    """(buyer, seller, buyer's fee, seller's fee) of a fill: the taker is the aggressor."""
    if trade.aggressor == Side.BUY:
        return trade.taker_account, trade.maker_account, trade.taker_fee, trade.maker_fee
    return trade.maker_account, trade.taker_account, trade.maker_fee, trade.taker_fee


def clearing_trades(
    fills: Iterable[Fill], trade_date: str, settle_date: str
) -> list[ClearingTrade]:
    """Every fill of `trade_date` as the platform submits it, in trade_ref order (so that the
    same fills always make the same batch)."""
    trades = []
    for shard, trade in fills:
        buyer, seller, _, _ = parties(trade)
        trades.append(
            ClearingTrade(
                trade_ref(shard, trade.symbol, trade.trade_id),
                trade_date,
                settle_date,
                trade.symbol,
                buyer,
                seller,
                trade.qty,
                trade.price,
            )
        )
    trades.sort(key=lambda item: _ref_order(item.trade_ref))
    return trades


def _ref_order(ref: str) -> tuple[str, int]:
    book, _, number = ref.rpartition(":")
    return book, int(number) if number.isdigit() else -1


def net_obligations(fills: Iterable[Fill]) -> dict[tuple[str, str], Obligation]:
    """Net shares and cash per (account, symbol) over `fills` (any number of trade dates)."""
    net: dict[tuple[str, str], Obligation] = {}
    for _, trade in fills:
        buyer, seller, buy_fee, sell_fee = parties(trade)
        value = trade.qty * trade.price
        bought = net.setdefault((buyer, trade.symbol), Obligation())
        bought.shares += trade.qty
        bought.cash -= value
        bought.ledger_cash -= value + buy_fee
        bought.fees += buy_fee
        sold = net.setdefault((seller, trade.symbol), Obligation())
        sold.shares -= trade.qty
        sold.cash += value
        sold.ledger_cash += value - sell_fee
        sold.fees += sell_fee
    return net


def cash_by_account(obligations: dict[tuple[str, str], Obligation]) -> dict[str, Obligation]:
    """The obligations summed over symbols per account (cash settles per account)."""
    total: dict[str, Obligation] = {}
    for (account, _), obligation in obligations.items():
        into = total.setdefault(account, Obligation())
        into.shares += obligation.shares
        into.cash += obligation.cash
        into.ledger_cash += obligation.ledger_cash
        into.fees += obligation.fees
    return total


class Adjustment(NamedTuple):
    """A split (`old`:`new` shares) or a rename (`renamed`, the new symbol) of a symbol,
    applied at the close of session `closed`: it changes the unsettled shares of every
    trade session up to `closed` that has not settled yet."""

    action_id: str
    closed: int
    old: int
    new: int
    renamed: str


def ledger_obligations(
    fills_by_session: Mapping[int, list[Fill]],
    adjustments: Mapping[str, list[Adjustment]],
    settle_session: int,
) -> dict[tuple[str, str], Obligation]:
    """Net obligations as the ledger settles them at session `settle_session`: each trade
    session's net shares scaled by the splits (toward zero) and carried by the renames
    applied after it and before its settlement, as the engine does to unsettled shares."""
    total: dict[tuple[str, str], Obligation] = {}
    for session in sorted(fills_by_session):
        for (account, symbol), net in net_obligations(fills_by_session[session]).items():
            shares = net.shares
            for adjustment in adjustments.get(symbol, []):
                if session <= adjustment.closed < settle_session:
                    scaled = abs(shares) * adjustment.new // adjustment.old
                    shares = scaled if shares >= 0 else -scaled
                    symbol = adjustment.renamed or symbol
            into = total.setdefault((account, symbol), Obligation())
            into.shares += shares
            into.cash += net.cash
            into.ledger_cash += net.ledger_cash
            into.fees += net.fees
    return total
