"""`corridor bench eig` as an operator runs it: real servers, one JSON object out."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import EXAMPLE_SITE


def test_bench_eig_prints_the_figures_the_gateway_is_judged_by() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "corridor", "bench", "eig", "--site",
         str(EXAMPLE_SITE), "--seconds", "0.5", "--concurrency", "8"],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1, run.stdout
    result = json.loads(lines[0])
    assert result["errors"] == 0
    for figure in ("quotes_per_s", "transfers_per_s", "hello_per_s", "p50_ms", "p99_ms"):
        assert result[figure] > 0, figure
    assert result["p50_ms"] <= result["p99_ms"]
    assert result["ratio"] == round(result["transfers_per_s"] / result["hello_per_s"], 3)
    assert result["concurrency"] == 8
