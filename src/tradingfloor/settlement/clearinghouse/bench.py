"""How fast the clearing path is: a day of trades encoded, sent, stored and confirmed.

`bench_clearing` starts a clearinghouse on 127.0.0.1 (an ephemeral port, a fresh store) in
this process, submits `trades` trades over `participants` participants through the real
client, reads back the confirmations of the day, settles the date and asks for holdings; it
times each step and reports the process's peak resident memory. Client and server share the
process (and its one core for Python), so the figures are the whole path's cost on one core.
"""

import asyncio
import random
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tradingfloor.settlement.clearing_client import ClearingClient
from tradingfloor.settlement.clearinghouse.server import ClearinghouseServer
from tradingfloor.settlement.clearinghouse.store import ClearingStore
from tradingfloor.settlement.records import ClearingTrade, Movement

TRADE_DATE = "2026-12-01"
SETTLE_DATE = "2026-12-03"
SHORT_EVERY = 20
"""One (seller, symbol) in this many is not given its shares: the day has fails to deliver."""


@dataclass(frozen=True)
class ClearingBench:
    trades: int
    participants: int
    movements: int
    movements_s: float
    """Deposit the shares the sellers deliver (all but one seller in `SHORT_EVERY`)."""
    submit_s: float
    """Encode, send, store and confirm every trade (and decode the confirmations)."""
    confirmations_s: float
    """Read every confirmation of the day back (CNQ)."""
    settle_s: float
    holdings_s: float
    cpu_s: float
    """CPU time of the whole process (client, server and store) over all the steps: on a
    machine other work shares, the wall-clock figures above grow, this one much less."""
    peak_rss_mb: float

    def lines(self) -> list[str]:
        return [
            f"{self.trades:,} trades over {self.participants:,} participants",
            f"movements       {self.movements_s:8.2f} s  ({self.movements:,} deposits of shares)",
            f"submit+confirm  {self.submit_s:8.2f} s  "
            f"{self.trades / self.submit_s:12,.0f} trades/s",
            f"confirmations   {self.confirmations_s:8.2f} s",
            f"settle          {self.settle_s:8.2f} s",
            f"holdings        {self.holdings_s:8.2f} s",
            f"CPU, all steps  {self.cpu_s:8.2f} s",
            f"peak memory     {self.peak_rss_mb:8.0f} MB (resident, whole process)",
        ]


def day_of_trades(trades: int, participants: int, symbols: int, seed: int) -> list[ClearingTrade]:
    """Random trades between distinct participants, prices around $100."""
    rng = random.Random(seed)
    names = [f"acct-{n:06d}" for n in range(participants)]
    tickers = [f"S{n:04d}" for n in range(symbols)]
    day = []
    for number in range(trades):
        buyer, seller = rng.sample(names, 2)
        price = 1_000_000 + rng.randrange(-50_000, 50_000, 100)
        day.append(
            ClearingTrade(
                f"s{number % 4}:{number}",
                TRADE_DATE,
                SETTLE_DATE,
                rng.choice(tickers),
                buyer,
                seller,
                rng.randrange(1, 500),
                price,
            )
        )
    return day


def _positions_for(day: list[ClearingTrade], short_every: int) -> list[Movement]:
    """Deposits of the shares each seller delivers, but for one in `short_every`."""
    sold: dict[tuple[str, str], int] = {}
    for trade in day:
        key = (trade.seller, trade.symbol)
        sold[key] = sold.get(key, 0) + trade.qty
    return [
        Movement(f"seed:{seller}:{symbol}", TRADE_DATE, seller, symbol, qty)
        for number, ((seller, symbol), qty) in enumerate(sold.items())
        if number % short_every
    ]


async def _run(data_dir: Path, day: list[ClearingTrade], participants: int) -> ClearingBench:
    server = ClearinghouseServer(ClearingStore(data_dir))
    host, port = await server.start("127.0.0.1", 0)
    client = ClearingClient(host, port, "platform", timeout_s=600.0)
    try:
        moves = _positions_for(day, short_every=SHORT_EVERY)
        cpu_began = time.process_time()
        began = time.perf_counter()
        await client.submit_movements(TRADE_DATE, "bench/MOV", moves)
        moved = time.perf_counter()
        started = time.perf_counter()
        confirmed = await client.submit_trades(TRADE_DATE, "bench/TRD", day)
        submitted = time.perf_counter()
        recorded = await client.confirmations(TRADE_DATE)
        read_back = time.perf_counter()
        await client.settle(SETTLE_DATE)
        settled = time.perf_counter()
        await client.holdings(SETTLE_DATE)
        held = time.perf_counter()
        cpu_s = time.process_time() - cpu_began
    finally:
        await server.stop()
    if len(confirmed) != len(day) or len(recorded) != len(day):
        raise RuntimeError(f"{len(day)} trades, {len(confirmed)} confirmed, {len(recorded)} read")
    return ClearingBench(
        trades=len(day),
        participants=participants,
        movements=len(moves),
        movements_s=moved - began,
        submit_s=submitted - started,
        confirmations_s=read_back - submitted,
        settle_s=settled - read_back,
        holdings_s=held - settled,
        cpu_s=cpu_s,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def bench_clearing(
    trades: int = 1_000_000,
    participants: int = 100_000,
    symbols: int = 500,
    seed: int = 1,
    data_dir: Path | None = None,
) -> ClearingBench:
    """Run the clearing path once over a fresh store (in `data_dir`, or a temporary one)."""
    day = day_of_trades(trades, participants, symbols, seed)
    if data_dir is not None:
        return asyncio.run(_run(data_dir, day, participants))
    with tempfile.TemporaryDirectory(prefix="tf-clearing-bench-") as scratch:
        return asyncio.run(_run(Path(scratch), day, participants))
