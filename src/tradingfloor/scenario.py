"""Scenario steps (the conformance format) turned into engine commands.

A step names orders with strings ("a0", "b1-r"); the engine wants increasing integer order ids.
`StepTranslator` keeps that mapping, so that the conformance runner and the `bench --workload`
reader speak the same format. See ../shared/conformance/FORMAT.md.
"""

from collections.abc import Mapping
from typing import Any

from tradingfloor.domain.commands import CancelOrder, Command, PlaceOrder, ReplaceOrder
from tradingfloor.domain.enums import OrderType, SelfTradePrevention, Side, TimeInForce
from tradingfloor.domain.instruments import Instrument

SIDES = {"buy": Side.BUY, "sell": Side.SELL}
ORDER_TYPES = {
    "limit": OrderType.LIMIT,
    "market": OrderType.MARKET,
    "stop": OrderType.STOP,
    "stop_limit": OrderType.STOP_LIMIT,
    "trailing_stop": OrderType.TRAILING_STOP,
}
TIFS = {
    "day": TimeInForce.DAY,
    "gtc": TimeInForce.GTC,
    "ioc": TimeInForce.IOC,
    "fok": TimeInForce.FOK,
}
STP_MODES = {
    "none": SelfTradePrevention.NONE,
    "cancel_newest": SelfTradePrevention.CANCEL_NEWEST,
    "cancel_oldest": SelfTradePrevention.CANCEL_OLDEST,
    "cancel_both": SelfTradePrevention.CANCEL_BOTH,
    "decrement": SelfTradePrevention.DECREMENT,
}
DEFAULT_ACCOUNT = "default"


class ScenarioError(ValueError):
    """A step that is not in the scenario format."""


def instrument_from(spec: Mapping[str, Any]) -> Instrument:
    """The `instrument` object of a scenario."""
    try:
        return Instrument(
            symbol=str(spec["symbol"]),
            tick_size=int(spec.get("tick", 0)),
            lot_size=int(spec.get("lot", 1)),
            stp=_lookup(STP_MODES, spec.get("stp", "none"), "stp"),
        )
    except KeyError as error:
        raise ScenarioError(f"instrument needs {error}") from error


def _lookup(table: Mapping[str, Any], value: Any, field: str) -> Any:
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ScenarioError(f"{field}: {value!r} is not one of {sorted(table)}") from None


def _optional_int(step: Mapping[str, Any], field: str) -> int | None:
    value = step.get(field)
    if value is None:
        return None
    if type(value) is not int:
        raise ScenarioError(f"{field} must be an integer, not {value!r}")
    return value


class StepTranslator:
    """Turns steps into commands for one symbol, naming order ids as the steps do."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.ids: dict[str, int] = {}
        self.names: dict[int, str] = {}
        self._next_id = 0

    def order_id(self, name: str) -> int:
        """The engine id of a step's order name; a new name gets the next id."""
        order_id = self.ids.get(name)
        if order_id is None:
            self._next_id += 1
            order_id = self.ids[name] = self._next_id
            self.names[order_id] = name
        return order_id

    def name(self, order_id: int) -> str:
        return self.names.get(order_id, str(order_id))

    def command(self, step: Mapping[str, Any]) -> Command:
        op = step.get("op")
        if "id" not in step:
            raise ScenarioError(f"step has no id: {dict(step)}")
        name = str(step["id"])
        if op == "new":
            return self._new(name, step)
        if op == "cancel":
            return CancelOrder(self.order_id(name), self.symbol)
        if op == "replace":
            if "new_id" not in step:
                raise ScenarioError(f"replace of {name} has no new_id")
            return ReplaceOrder(
                self.order_id(name),
                self.order_id(str(step["new_id"])),
                self.symbol,
                qty=_optional_int(step, "qty"),
                price=_optional_int(step, "price"),
                stop_price=_optional_int(step, "stop_price"),
            )
        raise ScenarioError(f"op must be new, cancel or replace, not {op!r}")

    def _new(self, name: str, step: Mapping[str, Any]) -> PlaceOrder:
        qty = step.get("qty")
        if type(qty) is not int:
            raise ScenarioError(f"qty of {name} must be an integer, not {qty!r}")
        stp = step.get("stp")
        return PlaceOrder(
            order_id=self.order_id(name),
            account=str(step.get("account", DEFAULT_ACCOUNT)),
            symbol=self.symbol,
            side=_lookup(SIDES, step.get("side"), "side"),
            order_type=_lookup(ORDER_TYPES, step.get("type", "limit"), "type"),
            qty=qty,
            price=_optional_int(step, "price"),
            stop_price=_optional_int(step, "stop_price"),
            tif=_lookup(TIFS, step.get("tif", "gtc"), "tif"),
            trail_price=_optional_int(step, "trail_price"),
            trail_bps=_optional_int(step, "trail_bps"),
            stp=None if stp is None else _lookup(STP_MODES, stp, "stp"),
        )
