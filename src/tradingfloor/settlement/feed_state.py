"""What the settlement role knows, rebuilt from the shards' event feeds alone.

The role keeps nothing of its own: at a start it reads every shard's feed from seq 1, and this
state is what those events say: which days are closed and settled (with the seq of the
command that did it on each shard), the fills of each trade session, the settled cash and
shares each account holds (as a log of changes by seq, so a balance can be taken as of any
cut), the movements to tell the clearinghouse, the breaks recorded, and T+N.

Settled balances here are the platform's ledger as its events tell it: deposits and
withdrawals, `FundsSettled` and `SharesSettled`, dividends, splits, break adjustments (the
last are no movement: they correct the platform toward the clearinghouse). Cash
moved between the platform's own shards (`CashAllocated*`) is left out: the account's total
is what the clearinghouse knows, and a move in flight is still the account's.
"""

from bisect import bisect_right
from collections.abc import Iterable, Mapping

import msgspec

from tradingfloor.domain.corporate_actions import CorporateAction, StockSplit, SymbolChange
from tradingfloor.domain.events import (
    BreakOpened,
    BreakResolved,
    CorporateActionAnnounced,
    DayClosed,
    DaySettled,
    Event,
    FundsSettled,
    RiskConfigured,
    SharesSettled,
    StockSplitApplied,
    SymbolChanged,
    TradeExecuted,
)
from tradingfloor.risk.calendar import TradingCalendar
from tradingfloor.settlement.movements import (
    Change,
    adjustment_changes,
    as_movements,
    changes_of,
    split_changes,
    symbol_change_changes,
)
from tradingfloor.settlement.netting import Adjustment, Fill, ledger_obligations, parties
from tradingfloor.settlement.records import CASH_SYMBOL, Movement

SESSION_NEVER = 1 << 62
"""A settlement session after every other (nothing unsettled has settled by then)."""


class Settlement(msgspec.Struct):
    """One shard's settlement of a date: the seq of its `DaySettled`, the trade dates it
    settled, and what its ledger moved to settled then."""

    seq: int
    trade_dates: list[str]
    funds: dict[str, int]
    shares: dict[tuple[str, str], int]


class Sums(msgspec.Struct):
    """Running sums of a shard's settled changes and fees up to `seq` (list positions)."""

    seq: int = 0
    changes: int = 0
    fees: int = 0
    totals: dict[tuple[str, str], int] = msgspec.field(default_factory=dict)


class ShardState(msgspec.Struct):
    last_seq: int = 0
    closed: dict[str, int] = msgspec.field(default_factory=dict)
    """Trade date -> seq of its `DayClosed`."""
    settled: dict[str, Settlement] = msgspec.field(default_factory=dict)
    changes: list[tuple[int, Change]] = msgspec.field(default_factory=list)
    """Every change of settled cash or shares, by seq (trading's and the others)."""
    moved: list[tuple[int, int, list[Change]]] = msgspec.field(default_factory=list)
    """(seq, ts, changes outside trading) of each command that made some: movements."""
    holdings: dict[tuple[str, str], int] = msgspec.field(default_factory=dict)
    """Settled shares and cash now (after `last_seq`), for a symbol change's holders."""
    fees: list[tuple[int, Change]] = msgspec.field(default_factory=list)
    """The fees of each trade date this shard settled, by the seq of its `DaySettled`: what
    the clearinghouse's cash is ahead of the platform's by (it never sees a fee)."""
    kept: Sums = msgspec.field(default_factory=Sums)


