"""Runs matching scenarios (../shared/conformance/FORMAT.md) through the engine, strictly.

Order status and fills are projected from the engine's events, as every consumer of the
platform does; depth and last price are read from the book. Every key of a step's `expect` is
compared exactly, and the first difference is reported.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradingfloor.domain.commands import AddInstrument, PlaceOrder
from tradingfloor.domain.enums import STOP_ORDER_TYPES
from tradingfloor.domain.events import (
    CancelRejected,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderReplaced,
    ReplaceRejected,
    StopTriggered,
    TradeExecuted,
)
from tradingfloor.engine import Engine
from tradingfloor.scenario import ScenarioError, StepTranslator, instrument_from

EXPECT_KEYS = {"trades", "filled", "status", "depth", "rejected", "last_price"}


@dataclass
class OrderState:
    """One order as a client sees it, projected from events."""

    status: str
    filled: int = 0
    notional: int = 0


@dataclass
class Projection:
    """Order statuses and fills by engine order id, built from events only."""

    orders: dict[int, OrderState] = field(default_factory=dict)

    def apply(self, event: Event) -> None:
        if isinstance(event, TradeExecuted):
            for order_id, leaves in (
                (event.maker_order_id, event.maker_leaves),
                (event.taker_order_id, event.taker_leaves),
            ):
                state = self.orders[order_id]
                state.filled += event.qty
                state.notional += event.qty * event.price
                state.status = "partially_filled" if leaves else "filled"
        elif isinstance(event, OrderAccepted):
            pending = event.order_type in STOP_ORDER_TYPES
            self.orders[event.order_id] = OrderState("pending_trigger" if pending else "new")
        elif isinstance(event, OrderRejected):
            self.orders.setdefault(event.order_id, OrderState("rejected"))
        elif isinstance(event, OrderCanceled):
            if event.leaves == 0:
                self.orders[event.order_id].status = "canceled"
        elif isinstance(event, OrderReplaced):
            old = self.orders[event.order_id]
            status = (
                "pending_trigger"
                if old.status == "pending_trigger"
                else ("partially_filled" if old.filled else "new")
            )
            self.orders[event.new_order_id] = OrderState(status, old.filled, old.notional)
            old.status = "replaced"
        elif isinstance(event, StopTriggered):
            state = self.orders[event.order_id]
            state.status = "partially_filled" if state.filled else "new"
        elif isinstance(event, OrderExpired):
            self.orders[event.order_id].status = "expired"


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
        if isinstance(command, PlaceOrder) and command.order_id not in projection.orders:
            projection.orders[command.order_id] = OrderState("rejected")
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
    state = projection.orders.get(order_id) if order_id is not None else None
    if state is None:
        return None
    return state.status if key == "status" else [state.filled, state.notional]


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
