"""Checks of CAT-style order-event files: every record valid against the shipped JSON Schema
(`schemas/cat_order_events.schema.json`, draft 2020-12), and every order's life complete.

Complete means: each order has its new-order event (`MENO`, or the `MEOM` that made it a
replacement) before anything else names it, names it once, and every later event names an
order still open; an order ends when a trade or a cancel leaves nothing of it, when it is
replaced, or when it expires. Orders still open at the end of the files are listed, not
refused: a GTC order lives on to another day, and a DAY order is open until its day closes.
Files of several days are checked as one history, in the order given.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]

SCHEMA_FILE_NAME = "cat_order_events.schema.json"
problems_max = 200
"""Problems kept (and shown) of one check; the count goes on past it."""


@cache
def cat_schema() -> dict[str, Any]:
    """The shipped JSON Schema of one CAT-style record."""
    text = resources.files("tradingfloor.compliance").joinpath("schemas", SCHEMA_FILE_NAME)
    schema: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(cat_schema())


def schema_errors(record: Any) -> list[str]:
    """What makes `record` invalid against the schema (empty: it is valid)."""
    return [error.message for error in _validator().iter_errors(record)]


@dataclass
class CatCheck:
    records: int = 0
    problem_count: int = 0
    problems: list[str] = field(default_factory=list)
    open_orders: dict[str, str] = field(default_factory=dict)
    """Order id -> its time in force, for orders still open at the end."""
    ended: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    """Records by event type."""

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def problem(self, where: str, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < problems_max:
            self.problems.append(f"{where}: {text}")

    def lines(self) -> list[str]:
        """A summary for a person: counts, problems, orders still open."""
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.counts.items()))
        out = [f"{self.records} records ({kinds or 'none'}); {self.problem_count} problems"]
        out += self.problems
        if self.problem_count > len(self.problems):
            out.append(f"... and {self.problem_count - len(self.problems)} more problems")
        out.append(f"{len(self.open_orders)} orders still open")
        out += [
            f"  open: order {order} ({tif})" for order, tif in sorted(self.open_orders.items())
        ]
        return out


def check_records(records: Iterable[tuple[str, Any]], check: CatCheck | None = None) -> CatCheck:
    """Check (where, record) pairs in order; `check` carries on a check of earlier files."""
    check = check if check is not None else CatCheck()
    for where, record in records:
        check.records += 1
        errors = schema_errors(record)
        if errors:
            check.problem(where, "not valid against the schema: " + "; ".join(errors[:3]))
            continue
        kind = record["type"]
        check.counts[kind] = check.counts.get(kind, 0) + 1
        _follow(check, where, kind, record)
    return check


def _follow(check: CatCheck, where: str, kind: str, record: dict[str, Any]) -> None:
    if kind == "MENO":
        _open(check, where, record["orderID"], _tif_name(record))
    elif kind == "MEOM":
        tif = check.open_orders.get(record["priorOrderID"], "?")
        if _known(check, where, record["priorOrderID"]):
            _end(check, record["priorOrderID"])
        _open(check, where, record["orderID"], tif)
        if record["leavesQty"] == 0:
            _end(check, record["orderID"])
    elif kind in ("MEOC", "MEOJ"):
        if _known(check, where, record["orderID"]) and record["leavesQty"] == 0:
            _end(check, record["orderID"])
    elif kind == "MEOT":
        for details in (record["buyDetails"], record["sellDetails"]):
            if _known(check, where, details["orderID"]) and details["leavesQty"] == 0:
                _end(check, details["orderID"])
    elif kind == "MEOR":
        _known(check, where, record["orderID"])


def _tif_name(record: dict[str, Any]) -> str:
    return str(next(iter(record["timeInForce"])))


def _open(check: CatCheck, where: str, order_id: str, tif: str) -> None:
    if order_id in check.open_orders or order_id in check.ended:
        check.problem(where, f"order {order_id} has a second new-order event")
        return
    check.open_orders[order_id] = tif


def _known(check: CatCheck, where: str, order_id: str) -> bool:
    if order_id in check.open_orders:
        return True
    if order_id in check.ended:
        check.problem(where, f"order {order_id} has an event after it ended")
    else:
        check.problem(where, f"order {order_id} has no new-order event before this one")
    return False


def _end(check: CatCheck, order_id: str) -> None:
    check.open_orders.pop(order_id, None)
    check.ended.add(order_id)


def check_cat_files(paths: Iterable[Path]) -> CatCheck:
    """Check the files as one history, in the order given."""
    check = CatCheck()
    for path in paths:
        check_records(_read(path, check), check)
    return check


def _read(path: Path, check: CatCheck) -> Iterable[tuple[str, Any]]:
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            where = f"{path.name}:{number}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as error:
                check.problem(where, f"not JSON: {error}")