class FeedState:
    def __init__(self, calendar: TradingCalendar, settlement_sessions: int) -> None:
        self.calendar = calendar
        self.settlement_sessions = settlement_sessions
        self.shards: dict[str, ShardState] = {}
        self.fills: dict[int, list[Fill]] = {}
        """Trade session index -> its fills, in feed order."""
        self.breaks: dict[str, BreakOpened] = {}
        self.resolved: set[str] = set()
        """Ids of the breaks resolved."""
        self.actions: dict[str, CorporateAction] = {}
        """Corporate actions announced, by id."""
        self.adjustments: dict[str, list[Adjustment]] = {}
        """Symbol -> the splits and renames applied to it, in order."""

    def shard(self, name: str) -> ShardState:
        return self.shards.setdefault(name, ShardState())

    def apply(self, shard: str, seq: int, ts: int, events: Iterable[Event]) -> None:
        """One command's events from `shard`'s feed."""
        state = self.shard(shard)
        if seq <= state.last_seq:
            return  # a feed never repeats; a resumed follower might
        moved: list[Change] = []
        settlement: Settlement | None = None
        for event in events:
            if isinstance(event, TradeExecuted):
                session = self.calendar.session_index(ts)
                self.fills.setdefault(session, []).append((shard, event))
                continue
            changes = changes_of(event)
            settled_changes = changes
            if isinstance(event, CorporateActionAnnounced | StockSplitApplied | SymbolChanged):
                changes, settled_changes = self._corporate(shard, state, event)
            elif isinstance(event, BreakResolved):
                settled_changes = adjustment_changes(event)
                self.resolved.add(event.break_id)
            if changes or settled_changes:
                moved.extend(changes)
                self._change(state, seq, settled_changes)
            elif isinstance(event, FundsSettled):
                settlement = settlement or Settlement(seq, [], {}, {})
                funds = settlement.funds
                funds[event.account] = funds.get(event.account, 0) + event.amount
                self._change(state, seq, [Change(event.account, CASH_SYMBOL, event.amount)])
            elif isinstance(event, SharesSettled):
                settlement = settlement or Settlement(seq, [], {}, {})
                key = (event.account, event.symbol)
                settlement.shares[key] = settlement.shares.get(key, 0) + event.qty
                self._change(state, seq, [Change(event.account, event.symbol, event.qty)])
            elif isinstance(event, DaySettled):
                settlement = settlement or Settlement(seq, [], {}, {})
                settlement.trade_dates = list(event.trade_dates)
                state.settled[event.date] = settlement
                self._fees_settled(shard, state, seq, event.trade_dates)
            elif isinstance(event, DayClosed):
                state.closed[event.date] = seq
            elif isinstance(event, BreakOpened):
                self.breaks[event.break_id] = event
            elif isinstance(event, RiskConfigured) and event.settings is not None:
                self.settlement_sessions = event.settings.settlement_sessions
        if moved:
            state.moved.append((seq, ts, moved))
        state.last_seq = seq

    def _corporate(
        self,
        shard: str,
        state: ShardState,
        event: CorporateActionAnnounced | StockSplitApplied | SymbolChanged,
    ) -> tuple[list[Change], list[Change]]:
        """(movements, changes of the platform's settled balances) of a corporate action's
        event. A split moves the whole position at the clearinghouse (the trades still
        unsettled settle there in the old shares: the two agree once they have), while the
        platform's settled shares change by their settled part only (the engine scales the
        unsettled part, which settles later). A symbol change likewise moves every holder's
        whole position at the clearinghouse (its unsettled trades still settle there in the
        old symbol) and the settled part at the platform."""
        if isinstance(event, CorporateActionAnnounced):
            self.actions[event.action.action_id] = event.action
            return [], []
        action = self.actions.get(event.action_id)
        if isinstance(event, StockSplitApplied):
            old, new = (1, 1)
            if isinstance(action, StockSplit):
                old, new = action.old_shares, action.new_shares
                self._adjusted(event.symbol, action.action_id, action.ex_date, old, new, "")
            settled = state.holdings.get((event.account, event.symbol), 0)
            return changes_of(event), split_changes(event, settled, old, new)
        holders = {
            account: qty
            for (account, symbol), qty in state.holdings.items()
            if symbol == event.symbol
        }
        positions = dict(holders)  # with the unsettled shares, before the rename counts
        for account, qty in self._unsettled(shard, state, event.symbol).items():
            positions[account] = positions.get(account, 0) + qty
        if isinstance(action, SymbolChange):
            renamed = event.new_symbol
            self._adjusted(event.symbol, action.action_id, action.effective_date, 1, 1, renamed)
        moved = symbol_change_changes(event, positions)
        return moved, symbol_change_changes(event, holders)

    def _unsettled(self, shard: str, state: ShardState, symbol: str) -> dict[str, int]:
        """Each account's unsettled shares of `symbol` on this shard: the net of its trade
        sessions not settled yet, as the engine keeps them (scaled by the splits since)."""
        settled = {
            self.calendar.session_of_date(date)
            for item in state.settled.values()
            for date in item.trade_dates
        }
        by_session = {
            session: [fill for fill in fills if fill[0] == shard]
            for session, fills in self.fills.items()
            if session not in settled
        }
        net = ledger_obligations(by_session, self.adjustments, SESSION_NEVER)
        return {account: item.shares for (account, held), item in net.items() if held == symbol}

    def _adjusted(
        self, symbol: str, action_id: str, effective: str, old: int, new: int, renamed: str
    ) -> None:
        """Note a split or a rename of `symbol`, applied at the close before `effective`."""
        known = self.adjustments.setdefault(symbol, [])
        if any(item.action_id == action_id for item in known):
            return
        closed = self.calendar.session_of_date(effective) - 1
        known.append(Adjustment(action_id, closed, old, new, renamed))

    def _fees_settled(
        self, shard: str, state: ShardState, seq: int, trade_dates: Iterable[str]
    ) -> None:
        sessions = [self.calendar.session_of_date(date) for date in trade_dates]
        for fill_shard, trade in self.fills_of(sessions):
            if fill_shard == shard:
                buyer, seller, buy_fee, sell_fee = parties(trade)
                for account, fee in ((buyer, buy_fee), (seller, sell_fee)):
                    if fee:
                        state.fees.append((seq, Change(account, CASH_SYMBOL, fee)))

    @staticmethod
    def _change(state: ShardState, seq: int, changes: list[Change]) -> None:
        for change in changes:
            if change.qty:
                state.changes.append((seq, change))
                key = (change.account, change.symbol)
                state.holdings[key] = state.holdings.get(key, 0) + change.qty

    # ------------------------------------------------------------------ questions

    def last_closed(self) -> str | None:
        """The latest trade date any shard closed."""
        dates = [date for state in self.shards.values() for date in state.closed]
        return max(dates) if dates else None

    def first_session(self) -> int | None:
        """The session of the earliest fill (where settlement starts on a platform that never
        closed a day), None without fills."""
        return min(self.fills) if self.fills else None

    def fills_of(self, sessions: Iterable[int]) -> list[Fill]:
        return [fill for session in sessions for fill in self.fills.get(session, [])]

    def cut(self, settle_date: str) -> dict[str, int]:
        """Each shard's seq of its `DaySettled(settle_date)` (shards that have not: absent)."""
        return {
            name: state.settled[settle_date].seq
            for name, state in self.shards.items()
            if settle_date in state.settled
        }

    def previous_cut(self, settle_date: str) -> dict[str, int]:
        """Each shard's seq of its latest `DaySettled` before `settle_date` (0: none)."""
        found = {}
        for name, state in self.shards.items():
            earlier = [item.seq for date, item in state.settled.items() if date < settle_date]
            found[name] = max(earlier, default=0)
        return found

    def movements(
        self, after: Mapping[str, int], upto: Mapping[str, int], date: str
    ) -> list[Movement]:
        """The movements of every shard with seq in (after, upto], dated `date`."""
        found: list[Movement] = []
        for name in sorted(upto):
            low, high = after.get(name, 0), upto[name]
            moved = self.shards[name].moved
            first = bisect_right(moved, low, key=lambda item: item[0])
            for seq, _, changes in moved[first:]:
                if seq > high:
                    break
                found.extend(as_movements(name, seq, changes, date))
        return found

    def settled_trade_dates(self, settle_date: str) -> list[str]:
        dates = {
            date
            for state in self.shards.values()
            if settle_date in state.settled
            for date in state.settled[settle_date].trade_dates
        }
        return sorted(dates)

    def settled_by_ledger(
        self, settle_date: str
    ) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        """What every shard's ledger settled on `settle_date`: cash per account, shares per
        (account, symbol)."""
        funds: dict[str, int] = {}
        shares: dict[tuple[str, str], int] = {}
        for state in self.shards.values():
            settlement = state.settled.get(settle_date)
            if settlement is None:
                continue
            for account, amount in settlement.funds.items():
                funds[account] = funds.get(account, 0) + amount
            for key, qty in settlement.shares.items():
                shares[key] = shares.get(key, 0) + qty
        return funds, shares

    def balances(self, cut: Mapping[str, int]) -> dict[tuple[str, str], int]:
        """Settled cash and shares per (account, symbol) as of `cut` (seq per shard), with
        the fees of the trade dates settled by then added back: cash as the clearinghouse
        counts it. Each shard's sums are kept from one call to the next (cuts move forward
        day by day), so a day costs what changed since the last one."""
        total: dict[tuple[str, str], int] = {}
        for name, upto in cut.items():
            for key, qty in self._totals(self.shards[name], upto).items():
                total[key] = total.get(key, 0) + qty
        return {key: qty for key, qty in total.items() if qty}

    @staticmethod
    def _totals(state: ShardState, upto: int) -> dict[tuple[str, str], int]:
        kept = state.kept
        if upto < kept.seq:  # an earlier cut (a day run again): from the start
            kept = Sums()
        for log, attribute in ((state.changes, "changes"), (state.fees, "fees")):
            index = getattr(kept, attribute)
            while index < len(log) and log[index][0] <= upto:
                change = log[index][1]
                key = (change.account, change.symbol)
                kept.totals[key] = kept.totals.get(key, 0) + change.qty
                index += 1
            setattr(kept, attribute, index)
        kept.seq = max(kept.seq, upto)
        if upto >= state.kept.seq:
            state.kept = kept
        return dict(kept.totals)
