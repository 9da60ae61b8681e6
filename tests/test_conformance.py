"""The shared matching conformance scenarios, the runner's strictness, and its CLI.

The scenarios live outside the package (../shared/conformance/scenarios/). Without them the
scenario tests skip, unless TRADINGFLOOR_REQUIRE_SERVICES=1 (CI), where they must be present.
"""

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradingfloor.cli import app
from tradingfloor.conformance import run_file, run_scenario

SCENARIO_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "scenarios"
SCENARIO_FILES = sorted(SCENARIO_DIR.glob("*.json")) if SCENARIO_DIR.is_dir() else []
SCENARIO_COUNT_MIN = 90


def _require_scenarios() -> None:
    """Skip when the shared scenarios are absent; fail instead when CI requires them."""
    if SCENARIO_FILES:
        return
    reason = f"no conformance scenarios at {SCENARIO_DIR}"
    if os.environ.get("TRADINGFLOOR_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (TRADINGFLOOR_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


# ---------------------------------------------------------------- every scenario passes


@pytest.mark.parametrize(
    "path",
    SCENARIO_FILES or [None],
    ids=[path.stem for path in SCENARIO_FILES] or ["scenarios-missing"],
)
def test_scenario_passes(path: Path | None) -> None:
    _require_scenarios()
    assert path is not None

    result = run_file(path)

    assert result.passed, f"{path.name}: {result.difference}"


def test_scenario_directory_holds_at_least_90_scenarios() -> None:
    _require_scenarios()

    assert len(SCENARIO_FILES) >= SCENARIO_COUNT_MIN, (
        f"{len(SCENARIO_FILES)} scenarios in {SCENARIO_DIR}, expected {SCENARIO_COUNT_MIN}+"
    )


# ---------------------------------------------------------------- the runner is strict


Expect = dict[str, Any]


def _first_scenario_with(wanted: Callable[[Expect], bool]) -> tuple[dict[str, Any], int]:
    """The first real scenario (sorted by file name) with a step whose `expect` is `wanted`,
    and that step's number (1-based, as the runner reports it)."""
    _require_scenarios()
    for path in SCENARIO_FILES:
        scenario = json.loads(path.read_text())
        for number, step in enumerate(scenario["steps"], start=1):
            if wanted(step.get("expect", {})):
                return scenario, number
    pytest.fail(f"no scenario in {SCENARIO_DIR} has the expectation this test corrupts")


def _reverse_trades(expect: Expect) -> None:
    expect["trades"].reverse()


def _bump_depth_qty(expect: Expect) -> None:
    side = "bids" if expect["depth"]["bids"] else "asks"
    expect["depth"][side][0][2] += 1


def _change_status(expect: Expect) -> None:
    name, status = next(iter(expect["status"].items()))
    expect["status"][name] = "partially_filled" if status == "filled" else "filled"


def _bump_filled_notional(expect: Expect) -> None:
    name = next(iter(expect["filled"]))
    expect["filled"][name][1] += 1


def _drop_rejected(expect: Expect) -> None:
    expect["rejected"] = []


def _change_last_price(expect: Expect) -> None:
    last = expect["last_price"]
    expect["last_price"] = 1 if last is None else last + 1


CORRUPTIONS = [
    # (key, which expectations can be corrupted, how)
    (
        "trades",
        lambda e: len({json.dumps(t) for t in e.get("trades", [])}) >= 2,
        _reverse_trades,
    ),
    (
        "depth",
        lambda e: "depth" in e and bool(e["depth"]["bids"] or e["depth"]["asks"]),
        _bump_depth_qty,
    ),
    ("status", lambda e: bool(e.get("status")), _change_status),
    (
        "filled",
        lambda e: any(n > 0 for _, n in e.get("filled", {}).values()),
        _bump_filled_notional,
    ),
    ("rejected", lambda e: bool(e.get("rejected")), _drop_rejected),
    ("last_price", lambda e: "last_price" in e, _change_last_price),
]


@pytest.mark.parametrize(
    ("key", "wanted", "corrupt"),
    CORRUPTIONS,
    ids=[f"{case[0]} corrupted" for case in CORRUPTIONS],
)
def test_runner_reports_a_corrupted_expectation_by_step_and_key(
    key: str, wanted: Callable[[Expect], bool], corrupt: Callable[[Expect], None]
) -> None:
    scenario, number = _first_scenario_with(wanted)
    assert run_scenario(scenario).passed, "the uncorrupted scenario must pass"
    corrupted = copy.deepcopy(scenario)
    corrupt(corrupted["steps"][number - 1]["expect"])

    result = run_scenario(corrupted)

    assert not result.passed
    assert result.difference.startswith(f"step {number} (")
    assert f"): {key}: expected " in result.difference


def test_runner_rejects_unknown_expect_keys() -> None:
    scenario = _scenario([_new("a", "buy", 100, 5, expect={"depht": {"bids": [], "asks": []}})])

    result = run_scenario(scenario)

    assert not result.passed
    assert "unknown expect keys ['depht']" in result.difference


def test_runner_reports_a_step_outside_the_format() -> None:
    scenario = _scenario([{"op": "amend", "id": "a"}])

    result = run_scenario(scenario)

    assert not result.passed
    assert result.difference.startswith("step 1: op must be new, cancel or replace")


# ---------------------------------------------------------------- the CLI


def _new(name: str, side: str, price: int, qty: int, **fields: Any) -> dict[str, Any]:
    return {"op": "new", "id": name, "side": side, "price": price, "qty": qty, **fields}


def _scenario(steps: list[dict[str, Any]], name: str = "inline") -> dict[str, Any]:
    return {"name": name, "instrument": {"symbol": "TEST", "tick": 1, "lot": 1}, "steps": steps}


def _cross(trade_price: int) -> dict[str, Any]:
    """A two-order scenario whose trade is expected at `trade_price` (it happens at 100)."""
    return _scenario(
        [
            _new("s", "sell", 100, 10),
            _new(
                "b",
                "buy",
                101,
                10,
                expect={"trades": [{"maker": "s", "taker": "b", "price": trade_price, "qty": 10}]},
            ),
        ],
        name=f"cross-at-{trade_price}",
    )


def _write(folder: Path, name: str, scenario: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(json.dumps(scenario))
    return path


def test_cli_passes_when_every_scenario_passes(tmp_path: Path) -> None:
    _write(tmp_path, "a.json", _cross(100))
    _write(tmp_path, "b.json", _cross(100))

    result = CliRunner().invoke(app, ["conformance", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "2 passed, 0 failed"


def test_cli_fails_and_counts_when_a_scenario_fails(tmp_path: Path) -> None:
    _write(tmp_path, "good.json", _cross(100))
    _write(tmp_path, "wrong.json", _cross(101))
    (tmp_path / "broken.json").write_text("{not json")

    result = CliRunner().invoke(app, ["conformance", str(tmp_path)])

    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert lines[-1] == "1 passed, 2 failed"
    assert "PASS good.json" in lines
    assert any(line.startswith("FAIL wrong.json: step 2 (b): trades: expected") for line in lines)
    assert any(line.startswith("FAIL broken.json: cannot read") for line in lines)


def test_cli_fails_when_given_no_scenarios(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["conformance", str(tmp_path)])

    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == "0 passed, 0 failed"


def test_cli_runs_the_shared_scenarios() -> None:
    _require_scenarios()

    result = CliRunner().invoke(app, ["conformance", str(SCENARIO_DIR)])

    assert result.output.strip().splitlines()[-1] == f"{len(SCENARIO_FILES)} passed, 0 failed"
    assert result.exit_code == 0
