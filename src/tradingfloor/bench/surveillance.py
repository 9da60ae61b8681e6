"""`tradingfloor bench surveillance`: the detectors on a seeded simulated market with
manipulations planted in it, scored against that known ground truth.

The market (`surveillance_market`) is the demo's traders up to the close of a session (the
last `minutes` of 2026-12-01), with wash trades, spoofing, marking the close and order-entry
abuse planted at seeded times. Its feed goes through the same detectors as the role's
(`ShardSurveillance`, with `SurveillanceSettings()` and each plant's owners), then an event
after the close (the day closed). An alert is a true positive when a plant of its pattern
names one of its accounts; recall is the share of plants found, precision the share of
alerts that are true. Figures, never a test of speed.
"""

import asyncio
import random
import time
from dataclasses import dataclass, field
from functools import partial

from tradingfloor.bench.surveillance_market import (
    SWEEP_EVERY_S,
    SWEEPS,
    Plant,
    SimulatedMarket,
    set_up,
    spoof,
    stuff,
    sweep,
    wash,
)
from tradingfloor.compliance.surveillance import (
    Alert,
    Owners,
    Pattern,
    ShardSurveillance,
    SurveillanceSettings,
)
from tradingfloor.demo.market import DemoMarket
from tradingfloor.demo.spec import DemoSpec
from tradingfloor.domain.events import TradeExecuted
from tradingfloor.risk.calendar import calendar_for

SESSION = "2026-12-01"
SECOND_NS = 1_000_000_000
RATE_PER_S = 20.0
"""Commands per simulated second of the ordinary market."""
SHARD = "bench"
TRADING_STOPS_BEFORE_CLOSE_S = 1.0
"""The ordinary traders stop this long before the close."""
LAST_SWEEP_BEFORE_CLOSE_S = 0.5
"""The last sweep of a marking of the close is the last print: after the traders stop."""
TICK = 100


@dataclass
class PatternScore:
    planted: int = 0
    found: int = 0
    """Plants with at least one alert."""
    alerts: int = 0
    true_alerts: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 0.0

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 0.0


@dataclass
class SurveillanceBench:
    seed: int
    traders: int
    minutes: int
    commands: int = 0
    trades: int = 0
    seconds_market: float = 0.0
    seconds_detectors: float = 0.0
    scores: dict[Pattern, PatternScore] = field(default_factory=dict)

    def lines(self) -> list[str]:
        rate = self.commands / self.seconds_detectors if self.seconds_detectors else 0.0
        lines = [
            f"bench surveillance: seed {self.seed}, {self.traders} noise traders, "
            f"{self.minutes} min to the close of {SESSION}",
            f"  {self.commands:,} commands ({self.trades:,} trades) simulated in "
            f"{self.seconds_market:.1f} s; detectors {self.seconds_detectors:.2f} s "
            f"({rate:,.0f} commands/s)",
            f"  {'pattern':<20}{'planted':>8}{'found':>7}{'alerts':>8}{'true':>6}"
            f"{'recall':>8}{'precision':>11}",
        ]
        for pattern, score in self.scores.items():
            lines.append(
                f"  {pattern.value:<20}{score.planted:>8}{score.found:>7}{score.alerts:>8}"
                f"{score.true_alerts:>6}{score.recall:>8.2f}{score.precision:>11.2f}"
            )
        return lines


