"""Property: after settlement, every account's settled cash and shares at the platform equal
the clearinghouse's holdings, and no break is found, for random days of trading, deposits
and withdrawals (the real clearinghouse, without faults)."""

import asyncio
import contextlib
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settlement_harness import CALENDAR, DOLLAR, Desk
from test_settlement_clearing import FIRST, balances, days, real_clearinghouse
from tradingfloor.domain.commands import Deposit, DepositShares, Withdraw
from tradingfloor.domain.settings import FeeSchedule, RiskSettings

ACCOUNTS = ("ann", "bob", "cat")
SYMBOLS = ("AAPL", "MSFT")

trade = st.tuples(
    st.just("trade"),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(SYMBOLS),
    st.integers(1, 60),
    st.integers(-3, 3),
)
cash = st.tuples(st.sampled_from(("deposit", "withdraw")), st.sampled_from(ACCOUNTS),
                 st.integers(1, 50_000))  # fmt: skip
shares = st.tuples(st.just("shares"), st.sampled_from(ACCOUNTS), st.sampled_from(SYMBOLS),
                   st.integers(1, 100))  # fmt: skip
day = st.lists(st.one_of(trade, trade, cash, shares), max_size=8)


async def play(root: Path, trading: list[list[tuple[object, ...]]], sessions: int) -> None:
    fees = FeeSchedule(taker_per_share=10, maker_notional_ppm=20)
    async with real_clearinghouse(root / "clearinghouse") as (_, client):
        desk = Desk(root / "node", FIRST, RiskSettings(settlement_sessions=sessions, fees=fees),
                    clearing=client)  # fmt: skip
        await desk.start()
        try:
            await desk.listing(*SYMBOLS)
            for account in ACCOUNTS:
                await desk.account(account, 20_000 * DOLLAR, {"AAPL": 100, "MSFT": 100})
            calendar_days = days(len(trading) + sessions + 1)
            for number, date in enumerate(calendar_days):
                await desk.trading_on(date)
                for action in trading[number] if number < len(trading) else []:
                    await act(desk, action)
                await desk.past_close_of(date)
            assert desk.breaks() == {}
            last = CALENDAR.session_date(CALENDAR.session_of_date(calendar_days[-1]) + 1)
            holdings = {(h.participant, h.symbol): h.qty for h in await client.holdings(last)}
            assert holdings == await balances(desk)
        finally:
            await desk.stop()


async def act(desk: Desk, action: tuple[object, ...]) -> None:
    """One action; what the engine refuses (no shares to sell, no cash) just does not happen."""
    kind, account = action[0], str(action[1])
    if kind == "trade":
        _, buyer, seller, symbol, qty, offset = action
        if buyer != seller:
            price = (100 + int(str(offset))) * DOLLAR
            with contextlib.suppress(AssertionError):  # refused: the sell rests until the close
                await desk.trade(str(buyer), str(seller), str(symbol), int(str(qty)), price)
    elif kind == "deposit":
        await desk.do(Deposit(account, int(str(action[2])) * DOLLAR // 100))
    elif kind == "withdraw":
        await desk.do(Withdraw(account, int(str(action[2])) * DOLLAR // 100))
    else:
        await desk.do(DepositShares(account, str(action[2]), int(str(action[3])), 100 * DOLLAR))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(trading=st.lists(day, min_size=1, max_size=4), sessions=st.sampled_from((1, 2)))
def test_after_settlement_the_platform_and_the_clearinghouse_hold_the_same(
    trading: list[list[tuple[object, ...]]], sessions: int
) -> None:
    with tempfile.TemporaryDirectory() as root:
        asyncio.run(play(Path(root), trading, sessions))
