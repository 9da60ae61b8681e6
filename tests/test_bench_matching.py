"""`bench matching --workload FILE`: a workload read back from a file trades the same with the
risk layer on as without it (the accounts it names funded, its reference price set), whatever
accounts and prices the file uses."""

import json
import random
from pathlib import Path

from tradingfloor.bench.matching import file_workload, run


def write_steps(path: Path, count: int, seed: int) -> None:
    """Orders of two accounts the benchmark knows nothing of, around $1.00 on a tick of 1."""
    randomness = random.Random(seed)
    with path.open("w") as out:
        for number in range(1, count + 1):
            step = {
                "op": "new",
                "id": f"o{number}",
                "account": randomness.choice(["alice", "bob"]),
                "side": randomness.choice(["buy", "sell"]),
                "type": "limit",
                "qty": randomness.randint(1, 50),
                "price": randomness.randint(9_980, 10_020),
                "tif": "gtc",
            }
            out.write(json.dumps(step) + "\n")


def test_a_workload_file_trades_alike_with_and_without_risk(tmp_path: Path) -> None:
    path = tmp_path / "workload.jsonl"
    write_steps(path, 2_000, seed=7)
    workload = file_workload(path)

    matching_only = run(workload, risk=False)
    with_risk = run(workload, risk=True)

    assert workload.accounts == ("alice", "bob")
    assert matching_only.trades > 100
    assert (with_risk.trades, with_risk.traded_qty) == (
        matching_only.trades,
        matching_only.traded_qty,
    )