def plan(rng: random.Random, minutes: int, symbols: list[str]) -> list[Plant]:
    """Seeded plants: per ten minutes one wash trade, one spoof and one flood; the close
    marked on two symbols."""
    span_s = minutes * 60
    each = max(1, minutes // 10)
    plants: list[Plant] = []
    for pattern in (Pattern.WASH_TRADE, Pattern.SPOOFING, Pattern.ORDER_ENTRY_ABUSE):
        for index in range(each):
            at_s = rng.uniform(30, max(31, span_s - 420))
            account = f"{pattern.value.replace('_', '-')}-{index}"
            plants.append(Plant(pattern, account, at_s, rng.choice(symbols)))
    for index, symbol in enumerate(rng.sample(symbols, min(2, len(symbols)))):
        at_s = span_s - LAST_SWEEP_BEFORE_CLOSE_S - (SWEEPS - 1) * SWEEP_EVERY_S
        plants.append(Plant(Pattern.MARKING_THE_CLOSE, f"closer-{index}", at_s, symbol))
    return plants


def accounts_of(plants: list[Plant]) -> tuple[list[str], dict[str, str]]:
    """Every account the plants trade from, and the owners of the wash traders' pairs."""
    accounts: list[str] = []
    owners: dict[str, str] = {}
    for plant in plants:
        if plant.pattern == Pattern.WASH_TRADE:
            for leg in ("a", "b"):
                accounts.append(f"{plant.account}{leg}")
                owners[f"{plant.account}{leg}"] = plant.account
        else:
            accounts.append(plant.account)
    return accounts, owners


def schedule(market: SimulatedMarket, plants: list[Plant], rng: random.Random) -> None:
    for plant in plants:
        at_ns = int(plant.at_s * SECOND_NS)
        account, symbol = plant.account, plant.symbol
        if plant.pattern == Pattern.WASH_TRADE:
            market.at(at_ns, partial(wash, market, account + "a", account + "b", symbol, rng))
        elif plant.pattern == Pattern.SPOOFING:
            market.at(at_ns, partial(spoof, market, account, symbol, TICK))
        elif plant.pattern == Pattern.ORDER_ENTRY_ABUSE:
            market.at(at_ns, partial(stuff, market, account, symbol))
        else:
            for step in range(SWEEPS):
                step_ns = at_ns + step * SWEEP_EVERY_S * SECOND_NS
                market.at(step_ns, partial(sweep, market, account, symbol))


async def _trade(market: SimulatedMarket, seed: int, span_ns: int) -> None:
    """The demo's traders until `span_ns` of simulated time have passed."""
    stop = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await market.sleep(seconds)
        if market.elapsed_ns >= span_ns:
            stop.set()

    demo = DemoMarket(
        market.spec, market.submit, market.engine, seed, RATE_PER_S,
        sleep=sleep, clock=market.clock,
    )  # fmt: skip
    await demo.run(stop)


def score(alerts: list[Alert], plants: list[Plant]) -> dict[Pattern, PatternScore]:
    scores = {pattern: PatternScore() for pattern in Pattern}
    planted: dict[Pattern, set[str]] = {pattern: set() for pattern in Pattern}
    for plant in plants:
        scores[plant.pattern].planted += 1
        names = {plant.account + "a", plant.account + "b"}
        planted[plant.pattern] |= names if plant.pattern == Pattern.WASH_TRADE else {plant.account}
    found: dict[Pattern, set[str]] = {pattern: set() for pattern in Pattern}
    for alert in alerts:
        scores[alert.pattern].alerts += 1
        hits = planted[alert.pattern] & set(alert.accounts)
        if hits:
            scores[alert.pattern].true_alerts += 1
            found[alert.pattern] |= {alert.owner if alert.pattern == Pattern.WASH_TRADE else
                                     next(iter(hits))}  # fmt: skip
    for pattern in Pattern:
        scores[pattern].found = len(found[pattern])
    return scores


def bench_surveillance(seed: int = 1, traders: int = 6, minutes: int = 30) -> SurveillanceBench:
    """Simulate, detect, score."""
    rng = random.Random(f"surveillance:{seed}")
    spec = DemoSpec(noise_traders=traders)
    symbols = [listed.symbol for listed in spec.symbols]
    plants = plan(rng, minutes, symbols)
    accounts, owners = accounts_of(plants)
    calendar = calendar_for()
    _, ts_close = calendar.session_times(calendar.session_of_date(SESSION))
    span_ns = minutes * 60 * SECOND_NS
    market = SimulatedMarket(spec, ts_close - span_ns)
    set_up(market, accounts)
    schedule(market, plants, rng)
    result = SurveillanceBench(seed, traders, minutes)
    began = time.perf_counter()
    asyncio.run(_trade(market, seed, span_ns - int(TRADING_STOPS_BEFORE_CLOSE_S * SECOND_NS)))
    market.elapsed_ns = span_ns - int(LAST_SWEEP_BEFORE_CLOSE_S * SECOND_NS)
    market.run_due()  # the plants' last steps, after the traders stopped
    result.seconds_market = time.perf_counter() - began
    detectors = ShardSurveillance(SurveillanceSettings(), Owners(owners), calendar)
    began = time.perf_counter()
    alerts: list[Alert] = []
    for seq, ts, events in market.log:
        alerts += detectors.feed(SHARD, seq, ts, events)
    alerts += detectors.feed(SHARD, len(market.log) + 1, ts_close + SECOND_NS, [])  # closed
    result.seconds_detectors = time.perf_counter() - began
    result.commands = len(market.log)
    result.trades = sum(
        1 for _, _, events in market.log for event in events if isinstance(event, TradeExecuted)
    )
    result.scores = score(alerts, plants)
    return result
