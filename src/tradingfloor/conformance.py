"""Runs matching scenarios (../shared/conformance/FORMAT.md) through the engine, strictly.

Order status and fills are projected from the engine's events by the domain's order-state
reducer, as every consumer of the platform does; depth and last price are read from the book.
Every key of a step's `expect` is compared exactly, and the first difference is reported.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradingfloor.domain.commands import AddInstrument, PlaceOrder
from tradingfloor.domain.events import (
    CancelRejected,
    Event,
    OrderRejected,
    ReplaceRejected,
    TradeExecuted,
)
from tradingfloor.domain.order_state import OrderStates
from tradingfloor.engine import Engine
from tradingfloor.scenario import ScenarioError, StepTranslator, instrument_from

EXPECT_KEYS = {"trades", "filled", "status", "depth", "rejected", "last_price"}


@dataclass
class Projection:
    """Order statuses and fills by engine order id, built from events only, by the domain's
    order-state reducer."""

    states: OrderStates = field(default_factory=OrderStates)
    refused: set[int] = field(default_factory=set)
    """Ids of places that made no order (their id was another's)."""

    def apply(self, event: Event) -> None:
        self.states.apply(event)


@dataclass
class ScenarioResult:
    name: str
    passed: bool
    difference: str = ""


def run_scenario(scenario: Mapping[str, Any]) -> ScenarioResult:
    """Run one scenario; the result names the first step and key that differ."""
    name = str(scenario.get("name", "?"))
    try:
        instrument = instrument_from(scenario["instrument"])
        steps = scenario["steps"]
    except (KeyError, ScenarioError) as error:
        return ScenarioResult(name, False, f"not a scenario: {error}")
    engine = Engine()
    engine.apply(AddInstrument(instrument), 1, 0)
    translator = StepTranslator(instrument.symbol)
    projection = Projection()
    for number, step in enumerate(steps, start=1):
        try:
            command = translator.command(step)
        except ScenarioError as error:
            return ScenarioResult(name, False, f"step {number}: {error}")
        events = engine.apply(command, number + 1, number)
        for event in events:
            projection.apply(event)
        if isinstance(command, PlaceOrder) and projection.states.get(command.order_id) is None:
            projection.refused.add(command.order_id)
        expect = step.get("expect")
        if expect is None:
            continue
        difference = _compare(expect, engine, translator, projection, events)
        if difference:
            return ScenarioResult(name, False, f"step {number} ({step.get('id')}): {difference}")
    return ScenarioResult(name, True)


def _compare(
    expect: Mapping[str, Any],
    engine: Engine,
    translator: StepTranslator,
    projection: Projection,
    events: list[Event],
) -> str:
    unknown = set(expect) - EXPECT_KEYS
    if unknown:
        return f"unknown expect keys {sorted(unknown)}"
    book = engine.book(translator.symbol)
    actual: dict[str, Any] = {}
    if "trades" in expect:
        actual["trades"] = [
            {
                "maker": translator.name(e.maker_order_id),
                "taker": translator.name(e.taker_order_id),
                "price": e.price,
                "qty": e.qty,
            }
            for e in events
            if isinstance(e, TradeExecuted)
        ]
    if "rejected" in expect:
        actual["rejected"] = [
            translator.name(e.order_id)
            for e in events
            if isinstance(e, OrderRejected | CancelRejected | ReplaceRejected)
        ]
    if "depth" in expect:
        depth = book.depth()
        actual["depth"] = {
            "bids": [[lvl.price, lvl.order_count, lvl.qty] for lvl in depth.bids],
            "asks": [[lvl.price, lvl.order_count, lvl.qty] for lvl in depth.asks],
        }
    if "last_price" in expect:
        actual["last_price"] = book.last_price
    for key in ("status", "filled"):
        if key in expect:
            actual[key] = {
                name: _order_view(key, name, translator, projection) for name in expect[key]
            }
    for key in ("trades", "rejected", "depth", "last_price", "status", "filled"):
        if key in expect and _normalize(expect[key]) != _normalize(actual[key]):
            return f"{key}: expected {json.dumps(expect[key])}, got {json.dumps(actual[key])}"
    return ""


def _order_view(key: str, name: str, translator: StepTranslator, projection: Projection) -> Any:
    order_id = translator.ids.get(name)
    if order_id is None:
        return None
    state = projection.states.get(order_id)
    if state is None:
        return "rejected" if key == "status" and order_id in projection.refused else None
    if key == "status":
        return state.status.name.lower()
    return [state.filled_qty, state.filled_notional]


def _normalize(value: Any) -> Any:
    """JSON's view of a value: tuples and lists compare alike."""
    return json.loads(json.dumps(value))


def scenario_files(paths: Iterable[Path]) -> list[Path]:
    """Every `*.json` under the given files and folders, sorted, folders searched recursively."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.rglob("*.json")))
        else:
            files.append(path)
    return files


def run_file(path: Path) -> ScenarioResult:
    try:
        scenario = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return ScenarioResult(path.name, False, f"cannot read {path}: {error}")
    if not isinstance(scenario, dict):
        return ScenarioResult(path.name, False, f"{path}: not a JSON object")
    return run_scenario(scenario)
