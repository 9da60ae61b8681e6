"""`bench surveillance` on a small seeded market: every planted pattern is found (the
figures' behaviour, never their speed)."""

from typer.testing import CliRunner

from tradingfloor.bench.surveillance import bench_surveillance
from tradingfloor.cli import app


def test_the_planted_manipulations_are_found() -> None:
    result = bench_surveillance(seed=1, traders=6, minutes=10)
    assert result.commands > 1_000 and result.trades > 100
    for pattern, score in result.scores.items():
        assert score.planted > 0, pattern
        assert score.recall > 0, pattern
        assert score.true_alerts <= score.alerts


def test_the_command_prints_a_line_per_pattern() -> None:
    answer = CliRunner().invoke(app, ["bench", "surveillance", "--minutes", "6", "--traders", "2"])
    assert answer.exit_code == 0, answer.output
    for pattern in ("wash_trade", "spoofing", "marking_the_close", "order_entry_abuse"):
        assert pattern in answer.output
