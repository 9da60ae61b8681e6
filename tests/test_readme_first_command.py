"""The README's first command, run as a new user would: `./dev run`, then talk to it."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def test_dev_run_serves_a_live_demo_market_and_stops_cleanly(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.split("```sh\n", 1)[1].startswith("./dev run ")
    process = subprocess.Popen(
        [str(ROOT / "dev"), "run", "--port", "0", "--data", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                url = found.group(1)
        assert url is not None, "".join(output)
        alice = next(line for line in output if line.strip().startswith("alice"))
        key_id, secret = re.search(r"API key (\S+) secret (\S+)", alice).groups()  # type: ignore[union-attr]
        headers = {"X-API-Key-Id": key_id, "X-API-Secret": secret}
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            first = client.get("/v1/quotes/ACME").json()
            time.sleep(2)
            trades = client.get("/v1/trades/ACME").json()
            later = client.get("/v1/quotes/ACME").json()
            placed = client.post(
                "/v1/orders", json={"symbol": "ACME", "side": "buy", "type": "market", "qty": 1}
            )
            terminal = client.get("/")  # the web terminal, built by ./dev
            script = re.search(r'src="(/assets/[^"]+\.js)"', terminal.text)
            bundle = client.get(script.group(1)) if script else None
        assert first["bid"] is not None and first["ask"] is not None
        assert trades and later["seq"] > first["seq"]  # the market moves by itself
        assert placed.status_code == 200 and placed.json()["status"] == "filled", placed.text
        assert terminal.status_code == 200 and script is not None, terminal.text
        assert bundle is not None and bundle.status_code == 200 and "tradingfloor" in bundle.text
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        output.append(rest)
    assert process.returncode == 0, "".join(output)
    assert "stopped at seq" in "".join(output)
