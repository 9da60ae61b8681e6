"""The ledger: every account, every hold of an open order, and the postings of fills.

The engine drives it in one deterministic step per command (exchange-core's pipeline): the risk
layer asks for a hold before an order reaches its book, the book's events then post here (fills
move cash and shares between the two accounts and release what the filled part held; cancels,
expiries and rejects release the rest). Nothing here reads a clock.

A buy holds `leaves x hold price` plus the most its fees could be; a sell holds its shares. The
hold of a buy after each fill is recomputed from its open quantity, so the release always covers
what the fill costs: the fill price is at most the hold price and fees round down.

The two sell legs of a one-cancels-other pair sell the same shares, which are held once: the
take-profit's hold holds them, and the stop-loss's hold is a shared one (`partner` names the
take-profit): it holds nothing itself. The book keeps both legs' open quantities equal; when
the stop-loss fills, the shares it sells come out of its partner's hold, whose open quantity
the pair's next event (the take-profit cut to the stop-loss's leaves) then sets.
"""

from collections.abc import Iterator

import msgspec

from tradingfloor.domain.enums import AccountKind, Side
from tradingfloor.domain.events import TradeExecuted
from tradingfloor.domain.fractions import NANO, basis_sold
from tradingfloor.domain.settings import FeeSchedule
from tradingfloor.ledger.accounts import Account, Position
from tradingfloor.ledger.good_faith import add_lot, funded_session, sell_lots

BUY = Side.BUY
CASH_ACCOUNT = AccountKind.CASH


class Hold(msgspec.Struct, gc=False):
    """What one live order has reserved: cash for a buy (`price` is its hold price per share),
    shares for a sell. `day_trade` marks a sell already counted as a day trade. Engine-owned
    and mutable; snapshots store it as a `HoldState`."""

    order_id: int
    account: Account
    position: Position
    symbol: str
    side: Side
    price: int
    leaves: int
    amount: int
    day_trade: bool = False
    partner: int = 0
    """For the stop-loss of a sell pair: the take-profit whose hold holds the shares."""


class HoldState(msgspec.Struct, array_like=True):
    order_id: int
    account: str
    symbol: str
    side: Side
    price: int
    leaves: int
    amount: int
    day_trade: bool
    partner: int = 0


class LedgerState(msgspec.Struct, array_like=True):
    """The ledger in canonical order (accounts and holds sorted by id)."""

    accounts: list[Account]
    holds: list[HoldState]
    fees_collected: int
    shares_in: dict[str, int]
    allocations_in: dict[str, int] = msgspec.field(default_factory=dict)
    shares_adjusted: dict[str, int] = msgspec.field(default_factory=dict)


class Violation(msgspec.Struct, gc=False, frozen=True):
    """A good-faith violation found by a fill, for the engine to count and announce."""

    account: Account
    symbol: str
    order_id: int
    session: int


class Ledger:
    def __init__(self, fees: FeeSchedule | None = None) -> None:
        self.accounts: dict[str, Account] = {}
        self.holds: dict[int, Hold] = {}
        self.fees_collected = 0
        self.shares_in: dict[str, int] = {}
        """Shares per symbol delivered in minus delivered out: what positions must sum to."""
        self.allocations_in: dict[str, int] = {}
        """Per shard that moves cash here, the seq of the last move taken in (in order)."""
        self.shares_adjusted: dict[str, int] = {}
        """Shares per symbol posted by break adjustments (net): positions sum to
        `shares_in + shares_adjusted`."""
        self.settlement_sessions = 2
        """N of T+N: when the proceeds that paid for a good-faith lot settle."""
        self.violations: list[Violation] = []
        """Good-faith violations the fills of the current command found (drained by the
        engine after posting them)."""
        self._fee_per_share = 0
        self._fee_ppm = 0
        self.set_fees(fees or FeeSchedule())

    def set_fees(self, fees: FeeSchedule) -> None:
        """Buy holds cover the higher of the maker and taker fee."""
        self._fee_per_share = max(fees.maker_per_share, fees.taker_per_share)
        self._fee_ppm = max(fees.maker_notional_ppm, fees.taker_notional_ppm)

    # ------------------------------------------------------------------ holds

    def buy_hold_amount(self, qty: int, price: int) -> int:
        """Cash a buy of `qty` at up to `price` must hold: its value plus its largest fee."""
        value = qty * price
        fee = qty * self._fee_per_share + value * self._fee_ppm // 1_000_000
        return value + (fee if fee < value else value)

    def hold(
        self,
        order_id: int,
        account: Account,
        symbol: str,
        side: Side,
        qty: int,
        price: int,
        amount: int = -1,
    ) -> Hold:
        """Reserve for a new order; the caller has checked buying power or shares. `amount`,
        when the caller has computed it, is `buy_hold_amount(qty, price)` for a buy."""
        position = account.positions.get(symbol)
        if position is None:
            position = account.positions[symbol] = Position()
        if side == BUY:
            if amount < 0:
                amount = self.buy_hold_amount(qty, price)
            account.held += amount
        else:
            amount = qty
            position.held += qty
        hold = self.holds[order_id] = Hold(
            order_id, account, position, symbol, side, price, qty, amount
        )
        open_orders = account.open_orders
        open_orders[symbol] = open_orders.get(symbol, 0) + 1
        return hold

    def hold_shared(
        self, order_id: int, account: Account, symbol: str, qty: int, partner: int
    ) -> Hold:
        """The hold of a sell pair's stop-loss, whose shares `partner`'s hold holds."""
        hold = self.hold(order_id, account, symbol, Side.SELL, 0, 0)
        hold.leaves = qty
        hold.partner = partner
        return hold

    def resize(self, order_id: int, leaves: int) -> None:
        """The order's open quantity is now `leaves` (0: it is done); release the difference.
        A larger `leaves` (a leg growing with its entry) holds more."""
        if not leaves:
            self.release(order_id)
            return
        hold = self.holds[order_id]
        if hold.partner:
            hold.leaves = leaves
            return
        if hold.side == BUY:
            amount = self.buy_hold_amount(leaves, hold.price)
            hold.account.held -= hold.amount - amount
        else:
            amount = leaves
            hold.position.held -= hold.amount - amount
        hold.amount = amount
        hold.leaves = leaves

    def release(self, order_id: int) -> None:
        """The order is done: release all it still holds."""
        hold = self.holds[order_id]
        if hold.side == BUY:
            hold.account.held -= hold.amount
        else:
            hold.position.held -= hold.amount
        self._drop(hold)

    def rekey(self, order_id: int, new_order_id: int, leaves: int, price: int) -> None:
        """A replace: the hold moves to the new id with the new open quantity and price."""
        hold = self.holds.pop(order_id)
        hold.order_id = new_order_id
        hold.price = price
        self.holds[new_order_id] = hold
        self.resize(new_order_id, leaves)

    def _drop(self, hold: Hold) -> None:
        del self.holds[hold.order_id]
        open_orders = hold.account.open_orders
        count = open_orders[hold.symbol] - 1
        if count:
            open_orders[hold.symbol] = count
        else:
            del open_orders[hold.symbol]

    # ------------------------------------------------------------------ fills

    def fill(self, trade: TradeExecuted, session: int) -> Hold | None:
        """Post one fill: cash from buyer to seller, shares from seller to buyer, fees out.

        Returns the seller's hold when this fill is a day trade counted now (the first fill of
        a sell that closes shares bought in the same session), else None.
        """
        holds = self.holds
        if trade.aggressor == BUY:
            buy = holds[trade.taker_order_id]
            sell = holds[trade.maker_order_id]
            buy_fee, sell_fee = trade.taker_fee, trade.maker_fee
            buy_leaves, sell_leaves = trade.taker_leaves, trade.maker_leaves
        else:
            buy = holds[trade.maker_order_id]
            sell = holds[trade.taker_order_id]
            buy_fee, sell_fee = trade.maker_fee, trade.taker_fee
            buy_leaves, sell_leaves = trade.maker_leaves, trade.taker_leaves
        qty = trade.qty
        value = qty * trade.price

        buyer = buy.account
        amount = self.buy_hold_amount(buy_leaves, buy.price) if buy_leaves else 0
        buyer.held -= buy.amount - amount
        buy.amount = amount
        buy.leaves = buy_leaves
        paid = value + buy_fee
        position = buy.position
        if buyer.kind == CASH_ACCOUNT and buyer.pending and paid > buyer.free_settled():
            self._good_faith_lot(buyer, position, buy.order_id, qty, paid, session)
        buyer.unsettled -= paid
        pending = buyer.pending
        pending[session] = pending.get(session, 0) - paid
        buyer.fees += buy_fee
        position.qty += qty
        position.cost += value
        position.unsettled += qty
        pending = position.pending
        pending[session] = pending.get(session, 0) + qty
        if position.bought_session != session:
            position.bought_session = session
            position.bought_today = 0
        position.bought_today += qty

        seller = sell.account
        position = sell.position
        position.held -= qty
        if sell.partner:  # the shares came out of the take-profit's hold
            holds[sell.partner].amount -= qty
        else:
            sell.amount = sell_leaves
        sell.leaves = sell_leaves
        held_qty = position.qty
        if position.fraction:  # the whole shares sold take their part of the fraction's basis
            removed = basis_sold(position.cost, qty * NANO, position.nano())
        else:
            removed = position.cost if qty == held_qty else position.cost * qty // held_qty
        position.cost -= removed
        position.qty = held_qty - qty
        position.unsettled -= qty
        pending = position.pending
        pending[session] = pending.get(session, 0) - qty
        if position.lots and sell_lots(position, held_qty, qty, session):
            self.violations.append(Violation(seller, trade.symbol, sell.order_id, session))
        position.realized += value - removed
        received = value - sell_fee
        seller.unsettled += received
        pending = seller.pending
        pending[session] = pending.get(session, 0) + received
        seller.fees += sell_fee
        self.fees_collected += buy_fee + sell_fee

        day_trade = None
        if position.bought_session == session and position.bought_today:
            closed = qty if qty < position.bought_today else position.bought_today
            position.bought_today -= closed
            if not sell.day_trade:
                sell.day_trade = True
                day_trade = sell
        if not buy_leaves:
            self._drop(buy)
        if not sell_leaves:
            self._drop(sell)
        return day_trade

    def fill_fraction(
        self, buyer: Account, seller: Account, symbol: str, nano: int, value: int
    ) -> tuple[int, int]:
        """Post a fractional desk fill (`engine.fractions`): `nano` nano-shares from `seller`
        to `buyer` for `value` cash, settled at once, without fees; the caller has checked
        that both can. Returns the change of the buyer's and the seller's whole shares (a
        fraction that passes a whole share makes one; one that breaks one takes it)."""
        buyer.settled -= value
        seller.settled += value
        bought = buyer.position(symbol)
        bought.cost += value
        carried, bought.fraction = divmod(bought.fraction + nano, NANO)
        bought.qty += carried
        sold = seller.position(symbol)
        before = sold.qty * NANO + sold.fraction
        removed = basis_sold(sold.cost, nano, before)
        sold.cost -= removed
        sold.realized += value - removed
        whole, sold.fraction = divmod(before - nano, NANO)
        broken = sold.qty - whole
        sold.qty = whole
        return carried, -broken

    def _good_faith_lot(
        self, buyer: Account, position: Position, order_id: int, qty: int, paid: int, session: int
    ) -> None:
        """A cash account pays `paid`, more than its free settled cash: the rest comes from
        unsettled sale proceeds, and the shares become a good-faith lot until they settle.
        (Without unsettled sessions a purchase never draws on proceeds: there are none.)"""
        free = buyer.free_settled()
        from_proceeds = paid - free if free > 0 else paid
        funded = funded_session(buyer, from_proceeds, session, self.settlement_sessions)
        if funded > session:
            add_lot(position, order_id, qty, funded)

    # ------------------------------------------------------------------ snapshots

    def export_state(self) -> LedgerState:
        return LedgerState(
            [self.accounts[key] for key in sorted(self.accounts)],
            [
                HoldState(
                    hold.order_id,
                    hold.account.account_id,
                    hold.symbol,
                    hold.side,
                    hold.price,
                    hold.leaves,
                    hold.amount,
                    hold.day_trade,
                    hold.partner,
                )
                for _, hold in sorted(self.holds.items())
            ],
            self.fees_collected,
            dict(sorted(self.shares_in.items())),
            dict(sorted(self.allocations_in.items())),
            dict(sorted(self.shares_adjusted.items())),
        )

    @classmethod
    def from_state(cls, state: LedgerState, fees: FeeSchedule) -> "Ledger":
        ledger = cls(fees)
        ledger.accounts = {account.account_id: account for account in state.accounts}
        for saved in state.holds:
            account = ledger.accounts[saved.account]
            hold = Hold(
                saved.order_id,
                account,
                account.position(saved.symbol),
                saved.symbol,
                saved.side,
                saved.price,
                saved.leaves,
                saved.amount,
            )
            hold.day_trade = saved.day_trade
            hold.partner = saved.partner
            ledger.holds[saved.order_id] = hold
        ledger.fees_collected = state.fees_collected
        ledger.shares_in = dict(state.shares_in)
        ledger.allocations_in = dict(state.allocations_in)
        ledger.shares_adjusted = dict(state.shares_adjusted)
        return ledger

    def holds_of(self, account_id: str) -> Iterator[Hold]:
        """The holds of one account's open orders, by order id."""
        for order_id in sorted(self.holds):
            hold = self.holds[order_id]
            if hold.account.account_id == account_id:
                yield hold
